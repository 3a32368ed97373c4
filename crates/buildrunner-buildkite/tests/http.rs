//! Request/response-level tests of the Buildkite backend against a real loopback HTTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, QueueConfig, TriggerRequest, registry,
};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_testkit::{assert_configuration_errors, assert_invalid_ids, assert_registered};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "bkua_test_secret_0123456789";
const BUILDS: &str = "/v2/organizations/acme/pipelines/monorepo/builds";

fn config(server: &MockServer) -> BuildkiteConfig {
    let mut config = BuildkiteConfig::new("acme", "monorepo")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.request_timeout = Duration::from_secs(5);
    config.http.max_retries = 3;
    config.http.max_retry_wait = Duration::from_secs(5);
    config.http.initial_backoff = Duration::from_millis(20);
    config
}

fn runner_with(config: BuildkiteConfig) -> BuildkiteRunner {
    BuildkiteRunner::new("merge-main", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn runner(server: &MockServer) -> BuildkiteRunner {
    runner_with(config(server))
}

/// A runner with a token of its own: rate-limit budgets are shared per API, organization and
/// token, and httpmock reuses servers (and so URLs) across tests, so a test that spends a
/// budget must not share it.
fn runner_with_own_budget(server: &MockServer, name: &str) -> BuildkiteRunner {
    BuildkiteRunner::new(
        "merge-main",
        config(server),
        Token::new(format!("{TOKEN}-{name}")).unwrap(),
    )
    .unwrap()
}

fn build_json(number: u64, state: &str) -> Value {
    json!({
        "id": "f3c8a1e2-0000-4000-8000-000000000001",
        "number": number,
        "state": state,
        "blocked": false,
        "web_url": format!("https://buildkite.com/acme/monorepo/builds/{number}"),
        "env": {},
    })
}

fn id(number: u64) -> BuildId {
    BuildId::new(format!("acme/monorepo/{number}"))
}

fn request(uris: &[&str]) -> TriggerRequest {
    TriggerRequest::new(vec![Change::new(uris.iter().copied())]).unwrap()
}

/// A matcher that holds for the first `times` requests to `method path` and fails after, so
/// a mock made with it answers those requests and lets later ones fall through to the next
/// mock. httpmock tries mocks in the order they were made.
fn first_n(method: &'static str, path: String, times: usize) -> impl Fn(&HttpMockRequest) -> bool {
    let seen = Arc::new(AtomicUsize::new(0));
    move |req: &HttpMockRequest| {
        req.method().as_str() == method
            && req.uri().path() == path
            && seen.fetch_add(1, Ordering::SeqCst) < times
    }
}

#[tokio::test]
async fn trigger_sends_the_create_build_contract() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(BUILDS)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .json_body(json!({
                    "commit": "HEAD",
                    "branch": "main",
                    "message": "buildrunner [merge-main]: https://x/pull/3 (+2 more)",
                    "env": {
                        "SQ_BASE_URIS": r#"["https://x/pull/1","https://x/pull/2a","https://x/pull/2b"]"#,
                        "SQ_HEAD_URIS": r#"["https://x/pull/3","https://x/pull/4a","https://x/pull/4b"]"#,
                        "SQ_QUEUE": "merge-main",
                        "SQ_METADATA": r#"{"batch":"12","pr":"3"}"#,
                    },
                    "meta_data": {"buildrunner_idempotency_key": "batch-12"},
                }));
            then.status(201).json_body(build_json(42, "scheduled"));
        })
        .await;
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(BUILDS)
                .query_param("meta_data[buildrunner_idempotency_key]", "batch-12")
                .query_param("exclude_jobs", "true");
            then.status(200).json_body(json!([]));
        })
        .await;
    let request = TriggerRequest::builder()
        .base(Change::new(["https://x/pull/1"]))
        .base(Change::new(["https://x/pull/2a", "https://x/pull/2b"]))
        .head(Change::new(["https://x/pull/3"]))
        .head(Change::new(["https://x/pull/4a", "https://x/pull/4b"]))
        .metadata("pr", "3")
        .metadata("batch", "12")
        .idempotency_key("batch-12")
        .build()
        .unwrap();
    let id = runner(&server).trigger(&request).await.unwrap();
    assert_eq!(id.as_str(), "acme/monorepo/42");
    create.assert_calls_async(1).await;
    lookup.assert_calls_async(1).await;
}

