//! How an emulated build lives: outcome markers decide its course, timings its pace.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// How a build asked for by outcome markers ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No marker (or `pass`): the build succeeds.
    Pass,
    /// `fail`: the build fails in the second half of its run.
    Fail,
    /// `hang`: the build runs until cancelled.
    Hang,
    /// `block`: the build runs, then waits for a person forever.
    Block,
    /// `status-error`: every read of the build answers 500.
    StatusError,
}

impl Outcome {
    /// The marker token.
    pub fn token(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Hang => "hang",
            Outcome::Block => "block",
            Outcome::StatusError => "status-error",
        }
    }
}

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

/// The text that introduces a marker in a URI.
pub const MARKER: &str = "buildrunner-outcome=";

impl Requested {
    /// The first marker of `head_uris_json` (a JSON array of strings, the `SQ_HEAD_URIS`
    /// contract) decides; no marker, or text that is not such an array, is a passing build.
    pub fn from_head_uris_json(head_uris_json: Option<&str>) -> Requested {
        let uris: Vec<String> = head_uris_json
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        for uri in &uris {
            if let Some(start) = uri.find(MARKER) {
                let rest = &uri[start + MARKER.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(rest.len());
                return match &rest[..end] {
                    "pass" => Requested::Build(Outcome::Pass),
                    "fail" => Requested::Build(Outcome::Fail),
                    "hang" => Requested::Build(Outcome::Hang),
                    "block" => Requested::Build(Outcome::Block),
                    "status-error" => Requested::Build(Outcome::StatusError),
                    "trigger-error" => Requested::TriggerError,
                    other => Requested::Unknown(other.to_owned()),
                };
            }
        }
        Requested::Build(Outcome::Pass)
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
        Timings {
            queued: Duration::from_millis(20),
            running: Duration::from_millis(80),
            canceling: Duration::from_millis(20),
        }
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
}

impl Lifecycle {
    /// A build starting now.
    pub fn new(outcome: Outcome) -> Lifecycle {
        Lifecycle {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            outcome,
            cancelled_at: None,
        }
    }

    /// The phase at `now`.
    pub fn phase(&self, timings: &Timings, now: Instant) -> Phase {
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
        match self.outcome {
            Outcome::Hang => Phase::Running,
            Outcome::Fail if age < timings.queued + timings.running / 2 => Phase::Running,
            Outcome::Fail if age < finished => Phase::Failing,
            Outcome::Fail => Phase::Failed,
            _ if age < finished => Phase::Running,
            Outcome::Block => Phase::Blocked,
            Outcome::Pass | Outcome::StatusError => Phase::Passed,
        }
    }

    /// How long the build has lived at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// Accepts a cancel (the first one counts).
    pub fn cancel(&mut self, now: Instant) {
        self.cancelled_at.get_or_insert(now);
    }

    /// Starts the build over, as a re-run does.
    pub fn restart(&mut self) {
        *self = Lifecycle::new(self.outcome);
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
            Requested::Unknown("flaky".into())
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
        let mut life = Lifecycle::new(Outcome::Hang);
        let now = life.started + Duration::from_millis(50);
        life.cancel(now);
        assert_eq!(life.phase(&timings, now), Phase::Canceling);
        assert_eq!(
            life.phase(&timings, now + Duration::from_secs(1)),
            Phase::Canceled
        );
    }
}
