//! The Buildkite backend of buildrunner, registered as `buildkite`.
//!
//! It triggers builds with Buildkite's REST API v2, follows them and cancels them, to the
//! wire contract in `docs/backends/buildkite.md`:
//!
//! - **trigger**: `POST /v2/organizations/{org}/pipelines/{pipeline}/builds` with the base
//!   and head URIs, the queue and the caller metadata in `env` (`SQ_BASE_URIS`,
//!   `SQ_HEAD_URIS`, `SQ_QUEUE`, `SQ_METADATA`); the id is `{org}/{pipeline}/{number}`.
//!   With an idempotency key the key is stamped into `meta_data` and looked up first, and a
//!   create whose outcome is unknown is resolved by looking it up again, never by blindly
//!   creating a second build.
//! - **status**: `GET .../builds/{number}?exclude_jobs=true&exclude_pipeline=true`, the
//!   state mapped by [`map_state`] (`passed` while `blocked` is still running).
//! - **cancel**: `PUT .../builds/{number}/cancel`; a 422 is a no-op only for a build that
//!   is terminal.
//! - **status_many** with `graphql = true`: one `POST` to the GraphQL API per 100 builds
//!   (aliased `build(slug:)` fields), with its own point budget; a token without GraphQL
//!   access falls back to REST, one `GET` per build, with one warning.
//!
//! Transient failures (5xx, 408, 429, transport) are retried by the shared
//! [`buildrunner_http`] machinery with jittered exponential backoff, honouring Buildkite's
//! `RateLimit-Reset` headers, within `max_retries` and `max_retry_wait`. The token is read from an environment variable, kept in a [`Token`]
//! that never prints, and never sent anywhere but the configured API (redirects are not
//! followed).
//!
//! # Queue options
//!
//! ```toml
//! [queues.main]
//! backend = "buildkite"
//! organization = "acme"
//! pipeline = "monorepo"
//! # token_env = "BUILDKITE_API_TOKEN"
//! # api_url = "https://api.buildkite.com"
//! # branch = "main"
//! # commit = "HEAD"
//! # graphql = true           # status_many through GraphQL, 100 builds a request
//! # graphql_url = "https://graphql.buildkite.com/v1"
//! # webhook_secret_env = "BUILDKITE_WEBHOOK_TOKEN"   # with the `webhooks` feature
//! ```

mod backend;
mod config;
mod core;
mod error;
mod graphql;
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

pub use backend::{Buildkite, BuildkiteRunner, CAPABILITIES};
pub use buildrunner_http::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_RESPONSE_BYTES, Token};
pub use config::{BuildkiteConfig, DEFAULT_API_URL, DEFAULT_GRAPHQL_URL, DEFAULT_TOKEN_ENV};
pub use model::{
    ENV_BASE_URIS, ENV_HEAD_URIS, ENV_METADATA, ENV_QUEUE, IDEMPOTENCY_META_KEY, Job, STATE_TABLE,
    decode_build_response, decode_caller_metadata, decode_jobs_response, job_status, map_state,
};
#[cfg(feature = "webhooks")]
pub use webhook::BuildkiteWebhooks;

/// The name the Buildkite backend is registered under.
pub const NAME: &str = "buildkite";

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration =
    BackendRegistration::new(NAME, "Buildkite pipelines over the REST API v2", |config| {
        Ok(std::sync::Arc::new(BuildkiteRunner::from_queue(config)?))
    });

buildrunner_api::inventory::submit! { REGISTRATION }
