//! How an emulated build lives: outcome markers decide its course, timings its pace.

use std::time::{Duration, Instant, SystemTime};

use buildrunner_api::outcome::Outcome;
use serde_json::Value;

/// What the markers in a build's head URIs ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// A build with this outcome.
    Build(Outcome),
    /// `trigger-error`: refuse the create.
    TriggerError,
    /// A token no one knows: refuse the create, never pass silently.
    Unknown(String),
}

impl Requested {
    /// The first marker of `head_uris_json` (a JSON array of strings, the `SQ_HEAD_URIS`
    /// contract) decides; no marker, or text that is not such an array, is a passing build.
    pub fn from_head_uris_json(head_uris_json: Option<&str>) -> Requested {
        let uris: Vec<String> = head_uris_json
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        // The api's reading of the markers, so the fakes and the noop backend agree.
        match Outcome::from_uris(uris.iter().map(String::as_str)) {
            Ok(Outcome::TriggerError) => Requested::TriggerError,
            Ok(outcome) => Requested::Build(outcome),
            Err(unknown) => Requested::Unknown(unknown.token),
        }
    }

    /// The same, for a JSON value that should hold that text.
    pub fn from_value(value: Option<&Value>) -> Requested {
        Requested::from_head_uris_json(value.and_then(Value::as_str))
    }
}

/// How long each step of a lifecycle takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a new build waits before it runs.
    pub queued: Duration,
    /// How long a build runs before it finishes (a `fail` build is failing for the second half).
    pub running: Duration,
    /// How long a cancelled build is still cancelling.
    pub canceling: Duration,
}

impl Timings {
    /// Timings of these three steps.
    pub const fn new(queued: Duration, running: Duration, canceling: Duration) -> Timings {
        Timings {
            queued,
            running,
            canceling,
        }
    }
}

impl Default for Timings {
    /// Sized for tests: builds finish within about a tenth of a second.
    fn default() -> Self {
        Timings::new(
            Duration::from_millis(20),
            Duration::from_millis(80),
            Duration::from_millis(20),
        )
    }
}

/// Where a build is in its life, for a platform to name in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting to start.
    Queued,
    /// Running.
    Running,
    /// Running, with a failure already known (a `fail` build's second half).
    Failing,
    /// Finished green.
    Passed,
    /// Finished red.
    Failed,
    /// Waiting for a person (a `block` build after its run); never finishes by itself.
    Blocked,
    /// A cancel was accepted; still stopping.
    Canceling,
    /// Stopped by a cancel.
    Canceled,
}

impl Phase {
    /// Whether the build is over.
    pub fn is_finished(self) -> bool {
        matches!(self, Phase::Passed | Phase::Failed | Phase::Canceled)
    }
}

/// One build's life: when it started, how it ends, whether it was cancelled.
///
/// Its [`Outcome`] sets the course: `pass` (and `status-error`, whose reads the platform
/// answers with 500) runs and passes; `fail` fails in the second half of its run; `hang` runs
/// until cancelled; `block` runs, then waits for a person forever; `flaky` fails its first
/// attempt's test job and passes once retried. `trigger-error` asks for no build at all
/// ([`Requested::TriggerError`]); a lifecycle made with it anyway fails.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// When the current attempt started.
    pub started: Instant,
    /// The same moment on the wall clock, for timestamps in answers.
    pub started_wall: SystemTime,
    /// How it ends.
    pub outcome: Outcome,
    /// When a cancel was accepted.
    pub cancelled_at: Option<Instant>,
    /// Which attempt `started` belongs to: 1, and one more for each retry of failed jobs.
    pub attempt: u32,
}

/// One job of a build at a moment: what the platforms list as the build's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPhase {
    /// `build`, `test`, or `approval` (the wait of a `block` build).
    pub name: &'static str,
    /// Where it is.
    pub phase: Phase,
    /// The attempt it belongs to.
    pub attempt: u32,
}

impl Lifecycle {
    /// A build starting now.
    pub fn new(outcome: Outcome) -> Lifecycle {
        Lifecycle {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            outcome,
            cancelled_at: None,
            attempt: 1,
        }
    }

