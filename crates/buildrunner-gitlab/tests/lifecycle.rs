//! Whole lifecycles against the GitLab emulator: outcome markers, `manual` pipelines that a
//! cancel leaves alone, caller metadata through the variables endpoint, the creation limit
//! the headers do not show, and the API limit shared by runners.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use gitlab_emulator::GitLabConfig as _;
use std::time::Duration;

use buildrunner_api::{BuildRunner, BuildStatus, Change, Error, TriggerRequest};
use buildrunner_gitlab::{GitLabConfig, GitLabRunner, Token};
use gitlab_emulator::{Emulated, Emulator, EmulatorConfig, RateLimit};

use buildrunner_testkit::{final_status, request, trailing_number, trigger};

const TOKEN: &str = "lifecycle-token";

fn runner(emulator: &Emulator, read_variables: bool) -> GitLabRunner {
    let mut config = GitLabConfig::new("acme/platform/app")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    config.read_variables = read_variables;
    config.http.initial_backoff = Duration::from_millis(20);
    config.http.max_retry_wait = Duration::from_secs(5);
    GitLabRunner::new("lifecycle", config, Token::new(TOKEN).unwrap()).unwrap()
}

#[tokio::test]
async fn markers_drive_the_pipeline_and_a_manual_one_is_never_green_nor_cancelled() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(&emulator, false);
    let pass = trigger(&runner, "https://x/1").await;
    let fail = trigger(&runner, "https://x/2?buildrunner-outcome=fail").await;
    let hang = trigger(&runner, "https://x/3?buildrunner-outcome=hang").await;
    let block = trigger(&runner, "https://x/4?buildrunner-outcome=block").await;
    assert_eq!(final_status(&runner, &pass).await, BuildStatus::Succeeded);
    assert_eq!(final_status(&runner, &fail).await, BuildStatus::Failed);
    runner.cancel(&hang).await.unwrap();
    assert_eq!(final_status(&runner, &hang).await, BuildStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let manual = runner.status(&block).await.unwrap();
    assert_eq!(
        (manual.status, manual.metadata["gitlab_status"].as_str()),
        (BuildStatus::Running, "manual")
    );
    let refused = runner.cancel(&block).await.unwrap_err();
    assert!(matches!(refused, Error::Rejected { .. }), "{refused:?}");
    assert_eq!(
        runner.status(&block).await.unwrap().metadata["gitlab_status"],
        "manual"
    );
    // A cancel of a finished pipeline is the contract's no-op.
    runner.cancel(&pass).await.unwrap();
    assert_eq!(
        runner.status(&pass).await.unwrap().status,
        BuildStatus::Succeeded
    );
    // The create carried the contract's variables, and the workflow-name rule named it.
    let snapshot = emulator.pipeline(trailing_number(&fail)).unwrap();
    assert_eq!(snapshot.project, "acme/platform/app");
    let variable = |name: &str| {
        snapshot
            .variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        variable("SQ_HEAD_URIS").unwrap(),
        r#"["https://x/2?buildrunner-outcome=fail"]"#
    );
    assert_eq!(variable("SQ_QUEUE").unwrap(), "lifecycle");
    assert_eq!(
        snapshot.name,
        Some(format!(
            "buildrunner {}",
            variable("BUILDRUNNER_KEY").unwrap()
        ))
    );
}

#[tokio::test]
async fn caller_metadata_round_trips_through_the_variables_endpoint_at_one_request_more() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(&emulator, true);
    let request = TriggerRequest::builder()
        .head(Change::new(["https://x/1"]))
        .metadata("pr", "7")
        .metadata("batch", "ünïcode \"quoted\"")
        .build()
        .unwrap();
    let id = runner.trigger(&request).await.unwrap();
    emulator.clear_requests();
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.metadata["pr"], "7");
    assert_eq!(report.metadata["batch"], "ünïcode \"quoted\"");
    let paths: Vec<String> = emulator.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[1].ends_with("/variables"), "{paths:?}");
}

#[tokio::test]
async fn the_creation_limit_the_headers_do_not_show_is_waited_out() {
    let limit = RateLimit {
        limit: 2,
        window: Duration::from_secs(1),
    };
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_create_limit(limit))
        .await
        .unwrap();
    let runner = runner(&emulator, false);
    for i in 0..3 {
        runner
            .trigger(&request(&format!("https://x/{i}")))
            .await
            .unwrap();
    }
    assert_eq!(emulator.pipeline_count(), 3);
    let refused = emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(refused, 1, "the third creation waited out Retry-After once");
}

#[tokio::test]
async fn runners_of_one_project_and_token_share_the_api_limit() {
    let limit = RateLimit {
        limit: 8,
        window: Duration::from_secs(1),
    };
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(limit))
        .await
        .unwrap();
    let runners: Vec<GitLabRunner> = (0..3).map(|_| runner(&emulator, false)).collect();
    let mut ids = Vec::new();
    for (i, runner) in runners.iter().enumerate() {
        ids.push(
            runner
                .trigger(&request(&format!("https://x/{i}")))
                .await
                .unwrap(),
        );
    }
    for round in 0..4 {
        for (runner, id) in runners.iter().zip(&ids) {
            runner
                .status(id)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    let refused = emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(
        refused, 0,
        "the shared budget held requests back before GitLab refused one"
    );
}
