//! Follows many builds at once through one [`BuildRunner`], within a request budget.
//!
//! A merge queue has hundreds of builds in flight; one `status` per build per poll does not
//! fit a CI's budget. A [`Tracker`] polls in rounds through
//! [`BuildRunner::status_many`] (which a backend answers with one request for many builds
//! where its CI can), polls young builds more often than old ones ([`Intervals`]), never polls
//! more builds a second than its share of the budget allows ([`TrackerOptions::max_polls_per_sec`]),
//! emits one [`TrackerEvent`] per status change, and stops following a build once it is
//! terminal. [`Tracker::hint`] (a webhook said something happened) polls a build at once; a
//! verdict is always a status the tracker read itself, never the hint.
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

mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, Error};
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
    /// The most builds polled a second: the share of the CI's request budget the tracker may
    /// spend. For a backend that answers many builds in one request (GitHub Actions) a poll
    /// of many builds costs one request, so this bounds the requests from above.
    pub max_polls_per_sec: f64,
    /// How many events wait for a reader before the tracker pauses.
    pub event_capacity: usize,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            intervals: Intervals::default(),
            batch_size: 100,
            max_polls_per_sec: 2.0,
            event_capacity: 1024,
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

#[derive(Debug)]
struct Followed {
    slot: Slot,
    last: Option<BuildStatus>,
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
        });
        let (events, receiver) = mpsc::channel(options.event_capacity.max(1));
        let task = tokio::spawn(poll_loop(runner, options, Arc::clone(&shared), events));
        (Tracker { shared, task }, receiver)
    }

    /// Follows a build; it is polled at once. Following a build already followed changes
    /// nothing.
    pub fn follow(&self, id: BuildId) {
        let now = Instant::now();
        self.shared.lock().builds.entry(id).or_insert(Followed {
            slot: Slot {
                followed_at: now,
                due: now,
                errors: 0,
            },
            last: None,
        });
        self.shared.wake.notify_one();
    }

    /// Stops following a build.
    pub fn unfollow(&self, id: &BuildId) {
        self.shared.lock().builds.remove(id);
    }

    /// Polls a followed build as soon as the budget allows, because something (a webhook)
    /// says it changed. The verdict still comes from that poll, never from the hint.
    pub fn hint(&self, id: &BuildId) {
        if let Some(followed) = self.shared.lock().builds.get_mut(id) {
            followed.slot.due = Instant::now();
        }
        self.shared.wake.notify_one();
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

/// The builds due now, most overdue first, at most `limit`; or when the next one is due.
fn due(state: &State, now: Instant, limit: usize) -> Result<Vec<BuildId>, Option<Instant>> {
    let mut due: Vec<(&BuildId, Instant)> = state
        .builds
        .iter()
        .filter(|(_, f)| f.slot.due <= now)
        .map(|(id, f)| (id, f.slot.due))
        .collect();
    if due.is_empty() {
        return Err(state.builds.values().map(|f| f.slot.due).min());
    }
    due.sort_by_key(|(_, at)| *at);
    Ok(due
        .into_iter()
        .take(limit.max(1))
        .map(|(id, _)| id.clone())
        .collect())
}

async fn poll_loop(
    runner: Arc<dyn BuildRunner>,
    options: TrackerOptions,
    shared: Arc<Shared>,
    events: mpsc::Sender<TrackerEvent>,
) {
    let per_poll = Duration::from_secs_f64(1.0 / options.max_polls_per_sec.max(0.001));
    loop {
        let batch = {
            let state = shared.lock();
            if state.stopped {
                return;
            }
            due(&state, Instant::now(), options.batch_size)
        };
        let ids = match batch {
            Ok(ids) => ids,
            Err(next) => {
                let wake = shared.wake.notified();
                match next {
                    Some(at) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = wake => {}
                        }
                    }
                    None => wake.await,
                }
                continue;
            }
        };
        let started = Instant::now();
        let polled = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let answers = runner.status_many(&ids).await;
        for event in record(&shared, &options, ids, answers) {
            if events.send(event).await.is_err() {
                return;
            }
        }
        // Pace the rounds: polling n builds buys n / max_polls_per_sec of quiet, so the
        // tracker never polls more builds a second than its share of the budget.
        tokio::time::sleep_until(started + per_poll.saturating_mul(polled)).await;
    }
}

/// Applies one round's answers: events for changes and drops, the next due time for the rest.
fn record(
    shared: &Shared,
    options: &TrackerOptions,
    ids: Vec<BuildId>,
    answers: Vec<buildrunner_api::Result<BuildReport>>,
) -> Vec<TrackerEvent> {
    let now = Instant::now();
    let mut events = Vec::new();
    let mut state = shared.lock();
    for (id, answer) in ids.into_iter().zip(answers) {
        let Some(followed) = state.builds.get_mut(&id) else {
            continue; // unfollowed while the round ran
        };
        match answer {
            Ok(report) => {
                let status = report.status;
                followed.slot.errors = 0;
                followed.slot.due = now
                    + options
                        .intervals
                        .after_poll(now - followed.slot.followed_at);
                let previous = followed.last.replace(status);
                if previous != Some(status) {
                    events.push(TrackerEvent::Changed {
                        id: id.clone(),
                        report,
                        previous,
                    });
                }
                if status.is_terminal() {
                    state.builds.remove(&id);
                }
            }
            Err(error) if error.is_retryable() => {
                followed.slot.errors += 1;
                let asked = match &error {
                    Error::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                };
                followed.slot.due =
                    now + options.intervals.after_errors(followed.slot.errors, asked);
                tracing::debug!(build = %id, %error, errors = followed.slot.errors, "poll failed; trying again later");
            }
            Err(error) => {
                state.builds.remove(&id);
                events.push(TrackerEvent::Dropped { id, error });
            }
        }
    }
    events
}
