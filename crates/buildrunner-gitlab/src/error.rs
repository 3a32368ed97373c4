//! What GitLab's refusals of a pipeline creation mean for the person who configured the queue.

use buildrunner_api::Error;
use buildrunner_http::{Operation, Reply, StatusCode};

use crate::GitLabConfig;

/// A 404 is a configuration mistake naming the project; a 400 (an invalid `.gitlab-ci.yml`, a
/// ref that does not exist, a refused pipeline) is `Rejected` with GitLab's words; the rest as
/// [`Reply::error`].
pub(crate) fn create_error(reply: &Reply, op: &Operation, config: &GitLabConfig) -> Error {
    match reply.status {
        StatusCode::NOT_FOUND => Error::Configuration {
            message: format!(
                "project {:?} was not found at {} (or the token cannot see it): check project and api_url",
                config.project, config.api_url
            ),
        },
        StatusCode::BAD_REQUEST => Error::Rejected {
            message: format!(
                "{}: HTTP 400: {}",
                op.describe(),
                reply.message().unwrap_or_else(|| "bad request".to_owned())
            ),
        },
        _ => reply.error(op),
    }
}