#[tokio::test]
async fn trigger_sends_an_empty_base_as_a_list_and_no_metadata_when_there_is_none() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(BUILDS).json_body(json!({
                "commit": "abc123",
                "branch": "merge-queue",
                "message": "queue build",
                "env": {
                    "SQ_BASE_URIS": "[]",
                    "SQ_HEAD_URIS": r#"["https://x/pull/9"]"#,
                    "SQ_QUEUE": "merge-main",
                },
                "meta_data": {},
            }));
            then.status(201).json_body(build_json(7, "creating"));
        })
        .await;
    let mut config = config(&server);
    config.commit = "abc123".into();
    config.branch = "merge-queue".into();
    config.message = Some("queue build".into());
    let id = runner_with(config)
        .trigger(&request(&["https://x/pull/9"]))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/monorepo/7");
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn status_maps_every_state() {
    let server = MockServer::start_async().await;
    // Over HTTP, the same table the unit, property and fuzz tests check the mapping with.
    let table = buildrunner_buildkite::STATE_TABLE;
    let mut mocks = Vec::new();
    for (index, (state, blocked, _)) in table.iter().enumerate() {
        let number = index as u64 + 1;
        let mut body = build_json(number, state);
        body["blocked"] = json!(blocked);
        mocks.push(
            server
                .mock_async(|when, then| {
                    when.method(GET)
                        .path(format!("{BUILDS}/{number}"))
                        .query_param("exclude_jobs", "true")
                        .query_param("exclude_pipeline", "true")
                        .header("authorization", format!("Bearer {TOKEN}"));
                    then.status(200).json_body(body);
                })
                .await,
        );
    }
    let runner = runner(&server);
    for (index, (state, blocked, expected)) in table.iter().enumerate() {
        let report = runner.status(&id(index as u64 + 1)).await.unwrap();
        assert_eq!(report.status, *expected, "{state} blocked={blocked}");
        assert_eq!(report.metadata["buildkite_state"], *state);
        assert_eq!(report.metadata["number"], (index + 1).to_string());
        assert_eq!(
            report.metadata.contains_key("failing"),
            *state == "failing",
            "{state}"
        );
    }
    for mock in mocks {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn status_echoes_caller_metadata_and_runner_keys_win() {
    let server = MockServer::start_async().await;
    let mut good = build_json(5, "failing");
    good["env"] = json!({"SQ_METADATA": r#"{"pr":"3","url":"spoofed","failing":"no"}"#, "SQ_QUEUE": "merge-main"});
    let mut corrupt = build_json(6, "passed");
    corrupt["env"] = json!({"SQ_METADATA": "{not json"});
    let mut wrong_type = build_json(8, "passed");
    wrong_type["env"] = json!({"SQ_METADATA": {"pr": "3"}});
    for (number, body) in [(5, good), (6, corrupt), (8, wrong_type)] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{BUILDS}/{number}"));
                then.status(200).json_body(body);
            })
            .await;
    }
    let runner = runner(&server);

    let report = runner.status(&id(5)).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    let pairs: Vec<_> = report
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("buildkite_state", "failing"),
            ("failing", "true"),
            ("number", "5"),
            ("pr", "3"),
            ("url", "https://buildkite.com/acme/monorepo/builds/5"),
        ]
    );

    for number in [6, 8] {
        let report = runner.status(&id(number)).await.unwrap();
        assert_eq!(
            report.status,
            BuildStatus::Succeeded,
            "a corrupt SQ_METADATA never fails a status"
        );
        assert_eq!(report.metadata.get("pr"), None);
        assert_eq!(
            report.url(),
            Some(format!("https://buildkite.com/acme/monorepo/builds/{number}").as_str())
        );
    }
}

