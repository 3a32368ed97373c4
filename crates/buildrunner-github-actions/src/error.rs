//! What GitHub's refusals of a dispatch mean for the person who configured the queue.

use buildrunner_api::Error;
use buildrunner_http::{Operation, Reply, StatusCode};

use crate::GitHubActionsConfig;

/// The error a failed dispatch answer means: a 404 is a configuration mistake naming the
/// workflow, a 422 GitHub's own words with what the workflow must declare; the rest as
/// [`Reply::error`].
pub(crate) fn dispatch_error(reply: &Reply, op: &Operation, config: &GitHubActionsConfig) -> Error {
    match reply.status {
        StatusCode::NOT_FOUND => Error::Configuration {
            message: format!(
                "workflow {:?} of {}/{} was not found (or the token cannot see it): check owner, repo and workflow",
                config.workflow, config.owner, config.repo
            ),
        },
        StatusCode::UNPROCESSABLE_ENTITY => {
            let said = reply.message().unwrap_or_default();
            let hint = if said.contains("Unexpected inputs") {
                format!(
                    "; the workflow must declare these workflow_dispatch inputs: {}",
                    config.own_inputs().join(", ")
                )
            } else if said.contains("workflow_dispatch") {
                "; add `on: workflow_dispatch` with the buildrunner inputs to the workflow"
                    .to_owned()
            } else {
                String::new()
            };
            Error::Rejected {
                message: format!("{}: HTTP 422: {said}{hint}", op.describe()),
            }
        }
        _ => reply.error(op),
    }
}

/// Whether a 400/422 refused the `return_run_details` parameter (an older GitHub
/// Enterprise Server): such a dispatch certainly created nothing.
pub(crate) fn rejects_run_details(reply: &Reply) -> bool {
    matches!(
        reply.status,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
    ) && reply
        .message()
        .is_some_and(|m| m.contains("return_run_details"))
}
