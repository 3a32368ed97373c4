//! Several buildrunner processes against one CI, the way replicas of a merge queue run: a
//! real `redis-server` ([`RedisServer`]), a replica process (`buildrunner-replica`, a binary of
//! this crate) and [`run`], which starts a Buildkite emulator, launches the replicas as
//! separate OS processes and reports what the emulator saw. The tests in `tests/` and
//! `cargo xtask bench` run the same scenarios.

mod redis_server;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, RateLimit};

pub use redis_server::RedisServer;

/// The token the emulator accepts and the replicas send.
pub const TOKEN: &str = "replica-token";

/// Buildkite's 200 requests a minute, time scaled: a minute's budget in two seconds.
pub const BUILDKITE_LIMIT_SCALED: RateLimit = RateLimit {
    limit: 200,
    window: Duration::from_secs(2),
};

/// One run of several replicas.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The `buildrunner-replica` binary.
    pub replica: PathBuf,
    /// How many replica processes run at once.
    pub processes: usize,
    /// How many builds each triggers and follows.
    pub builds: usize,
    /// Idempotency keys `{prefix}{i}` for build `i` (the same in every process), or none.
    pub keys: Option<String>,
    /// The Redis every replica shares, or none (each keeps its own budget).
    pub redis: Option<String>,
    /// The emulator's limit for the organization.
    pub rate_limit: Option<RateLimit>,
    /// Calls each replica has in flight.
    pub concurrency: usize,
    /// How long each build runs in the emulator.
    pub build_time: Duration,
}

impl Scenario {
    /// `processes` replicas of `builds` builds each, eight calls in flight each, builds of a
    /// quarter second, no keys, no Redis, no limit.
    pub fn new(replica: impl Into<PathBuf>, processes: usize, builds: usize) -> Scenario {
        Scenario {
            replica: replica.into(),
            processes,
            builds,
            keys: None,
            redis: None,
            rate_limit: None,
            concurrency: 8,
            build_time: Duration::from_millis(250),
        }
    }
}

/// What a run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Replica processes that exited 0: every build of theirs got the right verdict.
    pub replicas_ok: usize,
    /// Builds the emulator created.
    pub builds_created: usize,
    /// Requests the emulator answered with 429.
    pub answers_429: usize,
    /// Requests the emulator received.
    pub requests: usize,
    /// What the replicas that failed said.
    pub failures: Vec<String>,
}

/// Runs `scenario`; `midway` (if any) is called once, that long after the replicas start (to
/// kill Redis, say).
///
/// # Errors
///
/// When the emulator or a replica process cannot be started.
pub async fn run(
    scenario: &Scenario,
    midway: Option<(Duration, Box<dyn FnOnce() + Send>)>,
) -> Result<Outcome, String> {
    let mut config = EmulatorConfig::new(TOKEN).with_timings(buildkite_emulator::Timings::new(
        Duration::from_millis(50),
        scenario.build_time,
        Duration::ZERO,
    ));
    config.rate_limit = scenario.rate_limit;
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let mut replicas = Vec::new();
    for _ in 0..scenario.processes {
        let mut command = tokio::process::Command::new(&scenario.replica);
        command
            .args(["--api-url", &emulator.url()])
            .args(["--builds", &scenario.builds.to_string()])
            .args(["--concurrency", &scenario.concurrency.to_string()])
            .env("BUILDRUNNER_REPLICA_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = &scenario.redis {
            command.args(["--redis", url]);
        }
        if let Some(prefix) = &scenario.keys {
            command.args(["--keys", prefix]);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", scenario.replica.display()))?;
        replicas.push(child);
    }
    let started = Instant::now();
    let waiting =
        futures_util::future::join_all(replicas.into_iter().map(|c| c.wait_with_output()));
    tokio::pin!(waiting);
    let outputs = match midway {
        Some((after, act)) => {
            tokio::select! {
                outputs = &mut waiting => outputs,
                _ = tokio::time::sleep_until((started + after).into()) => {
                    act();
                    waiting.await
                }
            }
        }
        None => waiting.await,
    };
    let mut outcome = Outcome {
        replicas_ok: 0,
        builds_created: emulator.build_count(),
        answers_429: 0,
        requests: 0,
        failures: Vec::new(),
    };
    let requests = emulator.requests();
    outcome.requests = requests.len();
    outcome.answers_429 = requests.iter().filter(|r| r.status == 429).count();
    for output in outputs {
        match output {
            Ok(output) if output.status.success() => outcome.replicas_ok += 1,
            Ok(output) => outcome.failures.push(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(e) => outcome.failures.push(e.to_string()),
        }
    }
    Ok(outcome)
}
