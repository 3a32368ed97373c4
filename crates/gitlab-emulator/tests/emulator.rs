//! The GitLab emulator speaks GitLab's wire format: statuses, bodies, headers and refusals,
//! checked with a plain HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gitlab_emulator::{Emulated, Emulator, EmulatorConfig, Fault, FaultTarget, RateLimit};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "gl-emulator-token";
const PROJECT: &str = "/api/v4/projects/acme%2Fapp";

async fn send(
    emulator: &Emulator,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", emulator.url()))
        .header("PRIVATE-TOKEN", TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn create(emulator: &Emulator, head: &str, key: &str) -> Value {
    let body = json!({"ref": "main", "variables": [
        {"key": "SQ_HEAD_URIS", "value": json!([head]).to_string()},
        {"key": "BUILDRUNNER_KEY", "value": key},
    ]});
    let response = send(
        emulator,
        Method::POST,
        &format!("{PROJECT}/pipeline"),
        Some(body),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn requests_need_the_private_token_or_a_bearer_token() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let url = format!("{}{PROJECT}/pipelines/1", emulator.url());
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["message"],
        "401 Unauthorized"
    );
    let bearer = reqwest::Client::new()
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 404);
}

#[tokio::test]
async fn pipelines_are_created_named_listed_read_and_cancelled_as_gitlab_does() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let pipeline = create(&emulator, "https://x/?buildrunner-outcome=hang", "k1").await;
    assert_eq!(pipeline["status"], "pending");
    assert_eq!(pipeline["name"], "buildrunner k1");
    assert_eq!(pipeline["source"], "api");
    let id = pipeline["id"].as_u64().unwrap();
    assert!(
        pipeline["web_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/acme/app/-/pipelines/{id}"))
    );
    for bad in [
        json!({"variables": []}),
        json!({"ref": "main", "variables": {"A": "b"}}),
        json!({"ref": "main", "variables": [{"key": "A", "value": 1}]}),
    ] {
        let response = send(
            &emulator,
            Method::POST,
            &format!("{PROJECT}/pipeline"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let refused = send(&emulator, Method::POST, &format!("{PROJECT}/pipeline"),
        Some(json!({"ref": "main", "variables": [{"key": "SQ_HEAD_URIS", "value": "[\"https://x/?buildrunner-outcome=trigger-error\"]"}]}))).await;
    assert_eq!(refused.status(), 400);

    let named: Value = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines?name=buildrunner%20k1&source=api"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(named.as_array().unwrap().len(), 1);
    let other: Value = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines?name=buildrunner%20k2"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(other.as_array().unwrap().is_empty());
    let variables: Value = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines/{id}/variables"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        variables[1],
        json!({"key": "BUILDRUNNER_KEY", "variable_type": "env_var", "value": "k1"})
    );

    let cancelled: Value = send(
        &emulator,
        Method::POST,
        &format!("{PROJECT}/pipelines/{id}/cancel"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(cancelled["status"], "canceling");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = send(
        &emulator,
        Method::POST,
        &format!("{PROJECT}/pipelines/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(again.status(), 200, "GitLab answers 200 whatever the state");
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "canceled");
    assert_eq!(
        send(
            &emulator,
            Method::GET,
            "/api/v4/projects/other%2Fapp/pipelines/1",
            None
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn a_manual_pipeline_is_left_as_it_is_by_a_cancel() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let id = create(&emulator, "https://x/?buildrunner-outcome=block", "b").await["id"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let answer: Value = send(
        &emulator,
        Method::POST,
        &format!("{PROJECT}/pipelines/{id}/cancel"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["status"], "manual");
    assert!(!emulator.pipeline(id).unwrap().cancel_requested);
}

#[tokio::test]
async fn limits_carry_gitlabs_headers_and_refuse_with_plain_text() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(RateLimit {
        limit: 1,
        window: Duration::from_secs(60),
    }))
    .await
    .unwrap();
    let epoch_secs = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = epoch_secs();
    let first = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines/1"),
        None,
    )
    .await;
    // The window starts when the server counts the request, somewhere between these two.
    let after = epoch_secs() + 1;
    assert_eq!(
        first.headers()["ratelimit-name"],
        "throttle_authenticated_api"
    );
    assert_eq!(first.headers()["ratelimit-remaining"], "0");
    let reset: u64 = first.headers()["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset >= before + 59 && reset <= after + 60,
        "{reset} not a minute after {before}..{after}"
    );
    let refused = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines/1"),
        None,
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["content-type"], "text/plain");
    assert_eq!(refused.text().await.unwrap(), "Retry later");
    emulator.set_rate_limit(None);
    emulator.inject(FaultTarget::Any, 1, Fault::RateLimited { reset_secs: 3 });
    let faulted = send(
        &emulator,
        Method::GET,
        &format!("{PROJECT}/pipelines/1"),
        None,
    )
    .await;
    assert_eq!(
        (
            faulted.status().as_u16(),
            faulted.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "3")
    );
}

#[test]
fn the_binary_serves_on_the_printed_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitlab-emulator"))
        .args(["--listen", "127.0.0.1:0", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("gitlab-emulator listening on ")
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{PROJECT}/pipelines/1"))
            .header("PRIVATE-TOKEN", TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.unwrap(), 404);
}
