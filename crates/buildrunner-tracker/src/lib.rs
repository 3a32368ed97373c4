//! Follows many builds at once through one [`BuildRunner`], within a request budget.
//!
//! A merge queue has hundreds of builds in flight; one `status` per build per poll does not
//! fit a CI's budget. A [`Tracker`] polls in rounds through
//! [`BuildRunner::status_many`] (which a backend answers with one request for many builds
//! where its CI can), polls young builds more often than old ones ([`Intervals`]), never
//! spends more of the CI's rate budget a second than its share
//! ([`TrackerOptions::max_cost_per_sec`], in the unit [`BuildRunner::status_many_cost`]
//! counts: requests, or Buildkite's GraphQL points), emits one [`TrackerEvent`] per status change, and stops
//! following a build once it is terminal.
//!
//! [`Tracker::hint`] (a webhook said a build changed) polls that build ahead of every other;
//! a verdict is always a status the tracker read itself, never the hint. When the CI does not
//! show the hinted verdict yet (webhooks can run ahead of the API), the build is polled again
//! shortly, a few times, before it returns to its usual interval. Lost webhooks cost latency,
//! never a verdict: every followed build is still polled.
//!
//! With [`TrackerOptions::retry_failed`], a failed build whose runner declares
//! [`retry_failed`](buildrunner_api::Capabilities::retry_failed) is retried (its failed jobs
//! only, the same id) up to that many times before its `Failed` verdict, each retry a
//! [`TrackerEvent::Retried`]; a failed verdict carries the failed jobs where the runner
//! declares [`job_reports`](buildrunner_api::Capabilities::job_reports) (one `jobs` call per
//! failed verdict). With [`TrackerOptions::start_deadline`], a build still queued past it gets
//! a [`TrackerEvent::StartDeadlinePassed`] (and is cancelled with
//! [`TrackerOptions::cancel_on_start_deadline`]). Retries, jobs reads and those cancels are
//! spent from the same budget as polls.
//!
//! It names no backend: it is generic over the trait.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> buildrunner_api::Result<()> {
//! use std::sync::Arc;
//! use buildrunner_api::{BuildRunner, BuildStatus, Change, TriggerRequest};
//! use buildrunner_tracker::{Tracker, TrackerEvent, TrackerOptions};
//!
//! let runner: Arc<dyn BuildRunner> = Arc::new(buildrunner_noop::NoopRunner::new());
//! let id = runner.trigger(&TriggerRequest::new(vec![Change::new(["https://x/pull/1"])])?).await?;
//! let (tracker, mut events) = Tracker::start(runner, TrackerOptions::default());
//! tracker.follow(id.clone());
//! let Some(TrackerEvent::Changed { report, .. }) = events.recv().await else { panic!() };
//! assert_eq!(report.status, BuildStatus::Succeeded);
//! # Ok(())
//! # }
//! ```

mod actions;
#[cfg(feature = "listener")]
pub mod listener;
mod pacing;
mod poll;
mod schedule;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, Error, JobReport};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use schedule::Intervals;
use schedule::Slot;

/// How a tracker polls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerOptions {
    /// Pauses between polls of one build.
    pub intervals: Intervals,
    /// The most builds one `status_many` call asks about.
    pub batch_size: usize,
    /// The most of the CI's rate budget a second the tracker's polls may spend: its share,
    /// in the unit the CI counts. A round of `n` builds costs
    /// [`BuildRunner::status_many_cost`]`(n)`: Buildkite REST counts requests (200 a minute
    /// is 3.3 a second; leave room for triggers and cancels), Buildkite GraphQL counts
    /// points (20,000 per 5 minutes is 66 a second, one a build), GitHub counts requests
    /// and a list of 100 runs is one.
    pub max_cost_per_sec: f64,
    /// How many events wait for a reader before the tracker pauses.
    pub event_capacity: usize,
    /// How soon a hinted build whose poll does not show the hinted verdict yet is polled again.
    pub confirm_after: Duration,
    /// How many times a failed build is retried (its failed jobs, where the runner declares
    /// `retry_failed`) before its `Failed` verdict; 0 turns retries off.
    pub retry_failed: u32,
    /// How long after [`Tracker::follow`] a build may stay `Accepted` (queued, not started)
    /// before a [`TrackerEvent::StartDeadlinePassed`]; `None` for no deadline.
    pub start_deadline: Option<Duration>,
    /// Whether a build past its start deadline is also cancelled.
    pub cancel_on_start_deadline: bool,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            intervals: Intervals::default(),
            batch_size: 100,
            max_cost_per_sec: 2.0,
            event_capacity: 1024,
            confirm_after: Duration::from_secs(1),
            retry_failed: 0,
            start_deadline: None,
            cancel_on_start_deadline: false,
        }
    }
}

