//! The emulator's own contract: status codes, shapes, lifecycles, pagination, rate limits,
//! faults and the request log, checked with a plain HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildkite_emulator::BuildkiteConfig as _;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, Fault, FaultTarget, RateLimit};
use serde_json::{Value, json};

const TOKEN: &str = "emulator-test-token";
const BUILDS: &str = "/v2/organizations/acme/pipelines/app/builds";

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

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn create(&self, head: &[&str], meta: Value) -> Value {
        let body = json!({
            "commit": "HEAD",
            "branch": "main",
            "message": "test",
            "env": {"SQ_HEAD_URIS": serde_json::to_string(head).unwrap(), "SQ_BASE_URIS": "[]"},
            "meta_data": meta,
        });
        let response = self.send(reqwest::Method::POST, BUILDS, Some(body)).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    async fn state(&self, number: u64) -> String {
        let response = self
            .send(
                reqwest::Method::GET,
                &format!("{BUILDS}/{number}?exclude_jobs=true"),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["state"].as_str().unwrap().to_owned()
    }

    /// Polls until `final_state`, returning every distinct state seen in order.
    async fn follow(&self, number: u64, final_state: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let state = self.state(number).await;
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == final_state {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {final_state}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn slow_config() -> EmulatorConfig {
    // Steps long enough that a 5 ms poll loop sees each one even on a loaded machine.
    EmulatorConfig::new(TOKEN).with_timings(buildkite_emulator::Timings::new(
        Duration::from_millis(150),
        Duration::from_millis(600),
        Duration::from_millis(150),
    ))
}

#[tokio::test]
async fn create_answers_201_with_a_build_and_refuses_bad_requests() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    let build = client.create(&["https://x/1"], json!({"k": "v"})).await;
    assert_eq!(build["number"], 1);
    assert_eq!(build["state"], "scheduled");
    assert_eq!(build["meta_data"]["k"], "v");
    assert!(build["jobs"].as_array().unwrap().len() == 3);
    assert_eq!(
        client.create(&["https://x/2"], json!({})).await["number"],
        2
    );

    let response = client
        .send(
            reqwest::Method::POST,
            BUILDS,
            Some(json!({"commit": "HEAD"})),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["field"], "branch");

    let body = json!({"commit": "HEAD", "branch": "main", "env": {"SQ_HEAD_URIS": "[\"x?buildrunner-outcome=trigger-error\"]"}});
    let response = client.send(reqwest::Method::POST, BUILDS, Some(body)).await;
    assert_eq!(response.status(), 422);
    assert_eq!(emulator.build_count(), 2, "a refused create makes nothing");

    let response = reqwest::Client::new()
        .post(format!("{}{BUILDS}", emulator.url()))
        .bearer_auth("wrong")
        .json(&json!({"commit": "HEAD", "branch": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = reqwest::Client::new()
        .get(format!("{}{BUILDS}/1", emulator.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn get_honours_exclude_jobs_and_exclude_pipeline() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_jobs_per_build(200))
        .await
        .unwrap();
    let client = Client::new(&emulator);
    client.create(&["https://x/1"], json!({})).await;
    let full = client
        .send(reqwest::Method::GET, &format!("{BUILDS}/1"), None)
        .await;
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["jobs"].as_array().unwrap().len(), 200);
    assert!(full["pipeline"].is_object());
    let lean = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}/1?exclude_jobs=true&exclude_pipeline=true"),
            None,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let lean_json: Value = serde_json::from_slice(&lean).unwrap();
    assert!(lean_json.get("jobs").is_none() && lean_json.get("pipeline").is_none());
    assert!(
        full.to_string().len() > 50 * lean.len(),
        "jobs make a poll visibly heavier"
    );

    for missing in ["99", "abc", "-1"] {
        let response = client
            .send(reqwest::Method::GET, &format!("{BUILDS}/{missing}"), None)
            .await;
        assert_eq!(response.status(), 404, "{missing}");
    }
    let response = client
        .send(
            reqwest::Method::GET,
            "/v2/organizations/acme/pipelines/other/builds/1",
            None,
        )
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn lifecycles_follow_the_outcome_markers() {
    let emulator = Emulator::start(slow_config()).await.unwrap();
    let client = Client::new(&emulator);
    client.create(&["https://x/1"], json!({})).await;
    client
        .create(&["https://x/1?buildrunner-outcome=fail"], json!({}))
        .await;
    client
        .create(&["https://x/1?buildrunner-outcome=hang"], json!({}))
        .await;

    let (pass, fail, hang) = tokio::join!(
        client.follow(1, "passed"),
        client.follow(2, "failed"),
        client.follow(3, "running")
    );
    assert_eq!(pass, ["scheduled", "running", "passed"]);
    assert_eq!(fail, ["scheduled", "running", "failing", "failed"]);
    assert_eq!(hang, ["scheduled", "running"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.state(3).await, "running", "hang stays running");

    let response = client
        .send(reqwest::Method::PUT, &format!("{BUILDS}/3/cancel"), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "canceling");
    assert_eq!(
        client.follow(3, "canceled").await,
        ["canceling", "canceled"]
    );

    let response = client
        .send(reqwest::Method::PUT, &format!("{BUILDS}/1/cancel"), None)
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Build can't be canceled because it's already finished."
    );
    let response = client
        .send(reqwest::Method::PUT, &format!("{BUILDS}/9/cancel"), None)
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn status_error_builds_answer_500_and_forced_states_stick() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    client
        .create(&["https://x/1?buildrunner-outcome=status-error"], json!({}))
        .await;
    let response = client
        .send(reqwest::Method::GET, &format!("{BUILDS}/1"), None)
        .await;
    assert_eq!(response.status(), 500);

    client.create(&["https://x/2"], json!({})).await;
    assert!(emulator.force_state("acme", "app", 2, "passed", true));
    assert!(!emulator.force_state("acme", "app", 99, "passed", true));
    let body: Value = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}/2?exclude_jobs=true"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["state"].as_str(), body["blocked"].as_bool()),
        (Some("passed"), Some(true))
    );
    assert!(
        body["finished_at"].is_null(),
        "a blocked build has not finished"
    );
    // Buildkite's REST cancel only takes scheduled, running and failing builds.
    let response = client
        .send(reqwest::Method::PUT, &format!("{BUILDS}/2/cancel"), None)
        .await;
    assert_eq!(response.status(), 422);
    assert!(!emulator.build("acme", "app", 2).unwrap().cancel_requested);
    assert!(emulator.force_state("acme", "app", 2, "teleported", false));
    assert_eq!(client.state(2).await, "teleported");
    assert_eq!(
        emulator.build("acme", "app", 2).unwrap().state,
        "teleported"
    );
}

#[tokio::test]
async fn list_filters_by_meta_data_and_state_and_paginates_with_link() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    for i in 0..250 {
        let key = if i == 7 {
            json!({"buildrunner_idempotency_key": "seven"})
        } else {
            json!({})
        };
        client.create(&["https://x/1"], key).await;
    }
    let response = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}?meta_data%5Bbuildrunner_idempotency_key%5D=seven"),
            None,
        )
        .await;
    let found: Vec<Value> = response.json().await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["number"], 8);

    let response = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}?per_page=500&exclude_jobs=true"),
            None,
        )
        .await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 100, "per_page is capped at 100");
    assert_eq!(page[0]["number"], 250, "newest first");
    assert!(
        link.contains("page=2")
            && link.contains("rel=\"next\"")
            && link.contains("page=3&per_page=100>; rel=\"last\""),
        "{link}"
    );

    let response = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}?per_page=100&page=3"),
            None,
        )
        .await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 50);
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );

    tokio::time::sleep(Duration::from_millis(150)).await;
    emulator.force_state("acme", "app", 3, "running", false);
    let response = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}?state%5B%5D=running&state%5B%5D=failing"),
            None,
        )
        .await;
    let running: Vec<Value> = response.json().await.unwrap();
    assert_eq!(
        running
            .iter()
            .map(|b| b["number"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [3]
    );
    let response = client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}?state=finished&per_page=1"),
            None,
        )
        .await;
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 1);
}

