//! Request/response-level tests of the GitHub Actions backend against a real loopback HTTP
//! server: every wire detail of the contract, asserted on the requests the server received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, QueueConfig, TriggerRequest, registry,
};
use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
use buildrunner_testkit::{
    assert_configuration_errors, assert_invalid_ids, assert_registered, first_n, request,
    stray_requests, with,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "ghp_test_secret_0123456789";
const DISPATCHES: &str = "/repos/acme/app/actions/workflows/buildrunner.yml/dispatches";
const RUNS: &str = "/repos/acme/app/actions/workflows/buildrunner.yml/runs";

fn config(server: &MockServer) -> GitHubActionsConfig {
    let mut config = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")
        .unwrap()
        .with_api_url(&server.base_url())
        .unwrap();
    config.http.request_timeout = Duration::from_secs(5);
    config.http.max_retries = 3;
    config.http.max_retry_wait = Duration::from_secs(5);
    config.http.initial_backoff = Duration::from_millis(20);
    config
}

/// A runner with a token of its own: budgets are shared per API, owner and token, and
/// httpmock reuses servers (so URLs) across tests.
fn runner_with(config: GitHubActionsConfig, name: &str) -> GitHubActionsRunner {
    let token = Token::new(format!("{TOKEN}-{name}")).unwrap();
    GitHubActionsRunner::new("merge-main", config, Credentials::Token(token)).unwrap()
}

fn runner(server: &MockServer, name: &str) -> GitHubActionsRunner {
    runner_with(config(server), name)
}

fn run_json(id: u64, status: &str, conclusion: Option<&str>, title: &str) -> Value {
    json!({
        "id": id, "name": "buildrunner", "status": status, "conclusion": conclusion,
        "run_attempt": 1, "display_title": title, "head_branch": "main",
        "html_url": format!("https://github.com/acme/app/actions/runs/{id}"),
        "created_at": "2026-11-27T10:00:00Z", "event": "workflow_dispatch",
    })
}

fn run_path(id: u64) -> String {
    format!("/repos/acme/app/actions/runs/{id}")
}

fn body(req: &HttpMockRequest) -> Value {
    serde_json::from_slice(req.body_ref()).unwrap_or(Value::Null)
}

/// The `buildrunner_key` input of a dispatch, when it is a fresh 32-hex dispatch id.
fn dispatch_id(req: &HttpMockRequest) -> Option<String> {
    let key = body(req)["inputs"]["buildrunner_key"].as_str()?.to_owned();
    (key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())).then_some(key)
}

