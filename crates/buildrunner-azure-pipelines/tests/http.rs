//! Request/response-level tests of the Azure Pipelines backend against a real loopback HTTP
//! server: every wire detail of the contract, asserted on the requests the server received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, QueueConfig, TriggerRequest, registry,
};
use buildrunner_azure_pipelines::{AzurePipelinesConfig, AzurePipelinesRunner, Token};
use buildrunner_testkit::{
    assert_configuration_errors, assert_invalid_ids, assert_registered, stray_requests, with,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "azdo-pat-0123456789abcdef";
/// `Basic base64(":" + TOKEN)`: a personal access token is the password of an empty user.
const BASIC: &str = "Basic OmF6ZG8tcGF0LTAxMjM0NTY3ODlhYmNkZWY=";
const PROJECT: &str = "/acme/Platform%20Team/_apis";

fn config(server: &MockServer) -> AzurePipelinesConfig {
    let mut config = AzurePipelinesConfig::new("acme", "Platform Team", 4)
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.request_timeout = Duration::from_secs(5);
    config.http.max_retries = 2;
    config.http.max_retry_wait = Duration::from_secs(5);
    config.http.initial_backoff = Duration::from_millis(10);
    config
}

fn runner_with(config: AzurePipelinesConfig) -> AzurePipelinesRunner {
    AzurePipelinesRunner::new("merge-main", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn runner(server: &MockServer) -> AzurePipelinesRunner {
    runner_with(config(server))
}

fn id(run: u64) -> BuildId {
    BuildId::new(format!("acme/Platform Team/4/{run}"))
}

fn build(run: u64, status: &str, result: Option<&str>) -> Value {
    json!({"id": run, "buildNumber": "buildrunner k-1", "status": status, "result": result,
           "definition": {"id": 4}, "_links": {"web": {"href": format!("https://dev.azure.com/acme/Platform%20Team/_build/results?buildId={run}")}},
           "templateParameters": {"sq_metadata": "{\"pr\":\"7\"}", "sq_queue": "merge-main"}})
}

/// A mock answering `GET …/build/builds/{run}` with `body`.
async fn answers_build(server: &MockServer, run: u64, body: Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/build/builds/{run}"))
                .query_param("api-version", "7.1")
                .header("authorization", BASIC);
            then.status(200).json_body(body);
        })
        .await
}

fn keyed(key: &str) -> TriggerRequest {
    TriggerRequest::builder()
        .base(Change::new(["https://x/6"]))
        .head(Change::new(["https://x/7"]))
        .metadata("pr", "7")
        .idempotency_key(key)
        .build()
        .unwrap()
}

async fn lookup<'a>(server: &'a MockServer, key: &str, found: &[u64]) -> httpmock::Mock<'a> {
    let value: Vec<Value> = found
        .iter()
        .map(|id| json!({"id": id, "buildNumber": format!("buildrunner {key}")}))
        .collect();
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/build/builds"))
                .query_param("api-version", "7.1")
                .query_param("definitions", "4")
                .query_param("buildNumber", format!("buildrunner {key}"));
            then.status(200)
                .json_body(json!({"count": value.len(), "value": value}));
        })
        .await
}

