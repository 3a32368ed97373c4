//! Whole lifecycles against the Jenkins emulator: what a status costs before and after the
//! build starts, a build followed across its queue item's expiry, identical queued triggers
//! merged into one item, an input wait that only a cancel ends, and a job that declares
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_api::{BuildRunner, BuildStatus, Error};
use buildrunner_jenkins::{JenkinsConfig, JenkinsRunner, Token};
use buildrunner_testkit::{final_status, request, trailing_number, trigger};
use jenkins_emulator::{Emulated, Emulator, EmulatorConfig, JenkinsConfig as _, Timings};

const TOKEN: &str = "lifecycle-token";

fn config(emulator: &Emulator) -> JenkinsConfig {
    let mut config = JenkinsConfig::new(&emulator.url(), "platform/app", "bot").unwrap();
    config.http.initial_backoff = Duration::from_millis(20);
    config.http.max_retry_wait = Duration::from_secs(5);
    config
}

fn runner(config: JenkinsConfig) -> JenkinsRunner {
    JenkinsRunner::new("lifecycle", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn slow() -> Timings {
    Timings::new(
        Duration::from_millis(300),
        Duration::from_millis(300),
        Duration::from_millis(20),
    )
}

fn gets(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count()
}

#[tokio::test]
async fn a_queued_poll_costs_one_request_and_a_started_one_costs_one_after_the_first() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(slow()))
        .await
        .unwrap();
    let runner = runner(config(&emulator));
    let id = trigger(&runner, "https://x/1").await;
    emulator.clear_requests();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Accepted
    );
    assert_eq!(gets(&emulator), 1, "a queued build: the queue item");
    tokio::time::sleep(Duration::from_millis(350)).await;
    emulator.clear_requests();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Running
    );
    assert_eq!(
        gets(&emulator),
        2,
        "the first read after the start: item, then build"
    );
    emulator.clear_requests();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Running
    );
    assert_eq!(gets(&emulator), 1, "then the build alone");
    assert_eq!(final_status(&runner, &id).await, BuildStatus::Succeeded);
}

#[tokio::test]
async fn a_build_is_followed_across_its_queue_items_expiry() {
    let config_ = EmulatorConfig::new(TOKEN)
        .with_left_item_lifetime(Duration::from_millis(50))
        .with_timings(Timings::new(
            Duration::from_millis(20),
            Duration::from_millis(400),
            Duration::from_millis(20),
        ));
    let emulator = Emulator::start(config_).await.unwrap();
    let first = runner(config(&emulator));
    let id = trigger(&first, "https://x/1?buildrunner-outcome=fail").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let queue_id = trailing_number(&id);
    // The item is gone: a fresh runner (a restart, no cache) finds the build by its queueId.
    let fresh = runner(config(&emulator));
    emulator.clear_requests();
    let report = fresh.status(&id).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    let paths: Vec<String> = emulator.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            format!("/queue/item/{queue_id}/api/json"),
            "/job/platform/job/app/api/json".to_owned(),
            "/job/platform/job/app/1/api/json".to_owned(),
        ]
    );
    assert_eq!(emulator.requests()[0].status, 404);
    assert_eq!(final_status(&fresh, &id).await, BuildStatus::Failed);
    let failed = fresh.jobs(&id).await.unwrap();
    assert!(
        failed
            .iter()
            .any(|j| j.name == "test" && j.status == BuildStatus::Failed),
        "{failed:?}"
    );
}

#[tokio::test]
async fn identical_queued_triggers_are_merged_into_one_item() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(slow()))
        .await
        .unwrap();
    // Without a key parameter the requests are identical, so Jenkins merges them (303).
    let mut unkeyed = config(&emulator);
    unkeyed.key_parameter = None;
    let runner = runner(unkeyed);
    let first = trigger(&runner, "https://x/same").await;
    let second = trigger(&runner, "https://x/same").await;
    assert_eq!(first, second);
    let item = emulator.item(trailing_number(&first)).unwrap();
    assert_eq!((item.merged, emulator.item_count()), (1, 1));
    let statuses: Vec<u16> = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [201, 303]);
    // With keys (the default) each request carries its own, so nothing is merged.
    let keyed = self::runner(config(&emulator));
    let a = trigger(&keyed, "https://x/same").await;
    let b = trigger(&keyed, "https://x/same").await;
    assert_ne!(a, b);
}

#[tokio::test]
async fn an_input_wait_is_never_green_and_a_cancel_stops_it() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(config(&emulator));
    let id = trigger(&runner, "https://x/1?buildrunner-outcome=block").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = runner.status(&id).await.unwrap();
    assert_eq!(waiting.status, BuildStatus::Running);
    assert_eq!(waiting.metadata["jenkins_waiting_for_input"], "true");
    let stages = runner.jobs(&id).await.unwrap();
    assert_eq!(stages.last().map(|s| s.name.as_str()), Some("approval"));
    runner.cancel(&id).await.unwrap();
    assert_eq!(final_status(&runner, &id).await, BuildStatus::Cancelled);
    assert!(emulator.item(trailing_number(&id)).unwrap().stopped);
    // A queued item is taken out of the queue instead.
    let slow = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(slow()))
        .await
        .unwrap();
    let runner = self::runner(config(&slow));
    let queued = trigger(&runner, "https://x/2").await;
    runner.cancel(&queued).await.unwrap();
    assert_eq!(
        runner.status(&queued).await.unwrap().status,
        BuildStatus::Cancelled
    );
    assert!(
        slow.item(trailing_number(&queued))
            .unwrap()
            .cancelled_in_queue
    );
}

#[tokio::test]
async fn a_job_without_the_parameters_is_refused_before_any_trigger() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    emulator.declare_parameters("platform/app", &["SQ_HEAD_URIS"]);
    let runner = runner(config(&emulator));
    let error = runner.trigger(&request("https://x/1")).await.unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
    assert!(error.to_string().contains("SQ_BASE_URIS"), "{error}");
    assert_eq!(emulator.item_count(), 0);
    emulator.disable_job("platform/app");
    emulator.declare_parameters("platform/app", &jenkins_emulator::DEFAULT_PARAMETERS);
    let error = runner.trigger(&request("https://x/1")).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
}