#[tokio::test]
async fn dispatch_sends_the_contract_headers_body_and_inputs() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(DISPATCHES)
                .header("authorization", format!("Bearer {TOKEN}-contract"))
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
                .header("content-type", "application/json")
                .is_true(|req| {
                    let agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok().map(str::to_owned));
                    agent.is_some_and(|a| a.starts_with("buildrunner/"))
                })
                .json_body(json!({
                    "ref": "merge-queue",
                    "return_run_details": true,
                    "inputs": {
                        "sq_base_uris": r#"["https://x/pull/1","https://x/pull/2a","https://x/pull/2b"]"#,
                        "sq_head_uris": r#"["https://x/pull/3"]"#,
                        "sq_queue": "merge-main",
                        "sq_metadata": r#"{"batch":"12","pr":"3"}"#,
                        "buildrunner_key": "batch-12",
                        "environment": "ci",
                    },
                }));
            then.status(200).json_body(json!({
                "workflow_run_id": 30433642,
                "run_url": "https://api.github.com/repos/acme/app/actions/runs/30433642",
                "html_url": "https://github.com/acme/app/actions/runs/30433642",
            }));
        })
        .await;
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(RUNS)
                .query_param("event", "workflow_dispatch")
                .query_param("per_page", "100")
                .query_param("page", "1")
                .is_true(|req| {
                    req.query_params()
                        .iter()
                        .any(|(k, v)| k == "created" && v.starts_with(">=20") && v.ends_with('Z'))
                });
            then.status(200)
                .json_body(json!({"total_count": 0, "workflow_runs": []}));
        })
        .await;
    let mut config = config(&server);
    config.git_ref = "merge-queue".into();
    config
        .extra_inputs
        .insert("environment".into(), "ci".into());
    // The backend's own inputs win over extra_inputs of the same name.
    config
        .extra_inputs
        .insert("sq_queue".into(), "overridden".into());
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
    assert_eq!(id.as_str(), "acme/app/30433642");
    dispatch.assert_calls_async(1).await;
    lookup.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_unkeyed_dispatch_carries_a_fresh_dispatch_id_and_no_metadata_input() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES).is_true(|req| {
                let inputs = body(req)["inputs"].clone();
                dispatch_id(req).is_some()
                    && inputs["sq_base_uris"] == "[]"
                    && inputs.get("sq_metadata").is_none()
                    && inputs.as_object().map(|o| o.len()) == Some(4)
            });
            then.status(200)
                .json_body(json!({"workflow_run_id": 7, "run_url": "x", "html_url": "y"}));
        })
        .await;
    let runner = runner(&server, "unkeyed");
    assert_eq!(
        runner
            .trigger(&request("https://x/1"))
            .await
            .unwrap()
            .as_str(),
        "acme/app/7"
    );
    assert_eq!(
        runner
            .trigger(&request("https://x/1"))
            .await
            .unwrap()
            .as_str(),
        "acme/app/7"
    );
    // No look-up for an unkeyed trigger whose dispatch answered.
    dispatch.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_keyed_trigger_returns_the_oldest_run_naming_its_key_without_dispatching() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES);
            then.status(500);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUNS);
            then.status(200)
                .json_body(json!({"total_count": 4, "workflow_runs": [
                    run_json(90, "queued", None, "buildrunner batch-120"),
                    run_json(80, "completed", Some("success"), "buildrunner batch-12"),
                    run_json(70, "in_progress", None, "[batch-12] retry"),
                    run_json(60, "completed", Some("success"), "buildrunner xbatch-12"),
                ]}));
        })
        .await;
    let request = TriggerRequest::builder()
        .head(Change::new(["https://x/1"]))
        .idempotency_key("batch-12")
        .build()
        .unwrap();
    let id = runner(&server, "existing").trigger(&request).await.unwrap();
    assert_eq!(id.as_str(), "acme/app/70");
    dispatch.assert_calls_async(0).await;
}

fn keyed(key: &str) -> TriggerRequest {
    TriggerRequest::builder()
        .head(Change::new(["https://x/1"]))
        .idempotency_key(key)
        .build()
        .unwrap()
}

/// The runs list: empty for the first `empty` look-ups (before the dispatch, and while the
/// run is not listed yet), then one run titled with `key`.
async fn runs_list_after(server: &MockServer, empty: usize, run: u64, key: &str) {
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUNS).is_true(first_n(empty));
            then.status(200)
                .json_body(json!({"total_count": 0, "workflow_runs": []}));
        })
        .await;
    let title = format!("buildrunner {key}");
    server
        .mock_async(|when, then| {
            when.method(GET).path(RUNS);
            then.status(200)
                .json_body(json!({"total_count": 1, "workflow_runs": [
                    run_json(run, "queued", None, &title),
                    run_json(run + 1, "queued", None, "buildrunner someone-else"),
                ]}));
        })
        .await;
}

