//! What Jenkins' refusals mean for the person who configured the queue.

use buildrunner_api::Error;
use buildrunner_http::{Operation, Reply, StatusCode};

use crate::JenkinsConfig;

/// Jenkins' words in an error page, when it has any: its error pages are HTML, so the text
/// is searched rather than parsed.
fn says(reply: &Reply, words: &str) -> bool {
    String::from_utf8_lossy(&reply.body).contains(words)
}

/// Any refusal of a POST: a 403 about the CSRF crumb means a password was configured where
/// an API token belongs (API-token requests need no crumb since Jenkins 2.96); the rest as
/// [`Reply::error`].
pub(crate) fn post_error(reply: &Reply, op: &Operation) -> Error {
    if reply.status == StatusCode::FORBIDDEN && says(reply, "No valid crumb") {
        return Error::Configuration {
            message: format!(
                "{}: Jenkins asked for a CSRF crumb, which it does only when the credential is a \
                 password: configure an API token (user > Security > API Token) in token_env",
                op.describe()
            ),
        };
    }
    reply.error(op)
}

/// A refusal of `buildWithParameters`: 302 back to the job (the queue refused the item) and
/// 409 (the job is disabled) are `Rejected`; 400 ("is not parameterized") and 404 are
/// configuration mistakes naming the job.
pub(crate) fn trigger_error(reply: &Reply, op: &Operation, config: &JenkinsConfig) -> Error {
    let job = config.job_path();
    match reply.status {
        StatusCode::FOUND => Error::Rejected {
            message: format!(
                "{}: Jenkins' queue refused the build (a queue decision handler vetoed it)",
                op.describe()
            ),
        },
        StatusCode::CONFLICT => Error::Rejected {
            message: format!("{}: job {job:?} is disabled (HTTP 409)", op.describe()),
        },
        StatusCode::BAD_REQUEST => Error::Configuration {
            message: format!(
                "job {job:?} at {} is not parameterized (HTTP 400): declare the parameters {}",
                config.url,
                config.parameter_names().join(", ")
            ),
        },
        StatusCode::NOT_FOUND => not_found(config),
        _ => post_error(reply, op),
    }
}

/// The job does not exist (or the user cannot see it).
pub(crate) fn not_found(config: &JenkinsConfig) -> Error {
    Error::Configuration {
        message: format!(
            "job {:?} was not found at {} (or user {:?} cannot see it): check url and job",
            config.job_path(),
            config.url,
            config.user
        ),
    }
}
