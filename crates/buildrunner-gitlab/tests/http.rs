//! Request/response-level tests of the GitLab backend against a real loopback HTTP server:
//! every wire detail of the contract, asserted on the requests the server received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, QueueConfig, TriggerRequest, registry,
};
use buildrunner_gitlab::{GitLabConfig, GitLabRunner, Token};
use buildrunner_testkit::{
    assert_configuration_errors, assert_invalid_ids, assert_registered, first_n, request,
    stray_requests, with,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "glpat-test-secret-0123456789";
const PROJECT: &str = "/api/v4/projects/acme%2Fplatform%2Fapp";

fn config(server: &MockServer) -> GitLabConfig {
    let mut config = GitLabConfig::new("acme/platform/app")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.request_timeout = Duration::from_secs(5);
    config.http.max_retries = 3;
    config.http.max_retry_wait = Duration::from_secs(5);
    config.http.initial_backoff = Duration::from_millis(20);
    config
}

/// A runner with a token of its own: budgets are shared per API, project and token.
fn runner_with(config: GitLabConfig, name: &str) -> GitLabRunner {
    GitLabRunner::new(
        "merge-main",
        config,
        Token::new(format!("{TOKEN}-{name}")).unwrap(),
    )
    .unwrap()
}

fn runner(server: &MockServer, name: &str) -> GitLabRunner {
    runner_with(config(server), name)
}

fn pipeline(id: u64, status: &str) -> Value {
    json!({
        "id": id, "iid": 3, "project_id": 42, "status": status, "ref": "main", "source": "api",
        "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a", "name": "buildrunner k",
        "web_url": format!("https://gitlab.com/acme/platform/app/-/pipelines/{id}"),
        "user": {"id": 1}, "detailed_status": {"text": status}, "created_at": "2026-11-27T10:00:00.000Z",
    })
}

fn keyed(key: &str) -> TriggerRequest {
    TriggerRequest::builder()
        .head(Change::new(["https://x/1"]))
        .idempotency_key(key)
        .build()
        .unwrap()
}

/// The pipelines list under a key's name: empty for the first `empty` look-ups, then one.
async fn named_after(server: &MockServer, empty: usize, id: u64, key: &str) {
    let name = format!("buildrunner {key}");
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/pipelines"))
                .query_param("name", &name)
                .is_true(first_n(empty));
            then.status(200).json_body(json!([]));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/pipelines"))
                .query_param("name", &name);
            then.status(200).json_body(json!([
                pipeline(id + 5, "running"),
                pipeline(id, "pending")
            ]));
        })
        .await;
}

#[tokio::test]
async fn create_sends_the_contract_variables_and_token() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PROJECT}/pipeline"))
                .header("private-token", format!("{TOKEN}-contract"))
                .header("content-type", "application/json")
                .header_missing("authorization")
                .json_body(json!({
                    "ref": "merge-queue",
                    "variables": [
                        {"key": "SQ_BASE_URIS", "value": "[\"https://x/pull/1\",\"https://x/pull/2a\",\"https://x/pull/2b\"]"},
                        {"key": "SQ_HEAD_URIS", "value": "[\"https://x/pull/3\"]"},
                        {"key": "SQ_QUEUE", "value": "merge-main"},
                        {"key": "SQ_METADATA", "value": "{\"batch\":\"12\",\"pr\":\"3\"}"},
                        {"key": "BUILDRUNNER_KEY", "value": "batch-12"},
                    ],
                }));
            then.status(201).json_body(pipeline(1001, "created"));
        })
        .await;
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/pipelines"))
                .query_param("name", "buildrunner batch-12")
                .query_param("source", "api")
                .query_param("per_page", "100");
            then.status(200).json_body(json!([]));
        })
        .await;
    let mut config = config(&server);
    config.git_ref = "merge-queue".into();
    let request = TriggerRequest::builder()
        .base(Change::new(["https://x/pull/1"]))
        .base(Change::new(["https://x/pull/2a", "https://x/pull/2b"]))
        .head(Change::new(["https://x/pull/3"]))
        .metadata("pr", "3")
        .metadata("batch", "12")
        .idempotency_key("batch-12")
        .build()
        .unwrap();
    let id = runner_with(config, "contract")
        .trigger(&request)
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/platform/app/1001");
    create.assert_calls_async(1).await;
    lookup.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_numeric_project_and_an_unkeyed_create_with_a_fresh_dispatch_id() {
    let server = MockServer::start_async().await;
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&keys);
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v4/projects/42/pipeline")
                .is_true(move |req| {
                    let body: Value = serde_json::from_slice(req.body_ref()).unwrap();
                    let variables = body["variables"].as_array().unwrap().clone();
                    let key = variables
                        .iter()
                        .find(|v| v["key"] == "BUILDRUNNER_KEY")
                        .unwrap()["value"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let no_metadata = !variables.iter().any(|v| v["key"] == "SQ_METADATA");
                    let ok = key.len() == 32
                        && key.bytes().all(|b| b.is_ascii_hexdigit())
                        && no_metadata
                        && body["ref"] == "main";
                    seen.lock().unwrap().push(key);
                    ok
                });
            then.status(201).json_body(pipeline(7, "created"));
        })
        .await;
    let mut config = GitLabConfig::new("42")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.initial_backoff = Duration::from_millis(10);
    let runner = runner_with(config, "numeric");
    assert_eq!(
        runner
            .trigger(&request("https://x/1"))
            .await
            .unwrap()
            .as_str(),
        "42/7"
    );
    assert_eq!(
        runner
            .trigger(&request("https://x/1"))
            .await
            .unwrap()
            .as_str(),
        "42/7"
    );
    create.assert_calls_async(2).await;
    let keys = keys.lock().unwrap();
    assert_ne!(
        keys[0], keys[1],
        "each unkeyed trigger gets its own dispatch id"
    );
}