#[tokio::test]
async fn a_204_without_run_details_is_resolved_by_the_key_in_the_run_name() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES).json_body_includes(
                r#"{"return_run_details": true, "inputs": {"buildrunner_key": "k-204"}}"#,
            );
            then.status(204);
        })
        .await;
    // Not listed at the pre-dispatch look-up nor right after the dispatch: found on the third.
    runs_list_after(&server, 2, 4242, "k-204").await;
    let id = runner(&server, "ghes-204")
        .trigger(&keyed("k-204"))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/app/4242");
    dispatch.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_server_that_refuses_run_details_is_asked_again_without_them_once_per_runner() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(DISPATCHES)
                .json_body_includes(r#"{"return_run_details": true}"#);
            then.status(422).json_body(json!({
                "message": "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
                "documentation_url": "https://docs.github.com/enterprise-server@3.12/rest",
            }));
        })
        .await;
    let plain = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(DISPATCHES)
                .is_true(|req| body(req).get("return_run_details").is_none());
            then.status(204);
        })
        .await;
    runs_list_after(&server, 1, 5, "ghes-key").await;
    let runner = runner(&server, "ghes-422");
    assert_eq!(
        runner.trigger(&keyed("ghes-key")).await.unwrap().as_str(),
        "acme/app/5"
    );
    refused.assert_calls_async(1).await;
    plain.assert_calls_async(1).await;
    // The runner remembers: the next dispatch does not ask for run details again.
    assert_eq!(
        runner
            .trigger(&request("https://x/2"))
            .await
            .unwrap_err()
            .kind(),
        "unavailable"
    );
    refused.assert_calls_async(1).await;
    plain.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_dispatch_with_an_unknown_outcome_is_settled_by_its_key_not_repeated() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(DISPATCHES)
                .json_body_includes(r#"{"inputs": {"buildrunner_key": "k-502"}}"#);
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    // The 502 came after the run was made: the look-up after it finds the run.
    runs_list_after(&server, 1, 99, "k-502").await;
    let id = runner(&server, "ambiguous")
        .trigger(&keyed("k-502"))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "acme/app/99");
    dispatch.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_unkeyed_dispatch_retried_after_an_unknown_outcome_keeps_its_dispatch_id() {
    let server = MockServer::start_async().await;
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&keys);
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES).is_true(move |req| {
                seen.lock().unwrap().extend(dispatch_id(req));
                true
            });
            then.status(503)
                .json_body(json!({"message": "Service Unavailable"}));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(RUNS);
            then.status(200)
                .json_body(json!({"total_count": 0, "workflow_runs": []}));
        })
        .await;
    let error = runner(&server, "retry-key")
        .trigger(&request("https://x/1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "unavailable", "{error}");
    let keys = keys.lock().unwrap().clone();
    assert_eq!(
        keys.len(),
        4,
        "one dispatch and three retries, each after a look-up"
    );
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    dispatch.assert_calls_async(4).await;
    list.assert_calls_async(4).await;
}

#[tokio::test]
async fn dispatch_refusals_say_what_to_fix() {
    let server = MockServer::start_async().await;
    let not_found = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES);
            then.status(404).json_body(json!({"message": "Not Found"}));
        })
        .await;
    let error = runner(&server, "404")
        .trigger(&request("https://x/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("buildrunner.yml") && text.contains("acme/app"),
        "{text}"
    );
    not_found.assert_calls_async(1).await;
    not_found.delete_async().await;

    let unexpected = server
        .mock_async(|when, then| {
            when.method(POST).path(DISPATCHES);
            then.status(422)
                .json_body(json!({"message": "Unexpected inputs provided: [\"buildrunner_key\"]"}));
        })
        .await;
    let error = runner(&server, "422")
        .trigger(&request("https://x/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("Unexpected inputs provided")
            && text.contains("sq_head_uris, sq_queue, sq_metadata, buildrunner_key"),
        "{text}"
    );
    unexpected.assert_calls_async(1).await;
}

#[tokio::test]
async fn more_than_25_inputs_is_refused_before_any_request() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let mut config = config(&server);
    for i in 0..21 {
        config.extra_inputs.insert(format!("extra_{i}"), "x".into());
    }
    let error =
        GitHubActionsRunner::new("q", config, Credentials::Token(Token::new(TOKEN).unwrap()))
            .unwrap_err();
    assert!(
        matches!(error, Error::Configuration { .. }) && error.to_string().contains("26 inputs"),
        "{error}"
    );
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn without_a_key_input_there_is_no_lookup_and_no_idempotent_trigger() {
    let server = MockServer::start_async().await;
    let dispatch = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(DISPATCHES)
                .is_true(|req| body(req)["inputs"].get("buildrunner_key").is_none());
            then.status(204);
        })
        .await;
    let stray = stray_requests(&server).await;
    let mut config = config(&server);
    config.key_input = None;
    let runner = runner_with(config, "no-key");
    assert!(!runner.capabilities().idempotent_trigger);
    let error = runner.trigger(&request("https://x/1")).await.unwrap_err();
    assert_eq!(error.kind(), "protocol", "{error}");
    assert!(error.to_string().contains("key_input"), "{error}");
    dispatch.assert_calls_async(1).await;
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn status_maps_status_and_conclusion_and_reports_the_go_keys() {
    let server = MockServer::start_async().await;
    let table = [
        ("queued", None, BuildStatus::Accepted),
        ("waiting", None, BuildStatus::Accepted),
        ("in_progress", None, BuildStatus::Running),
        ("completed", Some("success"), BuildStatus::Succeeded),
        ("completed", Some("cancelled"), BuildStatus::Cancelled),
        ("completed", Some("startup_failure"), BuildStatus::Failed),
        ("completed", None, BuildStatus::Unknown),
        ("invented", None, BuildStatus::Unknown),
    ];
    let runner = runner(&server, "mapping");
    for (i, (status, conclusion, want)) in table.into_iter().enumerate() {
        let run = 100 + i as u64;
        let mock = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path(run_path(run))
                    .query_param("exclude_pull_requests", "true")
                    .header("accept", "application/vnd.github+json");
                then.status(200)
                    .json_body(run_json(run, status, conclusion, "buildrunner k"));
            })
            .await;
        let report = runner
            .status(&BuildId::new(format!("acme/app/{run}")))
            .await
            .unwrap();
        assert_eq!(report.status, want, "{status} {conclusion:?}");
        assert_eq!(report.metadata["github_status"], status);
        assert_eq!(report.metadata["github_run_id"], run.to_string());
        assert_eq!(
            report.metadata["url"],
            format!("https://github.com/acme/app/actions/runs/{run}")
        );
        assert_eq!(
            report.metadata.get("github_conclusion").map(String::as_str),
            conclusion
        );
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn unchanged_polls_are_conditional_and_a_304_answers_from_the_cache() {
    let server = MockServer::start_async().await;
    let conditional = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(run_path(7))
                .header("if-none-match", "W/\"abc\"");
            then.status(304).header("etag", "W/\"abc\"");
        })
        .await;
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(run_path(7))
                .header_missing("if-none-match");
            then.status(200)
                .header("etag", "W/\"abc\"")
                .json_body(run_json(7, "in_progress", None, "t"));
        })
        .await;
    let runner = runner(&server, "etag");
    let id = BuildId::new("acme/app/7");
    for _ in 0..3 {
        let report = runner.status(&id).await.unwrap();
        assert_eq!(report.status, BuildStatus::Running);
        assert_eq!(report.metadata["github_run_id"], "7");
    }
    first.assert_calls_async(1).await;
    conditional.assert_calls_async(2).await;
}