#[tokio::test]
async fn rate_limits_send_headers_and_429_with_scope_and_reset() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(RateLimit {
        limit: 3,
        window: Duration::from_secs(60),
    }))
    .await
    .unwrap();
    let client = Client::new(&emulator);
    for remaining in ["2", "1", "0"] {
        let response = client.send(reqwest::Method::GET, BUILDS, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        let reset: u64 = response.headers()["ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=60).contains(&reset), "{reset}");
    }
    let response = client.send(reqwest::Method::GET, BUILDS, None).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("ratelimit-warning"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "rest");
    assert!(body["reset"].as_u64().unwrap() >= 59);
    // Another organization has its own window.
    let response = client
        .send(
            reqwest::Method::GET,
            "/v2/organizations/other/pipelines/app/builds",
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    emulator.set_rate_limit(None);
    let response = client.send(reqwest::Method::GET, BUILDS, None).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("ratelimit-remaining"));
}

#[tokio::test]
async fn faults_apply_to_the_next_requests_in_order() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    client.create(&["https://x/1"], json!({})).await;
    let get = |path: &'static str| client.send(reqwest::Method::GET, path, None);
    let build_path = "/v2/organizations/acme/pipelines/app/builds/1";

    emulator.inject(FaultTarget::Any, 2, Fault::Status(503));
    emulator.inject(FaultTarget::Any, 1, Fault::HtmlError(502));
    assert_eq!(get(build_path).await.status(), 503);
    assert_eq!(get(build_path).await.status(), 503);
    let html = get(build_path).await;
    assert_eq!(html.status(), 502);
    assert!(html.text().await.unwrap().starts_with("<html>"));
    assert_eq!(get(build_path).await.status(), 200);

    emulator.inject(FaultTarget::Method("POST"), 1, Fault::Status(500));
    assert_eq!(
        get(build_path).await.status(),
        200,
        "a POST fault leaves GETs alone"
    );

    emulator.clear_faults();
    emulator.inject(FaultTarget::Any, 1, Fault::TruncatedBody);
    let truncated = get(build_path).await.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&truncated).is_err());
    emulator.inject(FaultTarget::Any, 1, Fault::EmptyOk);
    assert!(get(build_path).await.bytes().await.unwrap().is_empty());
    emulator.inject(FaultTarget::Any, 1, Fault::Oversized(1 << 20));
    assert!(get(build_path).await.bytes().await.unwrap().len() >= 1 << 20);
    emulator.inject(FaultTarget::Any, 1, Fault::WrongShape);
    assert!(
        get(build_path)
            .await
            .json::<Value>()
            .await
            .unwrap()
            .is_array()
    );
    emulator.inject(FaultTarget::Any, 1, Fault::RateLimited { reset_secs: 3 });
    let limited = get(build_path).await;
    assert_eq!(
        (
            limited.status().as_u16(),
            limited.headers()["ratelimit-reset"].to_str().unwrap()
        ),
        (429, "3")
    );

    emulator.inject(FaultTarget::Any, 1, Fault::DropConnection);
    let dropped = reqwest::Client::new()
        .get(format!("{}{build_path}", emulator.url()))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");

    emulator.inject(
        FaultTarget::Any,
        1,
        Fault::Delay(Duration::from_millis(300)),
    );
    let slow = reqwest::Client::new()
        .get(format!("{}{build_path}", emulator.url()))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_millis(50))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());

    emulator.inject(
        FaultTarget::Method("POST"),
        1,
        Fault::SlowResponse(Duration::from_millis(300)),
    );
    let before = emulator.build_count();
    let slow = reqwest::Client::new()
        .post(format!("{}{BUILDS}", emulator.url()))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_millis(50))
        .json(&json!({"commit": "HEAD", "branch": "main"}))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert_eq!(
        emulator.build_count(),
        before + 1,
        "a slow answer comes after the work is done"
    );

    emulator.inject(FaultTarget::Method("POST"), 1, Fault::DropAfterProcessing);
    let created_before = emulator.build_count();
    let dropped = reqwest::Client::new()
        .post(format!("{}{BUILDS}", emulator.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"commit": "HEAD", "branch": "main"}))
        .send()
        .await;
    assert!(dropped.is_err());
    assert_eq!(
        emulator.build_count(),
        created_before + 1,
        "the create took effect"
    );
}

