//! The fault matrix: every verb of an HTTP backend (`jobs` and `retry_failed` where it
//! declares them) against its emulator under every fault,
//! once (a transient fault that a retry gets past) and always (a fault that outlasts the
//! retries). Each cell checks that the call returns within its deadline, returns the right
//! error kind and retryability (or succeeds), and that a trigger never leaves more builds
//! than it should: none or one, and exactly one for a keyed trigger that succeeded.
//!
//! An [`EmulatedBackend`](crate::EmulatedBackend) given to [`Suite::emulated`](crate::Suite::emulated)
//! is a [`FaultHarness`]; its matrix runs as the trial `[backend] fault_matrix`, and
//! `cargo xtask faults` runs the same 12 faults against every HTTP backend of the workspace.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buildrunner_api::{BuildRunner, BuildStatus, Capabilities, Change, TriggerRequest};
use buildrunner_emulator_engine::{Emulated, Fault, FaultTarget};
use buildrunner_http::HttpOptions;

/// How long one request may take in the matrix.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
/// The retry budget of a call in the matrix.
pub const RETRY_BUDGET: Duration = Duration::from_secs(3);
/// The body cap in the matrix.
pub const BODY_CAP: usize = 64 * 1024;

/// The client options every matrix runner uses: short timeouts and a small body cap.
pub fn matrix_http_options() -> HttpOptions {
    HttpOptions {
        request_timeout: REQUEST_TIMEOUT,
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_retry_wait: RETRY_BUDGET,
        max_response_bytes: BODY_CAP,
        ..HttpOptions::default()
    }
}

/// A runner and the emulator it talks to.
pub struct FaultEnvironment {
    runner: Arc<dyn BuildRunner>,
    emulator: Box<dyn Emulated>,
}

impl FaultEnvironment {
    /// Pairs a runner with its emulator.
    pub fn new(runner: Arc<dyn BuildRunner>, emulator: Box<dyn Emulated>) -> Self {
        FaultEnvironment { runner, emulator }
    }
}

/// What a backend provides so the matrix can test it.
#[async_trait]
pub trait FaultHarness: Send + Sync {
    /// The registered backend name.
    fn backend(&self) -> &'static str;

    /// Whether a trigger without an idempotency key still stamps a key the backend can look
    /// up (a fresh dispatch id), so its unknown outcomes are settled like a keyed trigger's.
    fn unkeyed_triggers_are_keyed(&self) -> bool;

    /// Whether a cancel must read its answer's body to know what happened (a CI that answers
    /// 200 whatever the state, with the build): an unreadable answer is then checked by
    /// reading the build, and fails only when that cannot be read either.
    fn cancel_reads_its_answer(&self) -> bool {
        false
    }

    /// What the backend declares: the matrix covers `jobs` and `retry_failed` only where
    /// [`Capabilities::job_reports`] and [`Capabilities::retry_failed`] say so.
    fn capabilities(&self) -> Capabilities;

    /// A fresh emulator and a runner on it with these client options.
    async fn environment(&self, http: HttpOptions) -> Result<FaultEnvironment, String>;
}

/// A verb of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `status` of an existing build.
    Status,
    /// `cancel` of an existing, running build.
    Cancel,
    /// `trigger` without an idempotency key.
    Trigger,
    /// `trigger` with one.
    KeyedTrigger,
    /// `jobs` of an existing build.
    Jobs,
    /// `retry_failed` of a failed build.
    RetryFailed,
}

impl Verb {
    /// Whether a backend that declares `capabilities` has this verb.
    pub fn declared(self, capabilities: &Capabilities) -> bool {
        match self {
            Verb::Jobs => capabilities.job_reports,
            Verb::RetryFailed => capabilities.retry_failed,
            Verb::Status | Verb::Cancel | Verb::Trigger | Verb::KeyedTrigger => true,
        }
    }
}

/// Whether the fault hits once or every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Once: a retry gets past it.
    Once,
    /// Every request: it outlasts the retries.
    Always,
}