#[tokio::test]
async fn a_keyed_trigger_looks_up_then_runs_with_runtime_parameters() {
    let server = MockServer::start_async().await;
    let none = lookup(&server, "batch-1", &[]).await;
    let run = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PROJECT}/pipelines/4/runs"))
                .query_param("api-version", "7.1")
                .header("authorization", BASIC)
                .header("content-type", "application/json")
                .json_body(json!({
                    "resources": {"repositories": {"self": {"refName": "refs/heads/merge-queue"}}},
                    "templateParameters": {
                        "sq_base_uris": "[\"https://x/6\"]",
                        "sq_head_uris": "[\"https://x/7\"]",
                        "sq_queue": "merge-main",
                        "sq_metadata": "{\"pr\":\"7\"}",
                        "buildrunner_key": "batch-1",
                        "deploy": "false",
                    },
                }));
            then.status(200).json_body(
                json!({"id": 311, "name": "buildrunner batch-1", "state": "inProgress"}),
            );
        })
        .await;
    let mut config = config(&server);
    config.git_ref = "refs/heads/merge-queue".into();
    config
        .extra_parameters
        .insert("deploy".into(), "false".into());
    assert_eq!(
        runner_with(config)
            .trigger(&keyed("batch-1"))
            .await
            .unwrap(),
        id(311)
    );
    none.assert_calls_async(1).await;
    run.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_used_key_returns_the_oldest_run_and_runs_nothing() {
    let server = MockServer::start_async().await;
    lookup(&server, "batch-2", &[320, 317]).await;
    let stray = stray_requests(&server).await;
    assert_eq!(
        runner(&server).trigger(&keyed("batch-2")).await.unwrap(),
        id(317)
    );
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn an_unkeyed_trigger_omits_empty_metadata_and_carries_a_dispatch_id() {
    let server = MockServer::start_async().await;
    let run = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PROJECT}/pipelines/4/runs"))
                .is_true(|request| {
                    let body: Value = serde_json::from_slice(request.body().as_ref()).unwrap();
                    let parameters = &body["templateParameters"];
                    parameters.get("sq_metadata").is_none()
                        && parameters["sq_base_uris"] == "[]"
                        && parameters["buildrunner_key"]
                            .as_str()
                            .is_some_and(|k| k.len() == 32)
                });
            then.status(200).json_body(json!({"id": 12}));
        })
        .await;
    let request = buildrunner_testkit::request("https://x/1");
    assert_eq!(runner(&server).trigger(&request).await.unwrap(), id(12));
    run.assert_calls_async(1).await;
}

#[tokio::test]
async fn refusals_of_a_run_say_what_they_mean() {
    let cases: [(u16, Value, &str); 3] = [
        (
            400,
            json!({"message": "Unexpected parameter 'sq_queue'", "typeKey": "PipelineValidationException"}),
            "Unexpected parameter",
        ),
        (
            404,
            json!({"message": "Pipeline with id 4 not found."}),
            "pipeline 4",
        ),
        (
            401,
            json!({"message": "TF400813: not authorized"}),
            "TF400813",
        ),
    ];
    for (status, body, words) in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .path(format!("{PROJECT}/pipelines/4/runs"));
                then.status(status).json_body(body.clone());
            })
            .await;
        let mut config = config(&server);
        config.key_parameter = None;
        let error = runner_with(config)
            .trigger(&buildrunner_testkit::request("https://x/1"))
            .await
            .unwrap_err();
        let kind_ok = match status {
            400 => matches!(error, Error::Rejected { .. }),
            404 => matches!(error, Error::Configuration { .. }),
            _ => matches!(error, Error::Unauthenticated { .. }),
        };
        assert!(kind_ok, "{status}: {error:?}");
        assert!(error.to_string().contains(words), "{status}: {error}");
    }
}

#[tokio::test]
async fn a_203_sign_in_page_is_unauthenticated_and_the_token_stays_secret() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(203)
                .header("content-type", "text/html; charset=utf-8")
                .body("<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head></html>");
        })
        .await;
    let runner = runner(&server);
    let error = runner.status(&id(5)).await.unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{runner:?}"),
    ] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains(&BASIC[6..]),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn status_maps_the_build_and_reads_metadata_back() {
    let table = [
        ("notStarted", None, BuildStatus::Accepted),
        ("postponed", None, BuildStatus::Accepted),
        ("inProgress", None, BuildStatus::Running),
        ("cancelling", None, BuildStatus::Cancelled),
        ("completed", Some("succeeded"), BuildStatus::Succeeded),
        ("completed", Some("partiallySucceeded"), BuildStatus::Failed),
        ("completed", Some("failed"), BuildStatus::Failed),
        ("completed", Some("canceled"), BuildStatus::Cancelled),
    ];
    for (status, result, want) in table {
        let server = MockServer::start_async().await;
        answers_build(&server, 311, build(311, status, result)).await;
        let report = runner(&server).status(&id(311)).await.unwrap();
        assert_eq!(report.status, want, "{status} {result:?}");
        assert_eq!(report.metadata["pr"], "7");
        assert_eq!(report.metadata["azure_status"], status);
        assert_eq!(report.metadata["azure_run_id"], "311");
        assert!(report.url().unwrap().ends_with("buildId=311"));
    }
    let server = MockServer::start_async().await;
    answers_build(
        &server,
        311,
        build(311, "completed", Some("partiallySucceeded")),
    )
    .await;
    let mut lenient = config(&server);
    lenient.partially_succeeded = buildrunner_azure_pipelines::CountsAs::Succeeded;
    let report = runner_with(lenient).status(&id(311)).await.unwrap();
    assert_eq!(report.status, BuildStatus::Succeeded);
}

