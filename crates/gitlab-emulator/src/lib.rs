//! A stateful fake of the GitLab CI pipelines API (REST v4), for tests, conformance runs,
//! benchmarks and demos without a GitLab account.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /api/v4/projects/{project}/pipeline` | 201 + pipeline; 400 without `ref`, for `variables` that are not `[{key, value}]` strings, or a `trigger-error` marker |
//! | `GET /api/v4/projects/{project}/pipelines/{id}` | 200 + pipeline; 404; 500 for a `status-error` pipeline |
//! | `GET …/pipelines/{id}/variables` | 200 + `[{key, variable_type, value}]` |
//! | `GET …/pipelines` | newest first; `name`, `source`, `status`, `ref`; `page`, `per_page` (≤ 100) and `Link` |
//! | `POST …/pipelines/{id}/cancel` | 200 + the pipeline, whatever its state (GitLab's documented quirk): `canceling` for a running one, unchanged for a finished or `manual` one |
//!
//! `{project}` is a numeric id or a URL-encoded path (`group%2Fsub%2Fproject`). Requests need
//! `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>` (401 `{"message": "401
//! Unauthorized"}` otherwise). The sample `.gitlab-ci.yml`'s `workflow: name:` rule is applied: a
//! pipeline with variable `BUILDRUNNER_KEY` is named `buildrunner <key>`.
//!
//! Pipelines go `pending` → `running` → `success`; outcome markers in `SQ_HEAD_URIS` decide the
//! end (`fail` → `failed`, `hang` runs until cancelled, `block` → `manual` until cancelled,
//! which GitLab refuses, `status-error` → 500 on reads). Every answer carries GitLab's
//! `RateLimit-*` headers (reset as epoch seconds) when a limit is set; past it, 429 with
//! `Retry-After` and the plain-text body `Retry later`. Pipeline creation has its own limit per
//! project ([`EmulatorConfig::create_limit`]) that the headers do not show, as on gitlab.com.

mod server;
mod state;
mod webhooks;

use std::net::SocketAddr;

use emulator_engine::{LOOPBACK, Served};

pub use emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::PipelineSnapshot;

/// How an emulator behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The only token accepted.
    pub token: String,
    /// Step durations.
    pub timings: Timings,
    /// The authenticated API limit per token, off when `None`.
    pub rate_limit: Option<RateLimit>,
    /// The pipeline-creation limit per project (gitlab.com: 25 a minute), off when `None`;
    /// it is not reflected in the headers.
    pub create_limit: Option<RateLimit>,
    /// How many requests the log keeps.
    pub request_log_capacity: usize,
}

impl EmulatorConfig {
    /// Defaults sized for tests: pipelines finish within about a tenth of a second.
    pub fn new(token: impl Into<String>) -> Self {
        EmulatorConfig {
            token: token.into(),
            timings: Timings::default(),
            rate_limit: None,
            create_limit: None,
            request_log_capacity: 100_000,
        }
    }

    /// Sets the step durations.
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// Turns on the API rate limit.
    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Turns on the pipeline-creation limit.
    pub fn with_create_limit(mut self, limit: RateLimit) -> Self {
        self.create_limit = Some(limit);
        self
    }
}

/// A running emulator on a loopback port. Dropping it stops the server. Faults, rate limits
/// and the request log are [`Emulated`]'s methods.
#[derive(Debug)]
pub struct Emulator(Served<state::State>);

impl Emulator {
    /// Sends a webhook to `target` on every state change of the builds created from now on,
    /// with the target's faults; returns what the sender counts.
    pub fn send_webhooks(&self, target: WebhookTarget) -> std::sync::Arc<WebhookCounts> {
        self.0.send_webhooks(target)
    }

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

    /// The root to configure a client with (`api_url`), e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Forces a pipeline into a raw status (any string); it stays there until forced again.
    ///
    /// Returns `false` when there is no such pipeline.
    pub fn force_status(&self, pipeline_id: u64, status: &str) -> bool {
        self.0.state().force_status(pipeline_id, status)
    }

    /// A snapshot of one pipeline, as the API would report it now.
    pub fn pipeline(&self, pipeline_id: u64) -> Option<PipelineSnapshot> {
        self.0.state().snapshot(pipeline_id)
    }

    /// How many pipelines exist.
    pub fn pipeline_count(&self) -> usize {
        self.0.state().pipeline_count()
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
        self.0.state().pipeline_count()
    }
}