/// The 12 faults.
pub const FAULTS: [(&str, Fault); 12] = [
    ("500", Fault::Status(500)),
    ("502", Fault::Status(502)),
    ("503", Fault::Status(503)),
    ("504", Fault::Status(504)),
    ("429 + reset headers", Fault::RateLimited { reset_secs: 1 }),
    ("connection dropped", Fault::DropConnection),
    (
        "slower than timeout",
        Fault::SlowResponse(Duration::from_secs(1)),
    ),
    ("truncated JSON", Fault::TruncatedBody),
    ("JSON of wrong shape", Fault::WrongShape),
    ("HTML error page", Fault::HtmlError(502)),
    ("empty 200", Fault::EmptyOk),
    ("body over the cap", Fault::Oversized(4 * BODY_CAP)),
];

/// What a cell must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Success.
    Ok,
    /// An error of this kind and retryability.
    Err {
        /// [`buildrunner_api::Error::kind`].
        kind: &'static str,
        /// [`buildrunner_api::Error::is_retryable`].
        retryable: bool,
    },
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Ok => f.write_str("ok"),
            Expect::Err { kind, .. } => f.write_str(kind),
        }
    }
}

const UNAVAILABLE: Expect = Expect::Err {
    kind: "unavailable",
    retryable: true,
};
const RATE_LIMITED: Expect = Expect::Err {
    kind: "rate_limited",
    retryable: true,
};
const PROTOCOL: Expect = Expect::Err {
    kind: "protocol",
    retryable: false,
};

/// The contract, cell by cell. Mangling faults take effect on the server before the answer
/// goes wrong; the others never reach it.
pub fn expect(verb: Verb, fault: Fault, mode: Mode, backend: &dyn FaultHarness) -> Expect {
    let unkeyed_are_keyed = backend.unkeyed_triggers_are_keyed();
    let transient = matches!(
        fault,
        Fault::Status(_) | Fault::HtmlError(_) | Fault::DropConnection | Fault::SlowResponse(_)
    );
    let mangled = matches!(
        fault,
        Fault::TruncatedBody | Fault::WrongShape | Fault::EmptyOk | Fault::Oversized(_)
    );
    let rate_limited = matches!(fault, Fault::RateLimited { .. });
    match verb {
        Verb::Status | Verb::Jobs => match (mode, transient, rate_limited) {
            (_, false, false) => PROTOCOL,
            (Mode::Once, _, _) => Expect::Ok,
            (Mode::Always, true, _) => UNAVAILABLE,
            (Mode::Always, _, true) => RATE_LIMITED,
        },
        // A cancel that must read its answer checks the build when it cannot.
        Verb::Cancel if backend.cancel_reads_its_answer() && mangled => match mode {
            Mode::Once => Expect::Ok,
            Mode::Always => PROTOCOL,
        },
        // A cancel's answer body is not needed, only its status; an oversized one is still refused.
        Verb::Cancel => match (mode, transient, rate_limited) {
            _ if matches!(fault, Fault::Oversized(_)) => PROTOCOL,
            (_, false, false) => Expect::Ok,
            (Mode::Once, _, _) => Expect::Ok,
            (Mode::Always, true, _) => UNAVAILABLE,
            (Mode::Always, _, true) => RATE_LIMITED,
        },
        // A trigger that stamps a key finds out what happened once the fault is gone; every
        // request failing includes the look-ups.
        Verb::Trigger if unkeyed_are_keyed => match (mode, rate_limited) {
            (Mode::Once, _) => Expect::Ok,
            (Mode::Always, true) => RATE_LIMITED,
            (Mode::Always, false) => UNAVAILABLE,
        },
        // Without a key, a create whose outcome is unknown is reported, never repeated.
        Verb::Trigger => match (mode, rate_limited) {
            (Mode::Once, true) => Expect::Ok,
            (Mode::Always, true) => RATE_LIMITED,
            _ => UNAVAILABLE,
        },
        // With a key (and the look-ups spared), the backend finds out what happened; a retry
        // whose outcome is unknown is settled the same way, by reading the build.
        Verb::KeyedTrigger | Verb::RetryFailed => {
            match (mode, transient || mangled, rate_limited) {
                (Mode::Once, _, _) => Expect::Ok,
                (Mode::Always, _, true) => RATE_LIMITED,
                (Mode::Always, _, _) if mangled || matches!(fault, Fault::SlowResponse(_)) => {
                    Expect::Ok
                }
                (Mode::Always, _, _) => UNAVAILABLE,
            }
        }
    }
}

/// One cell's result.
#[derive(Debug)]
pub struct Cell {
    /// The verb.
    pub verb: Verb,
    /// The fault's name.
    pub fault: &'static str,
    /// Once or always.
    pub mode: Mode,
    /// What it had to end with.
    pub expected: Expect,
    /// What went wrong, if anything.
    pub problem: Option<String>,
}

