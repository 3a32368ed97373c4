//! Every verb of the Buildkite backend against the emulator under every fault, once (a
//! transient fault that a retry gets past) and always (a fault that outlasts the retries).
//!
//! Each cell checks that the call returns within its deadline, does not panic, returns the
//! right error kind and retryability (or succeeds), and that a trigger never leaves more builds
//! than it should: none or one, and exactly one for a keyed trigger that succeeded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{config_for, request};

use std::fmt;
use std::time::{Duration, Instant};

use buildkite_emulator::{Emulator, EmulatorConfig, Fault, FaultTarget};
use buildrunner_api::{BuildRunner, Change, TriggerRequest};
use buildrunner_buildkite::{BuildkiteRunner, Token};

const TOKEN: &str = "fault-matrix-token";
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const RETRY_BUDGET: Duration = Duration::from_secs(3);
const CAP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Status,
    Cancel,
    Trigger,
    KeyedTrigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Once,
    Always,
}

const FAULTS: [(&str, Fault); 12] = [
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
    ("body over the cap", Fault::Oversized(4 * CAP)),
];

/// What a cell must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Err { kind: &'static str, retryable: bool },
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

/// The contract, cell by cell. `processed` faults take effect on the server before the
/// answer goes wrong; the others never reach it.
fn expect(verb: Verb, fault: Fault, mode: Mode) -> Expect {
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
        Verb::Status => match (mode, transient, rate_limited) {
            (_, false, false) => PROTOCOL,
            (Mode::Once, _, _) => Expect::Ok,
            (Mode::Always, true, _) => UNAVAILABLE,
            (Mode::Always, _, true) => RATE_LIMITED,
        },
        // A cancel's answer body is not needed, only its status; an oversized one is still refused.
        Verb::Cancel => match (mode, transient, rate_limited) {
            _ if matches!(fault, Fault::Oversized(_)) => PROTOCOL,
            (_, false, false) => Expect::Ok,
            (Mode::Once, _, _) => Expect::Ok,
            (Mode::Always, true, _) => UNAVAILABLE,
            (Mode::Always, _, true) => RATE_LIMITED,
        },
        // Without a key, a create whose outcome is unknown is reported, never repeated.
        Verb::Trigger => match (mode, rate_limited) {
            (Mode::Once, true) => Expect::Ok,
            (Mode::Always, true) => RATE_LIMITED,
            _ => UNAVAILABLE,
        },
        // With a key, the backend finds out what happened.
        Verb::KeyedTrigger => match (mode, transient || mangled, rate_limited) {
            (Mode::Once, _, _) => Expect::Ok,
            (Mode::Always, _, true) => RATE_LIMITED,
            (Mode::Always, _, _) if mangled || matches!(fault, Fault::SlowResponse(_)) => {
                Expect::Ok
            }
            (Mode::Always, _, _) => UNAVAILABLE,
        },
    }
}

struct Cell {
    verb: Verb,
    fault: &'static str,
    mode: Mode,
    expected: Expect,
    problem: Option<String>,
}

