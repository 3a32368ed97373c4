//! The Jenkins backend of buildrunner, registered as `jenkins`.
//!
//! - **trigger**: the job's parameter definitions are read once
//!   (`GET /job/{path}/api/json?tree=property[parameterDefinitions[name]]`; Jenkins drops
//!   undeclared parameters without a word), then `POST /job/{path}/buildWithParameters`
//!   with a form body: `SQ_BASE_URIS`, `SQ_HEAD_URIS`, `SQ_QUEUE`, `SQ_METADATA`, the key
//!   parameter (the idempotency key, else a fresh dispatch id, so distinct requests are never
//!   merged), the `extra_parameters` and `delay=0sec`. Jenkins answers 201 (a new queue item)
//!   or 303 (merged into a queued item with the same parameters), with the item in
//!   `Location`; the id is `{job}/queue/{item}`. A keyed trigger first looks its key up among
//!   the queued items and the job's last 100 builds, and a trigger whose outcome is unknown
//!   is settled by the same look-up, never by triggering blindly again.
//! - **status**: the queue item (`GET /queue/item/{N}/api/json`) until it names its build,
//!   then the build (`GET /job/{path}/{n}/api/json`), mapped by [`map_build`]: building is
//!   `Running` even with a `result` set, and a Pipeline waiting at an `input` step is never
//!   green. Jenkins forgets an item 5 minutes after it left the queue; the build is then
//!   found by its `queueId` among the job's builds. The item's build number is cached (a
//!   latency cache only), so a started build costs one request per poll.
//! - **cancel**: a queued item with `POST /queue/cancelItem?id=N`, a running build (or one
//!   waiting for input) with `POST /job/{path}/{n}/stop`, whose 302 says nothing; a finished
//!   build is left alone.
//! - **jobs**: the Pipeline's stages from `GET /job/{path}/{n}/wfapi/describe` (the Pipeline
//!   REST API plugin); none where it does not answer. Core Jenkins cannot re-run only failed
//!   stages: `retry_failed` is not declared.
//!
//! Everything HTTP (Basic auth with the API token, retries, a proxy's 429/503 and
//! `Retry-After`, capped reads, redirects never followed) comes from [`buildrunner_http`].
//!
//! # Queue options
//!
//! ```toml
//! [queues.main]
//! backend = "jenkins"
//! url = "https://ci.example.com/"      # the Jenkins root, e.g. .../jenkins/
//! job = "platform/app"                  # folders and the job: /job/platform/job/app
//! user = "buildrunner"                  # or user_env = "JENKINS_USER"
//! # token_env = "JENKINS_API_TOKEN"     # an API token, not a password
//! # unstable = "failed"                 # or "succeeded"
//! # key_parameter = "BUILDRUNNER_KEY"
//! # extra_parameters = { DEPLOY = "false" }
//! ```

mod backend;
mod config;
mod core;
mod error;
mod model;
#[cfg(feature = "webhooks")]
mod webhook;
#[cfg(not(feature = "webhooks"))]
mod webhook {
    pub(crate) fn receiver<C>(_: &C) -> Option<Box<dyn buildrunner_api::WebhookReceiver>> {
        None
    }
}

use buildrunner_api::registry::BackendRegistration;

pub use backend::{CAPABILITIES, Jenkins, JenkinsRunner};
pub use buildrunner_http::CountsAs;
pub use buildrunner_http::Token;
pub use config::{DEFAULT_KEY_PARAMETER, DEFAULT_TOKEN_ENV, JenkinsConfig};
pub use model::{
    PARAM_BASE_URIS, PARAM_HEAD_URIS, PARAM_METADATA, PARAM_QUEUE, QueueState, SQ_PARAMETERS,
    caller_metadata, decode_build_response, decode_queue_item_response, decode_stages_response,
    map_build, queue_item_of_location, stage_report,
};
#[cfg(feature = "webhooks")]
pub use webhook::JenkinsWebhooks;

/// The name the Jenkins backend is registered under.
pub const NAME: &str = "jenkins";

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration = BackendRegistration::new(
    NAME,
    "Jenkins parameterized jobs through the queue and the remote access API",
    |config| Ok(std::sync::Arc::new(JenkinsRunner::from_queue(config)?)),
);

buildrunner_api::inventory::submit! { REGISTRATION }
