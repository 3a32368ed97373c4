//! Following a build until it finishes, politely: polls back off while the build is queued or
//! the CI misbehaves, and Ctrl-C and `--timeout` are honoured at any point.

use std::time::Duration;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, JobReport};
use tokio::time::Instant;

use crate::exit::{CliError, Exit};
use crate::listen::WakeOnHint;
use crate::output::{Printer, Progress};

/// How to poll.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The pause between polls of a running build.
    pub interval: Duration,
    /// When to stop watching, if ever.
    pub timeout: Option<Duration>,
    /// How many times a failed build's failed jobs are retried before its verdict.
    pub retry_failed: u32,
    /// How long a build may stay queued before watching stops with "never started".
    pub start_timeout: Option<Duration>,
}

/// What Ctrl-C does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// `watch`: stop watching; the build goes on.
    LeaveRunning,
    /// `run`: cancel the build this command started.
    Cancel,
}

/// The longest pause between two polls, whatever the backoff says.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The pause after a poll: the interval while running, growing while the build is queued or
/// unknown (up to four intervals), and doubling per consecutive error (up to a minute, or as
/// long as a rate limit asked).
fn next_pause(
    settings: &Settings,
    previous: Duration,
    outcome: &Result<BuildStatus, Option<Duration>>,
    errors: u32,
) -> Duration {
    match outcome {
        Ok(BuildStatus::Accepted | BuildStatus::Unknown) => previous
            .mul_f64(1.5)
            .clamp(settings.interval, settings.interval * 4),
        Ok(_) => settings.interval,
        Err(asked) => {
            let backoff = settings
                .interval
                .saturating_mul(1 << errors.min(10))
                .min(MAX_PAUSE);
            backoff.max(asked.unwrap_or_default())
        }
    }
}

enum End {
    Finished(BuildReport, Option<Vec<JobReport>>),
    TimedOut(Option<BuildReport>),
    NeverStarted(BuildReport),
    Interrupted,
}

/// Polls `id` until it is terminal, the timeout passes or Ctrl-C; prints the outcome and
/// returns the exit code.
pub async fn watch(
    runner: &dyn BuildRunner,
    id: &BuildId,
    settings: &Settings,
    printer: &Printer,
    on_interrupt: OnInterrupt,
    wake: Option<&WakeOnHint>,
) -> Result<Exit, CliError> {
    let mut progress = Progress::new();
    let end = follow(runner, id, settings, printer, &mut progress, wake).await;
    progress.clear();
    match end? {
        End::Finished(report, failed_jobs) => {
            printer.verdict(id, &report, failed_jobs.as_deref());
            Ok(Exit::for_status(report.status))
        }
        End::NeverStarted(report) => {
            printer.report(id, &report);
            let waited = settings.start_timeout.unwrap_or_default();
            let after = match on_interrupt {
                // `run` started it: a build that never started is not left queued.
                OnInterrupt::Cancel => match runner.cancel(id).await {
                    Ok(()) => "cancelled it".to_owned(),
                    Err(e) => format!("cancelling it failed: {e}"),
                },
                OnInterrupt::LeaveRunning => "it stays queued".to_owned(),
            };
            Err(CliError::new(
                Exit::TimedOut,
                format!("{id} never started: still queued after {waited:?}; {after}"),
            ))
        }
        End::TimedOut(last) => {
            if let Some(report) = &last {
                printer.report(id, report);
            }
            let timeout = settings.timeout.unwrap_or_default();
            Err(CliError::new(
                Exit::TimedOut,
                format!("{id} did not finish within {timeout:?}; it keeps running"),
            ))
        }
        End::Interrupted if on_interrupt == OnInterrupt::LeaveRunning => Err(CliError::new(
            Exit::Interrupted,
            format!("interrupted; stopped watching {id}, which keeps running"),
        )),
        End::Interrupted => {
            let message = match runner.cancel(id).await {
                Ok(()) => format!("interrupted; cancelled {id}"),
                Err(e) => format!("interrupted; cancelling {id} failed: {e}"),
            };
            Err(CliError::new(Exit::Interrupted, message))
        }
    }
}

