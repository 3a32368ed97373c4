//! The GitHub Actions backend of buildrunner, registered as `github-actions`.
//!
//! - **trigger**: `POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches` with
//!   `return_run_details: true` and the inputs `sq_base_uris`, `sq_head_uris`, `sq_queue`,
//!   `sq_metadata` and the key input (the idempotency key, or a fresh dispatch id). The id
//!   is `{owner}/{repo}/{run_id}`. A server that answers 204, or refuses
//!   `return_run_details` (older GitHub Enterprise Server), has its run found by key among
//!   the workflow's runs, whose `run-name` names the key. A keyed trigger looks its key up
//!   first; a dispatch whose outcome is unknown is settled by the same look-up, never by a
//!   blind second dispatch.
//! - **status**: `GET .../actions/runs/{run_id}?exclude_pull_requests=true`, conditional on
//!   the last answer's `ETag` (a 304 costs no rate limit), mapped by [`map_run`].
//! - **cancel**: `POST .../runs/{run_id}/cancel` (or `force-cancel`); a 409 is a no-op only
//!   for a completed run.
//!
//! Authentication is a token from an environment variable, or a GitHub App whose
//! installation token is minted on demand and renewed five minutes before it expires or
//! after a 401. Retries, rate budgets (`x-ratelimit-*`, `retry-after`, the 403 that is a
//! rate limit) and capped reads come from [`buildrunner_http`].
//!
//! # Queue options
//!
//! ```toml
//! [queues.main]
//! backend = "github-actions"
//! owner = "acme"
//! repo = "app"
//! workflow = "buildrunner.yml"
//! # ref = "main"
//! # token_env = "GITHUB_TOKEN"    # or app_id, installation_id, private_key_env
//! # key_input = "buildrunner_key"
//! # force_cancel = false
//! ```

mod app;
mod backend;
mod config;
mod core;
mod error;
mod etag;
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

pub use backend::{CAPABILITIES, GitHubActions, GitHubActionsRunner};
pub use buildrunner_http::Token;
pub use config::{
    Credentials, DEFAULT_API_URL, DEFAULT_KEY_INPUT, DEFAULT_TOKEN_ENV, GitHubActionsConfig,
    MAX_INPUTS,
};
/// How GitHub's answers are read for the rate budget: `x-ratelimit-*` windows and the
/// refusals (429, and the 403 that is a rate limit). Public for fuzzers and tools.
pub const RATE_SCHEME: buildrunner_http::rate::HeaderScheme = rate::GITHUB_RATE_SCHEME;
pub use model::{
    INPUT_BASE_URIS, INPUT_HEAD_URIS, INPUT_METADATA, INPUT_QUEUE, decode_jobs_response,
    decode_run_response, job_report, map_run,
};
#[cfg(feature = "webhooks")]
pub use webhook::GitHubWebhooks;

/// The name the GitHub Actions backend is registered under.
pub const NAME: &str = "github-actions";

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration = BackendRegistration::new(
    NAME,
    "GitHub Actions workflows over the REST API (workflow_dispatch)",
    |config| {
        Ok(std::sync::Arc::new(GitHubActionsRunner::from_queue(
            config,
        )?))
    },
);

buildrunner_api::inventory::submit! { REGISTRATION }
