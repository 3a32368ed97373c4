//! The conformance suite: one set of checks every buildrunner backend must pass.
//!
//! The suite is a list of plain async [`CHECKS`] over an `Arc<dyn BuildRunner>`, and a
//! [fault matrix](faults) for HTTP backends. A backend runs both from its own test target,
//! `tests/conformance.rs` with `harness = false`, by describing how to test it and calling
//! [`Suite::run`]: an [`EmulatedBackend`] (start its emulator, make runners on it) for an
//! HTTP backend, or a [`Harness`] of its own making that prepares a fresh [`Environment`]
//! per check (a runner, a way to make a second, fresh runner over the same builds, and ids
//! that are unknown or malformed for it). The suite never names a backend: adding one never
//! edits it, and a backend in another repository runs it from crates.io the same way.
//!
//! A check that needs a capability the backend does not declare (see [`Capabilities`]) is
//! reported as skipped with the capability's name, never as passed. Each check is a
//! libtest-mimic trial named `[backend] check`, so `cargo test --test conformance --
//! metadata` runs one. `cargo xtask conformance` runs every workspace package's
//! `conformance` target and prints one matrix; see `docs/conformance.md`.
//!
//! See [`Suite`] for a complete `tests/conformance.rs`.

mod checks;
mod emulated;
pub mod faults;
pub mod report;
mod suite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};

pub use checks::CHECKS;
pub use emulated::{
    BoxFuture, EmulatedBackend, EmulatorHarness, LiveHarness, RunnerFactory, StartedEmulator,
    emulator_http_options, http_runners, live_vars, runner_factory, started, token_runners,
    unknown_path_id,
};
pub use suite::{BACKEND_VAR, FAULT_MATRIX_TRIAL, LIVE_VAR, REPORT_DIR_VAR, Suite};

/// What a check concludes: `Err` carries what went wrong.
pub type CheckResult = Result<(), String>;

/// One prepared place to run one check in: a runner over a fresh set of builds.
#[async_trait]
pub trait Environment: Send + Sync {
    /// The runner under test; every call returns the same shared instance.
    fn runner(&self) -> Arc<dyn BuildRunner>;

    /// A second, fresh instance over the same builds, as a restarted process would make.
    async fn fresh_runner(&self) -> Result<Arc<dyn BuildRunner>, String>;

    /// An id with this backend's format that names no build.
    fn unknown_build_id(&self) -> BuildId;

    /// Ids this backend must reject as malformed or foreign without sending anything.
    fn malformed_build_ids(&self) -> Vec<BuildId>;
}

/// The [`Environment`] most harnesses need: a runner, a way to make a fresh one over the
/// same builds, the ids to try, and whatever must live as long as the environment (an
/// in-process emulator, say).
pub struct RunnerEnvironment {
    runner: Arc<dyn BuildRunner>,
    fresh: Box<dyn Fn() -> Result<Arc<dyn BuildRunner>, String> + Send + Sync>,
    unknown: BuildId,
    malformed: Vec<BuildId>,
    _keep_alive: Box<dyn std::any::Any + Send + Sync>,
}

impl RunnerEnvironment {
    /// An environment whose runners `make` builds; `keep_alive` is dropped with it.
    ///
    /// # Errors
    ///
    /// Whatever `make` fails with for the first runner.
    pub fn new(
        make: impl Fn() -> Result<Arc<dyn BuildRunner>, String> + Send + Sync + 'static,
        unknown: BuildId,
        malformed: Vec<BuildId>,
        keep_alive: impl std::any::Any + Send + Sync,
    ) -> Result<Self, String> {
        Ok(RunnerEnvironment {
            runner: make()?,
            fresh: Box::new(make),
            unknown,
            malformed,
            _keep_alive: Box::new(keep_alive),
        })
    }
}

#[async_trait]
impl Environment for RunnerEnvironment {
    fn runner(&self) -> Arc<dyn BuildRunner> {
        Arc::clone(&self.runner)
    }

    async fn fresh_runner(&self) -> Result<Arc<dyn BuildRunner>, String> {
        (self.fresh)()
    }

    fn unknown_build_id(&self) -> BuildId {
        self.unknown.clone()
    }

    fn malformed_build_ids(&self) -> Vec<BuildId> {
        self.malformed.clone()
    }
}

/// Malformed and foreign ids for a backend whose ids are `{prefix}/{number}`
/// (`org/pipeline/42`, `owner/repo/30433642`): the prefix alone, bad numbers, an extra
/// segment, and the prefix with each of its segments changed.
pub fn malformed_path_ids(prefix: &str) -> Vec<BuildId> {
    let segments: Vec<&str> = prefix.split('/').collect();
    let foreign = (0..segments.len()).map(|i| {
        let mut changed = segments.clone();
        let other = format!("{}-other", segments[i]);
        changed[i] = &other;
        format!("{}/1", changed.join("/"))
    });
    [
        String::new(),
        "42".to_owned(),
        prefix.to_owned(),
        format!("{prefix}/0"),
        format!("{prefix}/042"),
        format!("{prefix}/x"),
        format!("{prefix}/-1"),
        format!("{prefix}/1/extra"),
    ]
    .into_iter()
    .chain(foreign)
    .map(BuildId::new)
    .collect()
}

