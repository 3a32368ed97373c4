//! What the tracker does besides polling, each spent from the same budget as a poll: retry a
//! failed build's failed jobs, read the jobs of a failed verdict, cancel a build that never
//! started.

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, JobReport};
use std::time::Duration;
use tokio::time::Instant;

use crate::pacing::Pacer;
use crate::{Shared, TrackerEvent, telemetry};

/// A call the tracker owes after a round.
#[derive(Debug)]
pub(crate) enum Action {
    /// Retry the failed jobs; on a refusal, the failure is the verdict.
    Retry {
        id: BuildId,
        report: BuildReport,
        attempt: u32,
        previous: Option<BuildStatus>,
        jobs: bool,
    },
    /// Read the failed jobs of a `Failed` verdict, then report it.
    Jobs {
        id: BuildId,
        report: BuildReport,
        previous: Option<BuildStatus>,
    },
    /// Report a build that never started (and cancel it).
    StartDeadline {
        id: BuildId,
        waited: Duration,
        cancel: bool,
    },
}

/// Waits for one request's worth of the budget.
async fn spend(pacer: &mut Pacer) {
    loop {
        match pacer.take(1, |n| n, Instant::now(), true) {
            Ok(_) => return,
            Err(wait) => tokio::time::sleep(wait).await,
        }
    }
}

async fn failed_jobs(runner: &dyn BuildRunner, pacer: &mut Pacer, id: &BuildId) -> Vec<JobReport> {
    spend(pacer).await;
    match runner.jobs(id).await {
        Ok(jobs) => jobs.into_iter().filter(JobReport::failed).collect(),
        Err(error) => {
            tracing::debug!(build = %id, %error, "the failed jobs could not be read");
            Vec::new()
        }
    }
}

/// Performs `action`; the event it ends with, if any.
pub(crate) async fn perform(
    runner: &dyn BuildRunner,
    shared: &Shared,
    pacer: &mut Pacer,
    action: Action,
) -> Option<TrackerEvent> {
    match action {
        Action::Retry {
            id,
            mut report,
            attempt,
            previous,
            jobs,
        } => {
            spend(pacer).await;
            match runner.retry_failed(&id).await {
                Ok(()) => {
                    telemetry::retried(shared.backend);
                    Some(TrackerEvent::Retried { id, attempt })
                }
                Err(error) => {
                    // Refused: the failure is the verdict, with the reason.
                    tracing::info!(build = %id, %error, "the retry was refused; the failure stands");
                    report
                        .metadata
                        .insert("retry_refused".to_owned(), error.to_string());
                    let failed_jobs = if jobs {
                        failed_jobs(runner, pacer, &id).await
                    } else {
                        Vec::new()
                    };
                    finish(shared, &id);
                    Some(TrackerEvent::Changed {
                        id,
                        report,
                        previous,
                        failed_jobs,
                    })
                }
            }
        }
        Action::Jobs {
            id,
            report,
            previous,
        } => {
            let failed_jobs = failed_jobs(runner, pacer, &id).await;
            telemetry::jobs_read(shared.backend);
            Some(TrackerEvent::Changed {
                id,
                report,
                previous,
                failed_jobs,
            })
        }
        Action::StartDeadline { id, waited, cancel } => {
            let cancelled = if cancel {
                spend(pacer).await;
                Some(runner.cancel(&id).await)
            } else {
                None
            };
            Some(TrackerEvent::StartDeadlinePassed {
                id,
                waited,
                cancelled,
            })
        }
    }
}

/// Stops following a build whose verdict is out.
fn finish(shared: &Shared, id: &BuildId) {
    let mut state = shared.lock();
    if let Some(followed) = state.builds.remove(id) {
        telemetry::verdict(
            shared.backend,
            BuildStatus::Failed,
            followed.slot.followed_at.elapsed(),
        );
    }
    telemetry::followed(shared.backend, state.builds.len());
}
