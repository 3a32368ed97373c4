//! Jobs and retries of failed jobs against a real loopback HTTP server: the exact requests,
//! the mapping of GitLab's job fields, and the refusals that send nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Error};
use buildrunner_gitlab::{GitLabConfig, GitLabRunner, Token};
use buildrunner_testkit::stray_requests;
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "glpat-jobs-secret-0123456789";
const PIPELINE: &str = "/api/v4/projects/acme%2Fapp/pipelines/7";

fn runner(server: &MockServer) -> GitLabRunner {
    let mut config = GitLabConfig::new("acme/app")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.max_retries = 2;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = Duration::from_secs(2);
    GitLabRunner::new("main", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn pipeline(status: &str) -> Value {
    json!({"id": 7, "status": status, "ref": "main", "sha": "abc",
           "web_url": "https://gitlab.com/acme/app/-/pipelines/7"})
}

fn id() -> BuildId {
    BuildId::new("acme/app/7")
}

#[tokio::test]
async fn jobs_name_the_failed_ones_and_allowed_failures_are_not_failures() {
    let server = MockServer::start_async().await;
    let jobs = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PIPELINE}/jobs"))
                .query_param("per_page", "100")
                .header("private-token", TOKEN);
            then.status(200).json_body(json!([
                {"id": 1, "name": "build", "status": "success", "web_url": "https://gitlab.com/j/1"},
                {"id": 2, "name": "test", "status": "failed", "failure_reason": "script_failure",
                 "allow_failure": false, "web_url": "https://gitlab.com/j/2"},
                {"id": 3, "name": "lint", "status": "failed", "failure_reason": "script_failure",
                 "allow_failure": true},
                {"id": 4, "name": "deploy", "status": "skipped"},
                {"id": 5, "name": "approve", "status": "manual"},
                {"id": 6, "name": "new", "status": "a_status_not_invented_yet"}
            ]));
        })
        .await;
    let listed = runner(&server).jobs(&id()).await.unwrap();
    jobs.assert_async().await;
    let seen: Vec<(&str, BuildStatus, Option<&str>)> = listed
        .iter()
        .map(|j| (j.name.as_str(), j.status, j.detail.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("build", BuildStatus::Succeeded, None),
            ("test", BuildStatus::Failed, Some("script_failure")),
            (
                "lint",
                BuildStatus::Succeeded,
                Some("allowed to fail: script_failure")
            ),
            ("deploy", BuildStatus::Cancelled, Some("skipped")),
            ("approve", BuildStatus::Running, None),
            ("new", BuildStatus::Unknown, None),
        ]
    );
    assert_eq!(listed[1].url.as_deref(), Some("https://gitlab.com/j/2"));
}

#[tokio::test]
async fn a_jobs_page_that_is_not_a_list_of_jobs_is_a_protocol_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{PIPELINE}/jobs"));
            then.status(200).json_body(json!({"jobs": "not a list"}));
        })
        .await;
    let error = runner(&server).jobs(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(!error.to_string().contains(TOKEN));
}

#[tokio::test]
async fn a_failed_pipeline_is_retried_once_and_its_stale_failure_is_not_the_verdict() {
    let server = MockServer::start_async().await;
    let status = server
        .mock_async(|when, then| {
            when.method(GET).path(PIPELINE);
            then.status(200).json_body(pipeline("failed"));
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PIPELINE}/retry"))
                .header("private-token", TOKEN);
            then.status(201).json_body(pipeline("running"));
        })
        .await;
    let runner = runner(&server);
    runner.retry_failed(&id()).await.unwrap();
    retry.assert_calls_async(1).await;
    // The server still says failed (a stale read): the same runner does not take it.
    let report = runner.status(&id()).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert_eq!(
        report.metadata.get("retry_pending").map(String::as_str),
        Some("true")
    );
    status.assert_calls_async(2).await;
    // A second retry while the first is pending is refused without a request.
    assert!(matches!(
        runner.retry_failed(&id()).await,
        Err(Error::Rejected { .. })
    ));
    retry.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_retry_of_a_pipeline_that_has_not_failed_is_rejected_and_sends_nothing() {
    for state in ["running", "success", "manual"] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path(PIPELINE);
                then.status(200).json_body(pipeline(state));
            })
            .await;
        let stray = stray_requests(&server).await;
        let error = runner(&server).retry_failed(&id()).await.unwrap_err();
        assert!(
            matches!(error, Error::Rejected { .. }),
            "{state}: {error:?}"
        );
        assert!(error.to_string().contains("only a failed build"), "{error}");
        stray.assert_calls_async(0).await;
    }
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let error = runner(&server)
        .retry_failed(&BuildId::new("acme/other/7"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidBuildId { .. }), "{error:?}");
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_retry_whose_answer_is_lost_is_settled_by_reading_the_pipeline_not_sent_again() {
    let server = MockServer::start_async().await;
    // Failed before the retry; running after it.
    let before = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(PIPELINE)
                .is_true(buildrunner_testkit::first_n(1));
            then.status(200).json_body(pipeline("failed"));
        })
        .await;
    let after = server
        .mock_async(|when, then| {
            when.method(GET).path(PIPELINE);
            then.status(200).json_body(pipeline("pending"));
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PIPELINE}/retry"));
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    runner(&server).retry_failed(&id()).await.unwrap();
    before.assert_calls_async(1).await;
    assert!(after.calls_async().await >= 1);
    retry.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_lost_retry_whose_read_fails_too_is_unavailable_and_says_to_read_first() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(PIPELINE)
                .is_true(buildrunner_testkit::first_n(1));
            then.status(200).json_body(pipeline("failed"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(PIPELINE);
            then.status(404)
                .json_body(json!({"message": "404 Not found"}));
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PIPELINE}/retry"));
            then.status(503).body("unavailable");
        })
        .await;
    let error = runner(&server).retry_failed(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("reading whether it took effect failed too"),
        "{error}"
    );
    retry.assert_calls_async(1).await;
}