#[tokio::test]
async fn the_request_log_records_method_path_and_query() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let client = Client::new(&emulator);
    client.create(&["https://x/1"], json!({})).await;
    client
        .send(
            reqwest::Method::GET,
            &format!("{BUILDS}/1?exclude_jobs=true"),
            None,
        )
        .await;
    let log = emulator.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (
            log[0].method.as_str(),
            log[0].path.as_str(),
            log[0].query.as_deref()
        ),
        ("POST", BUILDS, None)
    );
    assert_eq!(log[1].query.as_deref(), Some("exclude_jobs=true"));
    assert_eq!((log[0].status, log[1].status), (201, 200));
    emulator.inject(FaultTarget::Any, 1, Fault::DropConnection);
    let dropped = client
        .http
        .get(format!("{}{BUILDS}/1", client.base))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert!(dropped.is_err());
    assert_eq!(
        emulator.requests().last().map(|r| r.status),
        Some(0),
        "a dropped request logs status 0"
    );
    emulator.clear_requests();
    assert!(emulator.requests().is_empty());
}

#[test]
fn the_binary_serves_on_the_printed_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_buildkite-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--scheduled-ms",
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
        .strip_prefix("buildkite-emulator listening on ")
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{BUILDS}/1"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.unwrap(), 404);
}
