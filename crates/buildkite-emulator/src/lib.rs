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
//! Lifecycles, faults, rate windows and the request log are the shared [`emulator_engine`];
//! this crate only speaks Buildkite's wire format.
//!
//! With [`Emulator::send_webhooks`] it also POSTs Buildkite's build webhooks (token or
//! signature mode) to a URL on every state change, with faults: drop, delay, duplicate,
//! reorder, bad signature.
//!
//! Tests can force any raw state ([`Emulator::force_state`]), inject faults into the next
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

use std::net::SocketAddr;
use std::time::Duration;

use emulator_engine::{LOOPBACK, Served};

pub use emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::BuildSnapshot;

/// How an emulator behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The only bearer token accepted.
    pub token: String,
    /// How long a new build stays `scheduled`.
    pub scheduled: Duration,
    /// How long a build runs before it finishes (a `fail` build is `failing` for the second half).
    pub running: Duration,
    /// How long a cancelled build stays `canceling` before it is `canceled`.
    pub canceling: Duration,
    /// How many jobs each build carries; a poll without `exclude_jobs=true` downloads them all.
    pub jobs_per_build: usize,
    /// Rate limiting, off when `None`.
    pub rate_limit: Option<RateLimit>,
    /// GraphQL complexity points per window (one point a build asked for), off when `None`.
    pub graphql_rate_limit: Option<RateLimit>,
    /// How many requests the log keeps; older ones are dropped first.
    pub request_log_capacity: usize,
}

impl EmulatorConfig {
    /// Defaults sized for tests: builds finish within about a tenth of a second.
    pub fn new(token: impl Into<String>) -> Self {
        EmulatorConfig {
            token: token.into(),
            scheduled: Duration::from_millis(20),
            running: Duration::from_millis(80),
            canceling: Duration::from_millis(20),
            jobs_per_build: 3,
            rate_limit: None,
            graphql_rate_limit: None,
            request_log_capacity: 100_000,
        }
    }

    /// Sets the step durations.
    pub fn with_timings(
        mut self,
        scheduled: Duration,
        running: Duration,
        canceling: Duration,
    ) -> Self {
        self.scheduled = scheduled;
        self.running = running;
        self.canceling = canceling;
        self
    }

    /// Sets how many jobs each build carries.
    pub fn with_jobs_per_build(mut self, jobs: usize) -> Self {
        self.jobs_per_build = jobs;
        self
    }

    /// Turns on rate limiting.
    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Turns on GraphQL's point limit (Buildkite's default: 20,000 points per 5 minutes).
    pub fn with_graphql_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.graphql_rate_limit = Some(rate_limit);
        self
    }
}

/// A running emulator on a loopback port. Dropping it stops the server. Faults, rate
/// limits and the request log are [`Emulated`]'s methods.
#[derive(Debug)]
pub struct Emulator(Served<state::State>);

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a port the OS picks.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_on(config, LOOPBACK).await
    }

    /// Starts an emulator on the given address.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start_on(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emulator> {
        let state = |base_url| state::State::new(config, base_url);
        Ok(Emulator(Served::start(addr, state, server::routes).await?))
    }

    /// The API root to configure a client with, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// Forces a build into a raw state (any string, including ones Buildkite has not
    /// invented) with the given `blocked` flag; it stays there until cancelled or forced again.
    ///
    /// Returns `false` when there is no such build.
    pub fn force_state(
        &self,
        organization: &str,
        pipeline: &str,
        number: u64,
        state: &str,
        blocked: bool,
    ) -> bool {
        self.0
            .state()
            .force_state(organization, pipeline, number, state, blocked)
    }

    /// A snapshot of one build, as the API would report it now.
    pub fn build(&self, organization: &str, pipeline: &str, number: u64) -> Option<BuildSnapshot> {
        self.0.state().snapshot(organization, pipeline, number)
    }

    /// Snapshots of every build of a pipeline, oldest first.
    pub fn builds(&self, organization: &str, pipeline: &str) -> Vec<BuildSnapshot> {
        self.0.state().snapshots(organization, pipeline)
    }

    /// How many builds exist across every pipeline.
    pub fn build_count(&self) -> usize {
        self.0.state().build_count()
    }

    /// Sends a webhook to `target` on every state change of the builds created from now on
    /// (`build.scheduled`, `build.running`, `build.failing`, `build.finished`), with the
    /// target's faults; returns what the sender counts.
    pub fn send_webhooks(&self, target: WebhookTarget) -> std::sync::Arc<WebhookCounts> {
        self.0.send_webhooks(target)
    }
}

impl Emulated for Emulator {
    fn api_url(&self) -> String {
        self.0.url()
    }

    fn engine(&self) -> &emulator_engine::Engine {
        &self.0.state().engine
    }

    fn builds_created(&self) -> usize {
        self.0.state().build_count()
    }
}
