//! The polling loop: pick the builds due (hinted first), poll as many as the budget allows
//! through `status_many`, turn the answers into events and next due times.

use std::sync::Arc;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, Error};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::actions::{self, Action};
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
        let declared = runner.capabilities();
        let (round, follow_ups) = record(&shared, &options, &declared, ids, answers);
        for event in round {
            if events.send(event).await.is_err() {
                return;
            }
        }
        for action in follow_ups {
            let event = actions::perform(runner.as_ref(), &shared, &mut pacer, action).await;
            if let Some(event) = event
                && events.send(event).await.is_err()
            {
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

/// Applies one round's answers: events for changes and drops, the next due time for the rest,
/// and what must follow (a retry, a jobs read, a cancel) before some verdicts.
fn record(
    shared: &Shared,
    options: &TrackerOptions,
    declared: &buildrunner_api::Capabilities,
    ids: Vec<BuildId>,
    answers: Vec<buildrunner_api::Result<BuildReport>>,
) -> (Vec<TrackerEvent>, Vec<Action>) {
    let now = Instant::now();
    let mut events = Vec::new();
    let mut follow_ups = Vec::new();
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
                let waited = now - followed.slot.followed_at;
                if let Some(deadline) = options.start_deadline
                    && status == BuildStatus::Accepted
                    && !followed.start_reported
                    && waited >= deadline
                {
                    followed.start_reported = true;
                    follow_ups.push(Action::StartDeadline {
                        id: id.clone(),
                        waited,
                        cancel: options.cancel_on_start_deadline,
                    });
                }
                if status == BuildStatus::Failed
                    && declared.retry_failed
                    && followed.retries < options.retry_failed
                {
                    // Not the verdict yet: its failed jobs are retried first.
                    followed.retries += 1;
                    follow_ups.push(Action::Retry {
                        id: id.clone(),
                        report,
                        attempt: followed.retries + 1,
                        previous: followed.last,
                        jobs: declared.job_reports,
                    });
                    continue;
                }
                let previous = followed.last.replace(status);
                if previous != Some(status) {
                    if status == BuildStatus::Failed && declared.job_reports {
                        follow_ups.push(Action::Jobs {
                            id: id.clone(),
                            report,
                            previous,
                        });
                    } else {
                        events.push(TrackerEvent::Changed {
                            id: id.clone(),
                            report,
                            previous,
                            failed_jobs: Vec::new(),
                        });
                    }
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
    (events, follow_ups)
}
