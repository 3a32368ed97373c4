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
//! | `POST /repos/{o}/{r}/actions/runs/{id}/rerun-failed-jobs` | 201 `{}`: only the failed jobs run again (a `flaky` test passes) as `run_attempt` + 1, shown after [`GitHubOptions::rerun_lag`]; 403 while the run or a re-run is going, for a run without failed jobs, and past 50 re-runs |
//! | `GET /repos/{o}/{r}/actions/runs/{id}/jobs` | `{"total_count", "jobs": [{id, run_id, run_attempt, name, status, conclusion, html_url}]}` of the latest attempt |
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
//! Lifecycles, faults, rate windows and the request log are the shared [`buildrunner_emulator_engine`].

mod server;
mod state;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use buildrunner_emulator_engine::Emulation;

pub use buildrunner_emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::{RunSnapshot, State as GitHubActions};

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

/// The inputs the sample workflow of `docs/backends/github-actions.md` declares.
pub const SAMPLE_WORKFLOW_INPUTS: [&str; 5] = [
    "sq_base_uris",
    "sq_head_uris",
    "sq_queue",
    "sq_metadata",
    "buildrunner_key",
];

/// A running GitHub Actions emulator on a loopback port; dropping it stops the server.
/// Faults, rate limits and the request log are [`Emulated`]'s methods; runs are
/// [`GitHubActions`]'s.
pub type Emulator = buildrunner_emulator_engine::Emulator<GitHubActions>;

/// How a GitHub Actions emulator behaves: the engine's settings (the token is one always
/// accepted, a personal access token; the rate limit is the primary one, per token) and
/// [`GitHubOptions`].
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<GitHubOptions>;

/// What only the GitHub Actions emulator has.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitHubOptions {
    /// The secondary (content creation) limit on dispatches per token, off when `None`.
    pub secondary_limit: Option<RateLimit>,
    /// How dispatch answers.
    pub dispatch: DispatchMode,
    /// The App whose installation tokens are accepted.
    pub app: Option<AppConfig>,
    /// The inputs the workflow declares; another is refused as GitHub does.
    pub workflow_inputs: Vec<String>,
    /// How long after `rerun-failed-jobs` reads still show the earlier attempt: GitHub
    /// publishes a re-run late.
    pub rerun_lag: Duration,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        GitHubOptions {
            secondary_limit: None,
            dispatch: DispatchMode::default(),
            app: None,
            workflow_inputs: SAMPLE_WORKFLOW_INPUTS.map(str::to_owned).to_vec(),
            rerun_lag: Duration::from_millis(40),
        }
    }
}

/// The GitHub Actions emulator's own setters on its [`EmulatorConfig`].
pub trait GitHubConfig {
    /// Turns on the secondary limit on dispatches.
    fn with_secondary_limit(self, limit: RateLimit) -> Self;
    /// Sets how dispatch answers.
    fn with_dispatch(self, mode: DispatchMode) -> Self;
    /// Accepts installation tokens of this App.
    fn with_app(self, app: AppConfig) -> Self;
    /// Sets how long reads after a re-run still show the earlier attempt.
    fn with_rerun_lag(self, lag: Duration) -> Self;
}

impl GitHubConfig for EmulatorConfig {
    fn with_secondary_limit(self, limit: RateLimit) -> Self {
        self.with_platform(|options| options.secondary_limit = Some(limit))
    }

    fn with_dispatch(self, mode: DispatchMode) -> Self {
        self.with_platform(|options| options.dispatch = mode)
    }

    fn with_app(self, app: AppConfig) -> Self {
        self.with_platform(|options| options.app = Some(app))
    }

    fn with_rerun_lag(self, lag: Duration) -> Self {
        self.with_platform(|options| options.rerun_lag = lag)
    }
}

impl Emulation for GitHubActions {
    type Options = GitHubOptions;

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        GitHubActions::new(config, base_url)
    }

    fn routes(platform: Arc<Self>) -> axum::Router {
        server::routes(platform)
    }

    fn builds_created(&self) -> usize {
        self.run_count()
    }
}
