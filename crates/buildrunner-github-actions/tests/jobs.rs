//! Jobs and re-runs of failed jobs against a real loopback HTTP server: exact requests, the
//! mapping, GitHub's refusals, and a re-run published late that is never the verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Error};
use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
use buildrunner_testkit::{first_n, stray_requests};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "ghp_jobs_secret_0123456789";
const RUN: &str = "/repos/acme/app/actions/runs/30433642";

fn runner(server: &MockServer) -> GitHubActionsRunner {
    let mut config = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.max_retries = 2;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = Duration::from_secs(2);
    let credentials = Credentials::Token(Token::new(TOKEN).unwrap());
    GitHubActionsRunner::new("main", config, credentials).unwrap()
}

fn run(status: &str, conclusion: Option<&str>, attempt: u32) -> Value {
    json!({"id": 30433642, "status": status, "conclusion": conclusion, "run_attempt": attempt,
           "display_title": "buildrunner k", "html_url": "https://github.com/acme/app/actions/runs/30433642"})
}

fn id() -> BuildId {
    BuildId::new("acme/app/30433642")
}

#[tokio::test]
async fn jobs_are_the_latest_attempts_with_their_conclusion() {
    let server = MockServer::start_async().await;
    let jobs = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{RUN}/jobs"))
                .query_param("filter", "latest")
                .query_param("per_page", "100")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("x-github-api-version", "2022-11-28");
            then.status(200).json_body(json!({"total_count": 3, "jobs": [
                {"id": 1, "name": "build", "status": "completed", "conclusion": "success", "html_url": "https://github.com/j/1"},
                {"id": 2, "name": "test", "status": "completed", "conclusion": "timed_out", "html_url": "https://github.com/j/2"},
                {"id": 3, "name": "deploy", "status": "waiting", "conclusion": null}
            ]}));
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
            ("build", BuildStatus::Succeeded, Some("success")),
            ("test", BuildStatus::Failed, Some("timed_out")),
            ("deploy", BuildStatus::Accepted, Some("waiting")),
        ]
    );
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{RUN}/jobs"));
            then.status(200).json_body(json!({"total_count": 1}));
        })
        .await;
    let error = runner(&server).jobs(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
}

#[tokio::test]
async fn a_failed_run_is_re_run_once_and_the_old_attempt_is_never_its_verdict() {
    let server = MockServer::start_async().await;
    // The run still shows attempt 1, failed, for two reads after the re-run; then attempt 2.
    let stale = server
        .mock_async(|when, then| {
            when.method(GET).path(RUN).is_true(first_n(3));
            then.status(200)
                .json_body(run("completed", Some("failure"), 1));
        })
        .await;
    let fresh = server
        .mock_async(|when, then| {
            when.method(GET).path(RUN);
            then.status(200)
                .json_body(run("completed", Some("failure"), 2));
        })
        .await;
    let rerun = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{RUN}/rerun-failed-jobs"))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(201).json_body(json!({}));
        })
        .await;
    let runner = runner(&server);
    runner.retry_failed(&id()).await.unwrap();
    rerun.assert_calls_async(1).await;
    for _ in 0..2 {
        let report = runner.status(&id()).await.unwrap();
        assert_eq!(
            report.status,
            BuildStatus::Running,
            "a stale read is not the verdict"
        );
    }
    stale.assert_calls_async(3).await;
    // Attempt 2 failed too: that is the verdict.
    let report = runner.status(&id()).await.unwrap();
    assert_eq!(
        (report.status, report.attempt()),
        (BuildStatus::Failed, Some(2))
    );
    assert!(fresh.calls_async().await >= 1);
}

#[tokio::test]
async fn githubs_refusals_are_rejected_with_its_message_and_in_progress_runs_send_nothing() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUN);
            then.status(200)
                .json_body(run("completed", Some("failure"), 51));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{RUN}/rerun-failed-jobs"));
            then.status(403).json_body(json!({"message": "This workflow run cannot be re-run: it has reached the maximum of 50 re-runs"}));
        })
        .await;
    let error = runner(&server).retry_failed(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    assert!(
        error.to_string().contains("maximum of 50 re-runs"),
        "{error}"
    );

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUN);
            then.status(200).json_body(run("in_progress", None, 1));
        })
        .await;
    let rerun = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{RUN}/rerun-failed-jobs"));
            then.status(201).json_body(json!({}));
        })
        .await;
    let error = runner(&server).retry_failed(&id()).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    rerun.assert_calls_async(0).await;

    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let foreign = runner(&server)
        .retry_failed(&BuildId::new("acme/other/30433642"))
        .await
        .unwrap_err();
    assert!(matches!(foreign, Error::InvalidBuildId { .. }));
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_re_run_already_going_after_a_lost_answer_is_what_was_asked() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUN);
            then.status(200)
                .json_body(run("completed", Some("failure"), 1));
        })
        .await;
    // The first answer is lost (502 after GitHub took it); the one sent after the read finds
    // the re-run going.
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{RUN}/rerun-failed-jobs"))
                .is_true(first_n(1));
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{RUN}/rerun-failed-jobs"));
            then.status(403)
                .json_body(json!({"message": "This workflow is already running"}));
        })
        .await;
    runner(&server).retry_failed(&id()).await.unwrap();
    second.assert_calls_async(1).await;
}