#[tokio::test]
async fn status_many_answers_recent_runs_from_one_conditional_list() {
    let server = MockServer::start_async().await;
    let listed = json!({"total_count": 2, "workflow_runs": [
        run_json(21, "completed", Some("failure"), "buildrunner a"),
        run_json(20, "in_progress", None, "buildrunner b"),
    ]});
    let conditional = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(RUNS)
                .header("if-none-match", "W/\"list\"");
            then.status(304).header("etag", "W/\"list\"");
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(RUNS)
                .query_param("event", "workflow_dispatch")
                .query_param("per_page", "100")
                .query_param("exclude_pull_requests", "true")
                .header_missing("if-none-match");
            then.status(200)
                .header("etag", "W/\"list\"")
                .json_body(listed);
        })
        .await;
    let older = server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(5));
            then.status(200)
                .json_body(run_json(5, "completed", Some("success"), "t"));
        })
        .await;
    let runner = runner(&server, "many");
    assert_eq!(
        runner.status_many_cost(100),
        1,
        "one list request for a round"
    );
    let ids: Vec<BuildId> = ["acme/app/20", "acme/app/5", "other/app/1", "acme/app/21"]
        .into_iter()
        .map(BuildId::new)
        .collect();
    for _ in 0..2 {
        let answers = runner.status_many(&ids).await;
        let statuses: Vec<_> = answers
            .iter()
            .map(|a| a.as_ref().map(|r| r.status).map_err(|e| e.kind()))
            .collect();
        assert_eq!(
            statuses,
            [
                Ok(BuildStatus::Running),
                Ok(BuildStatus::Succeeded),
                Err("invalid_build_id"),
                Ok(BuildStatus::Failed)
            ]
        );
        assert_eq!(answers[3].as_ref().unwrap().metadata["github_run_id"], "21");
    }
    list.assert_calls_async(1).await;
    conditional.assert_calls_async(1).await;
    // The run the list does not hold is asked for on its own, each time.
    older.assert_calls_async(2).await;
}

