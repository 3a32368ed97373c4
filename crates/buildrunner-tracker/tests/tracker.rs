//! The tracker against real backends: the noop backend for verdicts, and the Buildkite backend
//! on its emulator, whose request log counts what the tracker spends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig};
use buildrunner_api::{BuildId, BuildRunner, BuildStatus};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_noop::NoopRunner;
use buildrunner_testkit::{request, trigger};
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};
use tokio::sync::mpsc::Receiver;

fn quick(min_ms: u64) -> TrackerOptions {
    TrackerOptions {
        intervals: Intervals {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(min_ms * 4),
            age_factor: 0.1,
        },
        max_cost_per_sec: 10_000.0,
        ..TrackerOptions::default()
    }
}

async fn next(events: &mut Receiver<TrackerEvent>) -> TrackerEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5 s")
        .expect("the tracker is running")
}

#[tokio::test]
async fn verdicts_arrive_once_and_finished_builds_are_no_longer_followed() {
    let noop = Arc::new(NoopRunner::new());
    let runner: Arc<dyn BuildRunner> = noop.clone();
    let pass = trigger(&*runner, "https://x/1").await;
    let fail = trigger(&*runner, "https://x/2?buildrunner-outcome=fail").await;
    let hang = trigger(&*runner, "https://x/3?buildrunner-outcome=hang").await;
    let (tracker, mut events) = Tracker::start(Arc::clone(&runner), quick(10));
    for id in [&pass, &fail, &hang] {
        tracker.follow(id.clone());
    }
    tracker.follow(BuildId::new("not-a-noop-id"));
    let mut seen = std::collections::HashMap::new();
    for _ in 0..4 {
        match next(&mut events).await {
            TrackerEvent::Changed {
                id,
                report,
                previous,
                ..
            } => {
                assert_eq!(previous, None);
                seen.insert(id.to_string(), report.status);
            }
            TrackerEvent::Dropped { id, error } => {
                assert_eq!(
                    (id.as_str(), error.kind()),
                    ("not-a-noop-id", "invalid_build_id")
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen[pass.as_str()], BuildStatus::Succeeded);
    assert_eq!(seen[fail.as_str()], BuildStatus::Failed);
    assert_eq!(seen[hang.as_str()], BuildStatus::Running);
    assert_eq!(
        tracker.followed(),
        1,
        "only the running build is still followed"
    );
    // The next event is the cancel, not a repeat of anything already reported.
    noop.cancel(&hang).await.unwrap();
    match next(&mut events).await {
        TrackerEvent::Changed {
            id,
            report,
            previous,
            ..
        } => {
            assert_eq!(id, hang);
            assert_eq!(
                (previous, report.status),
                (Some(BuildStatus::Running), BuildStatus::Cancelled)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tracker.followed(), 0);
}

async fn emulator_runner(emulator: &Emulator) -> Arc<dyn BuildRunner> {
    let config = BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    Arc::new(BuildkiteRunner::new("tracker", config, Token::new("tracker-token").unwrap()).unwrap())
}

async fn hanging(runner: &Arc<dyn BuildRunner>, count: usize) -> Vec<BuildId> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            runner
                .trigger(&request(&format!("https://x/{i}?buildrunner-outcome=hang")))
                .await
                .unwrap(),
        );
    }
    ids
}

fn polls(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracker_never_spends_more_requests_a_second_than_its_share() {
    let emulator = Emulator::start(EmulatorConfig::new("tracker-token"))
        .await
        .unwrap();
    let runner = emulator_runner(&emulator).await;
    let ids = hanging(&runner, 40).await;
    emulator.clear_requests();
    let options = TrackerOptions {
        max_cost_per_sec: 50.0,
        batch_size: 10,
        ..quick(1)
    };
    let (tracker, _events) = Tracker::start(runner, options);
    for id in ids {
        tracker.follow(id);
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    drop(tracker);
    let polled = polls(&emulator);
    // Buildkite's REST status costs one request a build: 50 a second for two seconds, plus
    // the one-second burst the bucket starts with, at most (fewer on a loaded machine).
    assert!(
        (40..=150).contains(&polled),
        "{polled} polls in two seconds"
    );
}

#[tokio::test]
async fn a_hint_polls_a_build_before_it_is_due_and_unfollow_stops_polling() {
    let emulator = Emulator::start(EmulatorConfig::new("tracker-token"))
        .await
        .unwrap();
    let runner = emulator_runner(&emulator).await;
    let ids = hanging(&runner, 2).await;
    emulator.clear_requests();
    // Polled at once when followed, then not for ten seconds.
    let (tracker, mut events) = Tracker::start(runner, quick(10_000));
    tracker.follow(ids[0].clone());
    tracker.follow(ids[1].clone());
    next(&mut events).await;
    next(&mut events).await;
    assert_eq!(polls(&emulator), 2);
    tracker.hint(&ids[0], BuildStatus::Succeeded);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        polls(&emulator),
        3,
        "the hinted build was polled again, the other not"
    );
    tracker.unfollow(&ids[0]);
    tracker.hint(&ids[0], BuildStatus::Succeeded);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(polls(&emulator), 3, "an unfollowed build is not polled");
    assert_eq!(tracker.followed(), 1);
}

#[tokio::test]
async fn a_hint_the_ci_does_not_confirm_yet_is_polled_again_a_few_times() {
    let emulator = Emulator::start(EmulatorConfig::new("tracker-token"))
        .await
        .unwrap();
    let runner = emulator_runner(&emulator).await;
    let ids = hanging(&runner, 1).await;
    emulator.clear_requests();
    let options = TrackerOptions {
        confirm_after: Duration::from_millis(30),
        ..quick(10_000)
    };
    let (tracker, mut events) = Tracker::start(runner, options);
    tokio::time::sleep(Duration::from_millis(100)).await; // past its queued phase
    tracker.follow(ids[0].clone());
    next(&mut events).await;
    assert!(tracker.hint(&ids[0], BuildStatus::Running), "followed");
    assert!(
        !tracker.hint(&BuildId::new("acme/app/999999"), BuildStatus::Failed),
        "not followed"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        polls(&emulator),
        1,
        "a claim of the status known costs nothing"
    );
    assert!(tracker.hint(&ids[0], BuildStatus::Failed));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The first poll, the hinted one, and three early looks while the build still runs;
    // then back to its ten-second interval.
    assert_eq!(polls(&emulator), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_lists_many_runs_in_one_request_is_charged_one_unit_a_round() {
    let emulator =
        github_actions_emulator::Emulator::start(github_actions_emulator::EmulatorConfig::new("t"))
            .await
            .unwrap();
    let config = buildrunner_github_actions::GitHubActionsConfig::new("octo", "app", "ci.yml")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    let credentials = buildrunner_github_actions::Credentials::Token(
        buildrunner_github_actions::Token::new("t").unwrap(),
    );
    let runner: Arc<dyn BuildRunner> = Arc::new(
        buildrunner_github_actions::GitHubActionsRunner::new("q", config, credentials).unwrap(),
    );
    let ids = hanging(&runner, 30).await;
    github_actions_emulator::Emulated::clear_requests(&emulator);
    // Two units a second: REST-like costs would take 15 s to poll 30 builds once.
    let options = TrackerOptions {
        max_cost_per_sec: 2.0,
        batch_size: 100,
        ..quick(10_000)
    };
    let (tracker, mut events) = Tracker::start(runner, options);
    for id in &ids {
        tracker.follow(id.clone());
    }
    for _ in 0..30 {
        next(&mut events).await;
    }
    // At one unit a build the 30 first polls would take 15 s; the events came within 5 s.
    // Builds followed while a round ran make a second round at most.
    let requests = github_actions_emulator::Emulated::requests(&emulator);
    assert!(
        (1..=2).contains(&requests.len()),
        "one list request a round: {requests:?}"
    );
}