    /// The phase at `now`.
    pub fn phase(&self, timings: &Timings, now: Instant) -> Phase {
        // A retry not yet published: reads still show the failed attempt.
        if now < self.started && self.attempt > 1 {
            return Phase::Failed;
        }
        if let Some(cancelled) = self.cancelled_at {
            return if now.duration_since(cancelled) < timings.canceling {
                Phase::Canceling
            } else {
                Phase::Canceled
            };
        }
        let age = now.duration_since(self.started);
        let finished = timings.queued + timings.running;
        if age < timings.queued {
            return Phase::Queued;
        }
        match self.effective_outcome() {
            Outcome::Hang => Phase::Running,
            // A `trigger-error` build is never made (`Requested::TriggerError`); one made
            // anyway fails, never passes.
            Outcome::Fail | Outcome::TriggerError if age < timings.queued + timings.running / 2 => {
                Phase::Running
            }
            Outcome::Fail | Outcome::TriggerError if age < finished => Phase::Failing,
            Outcome::Fail | Outcome::TriggerError => Phase::Failed,
            _ if age < finished => Phase::Running,
            Outcome::Block => Phase::Blocked,
            Outcome::Pass | Outcome::StatusError | Outcome::Flaky => Phase::Passed,
        }
    }

    /// How the current attempt ends: a `flaky` build fails its first attempt only.
    fn effective_outcome(&self) -> Outcome {
        match self.outcome {
            Outcome::Flaky if self.attempt == 1 => Outcome::Fail,
            outcome => outcome,
        }
    }

    /// The attempt reads show at `now` (the earlier one while a retry is not yet published).
    pub fn attempt_at(&self, now: Instant) -> u32 {
        if now < self.started && self.attempt > 1 {
            self.attempt - 1
        } else {
            self.attempt
        }
    }

    /// Re-runs the failed jobs: a new attempt that reads show from `now + lag` on (a CI that
    /// publishes a re-run late, as GitHub does, has a lag; others have none).
    pub fn retry_failed(&mut self, now: Instant, lag: Duration) {
        let start = now + lag;
        self.started_wall = SystemTime::now() + lag;
        self.started = start;
        self.attempt += 1;
        self.cancelled_at = None;
    }

    /// The build's jobs at `now`: `build` (run in the first half, never re-run by a retry of
    /// failed jobs), `test` (the second half, ending as the attempt does), and for `block`
    /// an `approval` waiting for a person. Jobs a cancel stopped are `Canceled`.
    pub fn jobs(&self, timings: &Timings, now: Instant) -> Vec<JobPhase> {
        let phase = self.phase(timings, now);
        let attempt = self.attempt_at(now);
        let age = now.saturating_duration_since(self.started);
        let halfway = timings.queued + timings.running / 2;
        let first_half_done = attempt > 1 || age >= halfway;
        let stopped = matches!(phase, Phase::Canceling | Phase::Canceled);
        let unfinished = |running: bool| match (stopped, running) {
            (true, _) => phase,
            (false, true) => Phase::Running,
            (false, false) => Phase::Queued,
        };
        let build = if first_half_done {
            Phase::Passed
        } else if age >= timings.queued {
            unfinished(true)
        } else {
            unfinished(false)
        };
        let test = match phase {
            Phase::Passed | Phase::Blocked => Phase::Passed,
            Phase::Failed => Phase::Failed,
            Phase::Queued => Phase::Queued,
            _ => unfinished(attempt > 1 || age >= halfway),
        };
        let mut jobs = vec![
            JobPhase {
                name: "build",
                phase: build,
                attempt: 1,
            },
            JobPhase {
                name: "test",
                phase: test,
                attempt,
            },
        ];
        if self.outcome == Outcome::Block
            && matches!(phase, Phase::Blocked | Phase::Canceling | Phase::Canceled)
        {
            jobs.push(JobPhase {
                name: "approval",
                phase,
                attempt,
            });
        }
        jobs
    }

    /// How long the build has lived at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// Accepts a cancel (the first one counts).
    pub fn cancel(&mut self, now: Instant) {
        self.cancelled_at.get_or_insert(now);
    }