#[tokio::test]
async fn a_keyed_trigger_returns_the_oldest_pipeline_named_after_its_key() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PROJECT}/pipeline"));
            then.status(500);
        })
        .await;
    named_after(&server, 0, 300, "known").await;
    let id = runner(&server, "known")
        .trigger(&keyed("known"))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/platform/app/300");
    create.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_create_with_an_unknown_outcome_is_settled_by_its_key_not_repeated() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PROJECT}/pipeline"));
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    // Not there before the create; there after it.
    named_after(&server, 1, 99, "k-502").await;
    let id = runner(&server, "ambiguous")
        .trigger(&keyed("k-502"))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/platform/app/99");
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_application_limit_on_creation_is_waited_out() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PROJECT}/pipeline"))
                .is_true(first_n(1));
            then.status(429)
                .header("retry-after", "1")
                .body("Retry later");
        })
        .await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PROJECT}/pipeline"));
            then.status(201).json_body(pipeline(5, "created"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{PROJECT}/pipelines"));
            then.status(200).json_body(json!([]));
        })
        .await;
    let started = Instant::now();
    let id = runner(&server, "create-limit")
        .trigger(&keyed("limited"))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/platform/app/5");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    limited.assert_calls_async(1).await;
    created.assert_calls_async(1).await;
}

#[tokio::test]
async fn creation_refusals_say_what_to_fix() {
    let server = MockServer::start_async().await;
    let not_found = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PROJECT}/pipeline"));
            then.status(404)
                .json_body(json!({"message": "404 Project Not Found"}));
        })
        .await;
    let error = runner(&server, "404")
        .trigger(&request("https://x/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
    assert!(error.to_string().contains("acme/platform/app"), "{error}");
    not_found.assert_calls_async(1).await;
    not_found.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{PROJECT}/pipeline"));
            then.status(400)
                .json_body(json!({"message": {"base": ["Reference not found"]}}));
        })
        .await;
    let error = runner(&server, "400")
        .trigger(&request("https://x/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    assert!(error.to_string().contains("Reference not found"), "{error}");
}

#[tokio::test]
async fn status_maps_and_reports_gitlab_keys_and_reads_variables_only_when_asked() {
    let server = MockServer::start_async().await;
    for (id, status) in [
        (11, "manual"),
        (12, "success"),
        (13, "canceling"),
        (14, "waiting_for_callback"),
    ] {
        server
            .mock_async(|when, then| {
                when.method(GET)
                    .path(format!("{PROJECT}/pipelines/{id}"))
                    .header("private-token", format!("{TOKEN}-status"));
                then.status(200).json_body(pipeline(id, status));
            })
            .await;
    }
    let variables = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{PROJECT}/pipelines/12/variables"));
            then.status(200).json_body(json!([
                {"key": "SQ_QUEUE", "variable_type": "env_var", "value": "main"},
                {"key": "SQ_METADATA", "variable_type": "env_var", "value": "{\"pr\":\"7\",\"url\":\"mine\"}"},
            ]));
        })
        .await;
    let plain = runner(&server, "status");
    let id = |n: u64| BuildId::new(format!("acme/platform/app/{n}"));
    let table = [
        (11, BuildStatus::Running),
        (12, BuildStatus::Succeeded),
        (13, BuildStatus::Cancelled),
        (14, BuildStatus::Unknown),
    ];
    for (n, want) in table {
        assert_eq!(plain.status(&id(n)).await.unwrap().status, want, "{n}");
    }
    variables.assert_calls_async(0).await;
    let report = plain.status(&id(12)).await.unwrap();
    let keys: Vec<&str> = report.metadata.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "gitlab_pipeline_id",
            "gitlab_ref",
            "gitlab_sha",
            "gitlab_status",
            "url"
        ]
    );

    let mut config = config(&server);
    config.read_variables = true;
    let reading = runner_with(config, "status");
    assert!(reading.capabilities().metadata_round_trip);
    let report = reading.status(&id(12)).await.unwrap();
    assert_eq!(report.metadata["pr"], "7");
    assert_eq!(
        report.metadata["url"], "https://gitlab.com/acme/platform/app/-/pipelines/12",
        "the backend's keys win"
    );
    variables.assert_calls_async(1).await;
}