#[tokio::test]
async fn a_real_build_object_with_extra_fields_and_odd_types_decodes() {
    // Shaped like the build objects Buildkite really returns: extra fields, author as a bare
    // string, non-string env values, nulls and empty objects in odd places.
    let body = json!({
        "id": "01890f2e-xxxx-4c55-a4a5-07b2a1a3ef4d",
        "graphql_id": "QnVpbGQtLS0wMTg5MGYyZQ==",
        "url": "https://api.buildkite.com/v2/organizations/acme/pipelines/monorepo/builds/1234",
        "web_url": "https://buildkite.com/acme/monorepo/builds/1234",
        "number": 1234,
        "state": "passed",
        "blocked": false,
        "blocked_state": "",
        "cancel_reason": null,
        "message": "Merge pull request #88",
        "commit": "1f2e3d4c5b6a",
        "branch": "main",
        "tag": null,
        "env": {"SQ_METADATA": "{\"pr\":\"88\"}", "RETRIES": 3, "DEBUG": true, "NOTHING": null, "LIST": [1, 2]},
        "source": "api",
        "author": "dev@example.com",
        "creator": {"id": "u-1", "name": "CI Bot", "email": "ci@example.com", "avatar_url": null, "created_at": "2015-05-09T21:05:59.874Z"},
        "created_at": "2026-08-01T10:00:00.000Z",
        "scheduled_at": "2026-08-01T10:00:00.100Z",
        "started_at": "2026-08-01T10:00:05.000Z",
        "finished_at": "2026-08-01T10:09:00.000Z",
        "failing_at": null,
        "meta_data": {"buildkite:git:commit": "commit 1f2e3d4c5b6a"},
        "pull_request": {},
        "merge_queue": null,
        "rebuilt_from": null,
        "job_state_counts": {"total": 3, "states": {"passed": 3}},
        "pipeline": null,
        "jobs": [],
    });
    server_status(body, |report| {
        assert_eq!(report.status, BuildStatus::Succeeded);
        assert_eq!(report.metadata["pr"], "88");
        assert_eq!(report.metadata["number"], "1234");
    })
    .await;
    let mut author_object = build_json(1234, "running");
    author_object["author"] = json!({"name": "Dev", "email": "dev@example.com"});
    author_object["env"] = Value::Null;
    author_object["web_url"] = Value::Null;
    server_status(author_object, |report| {
        assert_eq!(report.status, BuildStatus::Running);
        assert_eq!(report.url(), None);
    })
    .await;
    let mut no_state = build_json(1234, "x");
    no_state["state"] = Value::Null;
    no_state["blocked"] = json!("yes");
    server_status(no_state, |report| {
        assert_eq!(report.status, BuildStatus::Unknown)
    })
    .await;
}

async fn server_status(body: Value, check: impl FnOnce(buildrunner_api::BuildReport)) {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BUILDS}/1234"));
            then.status(200).json_body(body);
        })
        .await;
    check(runner(&server).status(&id(1234)).await.unwrap());
}

#[tokio::test]
async fn bad_bodies_are_protocol_errors() {
    let server = MockServer::start_async().await;
    let cases: [(u64, &str); 5] = [
        (1, r#"{"number": 1, "state": "pass"#),
        (2, r#"{"state": "passed"}"#),
        (3, "<html><body>Oops</body></html>"),
        (4, ""),
        (5, r#"{"number": 99, "state": "passed"}"#),
    ];
    for (number, body) in cases {
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{BUILDS}/{number}"));
                then.status(200).body(body);
            })
            .await;
    }
    let runner = runner(&server);
    for (number, body) in cases {
        let error = runner.status(&id(number)).await.unwrap_err();
        assert!(
            matches!(error, Error::Protocol { .. }),
            "{body:?}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_a_protocol_error() {
    let server = MockServer::start_async().await;
    let mut big = build_json(3, "passed");
    big["padding"] = json!("x".repeat(64 * 1024));
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BUILDS}/3"));
            then.status(200).json_body(big);
        })
        .await;
    let mut config = config(&server);
    config.http.max_response_bytes = 16 * 1024;
    let error = runner_with(config).status(&id(3)).await.unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(error.to_string().contains("16384 byte limit"), "{error}");
}

