//! What Azure DevOps' refusals of a run mean for the person who configured the queue.

use buildrunner_api::Error;
use buildrunner_http::{Operation, Reply, StatusCode};

use crate::AzurePipelinesConfig;

/// A 404 is a configuration mistake naming the pipeline; a 400 (an unexpected or invalid
/// parameter, a YAML error, a refused branch) is `Rejected` with Azure's words; the rest as
/// [`Reply::error`].
pub(crate) fn run_error(reply: &Reply, op: &Operation, config: &AzurePipelinesConfig) -> Error {
    match reply.status {
        StatusCode::NOT_FOUND => Error::Configuration {
            message: format!(
                "pipeline {} of {}/{} was not found at {} (or the token cannot see it): check organization, project and pipeline_id",
                config.pipeline_id, config.organization, config.project, config.api_url
            ),
        },
        StatusCode::BAD_REQUEST => Error::Rejected {
            message: format!(
                "{}: HTTP 400: {} (every parameter sent must be declared in the YAML's parameters)",
                op.describe(),
                reply.message().unwrap_or_else(|| "bad request".to_owned())
            ),
        },
        _ => reply.error(op),
    }
}