/// What a tracker reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrackerEvent {
    /// A followed build's status changed (or was read for the first time).
    Changed {
        /// The build.
        id: BuildId,
        /// What the runner reported.
        report: BuildReport,
        /// The status before, `None` on the first read.
        previous: Option<BuildStatus>,
        /// For a `Failed` verdict, the jobs that failed, where the runner declares
        /// `job_reports` (empty otherwise, and when they could not be read).
        failed_jobs: Vec<JobReport>,
    },
    /// A failed build's failed jobs were retried; it is followed on, under the same id.
    Retried {
        /// The build.
        id: BuildId,
        /// The attempt now running: 2 after the first retry.
        attempt: u32,
    },
    /// A followed build was still queued (`Accepted`) at its start deadline: it never
    /// started, which is not the same as a build that hangs. It is still followed (cancelled
    /// first with [`TrackerOptions::cancel_on_start_deadline`]).
    StartDeadlinePassed {
        /// The build.
        id: BuildId,
        /// How long it had been followed.
        waited: Duration,
        /// Whether the tracker cancelled it (the cancel's error, if it failed).
        cancelled: Option<Result<(), Error>>,
    },
    /// A followed build cannot be followed: the runner answered with an error that trying
    /// again cannot help (a malformed id, a build the CI does not know). It is no longer
    /// followed.
    Dropped {
        /// The build.
        id: BuildId,
        /// Why.
        error: Error,
    },
}

/// How many times a hint that the CI does not confirm yet is polled again early.
const CONFIRMATIONS: u8 = 3;

#[derive(Debug, Clone, Copy)]
struct Hint {
    claimed: BuildStatus,
    looks_left: u8,
}

#[derive(Debug)]
struct Followed {
    slot: Slot,
    last: Option<BuildStatus>,
    /// A webhook's claim the CI has not shown yet.
    hint: Option<Hint>,
    /// How many times its failed jobs were retried.
    retries: u32,
    /// Whether its start deadline was reported.
    start_reported: bool,
}

#[derive(Debug, Default)]
struct State {
    builds: HashMap<BuildId, Followed>,
    stopped: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// The runner's backend, for metrics.
    backend: &'static str,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// See the crate docs. Dropping it stops the polling.
#[derive(Debug)]
pub struct Tracker {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Tracker {
    /// Starts polling through `runner`; events arrive on the receiver. Must be called inside a
    /// Tokio runtime.
    pub fn start(
        runner: Arc<dyn BuildRunner>,
        options: TrackerOptions,
    ) -> (Tracker, mpsc::Receiver<TrackerEvent>) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            backend: runner.backend_name(),
        });
        let (events, receiver) = mpsc::channel(options.event_capacity.max(1));
        let task = tokio::spawn(poll::poll_loop(
            runner,
            options,
            Arc::clone(&shared),
            events,
        ));
        (Tracker { shared, task }, receiver)
    }

    /// Follows a build; it is polled at once. Following a build already followed changes
    /// nothing.
    pub fn follow(&self, id: BuildId) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        state.builds.entry(id).or_insert(Followed {
            slot: Slot {
                followed_at: now,
                due: now,
                errors: 0,
            },
            last: None,
            hint: None,
            retries: 0,
            start_reported: false,
        });
        telemetry::followed(self.shared.backend, state.builds.len());
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Stops following a build.
    pub fn unfollow(&self, id: &BuildId) {
        let mut state = self.shared.lock();
        state.builds.remove(id);
        telemetry::followed(self.shared.backend, state.builds.len());
    }

    /// Something (a webhook) claims a followed build is now `claimed`; returns whether the
    /// build is followed. A terminal claim polls the build before any other: the verdict
    /// comes from that poll, never from the hint, and until the CI shows it the build is
    /// polled again every [`TrackerOptions::confirm_after`], a few times. A claim that is not
    /// a verdict (the build started running) costs no request: the usual polls see it.
    pub fn hint(&self, id: &BuildId, claimed: BuildStatus) -> bool {
        let mut state = self.shared.lock();
        let Some(followed) = state.builds.get_mut(id) else {
            return false;
        };
        if followed.last == Some(claimed) || !claimed.is_terminal() {
            return true;
        }
        followed.slot.due = Instant::now();
        followed.hint = Some(Hint {
            claimed,
            looks_left: CONFIRMATIONS,
        });
        drop(state);
        self.shared.wake.notify_one();
        true
    }

    /// How many builds are followed.
    pub fn followed(&self) -> usize {
        self.shared.lock().builds.len()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.task.abort();
    }
}