/// Runs one cell against a fresh environment of `harness`.
pub async fn run_cell(
    harness: &dyn FaultHarness,
    verb: Verb,
    (name, fault): (&'static str, Fault),
    mode: Mode,
) -> Cell {
    let expected = expect(verb, fault, mode, harness);
    let problem = check_cell(harness, verb, fault, mode, expected).await.err();
    Cell {
        verb,
        fault: name,
        mode,
        expected,
        problem,
    }
}

fn request(uri: &str, key: Option<&str>) -> Result<TriggerRequest, String> {
    let builder = TriggerRequest::builder().head(Change::new([uri]));
    let builder = match key {
        Some(key) => builder.idempotency_key(key),
        None => builder,
    };
    builder.build().map_err(|e| e.to_string())
}

async fn check_cell(
    harness: &dyn FaultHarness,
    verb: Verb,
    fault: Fault,
    mode: Mode,
    expected: Expect,
) -> Result<(), String> {
    let FaultEnvironment { runner, emulator } = harness.environment(matrix_http_options()).await?;
    // A build to poll and cancel, made before any fault.
    let existing = runner
        .trigger(&request("https://x/seed?buildrunner-outcome=hang", None)?)
        .await
        .map_err(|e| format!("seeding failed: {e}"))?;
    // A failed (flaky) build to retry, finished before any fault.
    let failed = match verb {
        Verb::RetryFailed => Some(failed_build(runner.as_ref()).await?),
        _ => None,
    };
    let seeded = emulator.builds_created();
    let count = match mode {
        Mode::Once => 1,
        Mode::Always => 1000,
    };
    let target = match verb {
        // The keyed trigger's first look-up is a GET like status; aim at the create itself.
        Verb::KeyedTrigger => FaultTarget::Method("POST"),
        // A retry reads the build first; aim at the retry itself.
        Verb::RetryFailed => FaultTarget::Writes,
        _ => FaultTarget::Any,
    };
    emulator.engine().inject(target, count, fault);

    // A keyed create may spend one retry budget creating and another looking itself up.
    let settles_by_lookup = matches!(verb, Verb::KeyedTrigger | Verb::RetryFailed)
        || (verb == Verb::Trigger && harness.unkeyed_triggers_are_keyed());
    let deadline = if settles_by_lookup {
        2 * (RETRY_BUDGET + REQUEST_TIMEOUT) + Duration::from_secs(1)
    } else {
        RETRY_BUDGET + REQUEST_TIMEOUT + Duration::from_secs(1)
    };
    let under_test = match verb {
        Verb::KeyedTrigger => request("https://x/under-test", Some("fault-key"))?,
        _ => request("https://x/under-test", None)?,
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(deadline + Duration::from_secs(5), async {
        match verb {
            Verb::Status => runner.status(&existing).await.map(drop),
            Verb::Jobs => runner.jobs(&existing).await.map(drop),
            Verb::Cancel => runner.cancel(&existing).await,
            Verb::RetryFailed => match &failed {
                Some(id) => runner.retry_failed(id).await,
                None => Ok(()),
            },
            Verb::Trigger | Verb::KeyedTrigger => runner.trigger(&under_test).await.map(drop),
        }
    })
    .await
    .map_err(|_| format!("never returned (deadline {deadline:?})"))?;
    let took = started.elapsed();
    if took > deadline {
        return Err(format!(
            "returned after {took:?}, past its deadline {deadline:?}"
        ));
    }
    // Let requests the server is still sitting on (slow answers) land before counting builds.
    emulator.engine().clear_faults();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let created = emulator.builds_created() - seeded;

    // A create answered in its headers (a `Location` and an empty body) loses
    // nothing when only the body is cut: one build and success are then the right answer.
    let answered_in_headers =
        verb == Verb::Trigger && fault == Fault::TruncatedBody && outcome.is_ok() && created == 1;
    match (&outcome, expected) {
        (Ok(()), Expect::Ok) => {}
        (Ok(()), _) if answered_in_headers => {}
        (Err(error), Expect::Err { kind, retryable })
            if error.kind() == kind && error.is_retryable() == retryable => {}
        (outcome, expected) => return Err(format!("expected {expected}, got {outcome:?}")),
    }
    match verb {
        Verb::Status | Verb::Cancel | Verb::Jobs | Verb::RetryFailed if created != 0 => {
            Err(format!("{created} builds appeared"))
        }
        Verb::Trigger if created > 1 => Err(format!("one trigger left {created} builds")),
        Verb::KeyedTrigger if created > 1 => {
            Err(format!("one keyed trigger left {created} builds"))
        }
        Verb::KeyedTrigger if outcome.is_ok() && created != 1 => {
            Err(format!("a successful keyed trigger left {created} builds"))
        }
        _ => Ok(()),
    }
}

/// A `flaky` build, followed until its first attempt is `Failed`: its retry passes, so a
/// read after a retry whose answer was lost can tell that the retry took.
async fn failed_build(runner: &dyn BuildRunner) -> Result<buildrunner_api::BuildId, String> {
    let id = runner
        .trigger(&request("https://x/seed?buildrunner-outcome=flaky", None)?)
        .await
        .map_err(|e| format!("seeding a failed build failed: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match runner.status(&id).await {
            Ok(report) if report.status == BuildStatus::Failed => return Ok(id),
            _ if Instant::now() >= deadline => {
                return Err(format!("the seeded build {id} did not fail within 10 s"));
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Every cell of the matrix for `harness`, run concurrently: every fault against every verb
/// the backend declares, once and always.
pub async fn run_matrix(harness: Arc<dyn FaultHarness>) -> Vec<Cell> {
    let mut set = tokio::task::JoinSet::new();
    let capabilities = harness.capabilities();
    for fault in FAULTS {
        for verb in VERBS.into_iter().filter(|v| v.declared(&capabilities)) {
            for mode in [Mode::Once, Mode::Always] {
                let harness = Arc::clone(&harness);
                set.spawn(async move { run_cell(harness.as_ref(), verb, fault, mode).await });
            }
        }
    }
    let mut cells = Vec::new();
    while let Some(cell) = set.join_next().await {
        match cell {
            Ok(cell) => cells.push(cell),
            Err(e) => cells.push(Cell {
                verb: Verb::Status,
                fault: "?",
                mode: Mode::Once,
                expected: Expect::Ok,
                problem: Some(format!("a cell panicked: {e}")),
            }),
        }
    }
    cells
}

/// The verbs, in the matrix's column order.
pub const VERBS: [Verb; 6] = [
    Verb::Status,
    Verb::Cancel,
    Verb::Trigger,
    Verb::KeyedTrigger,
    Verb::Jobs,
    Verb::RetryFailed,
];

/// Prints one backend's matrix; returns how many cells failed.
pub fn print_matrix(backend: &str, cells: &[Cell]) -> usize {
    let columns: Vec<(Verb, Mode)> = VERBS
        .iter()
        .filter(|v| cells.iter().any(|c| c.verb == **v))
        .flat_map(|v| [(*v, Mode::Once), (*v, Mode::Always)])
        .collect();
    println!(
        "\nfault matrix [{backend}]: expected outcome per cell, FAIL marks a cell that did not get it"
    );
    print!("{:22}", "fault");
    for (verb, mode) in &columns {
        print!("{:>24}", format!("{verb:?}/{mode:?}"));
    }
    println!();
    for (name, _) in FAULTS {
        print!("{name:22}");
        for (verb, mode) in &columns {
            let text = match cells
                .iter()
                .find(|c| c.fault == name && c.verb == *verb && c.mode == *mode)
            {
                Some(Cell {
                    problem: None,
                    expected,
                    ..
                }) => expected.to_string(),
                Some(Cell { expected, .. }) => format!("FAIL {expected}"),
                None => "missing".to_owned(),
            };
            print!("{text:>24}");
        }
        println!();
    }
    let failed: Vec<&Cell> = cells.iter().filter(|c| c.problem.is_some()).collect();
    for cell in &failed {
        println!(
            "FAIL [{backend}] {:?}/{:?} under {}: {}",
            cell.verb,
            cell.mode,
            cell.fault,
            cell.problem.as_deref().unwrap_or("")
        );
    }
    let missing = FAULTS.len() * columns.len() - cells.len().min(FAULTS.len() * columns.len());
    println!(
        "fault matrix [{backend}]: {} cells, {} passed, {} failed",
        cells.len(),
        cells.len() - failed.len(),
        failed.len()
    );
    failed.len() + missing
}
