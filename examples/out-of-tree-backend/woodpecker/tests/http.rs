//! Request-level tests against httpmock: the exact request a trigger sends, and ids that are
//! refused before anything is sent.

use buildrunner_api::BuildRunner;
use buildrunner_testkit::{assert_invalid_ids, request, stray_requests};
use buildrunner_woodpecker::{Token, WoodpeckerConfig, WoodpeckerRunner};
use httpmock::prelude::*;
use serde_json::json;

fn runner(server: &MockServer) -> WoodpeckerRunner {
    let config = WoodpeckerConfig::new(12, &server.base_url()).expect("a loopback URL is accepted");
    WoodpeckerRunner::new(
        "merge-queue",
        config,
        Token::new("secret").expect("a token"),
    )
    .expect("a runner")
}

#[tokio::test]
async fn a_trigger_creates_one_manual_pipeline_with_the_contract_variables() {
    let server = MockServer::start_async().await;
    let keyed = request("https://example.com/pull/1");
    let created = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/repos/12/pipelines")
                .header("authorization", "Bearer secret")
                .json_body_includes(r#"{"branch": "main"}"#)
                .json_body_includes(
                    r#"{"variables": {"SQ_BASE_URIS": "[]", "SQ_HEAD_URIS": "[\"https://example.com/pull/1\"]", "SQ_QUEUE": "merge-queue"}}"#,
                );
            then.status(200).json_body(json!({"number": 7, "status": "pending"}));
        })
        .await;
    let stray = stray_requests(&server).await;
    let id = runner(&server)
        .trigger(&keyed)
        .await
        .expect("the trigger succeeds");
    assert_eq!(id.as_str(), "12/7");
    created.assert_async().await;
    stray.assert_calls_async(0).await;
}

#[tokio::test]
async fn foreign_and_malformed_ids_send_nothing() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    assert_invalid_ids(
        &runner(&server),
        &["", "7", "13/7", "12/x", "12/07", "12/7/1"],
    )
    .await;
    stray.assert_calls_async(0).await;
}