#[tokio::test]
async fn not_found_unauthenticated_and_forbidden() {
    let server = MockServer::start_async().await;
    for (number, status) in [(404u64, 404u16), (401, 401), (403, 403)] {
        server
            .mock_async(|when, then| {
                when.path_prefix(format!("{BUILDS}/{number}"));
                then.status(status)
                    .json_body(json!({"message": "No build found"}));
            })
            .await;
    }
    let runner = runner(&server);
    assert!(
        matches!(runner.status(&id(404)).await, Err(Error::NotFound { id }) if id == "acme/monorepo/404")
    );
    assert!(matches!(
        runner.cancel(&id(404)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        runner.status(&id(401)).await,
        Err(Error::Unauthenticated { .. })
    ));
    assert!(matches!(
        runner.cancel(&id(403)).await,
        Err(Error::PermissionDenied { .. })
    ));
}

#[tokio::test]
async fn cancel_accepts_200_and_treats_422_as_a_no_op_only_for_terminal_builds() {
    let server = MockServer::start_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(PUT).path(format!("{BUILDS}/1/cancel"));
            then.status(200).json_body(build_json(1, "canceling"));
        })
        .await;
    for (number, state) in [(2u64, "passed"), (3, "running")] {
        server
            .mock_async(|when, then| {
                when.method(PUT).path(format!("{BUILDS}/{number}/cancel"));
                then.status(422).json_body(
                    json!({"message": "Build can't be canceled because it's already finished."}),
                );
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{BUILDS}/{number}"));
                then.status(200).json_body(build_json(number, state));
            })
            .await;
    }
    let runner = runner(&server);
    runner.cancel(&id(1)).await.unwrap();
    ok.assert_calls_async(1).await;
    runner.cancel(&id(2)).await.unwrap();
    let error = runner.cancel(&id(3)).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("already finished") && message.contains("still \"running\""),
        "{message}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let server = MockServer::start_async().await;
    let path = format!("{BUILDS}/11");
    let flaky = server
        .mock_async(|when, then| {
            when.is_true(first_n("GET", path.clone(), 2));
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.method(GET).path(path.clone());
            then.status(200).json_body(build_json(11, "running"));
        })
        .await;
    let cancel_path = format!("{BUILDS}/11/cancel");
    let flaky_cancel = server
        .mock_async(|when, then| {
            when.is_true(first_n("PUT", cancel_path.clone(), 1));
            then.status(503);
        })
        .await;
    let cancel_ok = server
        .mock_async(|when, then| {
            when.method(PUT).path(cancel_path.clone());
            then.status(200).json_body(build_json(11, "canceling"));
        })
        .await;
    let runner = runner(&server);
    assert_eq!(
        runner.status(&id(11)).await.unwrap().status,
        BuildStatus::Running
    );
    flaky.assert_calls_async(2).await;
    ok.assert_calls_async(1).await;
    runner.cancel(&id(11)).await.unwrap();
    flaky_cancel.assert_calls_async(1).await;
    cancel_ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_429_waits_as_long_as_the_reset_header_of_its_scope_says() {
    let server = MockServer::start_async().await;
    let path = format!("{BUILDS}/12");
    let limited = server
        .mock_async(|when, then| {
            when.is_true(first_n("GET", path.clone(), 1));
            then.status(429)
                .header("RateLimit-Reset", "1")
                .header("RateLimit-User-Reset", "30")
                .json_body(json!({"message": "You have exceeded your API rate limit.", "scope": "rest", "limit": 200, "current": 201, "reset": 1}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(path.clone());
            then.status(200).json_body(build_json(12, "passed"));
        })
        .await;
    let started = Instant::now();
    let report = runner_with_own_budget(&server, "reset-1s")
        .status(&id(12))
        .await
        .unwrap();
    assert_eq!(report.status, BuildStatus::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    limited.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_429_longer_than_the_retry_budget_returns_rate_limited_at_once() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BUILDS}/13"));
            then.status(429)
                .header("RateLimit-User-Reset", "40")
                .json_body(json!({"message": "You have exceeded your API rate limit.", "scope": "rest_user", "reset": 40}));
        })
        .await;
    let error = runner_with_own_budget(&server, "reset-40s")
        .status(&id(13))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error:?}");
    assert!(error.is_retryable());
    let wait = error.retry_after().unwrap();
    assert!(
        wait >= Duration::from_secs(40) && wait < Duration::from_secs(41),
        "{wait:?}"
    );
}

