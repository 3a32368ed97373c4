//! A stateful fake of the GitHub Actions REST API, for tests, conformance runs, benchmarks
//! and demos without a GitHub account.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /repos/{o}/{r}/actions/workflows/{wf}/dispatches` | 200 + `workflow_run_id`, `run_url`, `html_url` with `return_run_details: true`; 204 without, or always in [`DispatchMode::NoRunDetails`]; 422 for an unexpected input, more than 25 inputs, no `ref`, or a `trigger-error` marker |
//! | `GET /repos/{o}/{r}/actions/runs/{id}` | 200 + run with a weak `ETag`; 304 for a matching `If-None-Match` (not counted against the rate limit); 404 |
//! | `GET /repos/{o}/{r}/actions/workflows/{wf}/runs` | `{"total_count", "workflow_runs"}` newest first; filters `event`, `status`, `created=>=TIME`; `page`, `per_page` (≤ 100) and a `Link` header |
//! | `POST /repos/{o}/{r}/actions/runs/{id}/cancel`, `.../force-cancel` | 202 `{}`; 409 "Cannot cancel a workflow run that is completed." |
//! | `POST /repos/{o}/{r}/actions/runs/{id}/rerun` | 201 `{}`: the same id starts over with `run_attempt` + 1; 403 while it runs |
//! | `POST /app/installations/{id}/access_tokens` | 201 + `token`, `expires_at`, for an RS256 JWT from the configured App signed with its key |
//!
//! Every other request needs `Authorization: Bearer <token>` with the configured token or an
//! installation token the emulator issued (401 otherwise). The `run-name` of the sample
//! workflow is applied: a dispatch with input `buildrunner_key` gets the display title
//! `buildrunner <key>`.
//!
//! Runs go `queued` → `in_progress` → `completed`. Outcome markers in the `sq_head_uris`
//! input decide the end: `fail` concludes `failure`, `hang` stays `in_progress` until
//! cancelled, `block` runs then `waiting` (for an approval) until cancelled, `status-error`
//! answers 500 to every read of the run. The primary rate limit counts per token with
//! GitHub's `x-ratelimit-*` headers (reset as epoch seconds) and answers 403 when spent; the
//! secondary limit counts dispatches and answers 403 with `retry-after`.
//!
//! Lifecycles, faults, rate windows and the request log are the shared [`emulator_engine`].

mod server;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use emulator_engine::{LOOPBACK, Served};

pub use emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::RunSnapshot;

/// An RSA key pair for tests of GitHub App authentication, never used anywhere real: the
/// emulator verifies App JWTs with the public half; tests sign them with the private half.
pub mod test_app_key {
    /// PKCS#1 PEM of the private key.
    pub const PRIVATE_KEY_PEM: &str = include_str!("keys/test-app-private.pem");
    /// SPKI PEM of the public key.
    pub const PUBLIC_KEY_PEM: &str = include_str!("keys/test-app-public.pem");
}

/// How the dispatch endpoint answers, as GitHub versions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// github.com since 2026-02: 200 with run details when asked for them, else 204.
    #[default]
    RunDetails,
    /// An older GitHub Enterprise Server that ignores `return_run_details`: always 204.
    NoRunDetails,
    /// An older GitHub Enterprise Server that rejects `return_run_details` with a 422.
    RejectsRunDetails,
}

/// A GitHub App the emulator accepts JWTs from.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The App id (`iss` of its JWTs).
    pub app_id: u64,
    /// The installation tokens can be made for.
    pub installation_id: u64,
    /// The App's public key, PEM.
    pub public_key_pem: String,
    /// How long an installation token lives (GitHub: one hour).
    pub token_ttl: Duration,
}

/// How an emulator behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// A token always accepted (a personal access token).
    pub token: String,
    /// Step durations.
    pub timings: Timings,
    /// The primary rate limit per token, off when `None`.
    pub rate_limit: Option<RateLimit>,
    /// The secondary (content creation) limit on dispatches per token, off when `None`.
    pub secondary_limit: Option<RateLimit>,
    /// How dispatch answers.
    pub dispatch: DispatchMode,
    /// The App whose installation tokens are accepted.
    pub app: Option<AppConfig>,
    /// The inputs the workflow declares; another is refused as GitHub does.
    pub workflow_inputs: Vec<String>,
    /// How many requests the log keeps.
    pub request_log_capacity: usize,
}

/// The inputs the sample workflow of `docs/backends/github-actions.md` declares.
pub const SAMPLE_WORKFLOW_INPUTS: [&str; 5] = [
    "sq_base_uris",
    "sq_head_uris",
    "sq_queue",
    "sq_metadata",
    "buildrunner_key",
];

impl EmulatorConfig {
    /// Defaults sized for tests: runs finish within about a tenth of a second.
    pub fn new(token: impl Into<String>) -> Self {
        EmulatorConfig {
            token: token.into(),
            timings: Timings::default(),
            rate_limit: None,
            secondary_limit: None,
            dispatch: DispatchMode::default(),
            app: None,
            workflow_inputs: SAMPLE_WORKFLOW_INPUTS.map(str::to_owned).to_vec(),
            request_log_capacity: 100_000,
        }
    }

    /// Sets the step durations.
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// Turns on the primary rate limit.
    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Turns on the secondary limit on dispatches.
    pub fn with_secondary_limit(mut self, limit: RateLimit) -> Self {
        self.secondary_limit = Some(limit);
        self
    }

    /// Sets how dispatch answers.
    pub fn with_dispatch(mut self, mode: DispatchMode) -> Self {
        self.dispatch = mode;
        self
    }

    /// Accepts installation tokens of this App.
    pub fn with_app(mut self, app: AppConfig) -> Self {
        self.app = Some(app);
        self
    }
}

/// A running emulator on a loopback port. Dropping it stops the server. Faults, rate
/// limits and the request log are [`Emulated`]'s methods.
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

    /// The API root to configure a client with, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Forces a run into a raw `status` and `conclusion` (any strings, including ones GitHub
    /// has not invented); it stays there until cancelled, re-run or forced again.
    ///
    /// Returns `false` when there is no such run.
    pub fn force_state(&self, run_id: u64, status: &str, conclusion: Option<&str>) -> bool {
        self.0.state().force_state(run_id, status, conclusion)
    }

    /// A snapshot of one run, as the API would report it now.
    pub fn run(&self, run_id: u64) -> Option<RunSnapshot> {
        self.0.state().snapshot(run_id)
    }

    /// Snapshots of every run of a repository, oldest first.
    pub fn runs(&self, owner: &str, repo: &str) -> Vec<RunSnapshot> {
        self.0.state().snapshots(owner, repo)
    }

    /// How many runs exist.
    pub fn run_count(&self) -> usize {
        self.0.state().run_count()
    }

    /// How many installation tokens were issued.
    pub fn token_exchanges(&self) -> usize {
        self.0.state().token_exchanges()
    }

    /// Makes every installation token issued so far invalid, as a revocation would.
    pub fn revoke_installation_tokens(&self) {
        self.0.state().revoke_installation_tokens();
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
        self.0.state().run_count()
    }
}
