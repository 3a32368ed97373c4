//! `status_many` through Buildkite's GraphQL API (`graphql = true`): against the emulator for
//! agreement with REST and the request count, against httpmock for the failures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildkite_emulator::BuildkiteConfig as _;
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, RateLimit};
use buildrunner_api::{BuildId, BuildRunner, BuildStatus, QueueConfig, registry};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_testkit::{request, wait_for};
use httpmock::prelude::*;
use serde_json::json;

const TOKEN: &str = "graphql-test-token";

fn runner(api_url: &str, token: &str) -> BuildkiteRunner {
    let mut config = BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(api_url)
        .unwrap();
    config.graphql_url = Some(
        format!("{}/v1", api_url.trim_end_matches('/'))
            .parse()
            .unwrap(),
    );
    config.http.max_retries = 2;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = Duration::from_secs(2);
    BuildkiteRunner::new("q", config, Token::new(token).unwrap()).unwrap()
}

#[tokio::test]
async fn one_request_answers_a_hundred_builds_as_status_would() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(&emulator.url(), TOKEN);
    let mut ids = Vec::new();
    for i in 0..150 {
        let marker = match i % 3 {
            0 => "",
            1 => "?buildrunner-outcome=fail",
            _ => "?buildrunner-outcome=block",
        };
        ids.push(
            runner
                .trigger(&request(&format!("https://x/{i}{marker}")))
                .await
                .unwrap(),
        );
    }
    wait_for(&runner, &ids[0], BuildStatus::is_terminal).await;
    wait_for(&runner, &ids[1], BuildStatus::is_terminal).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ids.push(BuildId::new("acme/app/9999"));
    ids.push(BuildId::new("acme/other/1"));
    emulator.clear_requests();
    let many = runner.status_many(&ids).await;
    let requests = emulator.requests();
    assert_eq!(requests.len(), 2, "150 builds in two queries: {requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.method == "POST" && r.path == "/v1")
    );
    assert_eq!(
        runner.status_many_cost(150),
        150,
        "one GraphQL point a build"
    );
    assert_eq!(many.len(), ids.len());
    for (id, answer) in ids.iter().zip(&many) {
        let single = runner.status(id).await;
        match (answer, &single) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{id}: the same report, metadata and all"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{id}"),
            _ => panic!("{id}: status_many {answer:?}, status {single:?}"),
        }
    }
    let statuses: Vec<_> = many[..3]
        .iter()
        .map(|a| a.as_ref().unwrap().status)
        .collect();
    assert_eq!(
        statuses,
        [
            BuildStatus::Succeeded,
            BuildStatus::Failed,
            BuildStatus::Running
        ],
        "passed, failed, and blocked (never green)"
    );
    assert_eq!(many[150].as_ref().unwrap_err().kind(), "not_found");
    assert_eq!(many[151].as_ref().unwrap_err().kind(), "invalid_build_id");
}

#[tokio::test]
async fn a_spent_point_budget_is_a_rate_limit_for_every_build_not_a_rest_stampede() {
    let config = EmulatorConfig::new(TOKEN).with_graphql_rate_limit(RateLimit {
        limit: 5,
        window: Duration::from_secs(60),
    });
    let emulator = Emulator::start(config).await.unwrap();
    let runner = runner(&emulator.url(), TOKEN);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            runner
                .trigger(&request(&format!("https://x/{i}")))
                .await
                .unwrap(),
        );
    }
    emulator.clear_requests();
    let many = runner.status_many(&ids).await;
    for answer in &many {
        assert_eq!(
            answer.as_ref().unwrap_err().kind(),
            "rate_limited",
            "{answer:?}"
        );
    }
    let requests = emulator.requests();
    assert!(
        requests.iter().all(|r| r.path == "/v1"),
        "REST was not asked instead: {requests:?}"
    );
}

#[tokio::test]
async fn a_token_without_graphql_access_falls_back_to_rest_for_good() {
    let server = MockServer::start_async().await;
    let graphql = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1");
            then.status(403)
                .json_body(json!({"errors": [{"message": "GraphQL access not enabled"}]}));
        })
        .await;
    let rest = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/organizations/acme/pipelines/app/builds/3");
            then.status(200)
                .json_body(json!({"number": 3, "state": "passed", "blocked": false}));
        })
        .await;
    let runner = runner(&server.base_url(), "token-without-graphql");
    let id = BuildId::new("acme/app/3");
    for _ in 0..3 {
        let many = runner.status_many(std::slice::from_ref(&id)).await;
        assert_eq!(many[0].as_ref().unwrap().status, BuildStatus::Succeeded);
    }
    assert_eq!(graphql.calls_async().await, 1, "GraphQL is not asked again");
    assert_eq!(rest.calls_async().await, 3);
}

#[tokio::test]
async fn an_unreadable_answer_is_asked_of_rest_and_a_wrong_build_is_an_error() {
    let server = MockServer::start_async().await;
    let garbage = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1");
            then.status(200).body("<html>");
        })
        .await;
    let rest = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/organizations/acme/pipelines/app/builds/3");
            then.status(200)
                .json_body(json!({"number": 3, "state": "failed", "blocked": false}));
        })
        .await;
    let runner = runner(&server.base_url(), "token-garbage");
    let id = BuildId::new("acme/app/3");
    let many = runner.status_many(std::slice::from_ref(&id)).await;
    assert_eq!(many[0].as_ref().unwrap().status, BuildStatus::Failed);
    assert_eq!(rest.calls_async().await, 1);
    garbage.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1");
            then.status(200)
                .json_body(json!({"data": {"b0": {"number": 4, "state": "PASSED"}}}));
        })
        .await;
    let many = runner.status_many(std::slice::from_ref(&id)).await;
    assert_eq!(
        many[0].as_ref().map(|r| r.status).ok(),
        Some(BuildStatus::Failed),
        "a GraphQL answer about another build is not believed; REST is asked"
    );
    assert_eq!(rest.calls_async().await, 2);
}

#[test]
fn graphql_options_are_checked() {
    let table = |extra: serde_json::Value| {
        let mut options = json!({"organization": "acme", "pipeline": "app", "token_env": "PATH"});
        options
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        QueueConfig::new("q", options)
    };
    for good in [
        json!({"graphql": true}),
        json!({"graphql": true, "graphql_url": "http://127.0.0.1:1/v1"}),
        json!({}),
    ] {
        assert!(
            registry::create("buildkite", &table(good.clone())).is_ok(),
            "{good}"
        );
    }
    for bad in [
        json!({"graphql_url": "https://graphql.buildkite.com/v1"}),
        json!({"graphql": true, "graphql_url": "http://example.com/v1"}),
        json!({"graphql": "yes"}),
    ] {
        assert!(
            registry::create("buildkite", &table(bad.clone())).is_err(),
            "{bad}"
        );
    }
}
