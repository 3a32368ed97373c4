//! The GitHub Actions emulator speaks GitHub's wire format: statuses, bodies, headers and
//! refusals, checked with a plain HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use github_actions_emulator::{
    Emulated, Emulator, EmulatorConfig, Fault, FaultTarget, RateLimit, Timings,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "gh-emulator-token";
const WORKFLOW: &str = "/repos/acme/app/actions/workflows/buildrunner.yml";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(emulator: &Emulator) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: emulator.url(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn dispatch(&self, head: &str, key: &str) -> u64 {
        let body = json!({
            "ref": "main",
            "return_run_details": true,
            "inputs": {"sq_head_uris": json!([head]).to_string(), "buildrunner_key": key},
        });
        let response = self
            .send(Method::POST, &format!("{WORKFLOW}/dispatches"), Some(body))
            .await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["workflow_run_id"]
            .as_u64()
            .unwrap()
    }

    async fn run(&self, id: u64) -> Value {
        self.send(
            Method::GET,
            &format!("/repos/acme/app/actions/runs/{id}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap()
    }
}

async fn start() -> (Emulator, Client) {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    (emulator, client)
}

#[tokio::test]
async fn requests_need_a_known_token() {
    let (emulator, _) = start().await;
    for auth in [None, Some("Bearer wrong"), Some("Basic abc")] {
        let mut request =
            reqwest::Client::new().get(format!("{}/repos/acme/app/actions/runs/1", emulator.url()));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "Bad credentials");
        assert_eq!(body["status"], "401");
    }
    let legacy = reqwest::Client::new()
        .get(format!("{}/repos/acme/app/actions/runs/1", emulator.url()))
        .header("authorization", format!("token {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        legacy.status(),
        404,
        "the older `token` scheme is accepted too"
    );
}

#[tokio::test]
async fn dispatch_validates_like_github() {
    let (_emulator, client) = start().await;
    let path = format!("{WORKFLOW}/dispatches");
    let too_many: serde_json::Map<String, Value> =
        (0..26).map(|i| (format!("i{i}"), json!("x"))).collect();
    for (body, status, needle) in [
        (json!({"inputs": {}}), 422, "\"ref\" wasn't supplied"),
        (
            json!({"ref": "main", "inputs": {"colour": "blue"}}),
            422,
            "Unexpected inputs provided: [\"colour\"]",
        ),
        (
            json!({"ref": "main", "inputs": too_many}),
            422,
            "No more than 25 properties",
        ),
        (
            json!({"ref": "main", "inputs": {"sq_queue": 5}}),
            422,
            "must be strings",
        ),
        (
            json!({"ref": "main", "inputs": {"sq_head_uris": "[\"https://x/?buildrunner-outcome=trigger-error\"]"}}),
            422,
            "trigger-error",
        ),
        (
            json!({"ref": "main", "inputs": {"sq_head_uris": "[\"https://x/?buildrunner-outcome=flakey\"]"}}),
            422,
            "flakey",
        ),
    ] {
        let response = client.send(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let message = response.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let plain = client
        .send(Method::POST, &path, Some(json!({"ref": "main"})))
        .await;
    assert_eq!(plain.status(), StatusCode::NO_CONTENT);
    assert!(plain.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn runs_go_queued_in_progress_completed_with_weak_etags_and_304s() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(10),
    )))
    .await
    .unwrap();
    let client = Client::new(&emulator);
    let id = client.dispatch("https://x/1", "k1").await;
    let run = client.run(id).await;
    assert_eq!(
        (run["status"].as_str(), run["conclusion"].as_str()),
        (Some("queued"), None)
    );
    assert_eq!(run["display_title"], "buildrunner k1");
    assert_eq!(run["run_attempt"], 1);
    let path = format!("/repos/acme/app/actions/runs/{id}");
    let first = client.send(Method::GET, &path, None).await;
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = client
        .http
        .get(format!("{}{path}", client.base))
        .bearer_auth(TOKEN)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = client.send(Method::GET, &path, None).await;
    assert_ne!(
        done.headers()["etag"].to_str().unwrap(),
        tag,
        "a change changes the tag"
    );
    let done: Value = done.json().await.unwrap();
    assert_eq!(
        (done["status"].as_str(), done["conclusion"].as_str()),
        (Some("completed"), Some("success"))
    );
    assert_eq!(
        client
            .send(Method::GET, "/repos/acme/app/actions/runs/1", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        client
            .send(Method::GET, "/repos/other/app/actions/runs/{id}", None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn cancel_refuses_completed_runs_and_rerun_refuses_running_ones() {
    let (emulator, client) = start().await;
    let hang = client
        .dispatch("https://x/?buildrunner-outcome=hang", "h")
        .await;
    let rerun = format!("/repos/acme/app/actions/runs/{hang}/rerun");
    assert_eq!(client.send(Method::POST, &rerun, None).await.status(), 403);
    let force = format!("/repos/acme/app/actions/runs/{hang}/force-cancel");
    let response = client.send(Method::POST, &force, None).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    assert!(emulator.run(hang).unwrap().force_cancelled);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(client.run(hang).await["conclusion"], "cancelled");
    let cancel = format!("/repos/acme/app/actions/runs/{hang}/cancel");
    let refused = client.send(Method::POST, &cancel, None).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["message"],
        "Cannot cancel a workflow run that is completed."
    );
    let again = client.send(Method::POST, &rerun, None).await;
    assert_eq!(again.status(), 201);
    let run = client.run(hang).await;
    assert_eq!(
        (run["id"].as_u64(), run["run_attempt"].as_u64()),
        (Some(hang), Some(2))
    );
    assert_eq!(run["status"], "queued");
}

#[tokio::test]
async fn the_list_filters_by_event_status_and_creation_and_paginates_with_link() {
    let (emulator, client) = start().await;
    for i in 0..130 {
        client
            .dispatch(&format!("https://x/{i}"), &format!("key-{i}"))
            .await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let list = |query: String| {
        let client = &client;
        async move {
            client
                .send(Method::GET, &format!("{WORKFLOW}/runs?{query}"), None)
                .await
        }
    };
    let page = list("event=workflow_dispatch&per_page=100&created=%3E%3D2020-01-01".into()).await;
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\"") && link.contains("rel=\"last\""),
        "{link}"
    );
    let body: Value = page.json().await.unwrap();
    assert_eq!(body["total_count"], 130);
    let runs = body["workflow_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 100);
    assert_eq!(
        runs[0]["display_title"], "buildrunner key-129",
        "newest first"
    );
    let second: Value = list("per_page=100&page=2".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["workflow_runs"].as_array().unwrap().len(), 30);
    let in_an_hour =
        buildrunner_emulator_engine::iso8601(UNIX_EPOCH + Duration::from_secs(now + 3600));
    let future = format!("created=%3E%3D{in_an_hour}");
    let none: Value = list(future).await.json().await.unwrap();
    assert_eq!(none["total_count"], 0);
    let other_event: Value = list("event=push".into()).await.json().await.unwrap();
    assert_eq!(other_event["total_count"], 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    for (status, count) in [("success", 130), ("completed", 130), ("in_progress", 0)] {
        let runs: Value = list(format!("status={status}&per_page=1"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(runs["total_count"], count, "{status}");
    }
    assert_eq!(list("created=yesterday".into()).await.status(), 422);
    assert_eq!(emulator.run_count(), 130);
}

#[tokio::test]
async fn the_primary_limit_reports_epoch_resets_and_refuses_with_403() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(RateLimit {
        limit: 2,
        window: Duration::from_secs(3600),
    }))
    .await
    .unwrap();
    let client = Client::new(&emulator);
    let path = "/repos/acme/app/actions/runs/1";
    let epoch_secs = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = epoch_secs();
    let first = client.send(Method::GET, path, None).await;
    // The window starts when the server counts the request, somewhere between these two.
    let after = epoch_secs() + 1;
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    let reset: u64 = first.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset >= before + 3599 && reset <= after + 3600,
        "{reset} not an hour after {before}..{after}"
    );
    client.send(Method::GET, path, None).await;
    let refused = client.send(Method::GET, path, None).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert!(
        refused.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    emulator.inject(FaultTarget::Any, 1, Fault::RateLimited { reset_secs: 5 });
    emulator.set_rate_limit(None);
    let faulted = client.send(Method::GET, path, None).await;
    assert_eq!(faulted.status(), 429);
    assert_eq!(faulted.headers()["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn the_app_exchange_needs_a_jwt_of_the_configured_app() {
    let (_emulator, client) = start().await;
    let path = "/app/installations/1/access_tokens";
    let response = client.send(Method::POST, path, None).await;
    assert_eq!(
        response.status(),
        401,
        "no App is configured, so no JWT can pass"
    );
}

#[test]
fn the_binary_serves_on_the_printed_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_github-actions-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--queued-ms",
            "0",
        ])
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
        .strip_prefix("github-actions-emulator listening on ")
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/repos/acme/app/actions/runs/1"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.unwrap(), 404);
}
