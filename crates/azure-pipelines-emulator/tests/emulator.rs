//! The emulator's gate against a real client: the api-version every route requires, and the
//! 203 sign-in page for a token it does not accept.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use azure_pipelines_emulator::{Emulator, EmulatorConfig};

#[tokio::test]
async fn every_route_requires_api_version_7_1_and_a_token_it_accepts() {
    let emulator = Emulator::start(EmulatorConfig::new("t")).await.unwrap();
    let client = reqwest::Client::new();
    let get = |query: &str, password: &str| {
        client
            .get(format!(
                "{}/acme/app/_apis/build/builds{query}",
                emulator.url()
            ))
            .basic_auth("", Some(password))
            .send()
    };
    let listed = get("?api-version=7.1", "t").await.unwrap();
    assert_eq!(listed.status(), 200);
    let body: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(body["count"], 0);
    for (query, type_key) in [
        ("", "VssVersionNotSpecifiedException"),
        ("?api-version=7.0", "VssVersionOutOfRangeException"),
    ] {
        let refused = get(query, "t").await.unwrap();
        assert_eq!(refused.status(), 400, "{query:?}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["typeKey"], type_key, "{query:?}");
    }
    let unauthenticated = get("?api-version=7.1", "wrong").await.unwrap();
    assert_eq!(unauthenticated.status(), 203);
    assert!(unauthenticated.text().await.unwrap().contains("Sign In"));
}
