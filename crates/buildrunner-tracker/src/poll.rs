//! The polling loop: pick the builds due (hinted first), poll as many as the budget allows
//! through `status_many`, turn the answers into events and next due times.

use std::sync::Arc;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, Error};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::pacing::Pacer;
use crate::{Shared, State, TrackerEvent, TrackerOptions, telemetry};

/// The builds due now, hinted ones first then the most overdue, at most `limit`; or when the
/// next one is due.
fn due(state: &State, now: Instant, limit: usize) -> Result<Vec<BuildId>, Option<Instant>> {
    let mut due: Vec<(&BuildId, bool, Instant)> = state
        .builds
        .iter()
        .filter(|(_, f)| f.slot.due <= now)
        .map(|(id, f)| (id, f.hint.is_none(), f.slot.due))
        .collect();
    if due.is_empty() {
        return Err(state.builds.values().map(|f| f.slot.due).min());
    }
    due.sort_by_key(|(_, not_hinted, at)| (*not_hinted, *at));
    Ok(due
        .into_iter()
        .take(limit.max(1))
        .map(|(id, _, _)| id.clone())
        .collect())
}

pub(crate) async fn poll_loop(
    runner: Arc<dyn BuildRunner>,
    options: TrackerOptions,
    shared: Arc<Shared>,
    events: mpsc::Sender<TrackerEvent>,
) {
    let mut pacer = Pacer::new(options.max_cost_per_sec);
    loop {
        let batch = {
            let state = shared.lock();
            if state.stopped {
                return;
            }
            due(&state, Instant::now(), options.batch_size)
        };
        let mut ids = match batch {
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
        let urgent = shared
            .lock()
            .builds
            .get(&ids[0])
            .is_some_and(|f| f.hint.is_some());
        match pacer.take(
            ids.len(),
            |n| runner.status_many_cost(n),
            Instant::now(),
            urgent,
        ) {
            Ok(affordable) => {
                ids.truncate(affordable);
                record_lag(&shared, &ids);
            }
            Err(wait) => {
                // Out of budget: wait for it, or for a hint, which may go with less.
                let hinted = shared.wake.notified();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = hinted => {}
                }
                continue;
            }
        }
        let answers = runner.status_many(&ids).await;
        for event in record(&shared, &options, ids, answers) {
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// How overdue each build of a round is.
fn record_lag(shared: &Shared, ids: &[BuildId]) {
    let now = Instant::now();
    let state = shared.lock();
    for id in ids {
        if let Some(followed) = state.builds.get(id) {
            telemetry::poll_lag(
                shared.backend,
                now.saturating_duration_since(followed.slot.due),
            );
        }
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
                let age = now - followed.slot.followed_at;
                followed.slot.due = now + options.intervals.after_poll(age);
                followed.hint = match followed.hint {
                    // A webhook claims what the CI does not show yet: look again soon.
                    Some(hint) if hint.claimed != status && hint.looks_left > 0 => {
                        followed.slot.due = now + options.confirm_after;
                        Some(crate::Hint {
                            looks_left: hint.looks_left - 1,
                            ..hint
                        })
                    }
                    _ => None,
                };
                let previous = followed.last.replace(status);
                if previous != Some(status) {
                    events.push(TrackerEvent::Changed {
                        id: id.clone(),
                        report,
                        previous,
                    });
                }
                if status.is_terminal() {
                    let followed_for = now - followed.slot.followed_at;
                    state.builds.remove(&id);
                    telemetry::verdict(shared.backend, status, followed_for);
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
                telemetry::dropped(shared.backend, &error);
                events.push(TrackerEvent::Dropped { id, error });
            }
        }
    }
    telemetry::followed(shared.backend, state.builds.len());
    events
}