#[tokio::test]
async fn cancel_posts_and_a_409_is_a_no_op_only_for_a_completed_run() {
    let server = MockServer::start_async().await;
    let accepted = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{}/cancel", run_path(1)))
                .body("");
            then.status(202).json_body(json!({}));
        })
        .await;
    let runner = runner(&server, "cancel");
    runner.cancel(&BuildId::new("acme/app/1")).await.unwrap();
    accepted.assert_calls_async(1).await;

    for (run, status, conclusion, ok) in [
        (2, "completed", Some("success"), true),
        (3, "queued", None, false),
    ] {
        server
            .mock_async(|when, then| {
                when.method(POST).path(format!("{}/cancel", run_path(run)));
                then.status(409).json_body(json!({"message": "Cannot cancel a workflow re-run that has not yet queued.", "status": "409"}));
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET).path(run_path(run));
                then.status(200)
                    .json_body(run_json(run, status, conclusion, "t"));
            })
            .await;
        let result = runner
            .cancel(&BuildId::new(format!("acme/app/{run}")))
            .await;
        if ok {
            result.unwrap();
        } else {
            let error = result.unwrap_err();
            assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
            assert!(error.to_string().contains("still \"queued\""), "{error}");
        }
    }
    server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{}/cancel", run_path(4)));
            then.status(404).json_body(json!({"message": "Not Found"}));
        })
        .await;
    assert!(matches!(
        runner.cancel(&BuildId::new("acme/app/4")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn force_cancel_uses_its_own_endpoint() {
    let server = MockServer::start_async().await;
    let force = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{}/force-cancel", run_path(5)));
            then.status(202).json_body(json!({}));
        })
        .await;
    let mut config = config(&server);
    config.force_cancel = true;
    runner_with(config, "force")
        .cancel(&BuildId::new("acme/app/5"))
        .await
        .unwrap();
    force.assert_calls_async(1).await;
}

fn epoch_in(secs: u64) -> String {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs)
        .to_string()
}

