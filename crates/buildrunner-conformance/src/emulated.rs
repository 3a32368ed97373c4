//! Harnesses written once for every backend: one over an in-process emulator (for the suite
//! and the fault matrix) and one over a live API. A backend crate describes how to start its
//! emulator and make runners; these do the rest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_emulator_engine::Emulated;
use buildrunner_http::{HttpBackend, HttpOptions, HttpRunner, Token};

use crate::faults::{FaultEnvironment, FaultHarness};
use crate::{Environment, Harness, RunnerEnvironment, Timing, malformed_path_ids};

/// Makes runners over one set of builds (one emulator, one live project).
pub type RunnerFactory = Arc<dyn Fn() -> Result<Arc<dyn BuildRunner>, String> + Send + Sync>;

/// How a backend is tested against an in-process emulator: a `const` descriptor, so the
/// harness's lifecycle (start an emulator, make runners on it, stop it with the
/// environment) is written once, here.
#[derive(Clone, Copy)]
pub struct EmulatedBackend {
    /// The registered backend name.
    pub backend: &'static str,
    /// What its runners declare.
    pub capabilities: Capabilities,
    /// Whether a trigger without an idempotency key still stamps a key the backend looks up.
    pub unkeyed_triggers_are_keyed: bool,
    /// Whether a cancel must read its answer's body (see [`FaultHarness::cancel_reads_its_answer`]).
    pub cancel_reads_its_answer: bool,
    /// Starts a fresh emulator.
    pub start_emulator: fn() -> BoxFuture<Result<StartedEmulator, String>>,
    /// Makes runners against `api_url` with these client options.
    pub runners: fn(api_url: &str, http: HttpOptions) -> Result<RunnerFactory, String>,
    /// What build ids of the emulated project start with (`acme/conformance`); unknown and
    /// malformed ids are made from it.
    pub id_prefix: &'static str,
}

/// An emulator running in this process, stopped when dropped.
pub type StartedEmulator = Box<dyn Emulated>;

/// A boxed future, as the descriptor's function pointers return.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A started emulator and runners on it.
struct Emulation {
    emulator: Box<dyn Emulated>,
    runners: RunnerFactory,
}

impl EmulatedBackend {
    async fn start(&self, http: HttpOptions) -> Result<Emulation, String> {
        let emulator = (self.start_emulator)().await?;
        let runners = (self.runners)(&emulator.api_url(), http)?;
        Ok(Emulation { emulator, runners })
    }
}

/// An emulator a harness started, boxed as [`EmulatedBackend::start_emulator`] returns it, or
/// why it could not start.
///
/// # Errors
///
/// The start's I/O error (no port could be bound), as text.
pub fn started(emulator: std::io::Result<impl Emulated>) -> Result<StartedEmulator, String> {
    emulator
        .map(|emulator| Box::new(emulator) as StartedEmulator)
        .map_err(|e| format!("could not start the emulator: {e}"))
}

/// A [`RunnerFactory`] of `make` (a backend's constructor with its configuration and
/// credential), as [`EmulatedBackend::runners`] and [`LiveHarness::runners`] take it; a
/// construction error becomes its text.
pub fn runner_factory<R: BuildRunner + 'static>(
    make: impl Fn() -> buildrunner_api::Result<R> + Send + Sync + 'static,
) -> RunnerFactory {
    Arc::new(move || {
        make()
            .map(|runner| Arc::new(runner) as Arc<dyn BuildRunner>)
            .map_err(|e| e.to_string())
    })
}

/// A [`RunnerFactory`] of the HTTP backend `B`: runners for the queue `conformance`, each with
/// `config` and `credential`.
pub fn http_runners<B>(config: B::Config, credential: B::Credential) -> RunnerFactory
where
    B: HttpBackend,
    B::Config: Clone + 'static,
    B::Credential: Clone + Send + Sync + 'static,
{
    runner_factory(move || HttpRunner::<B>::new("conformance", config.clone(), credential.clone()))
}

/// [`http_runners`] of a backend that authenticates with a [`Token`].
///
/// # Errors
///
/// `token` is not a usable token (empty, or not a header value), as text.
pub fn token_runners<B>(config: B::Config, token: &str) -> Result<RunnerFactory, String>
where
    B: HttpBackend<Credential = Token>,
    B::Config: Clone + 'static,
{
    let token = Token::new(token).map_err(|e| e.to_string())?;
    Ok(http_runners::<B>(config, token))
}

/// An id of the `{prefix}/{number}` shape that names no build.
pub fn unknown_path_id(prefix: &str) -> BuildId {
    BuildId::new(format!("{prefix}/987654321"))
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
pub struct EmulatorHarness(pub EmulatedBackend);

#[async_trait]
impl Harness for EmulatorHarness {
    fn backend(&self) -> &'static str {
        self.0.backend
    }

    fn describe(&self) -> String {
        "in-process emulator".to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let emulation = self.0.start(emulator_http_options()).await?;
        let runners = emulation.runners;
        Ok(Box::new(RunnerEnvironment::new(
            move || runners(),
            unknown_path_id(self.0.id_prefix),
            malformed_path_ids(self.0.id_prefix),
            emulation.emulator,
        )?))
    }
}

#[async_trait]
impl FaultHarness for EmulatorHarness {
    fn backend(&self) -> &'static str {
        self.0.backend
    }

    fn unkeyed_triggers_are_keyed(&self) -> bool {
        self.0.unkeyed_triggers_are_keyed
    }

    fn cancel_reads_its_answer(&self) -> bool {
        self.0.cancel_reads_its_answer
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities
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
    /// What its runners declare.
    pub capabilities: Capabilities,
    /// Speeds and limits of the real CI.
    pub timing: Timing,
    /// Makes runners on the live project.
    pub runners: RunnerFactory,
    /// What build ids of the live project start with (`acme/app`).
    pub id_prefix: String,
}

#[async_trait]
impl Harness for LiveHarness {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn describe(&self) -> String {
        format!("live API, {}", self.id_prefix)
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
            unknown_path_id(&self.id_prefix),
            malformed_path_ids(&self.id_prefix),
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