#[tokio::test]
async fn cancel_reads_the_status_gitlab_returns() {
    let server = MockServer::start_async().await;
    for (id, status) in [(1, "canceling"), (2, "success"), (3, "manual")] {
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .path(format!("{PROJECT}/pipelines/{id}/cancel"));
                then.status(200).json_body(pipeline(id, status));
            })
            .await;
    }
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{PROJECT}/pipelines/4/cancel"));
            then.status(404)
                .json_body(json!({"message": "404 Not found"}));
        })
        .await;
    let runner = runner(&server, "cancel");
    let id = |n: u64| BuildId::new(format!("acme/platform/app/{n}"));
    runner.cancel(&id(1)).await.unwrap();
    runner.cancel(&id(2)).await.unwrap();
    let error = runner.cancel(&id(3)).await.unwrap_err();
    assert!(
        matches!(error, Error::Rejected { .. }) && error.to_string().contains("manual"),
        "{error}"
    );
    assert!(matches!(
        runner.cancel(&id(4)).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_throttled_read_waits_retry_after_or_returns_rate_limited_at_once() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{PROJECT}/pipelines/1"))
                .is_true(first_n(1));
            then.status(429)
                .header("retry-after", "1")
                .header("ratelimit-remaining", "0")
                .body("Retry later");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{PROJECT}/pipelines/1"));
            then.status(200).json_body(pipeline(1, "running"));
        })
        .await;
    let started = Instant::now();
    let report = runner(&server, "throttled")
        .status(&BuildId::new("acme/platform/app/1"))
        .await
        .unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert!(started.elapsed() >= Duration::from_secs(1));
    throttled.assert_calls_async(1).await;

    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{PROJECT}/pipelines/2"));
            then.status(429)
                .header("retry-after", "600")
                .body("Retry later");
        })
        .await;
    let started = Instant::now();
    match runner(&server, "long")
        .status(&BuildId::new("acme/platform/app/2"))
        .await
    {
        Err(Error::RateLimited {
            retry_after: Some(wait),
            ..
        }) => assert_eq!(wait, Duration::from_secs(600)),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn foreign_and_malformed_ids_send_no_request_and_401_is_unauthenticated() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server, "ids");
    let ids = [
        "",
        "7",
        "acme/platform/app",
        "acme/platform/app/0",
        "acme/platform/app/x",
        "acme/app/7",
        "acme/platform/other/7",
        "platform/app/7",
    ];
    assert_invalid_ids(&runner, &ids).await;
    stray.assert_calls_async(0).await;
    stray.delete_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401)
                .json_body(json!({"message": "401 Unauthorized"}));
        })
        .await;
    let error = runner
        .status(&BuildId::new("acme/platform/app/7"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    assert!(!format!("{error} {error:?} {runner:?}").contains(TOKEN));
}

#[test]
fn the_factory_reads_options_and_rejects_what_it_cannot_use() {
    let create =
        |options: Value| registry::create("gitlab", &QueueConfig::new("merge-main", options));
    // CARGO_PKG_NAME is always set while tests run: a stand-in token.
    let runner = create(json!({
        "project": 42, "token_env": "CARGO_PKG_NAME", "ref": "merge-queue", "key_variable": "",
        "read_variables": true, "max_retries": 1,
    }))
    .unwrap();
    assert_eq!(runner.backend_name(), "gitlab");
    assert!(
        !runner.capabilities().idempotent_trigger,
        "key_variable = \"\" turns keys off"
    );
    assert!(runner.capabilities().metadata_round_trip);
    let base = json!({"project": "acme/app", "token_env": "CARGO_PKG_NAME"});
    let with = |extra: Value| with(&base, extra);
    let cases = [
        (with(json!({"colour": "blue"})), "colour"),
        (json!({"token_env": "CARGO_PKG_NAME"}), "project"),
        (with(json!({"project": "acme//app"})), "project"),
        (with(json!({"project": -1})), "project"),
        (
            with(json!({"token_env": "BUILDRUNNER_TEST_SURELY_UNSET"})),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
        (
            with(json!({"api_url": "http://gitlab.example.com"})),
            "loopback",
        ),
        (with(json!({"ref": ""})), "ref"),
        (with(json!({"max_connections": 0})), "max_connections"),
    ];
    assert_configuration_errors(create, "merge-main", cases.to_vec());
}

#[test]
fn this_test_binary_links_exactly_the_gitlab_backend() {
    assert_registered(&["gitlab"]);
}
