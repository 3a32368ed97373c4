//! Following several builds at once through one tracker: batched status, one budget, and the
//! worst verdict as the exit code.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::{BuildId, BuildReport, BuildRunner, BuildStatus, JobReport};
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};
use tokio::time::Instant;

use crate::exit::{CliError, Exit};
use crate::listen::listen;
use crate::output::{Printer, Watched};
use crate::watch::Settings;

/// The tracker a `watch` of `count` builds uses: each build polled about once an interval
/// while young, less often as it ages (up to four intervals), never more requests a second
/// than `count` per interval.
fn options(settings: &Settings, count: usize) -> TrackerOptions {
    let interval = settings.interval.max(Duration::from_millis(1));
    TrackerOptions {
        intervals: Intervals {
            min: interval,
            max: interval * 4,
            age_factor: 0.1,
        },
        max_cost_per_sec: (count as f64 / interval.as_secs_f64()).max(1.0),
        retry_failed: settings.retry_failed,
        start_deadline: settings.start_timeout,
        ..TrackerOptions::default()
    }
}

/// The exit code of several verdicts: 1 if any failed, else 3 if any was cancelled, else 5 if
/// any is unfinished (timed out), else 0.
fn worst(statuses: impl IntoIterator<Item = Option<BuildStatus>>) -> Exit {
    let mut exit = Exit::Success;
    for status in statuses {
        let this = status.map_or(Exit::TimedOut, Exit::for_status);
        let rank = |e: Exit| match e {
            Exit::BuildFailed => 3,
            Exit::Cancelled => 2,
            Exit::TimedOut => 1,
            _ => 0,
        };
        if rank(this) > rank(exit) {
            exit = this;
        }
    }
    exit
}

/// Follows every id until all are terminal, the timeout passes or Ctrl-C (the builds keep
/// running); prints `{"builds": [...]}` (or a line per build) and returns the worst verdict.
pub async fn watch_many(
    runner: Arc<dyn BuildRunner>,
    queue: &str,
    ids: &[BuildId],
    settings: &Settings,
    listen_on: Option<SocketAddr>,
    printer: &Printer,
) -> Result<Exit, CliError> {
    let (tracker, mut events) = Tracker::start(Arc::clone(&runner), options(settings, ids.len()));
    let tracker = Arc::new(tracker);
    let _listener = match listen_on {
        Some(addr) => Some(listen(addr, queue, &runner, tracker.clone()).await?),
        None => None,
    };
    for id in ids {
        tracker.follow(id.clone());
    }
    let mut reports: HashMap<BuildId, BuildReport> = HashMap::new();
    let mut jobs: HashMap<BuildId, Vec<JobReport>> = HashMap::new();
    let mut never_started: HashSet<BuildId> = HashSet::new();
    let deadline = settings.timeout.map(|t| Instant::now() + t);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let finished = |reports: &HashMap<BuildId, BuildReport>, never: &HashSet<BuildId>| {
        ids.iter()
            .all(|id| never.contains(id) || reports.get(id).is_some_and(|r| r.status.is_terminal()))
    };
    let timed_out = loop {
        if finished(&reports, &never_started) {
            break false;
        }
        let timeout = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(TrackerEvent::Changed { id, report, failed_jobs, .. }) => {
                    if let Some(url) = report.url().filter(|_| !reports.contains_key(&id)) {
                        printer.url(&id, url);
                    }
                    if report.status == BuildStatus::Failed && runner.capabilities().job_reports {
                        jobs.insert(id.clone(), failed_jobs);
                    }
                    reports.insert(id, report);
                }
                Some(TrackerEvent::Retried { id, attempt, .. }) => {
                    note!("buildrunner: {id}: retrying the failed jobs (attempt {attempt})");
                }
                Some(TrackerEvent::StartDeadlinePassed { id, waited, .. }) => {
                    note!("buildrunner: {id} never started: still queued after {waited:?}");
                    tracker.unfollow(&id);
                    never_started.insert(id);
                }
                Some(TrackerEvent::Dropped { error, .. }) => return Err(error.into()),
                Some(_) | None => break true,
            },
            _ = timeout => break true,
            _ = &mut interrupted => {
                return Err(CliError::new(
                    Exit::Interrupted,
                    format!("interrupted; stopped watching {} builds, which keep running", ids.len()),
                ));
            }
        }
    };
    drop(tracker);
    let builds: Vec<Watched> = ids
        .iter()
        .map(|id| Watched {
            id: id.clone(),
            report: reports.get(id).cloned(),
            failed_jobs: jobs.get(id).cloned(),
        })
        .collect();
    printer.reports(&builds);
    let exit = worst(builds.iter().map(|w| {
        w.report
            .as_ref()
            .map(|r| r.status)
            .filter(|_| !never_started.contains(&w.id))
    }));
    if exit == Exit::TimedOut && !never_started.is_empty() {
        let waited = settings.start_timeout.unwrap_or_default();
        return Err(CliError::new(
            Exit::TimedOut,
            format!(
                "{} of {} builds never started within {waited:?}",
                never_started.len(),
                ids.len()
            ),
        ));
    }
    if timed_out && exit == Exit::TimedOut {
        let timeout = settings.timeout.unwrap_or_default();
        return Err(CliError::new(
            Exit::TimedOut,
            format!("not every build finished within {timeout:?}; they keep running"),
        ));
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_verdict_wins() {
        use BuildStatus::*;
        let exit = |statuses: &[Option<BuildStatus>]| worst(statuses.iter().copied()) as u8;
        assert_eq!(exit(&[Some(Succeeded), Some(Succeeded)]), 0);
        assert_eq!(exit(&[Some(Succeeded), Some(Running)]), 5);
        assert_eq!(exit(&[Some(Cancelled), None]), 3);
        assert_eq!(exit(&[Some(Cancelled), Some(Failed), Some(Succeeded)]), 1);
        assert_eq!(exit(&[]), 0);
    }
}
