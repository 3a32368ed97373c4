//! Jobs and retries of failed jobs against a real loopback HTTP server: which jobs are
//! reported, soft failures, one retry per failed job id, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Error};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_testkit::stray_requests;
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "bkua_jobs_secret_0123456789";
const BUILD: &str = "/v2/organizations/acme/pipelines/app/builds/7";

fn runner(server: &MockServer) -> BuildkiteRunner {
    let mut config = BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.max_retries = 2;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = Duration::from_secs(2);
    BuildkiteRunner::new("main", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn job(id: &str, kind: &str, name: &str, state: &str, retried: bool, soft: bool) -> Value {
    json!({"id": id, "type": kind, "name": name, "state": state, "retried": retried,
           "soft_failed": soft, "web_url": format!("https://buildkite.com/acme/app/builds/7#{id}")})
}

fn build(state: &str) -> Value {
    json!({"number": 7, "state": state, "blocked": false, "web_url": "https://buildkite.com/acme/app/builds/7",
    "jobs": [
        job("j1", "script", "build", "passed", false, false),
        job("j2", "waiter", "wait", "passed", false, false),
        job("j3", "script", "test", "failed", true, false),
        job("j4", "script", "test", "failed", false, false),
        job("j5", "script", "lint", "failed", false, true),
        job("j6", "manual", "approve", "blocked", false, false),
        job("j7", "trigger", "deploy", "broken", false, false)
    ]})
}

fn id() -> BuildId {
    BuildId::new("acme/app/7")
}

#[tokio::test]
async fn jobs_are_script_and_trigger_jobs_of_the_latest_attempt_and_soft_failures_pass() {
    let server = MockServer::start_async().await;
    let read = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(BUILD)
                .query_param("exclude_pipeline", "true")
                .query_param_missing("exclude_jobs")
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200).json_body(build("failed"));
        })
        .await;
    let listed = runner(&server).jobs(&id()).await.unwrap();
    read.assert_async().await;
    let seen: Vec<(&str, BuildStatus, Option<&str>)> = listed
        .iter()
        .map(|j| (j.name.as_str(), j.status, j.detail.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("build", BuildStatus::Succeeded, Some("passed")),
            ("test", BuildStatus::Failed, Some("failed")),
            ("lint", BuildStatus::Succeeded, Some("soft failed")),
            ("deploy", BuildStatus::Cancelled, Some("broken")),
        ]
    );
    assert_eq!(
        listed[1].url.as_deref(),
        Some("https://buildkite.com/acme/app/builds/7#j4")
    );
}

#[tokio::test]
async fn only_the_failed_script_jobs_not_yet_retried_are_retried_once_each() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(BUILD)
                .query_param("exclude_jobs", "true");
            then.status(200).json_body(build("failed"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(BUILD)
                .query_param_missing("exclude_jobs");
            then.status(200).json_body(build("failed"));
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(format!("{BUILD}/jobs/j4/retry"))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200)
                .json_body(job("j8", "script", "test", "scheduled", false, false));
        })
        .await;
    let others = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path_includes("/jobs/")
                .path_excludes("/jobs/j4/");
            then.status(599);
        })
        .await;
    runner(&server).retry_failed(&id()).await.unwrap();
    retry.assert_calls_async(1).await;
    others.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_job_buildkite_says_was_retried_already_is_under_way_and_unfailed_builds_send_nothing() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(BUILD);
            then.status(200).json_body(build("failed"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(PUT).path(format!("{BUILD}/jobs/j4/retry"));
            then.status(422)
                .json_body(json!({"message": "Job has already been retried"}));
        })
        .await;
    runner(&server).retry_failed(&id()).await.unwrap();

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(BUILD);
            then.status(200).json_body(build("running"));
        })
        .await;
    let stray = server
        .mock_async(|when, then| {
            when.method(PUT);
            then.status(599);
        })
        .await;
    let error = runner(&server).retry_failed(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    stray.assert_calls_async(0).await;

    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let error = runner(&server)
        .jobs(&BuildId::new("acme/other/7"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidBuildId { .. }));
    stray.assert_calls_async(0).await;
}