async fn run_cell(verb: Verb, (name, fault): (&'static str, Fault), mode: Mode) -> Cell {
    let expected = expect(verb, fault, mode);
    let problem = check_cell(verb, fault, mode, expected).await.err();
    Cell {
        verb,
        fault: name,
        mode,
        expected,
        problem,
    }
}

async fn check_cell(verb: Verb, fault: Fault, mode: Mode, expected: Expect) -> Result<(), String> {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN))
        .await
        .map_err(|e| e.to_string())?;
    let mut config = config_for(&emulator);
    config.http.request_timeout = REQUEST_TIMEOUT;
    config.http.max_retries = 3;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = RETRY_BUDGET;
    config.http.max_response_bytes = CAP;
    let runner = BuildkiteRunner::new("faults", config, Token::new(TOKEN).unwrap()).unwrap();

    // A build to poll and cancel, made before any fault.
    let existing = runner
        .trigger(&request("https://x/seed?buildrunner-outcome=hang"))
        .await
        .map_err(|e| format!("seeding failed: {e}"))?;
    let seeded = emulator.build_count();

    let count = match mode {
        Mode::Once => 1,
        Mode::Always => 1000,
    };
    let target = match verb {
        // The keyed trigger's first lookup is a GET like status; aim at the create itself.
        Verb::KeyedTrigger => FaultTarget::Method("POST"),
        _ => FaultTarget::Any,
    };
    emulator.inject(target, count, fault);

    let deadline = match verb {
        Verb::KeyedTrigger => 2 * (RETRY_BUDGET + REQUEST_TIMEOUT) + Duration::from_secs(1),
        _ => RETRY_BUDGET + REQUEST_TIMEOUT + Duration::from_secs(1),
    };
    let started = Instant::now();
    let call = async {
        let request = |key: Option<&str>| {
            let builder = TriggerRequest::builder().head(Change::new(["https://x/under-test"]));
            match key {
                Some(key) => builder.idempotency_key(key).build().unwrap(),
                None => builder.build().unwrap(),
            }
        };
        match verb {
            Verb::Status => runner.status(&existing).await.map(drop),
            Verb::Cancel => runner.cancel(&existing).await,
            Verb::Trigger => runner.trigger(&request(None)).await.map(drop),
            Verb::KeyedTrigger => runner.trigger(&request(Some("fault-key"))).await.map(drop),
        }
    };
    let outcome = tokio::time::timeout(deadline + Duration::from_secs(5), call)
        .await
        .map_err(|_| format!("never returned (deadline {deadline:?})"))?;
    let took = started.elapsed();
    if took > deadline {
        return Err(format!(
            "returned after {took:?}, past its deadline {deadline:?}"
        ));
    }
    match (&outcome, expected) {
        (Ok(()), Expect::Ok) => {}
        (Err(error), Expect::Err { kind, retryable })
            if error.kind() == kind && error.is_retryable() == retryable => {}
        (outcome, expected) => return Err(format!("expected {expected}, got {outcome:?}")),
    }

    // Let requests the server is still sitting on (slow answers) land before counting builds.
    emulator.clear_faults();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let created = emulator.build_count() - seeded;
    match verb {
        Verb::Status | Verb::Cancel if created != 0 => Err(format!("{created} builds appeared")),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_under_every_fault() {
    let mut set = tokio::task::JoinSet::new();
    let verbs = [
        Verb::Status,
        Verb::Cancel,
        Verb::Trigger,
        Verb::KeyedTrigger,
    ];
    for fault in FAULTS {
        for verb in verbs {
            for mode in [Mode::Once, Mode::Always] {
                set.spawn(run_cell(verb, fault, mode));
            }
        }
    }
    let mut cells = Vec::new();
    while let Some(cell) = set.join_next().await {
        cells.push(cell.expect("a cell panicked"));
    }

    let columns: Vec<(Verb, Mode)> = verbs
        .iter()
        .flat_map(|v| [(*v, Mode::Once), (*v, Mode::Always)])
        .collect();
    println!("\nfault matrix: expected outcome per cell, FAIL marks a cell that did not get it");
    print!("{:22}", "fault");
    for (verb, mode) in &columns {
        print!("{:>24}", format!("{verb:?}/{mode:?}"));
    }
    println!();
    for (name, _) in FAULTS {
        print!("{name:22}");
        for (verb, mode) in &columns {
            let cell = cells
                .iter()
                .find(|c| c.fault == name && c.verb == *verb && c.mode == *mode)
                .unwrap();
            let text = match &cell.problem {
                None => cell.expected.to_string(),
                Some(_) => format!("FAIL {}", cell.expected),
            };
            print!("{text:>24}");
        }
        println!();
    }
    let failed: Vec<_> = cells.iter().filter(|c| c.problem.is_some()).collect();
    for cell in &failed {
        println!(
            "FAIL {:?}/{:?} under {}: {}",
            cell.verb,
            cell.mode,
            cell.fault,
            cell.problem.as_deref().unwrap_or("")
        );
    }
    println!(
        "fault matrix: {} cells, {} passed, {} failed",
        cells.len(),
        cells.len() - failed.len(),
        failed.len()
    );
    assert_eq!(cells.len(), FAULTS.len() * 8);
    assert!(
        failed.is_empty(),
        "{} of {} cells failed",
        failed.len(),
        cells.len()
    );
}