#[tokio::test]
async fn exhausted_retries_return_a_retryable_error_within_the_deadline() {
    let server = MockServer::start_async().await;
    let down = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BUILDS}/14"));
            then.status(503)
                .json_body(json!({"message": "Service Unavailable"}));
        })
        .await;
    let started = Instant::now();
    let error = runner(&server).status(&id(14)).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("HTTP 503: Service Unavailable"),
        "{error}"
    );
    down.assert_calls_async(4).await; // the first attempt and max_retries = 3 retries
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A tighter time budget stops retrying before max_retries is reached.
    let mut tight = config(&server);
    tight.http.max_retries = 100;
    tight.http.initial_backoff = Duration::from_millis(100);
    tight.http.max_retry_wait = Duration::from_millis(400);
    let started = Instant::now();
    assert!(
        runner_with(tight)
            .status(&id(14))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_timed_out_create_with_a_key_finds_the_first_build_instead_of_creating_another() {
    let server = MockServer::start_async().await;
    let lookup_before = server
        .mock_async(|when, then| {
            when.is_true(first_n("GET", BUILDS.to_owned(), 1));
            then.status(200).json_body(json!([]));
        })
        .await;
    let lookup_after = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(BUILDS)
                .query_param("meta_data[buildrunner_idempotency_key]", "batch-99");
            then.status(200)
                .json_body(json!([build_json(77, "scheduled")]));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(BUILDS);
            then.status(201)
                .json_body(build_json(77, "scheduled"))
                .delay(Duration::from_secs(3));
        })
        .await;
    let mut config = config(&server);
    config.http.request_timeout = Duration::from_millis(300);
    let request = TriggerRequest::builder()
        .head(Change::new(["https://x/pull/99"]))
        .idempotency_key("batch-99")
        .build()
        .unwrap();
    let id = runner_with(config).trigger(&request).await.unwrap();
    assert_eq!(id.as_str(), "acme/monorepo/77");
    create.assert_calls_async(1).await;
    lookup_before.assert_calls_async(1).await;
    lookup_after.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_keyed_trigger_returns_an_existing_build_without_creating() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(BUILDS);
            then.status(200).json_body(json!([
                build_json(31, "running"),
                build_json(30, "running")
            ]));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(BUILDS);
            then.status(201).json_body(build_json(32, "scheduled"));
        })
        .await;
    let request = TriggerRequest::builder()
        .head(Change::new(["https://x/pull/1"]))
        .idempotency_key("k")
        .build()
        .unwrap();
    let id = runner(&server).trigger(&request).await.unwrap();
    assert_eq!(
        id.as_str(),
        "acme/monorepo/30",
        "the oldest build with the key wins"
    );
    create.assert_calls_async(0).await;
}

