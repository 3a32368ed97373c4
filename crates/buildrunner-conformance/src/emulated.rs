//! Harnesses written once for every backend: one over an in-process emulator (for the suite
//! and the fault matrix) and one over a live API. A backend crate describes how to start its
//! emulator and make runners; these do the rest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_http::HttpOptions;
use emulator_engine::Emulated;

use crate::faults::{FaultEnvironment, FaultHarness};
use crate::{Environment, Harness, RunnerEnvironment, Timing};

/// Makes runners over one set of builds (one emulator, one live project).
pub type RunnerFactory = Arc<dyn Fn() -> Result<Arc<dyn BuildRunner>, String> + Send + Sync>;

/// A started emulator and what the harnesses need of it.
pub struct Emulation {
    /// The emulator; stopped when the environment is dropped.
    pub emulator: Box<dyn Emulated>,
    /// Makes runners on it.
    pub runners: RunnerFactory,
    /// An id with the backend's format that names no build there.
    pub unknown_build_id: BuildId,
    /// Ids the backend must reject without a request.
    pub malformed_build_ids: Vec<BuildId>,
}

/// What a backend tested against an in-process emulator provides.
#[async_trait]
pub trait EmulatedBackend: Send + Sync + 'static {
    /// The registered backend name.
    fn backend(&self) -> &'static str;

    /// What its runners declare.
    fn capabilities(&self) -> Capabilities;

    /// Whether a trigger without an idempotency key still stamps a key the backend looks up.
    fn unkeyed_triggers_are_keyed(&self) -> bool;

    /// Starts a fresh emulator with runners on it that use `http`.
    async fn start(&self, http: HttpOptions) -> Result<Emulation, String>;
}

/// The client options of the suite against an emulator: short timeouts, few retries.
pub fn emulator_http_options() -> HttpOptions {
    HttpOptions {
        request_timeout: Duration::from_secs(5),
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_retry_wait: Duration::from_secs(2),
        ..HttpOptions::default()
    }
}

/// The harness of an [`EmulatedBackend`], for the suite and the fault matrix.
pub struct EmulatorHarness<B>(pub B);

#[async_trait]
impl<B: EmulatedBackend> Harness for EmulatorHarness<B> {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    fn describe(&self) -> String {
        "in-process emulator".to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let emulation = self.0.start(emulator_http_options()).await?;
        let runners = emulation.runners;
        Ok(Box::new(RunnerEnvironment::new(
            move || runners(),
            emulation.unknown_build_id,
            emulation.malformed_build_ids,
            emulation.emulator,
        )?))
    }
}

#[async_trait]
impl<B: EmulatedBackend> FaultHarness for EmulatorHarness<B> {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    fn unkeyed_triggers_are_keyed(&self) -> bool {
        self.0.unkeyed_triggers_are_keyed()
    }

    async fn environment(&self, http: HttpOptions) -> Result<FaultEnvironment, String> {
        let emulation = self.0.start(http).await?;
        Ok(FaultEnvironment::new(
            (emulation.runners)()?,
            emulation.emulator,
        ))
    }
}

/// A harness over a live CI API: real pipelines cannot make the API refuse a request, so
/// the error-marker checks are skipped, and builds take minutes.
pub struct LiveHarness {
    /// The registered backend name.
    pub backend: &'static str,
    /// Where it runs, for the matrix: `"live API, acme/app"`.
    pub describe: String,
    /// What its runners declare.
    pub capabilities: Capabilities,
    /// Speeds and limits of the real CI.
    pub timing: Timing,
    /// Makes runners on the live project.
    pub runners: RunnerFactory,
    /// An id with the backend's format that names no build there.
    pub unknown_build_id: BuildId,
    /// Ids the backend must reject without a request.
    pub malformed_build_ids: Vec<BuildId>,
}

#[async_trait]
impl Harness for LiveHarness {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn error_markers(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        self.timing
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let runners = Arc::clone(&self.runners);
        Ok(Box::new(RunnerEnvironment::new(
            move || runners(),
            self.unknown_build_id.clone(),
            self.malformed_build_ids.clone(),
            (),
        )?))
    }
}

/// Reads every named environment variable, or says which to set.
///
/// # Errors
///
/// A sentence naming all of them when any is unset or empty.
pub fn live_vars<const N: usize>(names: [&str; N]) -> Result<[String; N], String> {
    let mut values = Vec::with_capacity(N);
    for name in names {
        match std::env::var(name).ok().filter(|v| !v.is_empty()) {
            Some(value) => values.push(value),
            None => return Err(format!("set {}", names.join(", "))),
        }
    }
    values
        .try_into()
        .map_err(|_| "environment variables could not be read".to_owned())
}