#[tokio::test]
async fn cancel_patches_a_live_build_and_leaves_a_completed_one_alone() {
    let server = MockServer::start_async().await;
    answers_build(&server, 5, build(5, "inProgress", None)).await;
    answers_build(&server, 6, build(6, "completed", Some("succeeded"))).await;
    let cancel = server
        .mock_async(|when, then| {
            when.method("PATCH")
                .path(format!("{PROJECT}/build/builds/5"))
                .query_param("api-version", "7.1")
                .header("content-type", "application/json")
                .json_body(json!({"status": "cancelling"}));
            then.status(200).json_body(build(5, "cancelling", None));
        })
        .await;
    let other_writes = server
        .mock_async(|when, then| {
            when.method("PATCH")
                .path(format!("{PROJECT}/build/builds/6"));
            then.status(500);
        })
        .await;
    let runner = runner(&server);
    runner.cancel(&id(5)).await.unwrap();
    runner.cancel(&id(6)).await.unwrap();
    cancel.assert_calls_async(1).await;
    other_writes.assert_calls_async(0).await;
}

#[tokio::test]
async fn jobs_are_the_timelines_job_records() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/build/builds/7/timeline"))
                .query_param("api-version", "7.1");
            then.status(200).json_body(json!({"records": [
                {"type": "Stage", "name": "ci", "state": "completed", "result": "failed"},
                {"type": "Job", "name": "build", "state": "completed", "result": "succeeded", "attempt": 1},
                {"type": "Job", "name": "test", "state": "completed", "result": "failed", "attempt": 1,
                 "log": {"url": "https://dev.azure.com/acme/_apis/build/builds/7/logs/9"},
                 "issues": [{"type": "error", "message": "Bash exited with code '1'."}]},
                {"type": "Task", "name": "Bash", "state": "completed", "result": "failed"},
            ]}));
        })
        .await;
    let jobs = runner(&server).jobs(&id(7)).await.unwrap();
    let names: Vec<_> = jobs.iter().map(|j| (j.name.as_str(), j.status)).collect();
    assert_eq!(
        names,
        [
            ("build", BuildStatus::Succeeded),
            ("test", BuildStatus::Failed)
        ]
    );
    assert_eq!(
        jobs[1].detail.as_deref(),
        Some("failed: Bash exited with code '1'.")
    );
    assert!(jobs[1].url.as_deref().unwrap().ends_with("/logs/9"));
}