    /// Starts the build over, as a re-run of every job does: a new attempt.
    pub fn restart(&mut self) {
        let attempt = self.attempt + 1;
        *self = Lifecycle::new(self.outcome);
        self.attempt = attempt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_decide_the_course() {
        let parse = |uris: &str| Requested::from_head_uris_json(Some(uris));
        assert_eq!(parse(r#"["https://x/1"]"#), Requested::Build(Outcome::Pass));
        assert_eq!(
            parse(r#"["https://x/1", "https://x/2?buildrunner-outcome=block&a=b"]"#),
            Requested::Build(Outcome::Block)
        );
        assert_eq!(
            parse(r#"["https://x/?buildrunner-outcome=trigger-error"]"#),
            Requested::TriggerError
        );
        assert_eq!(
            parse(r#"["https://x/?buildrunner-outcome=flaky"]"#),
            Requested::Build(Outcome::Flaky)
        );
        assert_eq!(
            parse(r#"["https://x/?buildrunner-outcome=flakey"]"#),
            Requested::Unknown("flakey".into())
        );
        assert_eq!(
            Requested::from_head_uris_json(None),
            Requested::Build(Outcome::Pass)
        );
    }

    #[test]
    fn phases_follow_the_timings() {
        let timings = Timings::default();
        let at = |outcome, millis| {
            let life = Lifecycle::new(outcome);
            life.phase(&timings, life.started + Duration::from_millis(millis))
        };
        assert_eq!(at(Outcome::Pass, 0), Phase::Queued);
        assert_eq!(at(Outcome::Pass, 50), Phase::Running);
        assert_eq!(at(Outcome::Pass, 200), Phase::Passed);
        assert_eq!(at(Outcome::Fail, 80), Phase::Failing);
        assert_eq!(at(Outcome::Fail, 200), Phase::Failed);
        assert_eq!(at(Outcome::Hang, 10_000), Phase::Running);
        assert_eq!(at(Outcome::Block, 10_000), Phase::Blocked);
        assert_eq!(at(Outcome::TriggerError, 200), Phase::Failed, "never green");
        let mut life = Lifecycle::new(Outcome::Hang);
        let now = life.started + Duration::from_millis(50);
        life.cancel(now);
        assert_eq!(life.phase(&timings, now), Phase::Canceling);
        assert_eq!(
            life.phase(&timings, now + Duration::from_secs(1)),
            Phase::Canceled
        );
    }

    #[test]
    fn a_flaky_build_fails_once_then_passes_after_the_lag_of_its_retry() {
        let timings = Timings::default();
        let mut life = Lifecycle::new(Outcome::Flaky);
        let failed = life.started + Duration::from_millis(200);
        assert_eq!(life.phase(&timings, failed), Phase::Failed);
        let names = |jobs: Vec<JobPhase>| -> Vec<(&str, Phase)> {
            jobs.iter().map(|j| (j.name, j.phase)).collect()
        };
        assert_eq!(
            names(life.jobs(&timings, failed)),
            [("build", Phase::Passed), ("test", Phase::Failed)]
        );
        let lag = Duration::from_millis(40);
        life.retry_failed(failed, lag);
        // Not yet published: the earlier attempt, still failed.
        assert_eq!(life.phase(&timings, failed), Phase::Failed);
        assert_eq!(life.attempt_at(failed), 1);
        let published = failed + lag;
        assert_eq!(life.attempt_at(published), 2);
        assert_eq!(life.phase(&timings, published), Phase::Queued);
        assert_eq!(
            names(life.jobs(&timings, published)),
            [("build", Phase::Passed), ("test", Phase::Queued)]
        );
        let later = published + Duration::from_millis(200);
        assert_eq!(life.phase(&timings, later), Phase::Passed);
        assert_eq!(life.attempt_at(later), 2);
    }

    #[test]
    fn a_blocked_build_lists_its_approval_and_a_cancel_stops_what_runs() {
        let timings = Timings::default();
        let life = Lifecycle::new(Outcome::Block);
        let jobs = life.jobs(&timings, life.started + Duration::from_secs(1));
        assert_eq!(
            jobs.last().map(|j| (j.name, j.phase)),
            Some(("approval", Phase::Blocked))
        );
        let mut hang = Lifecycle::new(Outcome::Hang);
        let running = hang.started + Duration::from_millis(90);
        hang.cancel(running);
        let stopped = running + Duration::from_secs(1);
        let jobs = hang.jobs(&timings, stopped);
        assert_eq!(jobs[0].phase, Phase::Passed);
        assert_eq!(jobs[1].phase, Phase::Canceled);
    }
}