async fn follow(
    runner: &dyn BuildRunner,
    id: &BuildId,
    settings: &Settings,
    printer: &Printer,
    progress: &mut Progress,
    wake_on_hint: Option<&WakeOnHint>,
) -> Result<End, CliError> {
    let deadline = settings.timeout.map(|t| Instant::now() + t);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    // Poll it once now so the handler is installed before the first request goes out.
    tokio::select! {
        biased;
        _ = &mut interrupted => return Ok(End::Interrupted),
        _ = std::future::ready(()) => {}
    }
    let started = Instant::now();
    let declared = runner.capabilities();
    let mut retries = 0u32;
    let mut last: Option<BuildReport> = None;
    let mut url_shown = false;
    let mut pause = settings.interval;
    let mut errors = 0u32;
    loop {
        let poll = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, runner.status(id))
                    .await
                    .ok(),
                None => Some(runner.status(id).await),
            }
        };
        let polled = tokio::select! {
            polled = poll => polled,
            _ = &mut interrupted => return Ok(End::Interrupted),
        };
        let Some(polled) = polled else {
            return Ok(End::TimedOut(last));
        };
        let outcome = match polled {
            Ok(report) => {
                errors = 0;
                if !url_shown && let Some(url) = report.url() {
                    progress.clear();
                    printer.url(id, url);
                    url_shown = true;
                }
                if report.status == BuildStatus::Failed
                    && declared.retry_failed
                    && retries < settings.retry_failed
                {
                    match runner.retry_failed(id).await {
                        Ok(()) => {
                            retries += 1;
                            progress.clear();
                            note!(
                                "buildrunner: {id}: retrying the failed jobs (attempt {})",
                                retries + 1
                            );
                        }
                        Err(error) => {
                            progress.clear();
                            note!("buildrunner: {id}: the retry was refused: {error}");
                            let jobs = failed_jobs(runner, id, declared.job_reports).await;
                            return Ok(End::Finished(report, jobs));
                        }
                    }
                } else if report.status.is_terminal() {
                    let jobs = match report.status {
                        BuildStatus::Failed => failed_jobs(runner, id, declared.job_reports).await,
                        _ => None,
                    };
                    return Ok(End::Finished(report, jobs));
                } else if report.status == BuildStatus::Accepted
                    && settings
                        .start_timeout
                        .is_some_and(|limit| started.elapsed() >= limit)
                {
                    return Ok(End::NeverStarted(report));
                }
                progress.update(id, report.status, "");
                let status = report.status;
                last = Some(report);
                Ok(status)
            }
            Err(error) if error.is_retryable() => {
                errors += 1;
                tracing::warn!(build = %id, error = %error, "status failed; will poll again");
                progress.update(
                    id,
                    last.as_ref().map_or(BuildStatus::Unknown, |r| r.status),
                    " (retrying)",
                );
                Err(error.retry_after())
            }
            Err(error) => return Err(error.into()),
        };
        pause = next_pause(settings, pause, &outcome, errors);
        let wake = Instant::now() + pause;
        let wake = deadline.map_or(wake, |deadline| wake.min(deadline));
        let hinted = async {
            match wake_on_hint {
                Some(hints) => hints.hinted().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            // A webhook names the build: poll now, without waiting out the pause.
            _ = hinted => {}
            _ = &mut interrupted => return Ok(End::Interrupted),
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(End::TimedOut(last));
        }
    }
}

/// The failed jobs of a failed build, where the runner lists jobs; a read that fails costs
/// the verdict nothing.
async fn failed_jobs(
    runner: &dyn BuildRunner,
    id: &BuildId,
    declared: bool,
) -> Option<Vec<JobReport>> {
    if !declared {
        return None;
    }
    match runner.jobs(id).await {
        Ok(jobs) => Some(jobs.into_iter().filter(JobReport::failed).collect()),
        Err(error) => {
            tracing::warn!(build = %id, %error, "the failed jobs could not be read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_back_off_while_queued_and_after_errors() {
        let settings = Settings {
            interval: Duration::from_secs(2),
            timeout: None,
            retry_failed: 0,
            start_timeout: None,
        };
        let s = Duration::from_secs;
        assert_eq!(
            next_pause(&settings, s(2), &Ok(BuildStatus::Running), 0),
            s(2)
        );
        assert_eq!(
            next_pause(&settings, s(2), &Ok(BuildStatus::Accepted), 0),
            s(3)
        );
        assert_eq!(
            next_pause(&settings, s(7), &Ok(BuildStatus::Unknown), 0),
            s(8),
            "capped at four intervals"
        );
        assert_eq!(
            next_pause(&settings, s(8), &Ok(BuildStatus::Running), 0),
            s(2)
        );
        assert_eq!(next_pause(&settings, s(2), &Err(None), 1), s(4));
        assert_eq!(next_pause(&settings, s(2), &Err(None), 3), s(16));
        assert_eq!(
            next_pause(&settings, s(2), &Err(None), 30),
            s(60),
            "capped at a minute"
        );
        assert_eq!(
            next_pause(&settings, s(2), &Err(Some(s(90))), 1),
            s(90),
            "a rate limit's wait is honoured"
        );
    }
}