#[tokio::test]
async fn an_unkeyed_create_with_an_unknown_outcome_is_not_retried() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(BUILDS);
            then.status(502);
        })
        .await;
    let error = runner(&server)
        .trigger(&request(&["https://x/pull/1"]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("may or may not have been created"),
        "{error}"
    );
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_rate_limited_or_refused_create_is_retried_or_reported() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.is_true(first_n("POST", BUILDS.to_owned(), 1));
            then.status(429)
                .header("RateLimit-Reset", "0")
                .json_body(json!({"scope": "rest", "reset": 0}));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(BUILDS)
                .json_body_includes(r#"{"branch": "main"}"#);
            then.status(201).json_body(build_json(8, "scheduled"));
        })
        .await;
    let limited_runner = runner_with_own_budget(&server, "create-429");
    assert_eq!(
        limited_runner
            .trigger(&request(&["https://x/1"]))
            .await
            .unwrap()
            .as_str(),
        "acme/monorepo/8"
    );
    limited.assert_calls_async(1).await;
    create.assert_calls_async(1).await;

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(BUILDS);
            then.status(422).json_body(
                json!({"message": "Validation Failed", "errors": [{"field": "branch"}]}),
            );
        })
        .await;
    let error = runner(&server)
        .trigger(&request(&["https://x/1"]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    assert!(error.to_string().contains("Validation Failed"));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start_async().await;
    let elsewhere = server
        .mock_async(|when, then| {
            when.path("/elsewhere");
            then.status(200).json_body(build_json(4, "passed"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BUILDS}/4"));
            then.status(302)
                .header("Location", server.url("/elsewhere"));
        })
        .await;
    let error = runner(&server).status(&id(4)).await.unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    elsewhere.assert_calls_async(0).await;
}

#[tokio::test]
async fn foreign_and_malformed_ids_send_no_request() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(build_json(1, "passed"));
        })
        .await;
    let runner = runner(&server);
    let ids = [
        "other/monorepo/1",
        "acme/other/1",
        "1",
        "acme/monorepo/01",
        "acme/monorepo/x",
        "noop:pass:0:0",
    ];
    assert_invalid_ids(&runner, &ids).await;
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401).json_body(json!({"message": "Authentication required. Please supply a valid API Access Token"}));
        })
        .await;
    let runner = runner(&server);
    let mut errors = vec![
        runner.status(&id(1)).await.unwrap_err(),
        runner.cancel(&id(1)).await.unwrap_err(),
        runner
            .trigger(&request(&["https://x/1"]))
            .await
            .unwrap_err(),
    ];
    // A transport error: nothing listens on a port whose listener was closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut closed = config(&server)
        .with_api_url(&format!("http://127.0.0.1:{port}"))
        .unwrap();
    closed.http.max_retries = 1;
    let closed_runner = runner_with(closed);
    errors.push(closed_runner.status(&id(1)).await.unwrap_err());
    errors.push(
        closed_runner
            .trigger(&request(&["https://x/1"]))
            .await
            .unwrap_err(),
    );
    errors.push(Token::new("").unwrap_err());
    for error in &errors {
        let shown = format!(
            "{error} | {error:?} | {:?}",
            std::error::Error::source(error)
        );
        assert!(
            !shown.contains(TOKEN) && !shown.contains("test_secret"),
            "{shown}"
        );
    }
    assert!(matches!(errors[0], Error::Unauthenticated { .. }));
    assert!(
        matches!(errors[3], Error::Unavailable { .. }),
        "{:?}",
        errors[3]
    );
    assert!(!format!("{closed_runner:?}").contains("test_secret"));
}

#[test]
fn the_factory_reads_options_and_the_token_env_var() {
    let create =
        |options: Value| registry::create("buildkite", &QueueConfig::new("merge-main", options));
    // cargo sets CARGO_PKG_NAME for test processes, so it stands in for a token variable.
    let runner = create(json!({
        "organization": "acme",
        "pipeline": "monorepo",
        "token_env": "CARGO_PKG_NAME",
        "api_url": "http://127.0.0.1:9",
        "branch": "merge-queue",
        "request_timeout_secs": 2.5,
        "max_retries": 1,
        "max_retry_wait_secs": 0,
    }))
    .unwrap();
    assert_eq!(runner.backend_name(), "buildkite");
    assert!(runner.capabilities().idempotent_trigger);

    let cases = [
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME", "pipline": "x"}),
            "pipline",
        ),
        (
            json!({"organization": "acme", "token_env": "CARGO_PKG_NAME"}),
            "pipeline",
        ),
        (
            json!({"organization": "", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME"}),
            "organization \"\" is not valid",
        ),
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "BUILDRUNNER_TEST_SURELY_UNSET"}),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME", "api_url": "http://buildkite.example.com"}),
            "loopback",
        ),
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME", "api_url": "::"}),
            "api_url",
        ),
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME", "request_timeout_secs": -1}),
            "request_timeout_secs",
        ),
        (
            json!({"organization": "acme", "pipeline": "monorepo", "token_env": "CARGO_PKG_NAME", "branch": ""}),
            "branch",
        ),
    ];
    assert_configuration_errors(create, "merge-main", cases.to_vec());
}

#[test]
fn this_test_binary_links_exactly_the_buildkite_backend() {
    assert_registered(&["buildkite"]);
}