#[tokio::test]
async fn a_retry_of_failed_jobs_patches_with_an_empty_body_and_only_a_failed_build() {
    let server = MockServer::start_async().await;
    let failed = answers_build(&server, 8, build(8, "completed", Some("failed"))).await;
    let retry = server
        .mock_async(|when, then| {
            when.method("PATCH")
                .path(format!("{PROJECT}/build/builds/8"))
                .query_param("retry", "true")
                .query_param("api-version", "7.1")
                .header("authorization", BASIC)
                .is_true(|request| request.body().is_empty());
            then.status(200).json_body(build(8, "inProgress", None));
        })
        .await;
    let runner = runner(&server);
    runner.retry_failed(&id(8)).await.unwrap();
    retry.assert_calls_async(1).await;
    // Right after the retry a read that still shows the failure is not the verdict.
    let stale = runner.status(&id(8)).await.unwrap();
    assert_eq!(stale.status, BuildStatus::Running);
    failed.delete_async().await;
    answers_build(&server, 9, build(9, "completed", Some("succeeded"))).await;
    let refused = runner.retry_failed(&id(9)).await.unwrap_err();
    assert!(matches!(refused, Error::Rejected { .. }), "{refused:?}");
    retry.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_delay_on_a_200_holds_the_next_request_and_a_429_waits_its_retry_after() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/build/builds/1"))
                .is_true(buildrunner_testkit::first_n(1));
            then.status(200)
                .header("retry-after", "1")
                .header("x-ratelimit-delay", "0.8")
                .json_body(build(1, "inProgress", None));
        })
        .await;
    let blocked = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/build/builds/1"))
                .is_true(buildrunner_testkit::first_n(1));
            then.status(429)
                .header("retry-after", "0")
                .json_body(json!({"message": "TF400733: The request has been canceled"}));
        })
        .await;
    answers_build(&server, 1, build(1, "completed", Some("succeeded"))).await;
    let runner = runner(&server);
    assert_eq!(
        runner.status(&id(1)).await.unwrap().status,
        BuildStatus::Running
    );
    let started = Instant::now();
    assert_eq!(
        runner.status(&id(1)).await.unwrap().status,
        BuildStatus::Succeeded
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the second read went out {:?} after a 200 that asked for 1 s",
        started.elapsed()
    );
    blocked.assert_calls_async(1).await;
}

#[tokio::test]
async fn malformed_and_foreign_ids_send_nothing_and_odd_keys_are_refused() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server);
    assert_invalid_ids(
        &runner,
        &[
            "",
            "311",
            "acme/Platform Team/311",
            "acme/Platform Team/4/",
            "acme/Platform Team/4/0",
            "acme/Platform Team/5/311",
            "acme/Other/4/311",
            "other/Platform Team/4/311",
        ],
    )
    .await;
    for key in ["a/b", "x:y", "ends."] {
        let error = runner.trigger(&keyed(key)).await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidRequest { .. }),
            "{key}: {error:?}"
        );
    }
    stray.assert_calls_async(0).await;
}

#[test]
fn queue_options_are_checked() {
    let create = |options: Value| {
        registry::create("azure-pipelines", &QueueConfig::new("merge-main", options))
    };
    // CARGO_PKG_NAME is always set while tests run: a stand-in token.
    let runner = create(json!({
        "organization": "acme", "project": "Platform Team", "pipeline_id": 4,
        "token_env": "CARGO_PKG_NAME", "key_parameter": "", "partially_succeeded": "succeeded",
    }))
    .unwrap();
    assert_eq!(runner.backend_name(), "azure-pipelines");
    assert!(
        !runner.capabilities().idempotent_trigger,
        "key_parameter = \"\" turns keys off"
    );
    assert!(runner.capabilities().retry_failed && runner.capabilities().metadata_round_trip);
    let base = json!({"organization": "acme", "project": "app", "pipeline_id": 4, "token_env": "CARGO_PKG_NAME"});
    let with = |extra: Value| with(&base, extra);
    let cases = [
        (with(json!({"colour": "blue"})), "colour"),
        (
            json!({"project": "app", "pipeline_id": 4, "token_env": "CARGO_PKG_NAME"}),
            "organization",
        ),
        (with(json!({"pipeline_id": 0})), "pipeline_id"),
        (with(json!({"pipeline_id": "four"})), "expected u64"),
        (with(json!({"project": "a/b"})), "project"),
        (with(json!({"organization": "ac me"})), "organization"),
        (
            with(json!({"api_url": "http://devops.example.com"})),
            "loopback",
        ),
        (with(json!({"ref": ""})), "ref"),
        (
            with(json!({"partially_succeeded": "maybe"})),
            "`failed` or `succeeded`",
        ),
        (
            with(json!({"extra_parameters": {"sq_queue": "x"}})),
            "sq_queue",
        ),
        (
            with(json!({"token_env": "BUILDRUNNER_TEST_SURELY_UNSET"})),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
    ];
    assert_configuration_errors(create, "merge-main", cases.to_vec());
}

#[test]
fn this_test_binary_links_exactly_the_azure_pipelines_backend() {
    assert_registered(&["azure-pipelines"]);
}
