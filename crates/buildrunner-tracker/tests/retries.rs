//! The tracker's retries of failed jobs, the failed jobs of a verdict, and start deadlines,
//! against the Buildkite backend on its emulator, whose request log counts what it spends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, Timings};
use buildrunner_api::{BuildRunner, BuildStatus};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_testkit::trigger;
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};
use tokio::sync::mpsc::Receiver;

const TOKEN: &str = "tracker-retries-token";

fn options(retry_failed: u32) -> TrackerOptions {
    TrackerOptions {
        intervals: Intervals {
            min: Duration::from_millis(10),
            max: Duration::from_millis(40),
            age_factor: 0.1,
        },
        max_cost_per_sec: 10_000.0,
        retry_failed,
        ..TrackerOptions::default()
    }
}

async fn started(timings: Timings) -> (Emulator, Arc<dyn BuildRunner>) {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(timings))
        .await
        .unwrap();
    let config = BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    let runner = BuildkiteRunner::new("tracker", config, Token::new(TOKEN).unwrap()).unwrap();
    (emulator, Arc::new(runner))
}

async fn next(events: &mut Receiver<TrackerEvent>) -> TrackerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the tracker is running")
}

/// Events until a verdict, the verdict last.
async fn until_verdict(events: &mut Receiver<TrackerEvent>) -> Vec<TrackerEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next(events).await;
        let verdict =
            matches!(&event, TrackerEvent::Changed { report, .. } if report.status.is_terminal());
        seen.push(event);
        if verdict {
            return seen;
        }
    }
}

fn retries_sent(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/retry"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_build_is_retried_once_and_its_verdict_is_green_under_the_same_id() {
    let (emulator, runner) = started(Timings::default()).await;
    let id = trigger(&*runner, "https://x/1?buildrunner-outcome=flaky").await;
    let (tracker, mut events) = Tracker::start(runner, options(2));
    tracker.follow(id.clone());
    let seen = until_verdict(&mut events).await;
    let retried: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            TrackerEvent::Retried {
                id: retried,
                attempt,
            } if *retried == id => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retried, [2], "{seen:?}");
    let Some(TrackerEvent::Changed {
        id: last, report, ..
    }) = seen.last()
    else {
        panic!("{seen:?}")
    };
    assert_eq!((last, report.status), (&id, BuildStatus::Succeeded));
    assert!(
        !seen.iter().any(|e| matches!(e, TrackerEvent::Changed { report, .. } if report.status == BuildStatus::Failed)),
        "the first attempt's failure is never reported: {seen:?}"
    );
    assert_eq!(retries_sent(&emulator), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_keeps_failing_is_retried_n_times_then_fails_with_its_failed_jobs() {
    let (emulator, runner) = started(Timings::default()).await;
    let id = trigger(&*runner, "https://x/1?buildrunner-outcome=fail").await;
    let (tracker, mut events) = Tracker::start(runner, options(2));
    tracker.follow(id.clone());
    let seen = until_verdict(&mut events).await;
    let attempts: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            TrackerEvent::Retried { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [2, 3]);
    let Some(TrackerEvent::Changed {
        report,
        failed_jobs,
        ..
    }) = seen.last()
    else {
        panic!("{seen:?}")
    };
    assert_eq!(report.status, BuildStatus::Failed);
    let names: Vec<&str> = failed_jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["test"], "only the failed job, once");
    assert!(
        failed_jobs[0]
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"))
    );
    assert_eq!(retries_sent(&emulator), 2);
    assert_eq!(tracker.followed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_failed_verdict_still_names_its_failed_job_with_one_jobs_read() {
    let (emulator, runner) = started(Timings::default()).await;
    let id = trigger(&*runner, "https://x/1?buildrunner-outcome=fail").await;
    let (tracker, mut events) = Tracker::start(runner, options(0));
    tracker.follow(id);
    let seen = until_verdict(&mut events).await;
    let Some(TrackerEvent::Changed { failed_jobs, .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert_eq!(failed_jobs.len(), 1);
    let jobs_reads = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.query.as_deref().unwrap_or("").contains("exclude_jobs"))
        .count();
    assert_eq!(jobs_reads, 1, "one jobs read for the failed verdict");
    assert_eq!(retries_sent(&emulator), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_still_queued_at_its_start_deadline_is_reported_and_cancelled() {
    let queued_long = Timings::new(
        Duration::from_secs(30),
        Duration::from_millis(80),
        Duration::from_millis(20),
    );
    let (_emulator, runner) = started(queued_long).await;
    let id = trigger(&*runner, "https://x/1").await;
    let options = TrackerOptions {
        start_deadline: Some(Duration::from_millis(150)),
        cancel_on_start_deadline: true,
        ..options(0)
    };
    let (tracker, mut events) = Tracker::start(runner, options);
    tracker.follow(id.clone());
    let seen = until_verdict(&mut events).await;
    let deadline = seen.iter().find_map(|e| match e {
        TrackerEvent::StartDeadlinePassed {
            id: late,
            waited,
            cancelled,
        } => Some((late.clone(), *waited, cancelled.as_ref().map(Result::is_ok))),
        _ => None,
    });
    let (late, waited, cancelled) = deadline.expect("a start deadline event");
    assert_eq!(late, id);
    assert!(waited >= Duration::from_millis(150));
    assert_eq!(cancelled, Some(true));
    let Some(TrackerEvent::Changed { report, .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert_eq!(report.status, BuildStatus::Cancelled);
}
