//! GitHub App authentication: the JWT, the installation-token exchange, one exchange per
//! expiry however many calls run at once, renewal before expiry and after a 401; against a
//! request-level mock and against the emulator, which verifies the JWT with the App's key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use github_actions_emulator::GitHubConfig as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Change, Error, TriggerRequest};
use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
use github_actions_emulator::{AppConfig, Emulator, EmulatorConfig, test_app_key};
use httpmock::prelude::*;
use serde_json::json;

const APP_ID: u64 = 1234;
const INSTALLATION: u64 = 5678;
const EXCHANGE: &str = "/app/installations/5678/access_tokens";

fn credentials() -> Credentials {
    Credentials::App {
        app_id: APP_ID,
        installation_id: INSTALLATION,
        private_key: Token::multiline(test_app_key::PRIVATE_KEY_PEM).unwrap(),
    }
}

fn runner(api_url: &str) -> GitHubActionsRunner {
    let mut config = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")
        .unwrap()
        .with_api_url(api_url)
        .unwrap();
    config.http.max_retries = 2;
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retry_wait = Duration::from_secs(2);
    GitHubActionsRunner::new("app-auth", config, credentials()).unwrap()
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

/// Whether a request carries a JWT of the test App: RS256 with its key, `iss` its id, `iat`
/// in the past and at most ten minutes of life.
fn carries_app_jwt(req: &HttpMockRequest) -> bool {
    let Some(jwt) = req.headers().get("authorization").and_then(|v| {
        v.to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
    }) else {
        return false;
    };
    let key =
        jsonwebtoken::DecodingKey::from_rsa_pem(test_app_key::PUBLIC_KEY_PEM.as_bytes()).unwrap();
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let Ok(claims) = jsonwebtoken::decode::<Claims>(&jwt, &key, &validation) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = claims.claims;
    claims.iss == APP_ID.to_string()
        && claims.iat < now
        && claims.iat + 120 > now
        && claims.exp > now
        && claims.exp - claims.iat <= 600
}

fn expiring_in(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(secs)).to_string()
}

async fn status_mock<'a>(server: &'a MockServer, token: &str, status: u16) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/repos/acme/app/actions/runs/7")
                .header("authorization", format!("Bearer {token}"));
            then.status(status)
                .json_body(json!({"id": 7, "status": "in_progress", "message": "Bad credentials"}));
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_exchange_serves_every_concurrent_call_until_the_token_nears_expiry() {
    let server = MockServer::start_async().await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST).path(EXCHANGE).is_true(carries_app_jwt);
            then.status(201)
                .json_body(json!({"token": "ghs_long_lived", "expires_at": expiring_in(3600)}));
        })
        .await;
    let status = status_mock(&server, "ghs_long_lived", 200).await;
    let runner = Arc::new(runner(&server.base_url()));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let runner = Arc::clone(&runner);
            tokio::spawn(async move { runner.status(&BuildId::new("acme/app/7")).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status, BuildStatus::Running);
    }
    exchange.assert_calls_async(1).await;
    status.assert_calls_async(20).await;
}

#[tokio::test]
async fn a_token_within_five_minutes_of_expiry_is_renewed_before_use() {
    let server = MockServer::start_async().await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST).path(EXCHANGE).is_true(carries_app_jwt);
            then.status(201)
                .json_body(json!({"token": "ghs_short", "expires_at": expiring_in(240)}));
        })
        .await;
    status_mock(&server, "ghs_short", 200).await;
    let runner = runner(&server.base_url());
    runner.status(&BuildId::new("acme/app/7")).await.unwrap();
    runner.status(&BuildId::new("acme/app/7")).await.unwrap();
    exchange.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_401_renews_the_token_and_sends_the_request_once_more() {
    let server = MockServer::start_async().await;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let first = server
        .mock_async(|when, then| {
            let seen = Arc::clone(&seen);
            when.method(POST).path(EXCHANGE).is_true(move |req| {
                carries_app_jwt(req) && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
            });
            then.status(201)
                .json_body(json!({"token": "ghs_revoked", "expires_at": expiring_in(3600)}));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(POST).path(EXCHANGE).is_true(carries_app_jwt);
            then.status(201)
                .json_body(json!({"token": "ghs_fresh", "expires_at": expiring_in(3600)}));
        })
        .await;
    let refused = status_mock(&server, "ghs_revoked", 401).await;
    let accepted = status_mock(&server, "ghs_fresh", 200).await;
    let report = runner(&server.base_url())
        .status(&BuildId::new("acme/app/7"))
        .await
        .unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
    refused.assert_calls_async(1).await;
    accepted.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_refused_exchange_is_an_authentication_error_without_secrets() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(EXCHANGE);
            then.status(401)
                .json_body(json!({"message": "A JSON web token could not be decoded"}));
        })
        .await;
    let runner = runner(&server.base_url());
    let error = runner
        .status(&BuildId::new("acme/app/7"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    let text = format!("{error} {error:?} {runner:?}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("MII"),
        "{text}"
    );
}

fn app_emulator_config() -> EmulatorConfig {
    EmulatorConfig::new("unused-pat").with_app(AppConfig {
        app_id: APP_ID,
        installation_id: INSTALLATION,
        public_key_pem: test_app_key::PUBLIC_KEY_PEM.to_owned(),
        token_ttl: Duration::from_secs(3600),
    })
}

#[tokio::test]
async fn the_emulator_accepts_the_apps_jwt_and_a_revoked_token_is_renewed() {
    let emulator = Emulator::start(app_emulator_config()).await.unwrap();
    let runner = runner(&emulator.url());
    let request = TriggerRequest::new(vec![Change::new(["https://x/1"])]).unwrap();
    let id = runner.trigger(&request).await.unwrap();
    assert!(!runner.status(&id).await.unwrap().status.is_terminal());
    assert_eq!(emulator.token_exchanges(), 1);
    emulator.revoke_installation_tokens();
    runner.status(&id).await.unwrap();
    assert_eq!(emulator.token_exchanges(), 2, "a 401 mints a new token");
}

#[tokio::test]
async fn the_emulator_refuses_the_jwt_of_another_app() {
    let mut config = app_emulator_config();
    if let Some(app) = config.platform.app.as_mut() {
        app.app_id = APP_ID + 1;
    }
    let emulator = Emulator::start(config).await.unwrap();
    let error = runner(&emulator.url())
        .status(&BuildId::new("acme/app/1"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    assert_eq!(emulator.token_exchanges(), 0);
}
