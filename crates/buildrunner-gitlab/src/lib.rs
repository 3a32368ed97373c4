//! The GitLab CI backend of buildrunner, registered as `gitlab`.
//!
//! - **trigger**: `POST /api/v4/projects/{project}/pipeline` with the `ref` and the CI/CD
//!   variables `SQ_BASE_URIS`, `SQ_HEAD_URIS`, `SQ_QUEUE`, `SQ_METADATA` and the key variable
//!   (the idempotency key, or a fresh dispatch id); the id is `{project}/{pipeline_id}`. The
//!   sample `.gitlab-ci.yml` names each pipeline `buildrunner $BUILDRUNNER_KEY`
//!   (`workflow: name:`), so a keyed trigger finds an earlier pipeline with
//!   `GET .../pipelines?name=...&source=api`, and a creation whose outcome is unknown is
//!   settled by the same look-up, never by creating blindly again.
//! - **status**: `GET .../pipelines/{id}`, mapped by [`map_status`] (`manual` is running, never
//!   green); with `read_variables`, one more request reads the caller's metadata back.
//! - **cancel**: `POST .../pipelines/{id}/cancel` answers 200 whatever the state; the returned
//!   status says whether it took effect.
//!
//! Everything HTTP (the `PRIVATE-TOKEN` header, retries, GitLab's `RateLimit-*` budget,
//! `Retry-After`, capped reads) comes from [`buildrunner_http`].
//!
//! # Queue options
//!
//! ```toml
//! [queues.main]
//! backend = "gitlab"
//! project = "acme/platform/app"   # or the numeric id
//! # ref = "main"
//! # api_url = "https://gitlab.com"
//! # token_env = "GITLAB_TOKEN"
//! # key_variable = "BUILDRUNNER_KEY"
//! # read_variables = false
//! ```

mod backend;
mod config;
mod core;
mod error;
mod model;
mod rate;
#[cfg(feature = "webhooks")]
mod webhook;
#[cfg(not(feature = "webhooks"))]
mod webhook {
    pub(crate) fn receiver<C>(_: &C) -> Option<Box<dyn buildrunner_api::WebhookReceiver>> {
        None
    }
}

use buildrunner_api::registry::BackendRegistration;

pub use backend::{CAPABILITIES, GitLab, GitLabRunner};
pub use buildrunner_http::Token;
pub use config::{DEFAULT_API_URL, DEFAULT_KEY_VARIABLE, DEFAULT_TOKEN_ENV, GitLabConfig};
pub use model::{
    VAR_BASE_URIS, VAR_HEAD_URIS, VAR_METADATA, VAR_QUEUE, caller_metadata, decode_jobs_response,
    decode_pipeline_response, job_report, map_status, pipeline_name,
};
#[cfg(feature = "webhooks")]
pub use webhook::GitLabWebhooks;

/// How GitLab's answers are read for the rate budget. Public for fuzzers and tools.
pub const RATE_SCHEME: buildrunner_http::rate::HeaderScheme = rate::GITLAB_RATE_SCHEME;

/// The name the GitLab backend is registered under.
pub const NAME: &str = "gitlab";

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration =
    BackendRegistration::new(NAME, "GitLab CI pipelines over the REST API v4", |config| {
        Ok(std::sync::Arc::new(GitLabRunner::from_queue(config)?))
    });

buildrunner_api::inventory::submit! { REGISTRATION }
