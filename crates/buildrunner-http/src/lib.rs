//! What every HTTP backend of buildrunner shares, written once and naming no CI.
//!
//! - [`HttpClient`]: one `reqwest` client per runner with a bound on requests in flight,
//!   [`Auth`] strategies (a bearer token, a named header, a token minted on demand), body
//!   reads within a cap, and [`HttpClient::retrying`]: jittered exponential backoff inside a
//!   total deadline. [`HttpClient::idempotent`] retries requests that are safe to repeat; a
//!   create is retried by its backend only where [`SendError::nothing_sent`] says the server
//!   never saw it, or after the backend found out what happened (object_store's rule).
//! - [`Reply::error`]: the one table from HTTP status to [`buildrunner_api::Error`].
//! - [`rate`]: budgets shared per (API, account, token fingerprint), fed by a per-platform
//!   [`RateScheme`], kept in a pluggable [`BudgetStore`]: in-process, or (feature `redis`,
//!   option `rate_budget_url`) in Redis with idempotency-key locks ([`HttpClient::hold_key`]),
//!   shared by replicas.
//! - [`HttpRunner`]: the `BuildRunner` of any [`HttpBackend`] (a backend's CI calls): the
//!   queue, the constructors, the registry's factory and a trigger that holds its key.
//! - [`Token`]: a secret that never prints; [`parse_api_url`]: `https`, or `http` on loopback.
//! - [`HttpOptionKeys`]: the queue options every HTTP backend accepts.
//! - [`telemetry`]: the metrics (through the `metrics` facade) and the OpenTelemetry-style
//!   request spans every client records.
//! - `webhook` (feature `webhooks`): constant-time token and HMAC checks, the replay window,
//!   the body cap and delivery de-duplication every backend's webhook receiver uses.
//!
//! A backend crate keeps its endpoints, wire model, ids, options and rate scheme; see
//! `docs/writing-a-backend.md`.

mod api_url;
mod auth;
mod client;
mod create;
mod lenient;
mod numbered_id;
mod options;
mod parameters;
pub mod rate;
mod reply;
mod retried;
mod runner;
pub mod telemetry;
mod token;
#[cfg(feature = "webhooks")]
pub mod webhook;

pub use api_url::{check_path_name, join_path, parse_api_url};
pub use auth::{Auth, MintedAuth, MintedToken, TokenMinter, bearer_value};
pub use client::{ClientSpec, HttpClient, KeyGuard, Request, SendError, Verdict};
pub use lenient::{Fields, decode_with};
pub use numbered_id::NumberedIds;
pub use options::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_RESPONSE_BYTES, HttpOptionKeys, HttpOptions, UnknownKeys,
    non_empty,
};
pub use parameters::{
    CountsAs, KeyedTrigger, ParameterKeys, keyed_capabilities, keyed_trigger, put_metadata, sq,
};
pub use rate::{BudgetKey, BudgetStore, RateObservation, RateScheme};
pub use reply::{Operation, Reply, human_message};
pub use retried::{RETRIED_CAPACITY, RETRIED_TTL, RETRY_PENDING_KEY, RetriedBuilds};
pub use runner::{HttpBackend, HttpParts, HttpRunner};
pub use token::Token;

/// Re-exported so backends name the same types the client uses.
pub use reqwest::{Method, StatusCode, header};
pub use url::{Url, form_urlencoded};
/// Runs `read` once more when its answer could not be understood ([`Error::Protocol`]: a
/// proxy's garbled page, a cut body): for a step that must know a build's state before it
/// acts (a cancel that reads first), where acting on a guess is worse than a second read.
///
/// # Errors
///
/// The second read's error, or the first's when it was not a protocol error.
///
/// [`Error::Protocol`]: buildrunner_api::Error::Protocol
pub async fn read_again_if_unreadable<T, F, Fut>(read: F) -> buildrunner_api::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = buildrunner_api::Result<T>>,
{
    match read().await {
        Err(buildrunner_api::Error::Protocol { message, .. }) => {
            tracing::warn!(%message, "the answer could not be read; reading again");
            read().await
        }
        other => other,
    }
}

/// A fresh random dispatch id, 32 lowercase hex digits: what a backend stamps on a trigger
/// without an idempotency key, so that a create whose outcome is unknown can still be found
/// (and distinct requests are never merged by a CI that merges identical ones).
pub fn dispatch_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// What a backend of a real CI over HTTP declares by the nature of it: its builds have a web
/// page (`web_url`), its ids are the CI's and survive a restart, a cancel shows in the
/// status, and its sample pipelines honour the outcome markers. Every other capability is
/// off: a backend adds what it does on top, so a new flag never claims behaviour by default.
pub const CI_CAPABILITIES: buildrunner_api::Capabilities = buildrunner_api::Capabilities {
    web_url: true,
    status_survives_restart: true,
    cancel_observable: true,
    outcome_markers: true,
    ..buildrunner_api::Capabilities::NONE
};
