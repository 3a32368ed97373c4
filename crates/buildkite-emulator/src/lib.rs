//! A stateful fake of the Buildkite REST API v2, for tests, conformance runs, benchmarks and
//! demos without a Buildkite account.
//!
//! It speaks the subset of the API the buildrunner Buildkite backend uses, with Buildkite's
//! status codes and JSON shapes:
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /v2/organizations/{org}/pipelines/{pipeline}/builds` | 201 + build; 422 without `branch` or `commit`, or for a `trigger-error` marker |
//! | `GET …/builds/{number}` | 200 + build (honours `exclude_jobs`, `exclude_pipeline`); 404 |
//! | `PUT …/builds/{number}/cancel` | 200 + build; 422 when the build already finished |
//! | `PUT …/builds/{number}/jobs/{job}/retry` | 200 + the new job: the failed `test` job runs again under a new id (a `flaky` one passes) and the build runs again; 422 for a job that is not failed or was already retried |
//! | `GET …/builds` | newest first, filters `meta_data[k]=v`, `state`/`state[]`, `branch`; `page`, `per_page` (≤ 100) and a `Link` header |
//! | `POST /v1` (GraphQL) | `query { b0: build(slug: "org/pipeline/n") { number state blockedState url env } … }`; `null` and an error for an unknown build; one complexity point a build |
//!
//! Every request needs `Authorization: Bearer <token>` (401 otherwise).
//!
//! Builds live through `scheduled` → `running` → `passed`, with step durations from
//! [`EmulatorConfig`]. Outcome markers in `SQ_HEAD_URIS` (`buildrunner-outcome=<token>`)
//! change that: `fail` goes `running` → `failing` → `failed`; `hang` stays `running` until
//! cancelled (`canceling` → `canceled`); `trigger-error` refuses the create with a 422;
//! `status-error` answers every GET of the build with a 500; `block` runs, then waits at a
//! block step (`passed` with `blocked: true`) forever, and its cancel is refused with a 422 as
//! Buildkite refuses it.
//!
//! Lifecycles, faults, rate windows and the request log are the shared [`buildrunner_emulator_engine`];
//! this crate only speaks Buildkite's wire format.
//!
//! With [`Emulator::send_webhooks`](buildrunner_emulator_engine::Emulator::send_webhooks) it also POSTs Buildkite's build webhooks (token or
//! signature mode) to a URL on every state change, with faults: drop, delay, duplicate,
//! reorder, bad signature.
//!
//! Tests can force any raw state ([`Buildkite::force_state`]), inject faults into the next
//! requests ([`Emulated::inject`]), turn on rate limiting ([`Emulated::set_rate_limit`]) and
//! read the request log ([`Emulated::requests`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use buildkite_emulator::{Emulator, EmulatorConfig};
//!
//! let emulator = Emulator::start(EmulatorConfig::new("test-token")).await?;
//! println!("Buildkite API at {}", emulator.url());
//! assert_eq!(emulator.build_count(), 0);
//! # Ok(())
//! # }
//! ```

mod graphql;
mod server;
mod state;
mod webhooks;

use std::sync::Arc;

use buildrunner_emulator_engine::Emulation;

pub use buildrunner_emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::{BuildSnapshot, State as Buildkite};

/// A running Buildkite emulator on a loopback port; dropping it stops the server. Faults,
/// rate limits and the request log are [`Emulated`]'s methods; builds are [`Buildkite`]'s.
pub type Emulator = buildrunner_emulator_engine::Emulator<Buildkite>;

/// How a Buildkite emulator behaves: the engine's settings and [`BuildkiteOptions`].
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<BuildkiteOptions>;

/// What only the Buildkite emulator has.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildkiteOptions {
    /// How many jobs each build lists at least (`build`, a waiter, `test`, then passing
    /// `lint` shards); a poll without `exclude_jobs=true` downloads them all.
    pub jobs_per_build: usize,
    /// GraphQL complexity points per window (one point a build asked for), off when `None`.
    pub graphql_rate_limit: Option<RateLimit>,
}

impl Default for BuildkiteOptions {
    fn default() -> Self {
        BuildkiteOptions {
            jobs_per_build: 3,
            graphql_rate_limit: None,
        }
    }
}

/// The Buildkite emulator's own setters on its [`EmulatorConfig`].
pub trait BuildkiteConfig {
    /// Sets how many jobs each build carries.
    fn with_jobs_per_build(self, jobs: usize) -> Self;
    /// Turns on GraphQL's point limit (Buildkite's default: 20,000 points per 5 minutes).
    fn with_graphql_rate_limit(self, rate_limit: RateLimit) -> Self;
}

impl BuildkiteConfig for EmulatorConfig {
    fn with_jobs_per_build(self, jobs: usize) -> Self {
        self.with_platform(|options| options.jobs_per_build = jobs)
    }

    fn with_graphql_rate_limit(self, rate_limit: RateLimit) -> Self {
        self.with_platform(|options| options.graphql_rate_limit = Some(rate_limit))
    }
}

impl Emulation for Buildkite {
    type Options = BuildkiteOptions;

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        Buildkite::new(config, base_url)
    }

    fn routes(platform: Arc<Self>) -> axum::Router {
        server::routes(platform)
    }

    fn builds_created(&self) -> usize {
        self.build_count()
    }
}