/// How fast a harness's builds move, and how hard the suite may push it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Pause between two polls of one build.
    pub poll_interval: Duration,
    /// How long a build may take to reach the state a check waits for.
    pub lifecycle_timeout: Duration,
    /// How many operations the concurrency checks run at once (a live API has a rate limit).
    pub concurrency: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll_interval: Duration::from_millis(10),
            lifecycle_timeout: Duration::from_secs(15),
            concurrency: 100,
        }
    }
}

/// What a backend provides so the suite can test it.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The registered backend name this harness tests.
    fn backend(&self) -> &'static str;

    /// A short description of where it runs: `"in process"`, `"in-process emulator"`, `"live API"`.
    fn describe(&self) -> String;

    /// The capabilities the backend declares; checks outside them are skipped.
    fn capabilities(&self) -> Capabilities;

    /// Whether `trigger-error` and `status-error` markers can be honoured here. A live CI
    /// pipeline can fail or hang a build but cannot make the API refuse a request.
    fn error_markers(&self) -> bool {
        true
    }

    /// Speeds and limits.
    fn timing(&self) -> Timing {
        Timing::default()
    }

    /// Prepares a fresh environment for one check.
    async fn environment(&self) -> Result<Box<dyn Environment>, String>;
}

/// Something a check needs from a backend or harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// [`Capabilities::metadata_round_trip`].
    MetadataRoundTrip,
    /// [`Capabilities::web_url`].
    WebUrl,
    /// [`Capabilities::idempotent_trigger`].
    IdempotentTrigger,
    /// [`Capabilities::status_survives_restart`].
    StatusSurvivesRestart,
    /// [`Capabilities::cancel_observable`].
    CancelObservable,
    /// [`Capabilities::outcome_markers`].
    OutcomeMarkers,
    /// [`Capabilities::job_reports`].
    JobReports,
    /// [`Capabilities::retry_failed`].
    RetryFailed,
    /// [`Harness::error_markers`].
    ErrorMarkers,
}

impl Need {
    fn met(self, capabilities: &Capabilities, harness: &dyn Harness) -> bool {
        match self {
            Need::MetadataRoundTrip => capabilities.metadata_round_trip,
            Need::WebUrl => capabilities.web_url,
            Need::IdempotentTrigger => capabilities.idempotent_trigger,
            Need::StatusSurvivesRestart => capabilities.status_survives_restart,
            Need::CancelObservable => capabilities.cancel_observable,
            Need::OutcomeMarkers => capabilities.outcome_markers,
            Need::JobReports => capabilities.job_reports,
            Need::RetryFailed => capabilities.retry_failed,
            Need::ErrorMarkers => harness.error_markers(),
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Need::MetadataRoundTrip => "capability metadata_round_trip is not declared",
            Need::WebUrl => "capability web_url is not declared",
            Need::IdempotentTrigger => "capability idempotent_trigger is not declared",
            Need::StatusSurvivesRestart => "capability status_survives_restart is not declared",
            Need::CancelObservable => "capability cancel_observable is not declared",
            Need::OutcomeMarkers => "capability outcome_markers is not declared",
            Need::JobReports => "capability job_reports is not declared",
            Need::RetryFailed => "capability retry_failed is not declared",
            Need::ErrorMarkers => "this harness cannot inject trigger or status errors",
        }
    }
}

/// What one check receives.
pub struct Context<'a> {
    /// The environment prepared for this check.
    pub env: &'a dyn Environment,
    /// Speeds and limits of the harness.
    pub timing: Timing,
}

/// The future a check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + 'a>>;

/// One check of the suite.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its name, as trials and the matrix show it.
    pub name: &'static str,
    /// What it proves, in one line.
    pub proves: &'static str,
    /// What it needs; it is skipped when any is missing.
    pub needs: &'static [Need],
    /// Runs it.
    pub run: for<'a> fn(&'a Context<'a>) -> CheckFuture<'a>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// Why this check does not apply to a harness, or `None` when it does.
    pub fn skip_reason(&self, harness: &dyn Harness) -> Option<String> {
        let capabilities = harness.capabilities();
        let missing: Vec<_> = self
            .needs
            .iter()
            .filter(|need| !need.met(&capabilities, harness))
            .map(|need| need.explain())
            .collect();
        (!missing.is_empty()).then(|| missing.join("; "))
    }

    /// Runs the check in a fresh environment of `harness`, bounded by a deadline.
    ///
    /// Fails when the environment cannot be prepared, when the runner declares other
    /// capabilities than the harness says, or when the check itself fails or times out.
    pub async fn run_against(&self, harness: &dyn Harness) -> CheckResult {
        let env = harness
            .environment()
            .await
            .map_err(|e| format!("could not prepare an environment: {e}"))?;
        let declared = env.runner().capabilities();
        if declared != harness.capabilities() {
            return Err(format!(
                "the runner declares {declared:?} but its harness says {:?}",
                harness.capabilities()
            ));
        }
        let timing = harness.timing();
        let cx = Context {
            env: env.as_ref(),
            timing,
        };
        let deadline = timing.lifecycle_timeout * 4;
        match tokio::time::timeout(deadline, (self.run)(&cx)).await {
            Ok(result) => result,
            Err(_) => Err(format!("did not finish within {deadline:?}")),
        }
    }
}