#[tokio::test]
async fn a_403_is_a_rate_limit_only_when_it_says_so() {
    let server = MockServer::start_async().await;
    // Permission: remaining > 0 and no secondary limit named. Not retried.
    let denied = server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(1));
            then.status(403)
                .header("x-ratelimit-remaining", "4999")
                .header("x-ratelimit-reset", epoch_in(3600))
                .json_body(json!({"message": "Resource not accessible by personal access token"}));
        })
        .await;
    let error = runner(&server, "denied")
        .status(&BuildId::new("acme/app/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::PermissionDenied { .. }), "{error:?}");
    denied.assert_calls_async(1).await;

    // Primary limit spent for longer than the retry budget: RateLimited at once, with the wait.
    let spent = server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(2));
            then.status(403)
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", epoch_in(600))
                .json_body(json!({"message": "API rate limit exceeded for user ID 1."}));
        })
        .await;
    let started = Instant::now();
    let error = runner(&server, "spent")
        .status(&BuildId::new("acme/app/2"))
        .await
        .unwrap_err();
    match &error {
        Error::RateLimited {
            retry_after: Some(wait),
            ..
        } => {
            assert!(
                *wait > Duration::from_secs(590) && *wait <= Duration::from_secs(601),
                "{wait:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    spent.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_secondary_limit_waits_what_retry_after_says_then_succeeds() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(3)).is_true(first_n(1));
            then.status(403)
                .header("retry-after", "1")
                .json_body(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}));
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(3));
            then.status(200)
                .json_body(run_json(3, "in_progress", None, "t"));
        })
        .await;
    let started = Instant::now();
    let report = runner(&server, "secondary")
        .status(&BuildId::new("acme/app/3"))
        .await
        .unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    limited.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn unauthenticated_and_unknown_runs_are_typed_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(8));
            then.status(401)
                .json_body(json!({"message": "Bad credentials"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(run_path(9));
            then.status(404).json_body(json!({"message": "Not Found"}));
        })
        .await;
    let runner = runner(&server, "auth");
    assert!(matches!(
        runner.status(&BuildId::new("acme/app/8")).await,
        Err(Error::Unauthenticated { .. })
    ));
    assert!(matches!(
        runner.status(&BuildId::new("acme/app/9")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn foreign_and_malformed_ids_send_no_request() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server, "ids");
    let ids = [
        "",
        "7",
        "acme/app",
        "acme/app/0",
        "acme/app/07",
        "acme/other/7",
        "other/app/7",
        "acme/app/7/x",
    ];
    assert_invalid_ids(&runner, &ids).await;
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_debug_output() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401)
                .json_body(json!({"message": "Bad credentials"}));
        })
        .await;
    let runner = runner(&server, "secret");
    let debug = format!("{runner:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    let error = runner.trigger(&request("https://x/1")).await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}

#[test]
fn the_factory_reads_options_and_rejects_what_it_cannot_use() {
    let create = |options: Value| {
        registry::create("github-actions", &QueueConfig::new("merge-main", options))
    };
    // CARGO_PKG_NAME is always set while tests run: a stand-in token.
    let runner = create(json!({
        "owner": "acme", "repo": "app", "workflow": "buildrunner.yml", "token_env": "CARGO_PKG_NAME",
        "ref": "merge-queue", "extra_inputs": {"env": "ci"}, "force_cancel": true, "key_input": "",
        "max_retries": 1, "request_timeout_secs": 2.5,
    }))
    .unwrap();
    assert_eq!(runner.backend_name(), "github-actions");
    assert!(
        !runner.capabilities().idempotent_trigger,
        "key_input = \"\" turns keys off"
    );
    let base = json!({"owner": "acme", "repo": "app", "workflow": "buildrunner.yml", "token_env": "CARGO_PKG_NAME"});
    let with = |extra: Value| with(&base, extra);
    let extra_inputs: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("e{i}"), json!("x"))).collect();
    let cases = [
        (with(json!({"colour": "blue"})), "colour"),
        (
            json!({"owner": "acme", "repo": "app", "token_env": "CARGO_PKG_NAME"}),
            "workflow",
        ),
        (with(json!({"repo": "a/b"})), "repo"),
        (
            with(json!({"token_env": "BUILDRUNNER_TEST_SURELY_UNSET"})),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
        (
            with(json!({"api_url": "http://github.example.com"})),
            "loopback",
        ),
        (
            with(json!({"app_id": 1, "installation_id": 2, "private_key_env": "CARGO_PKG_NAME"})),
            "token_env",
        ),
        (
            json!({"owner": "acme", "repo": "app", "workflow": "w.yml", "app_id": 1, "installation_id": 2, "private_key_env": "CARGO_PKG_NAME"}),
            "RSA private key",
        ),
        (
            json!({"owner": "acme", "repo": "app", "workflow": "w.yml", "app_id": 1}),
            "installation_id",
        ),
        (with(json!({"extra_inputs": extra_inputs})), "26 inputs"),
        (with(json!({"ref": " "})), "ref"),
    ];
    assert_configuration_errors(create, "merge-main", cases.to_vec());
}

#[test]
fn this_test_binary_links_exactly_the_github_actions_backend() {
    assert_registered(&["github-actions"]);
}
