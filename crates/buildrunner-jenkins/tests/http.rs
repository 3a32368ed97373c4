//! Request/response-level tests of the Jenkins backend against a real loopback HTTP server:
//! every wire detail of the contract, asserted on the requests the server received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, QueueConfig, TriggerRequest, registry,
};
use buildrunner_jenkins::{JenkinsConfig, JenkinsRunner, Token};
use buildrunner_testkit::{
    assert_configuration_errors, assert_invalid_ids, assert_registered, stray_requests, with,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "11a0f1e2d3c4b5a6978877665544332211";
const JOB: &str = "/job/platform/job/app";
const PARAMS_TREE: &str = "property[parameterDefinitions[name]]";
const ITEM_TREE: &str = "id,why,blocked,buildable,stuck,cancelled,executable[number,url],task[url],actions[parameters[name,value]]";
const BUILD_TREE: &str =
    "number,url,building,result,queueId,actions[_class,waitingForInput,parameters[name,value]]";
const INPUT: &str = "org.jenkinsci.plugins.workflow.support.steps.input.InputAction";

/// `Basic base64("bot:" + TOKEN)`.
fn basic() -> String {
    // Computed by hand once and checked: "bot:11a0f1e2d3c4b5a6978877665544332211".
    "Basic Ym90OjExYTBmMWUyZDNjNGI1YTY5Nzg4Nzc2NjU1NDQzMzIyMTE=".to_owned()
}

fn config(server: &MockServer) -> JenkinsConfig {
    let mut config = JenkinsConfig::new(&server.base_url(), "platform/app", "bot").unwrap();
    config.http.request_timeout = Duration::from_secs(5);
    config.http.max_retries = 2;
    config.http.max_retry_wait = Duration::from_secs(5);
    config.http.initial_backoff = Duration::from_millis(10);
    config
}

fn runner_with(config: JenkinsConfig) -> JenkinsRunner {
    JenkinsRunner::new("merge-main", config, Token::new(TOKEN).unwrap()).unwrap()
}

fn runner(server: &MockServer) -> JenkinsRunner {
    runner_with(config(server))
}

fn id(queue: u64) -> BuildId {
    BuildId::new(format!("platform/app/queue/{queue}"))
}

async fn declares<'a>(server: &'a MockServer, names: &[&str]) -> httpmock::Mock<'a> {
    let definitions: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{JOB}/api/json"))
                .query_param("tree", PARAMS_TREE)
                .header("authorization", basic());
            then.status(200).json_body(json!({
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                "property": [{}, {"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": definitions}],
            }));
        })
        .await
}

const ALL: [&str; 5] = [
    "SQ_BASE_URIS",
    "SQ_HEAD_URIS",
    "SQ_QUEUE",
    "SQ_METADATA",
    "BUILDRUNNER_KEY",
];

fn keyed(key: &str) -> TriggerRequest {
    TriggerRequest::builder()
        .base(Change::new(["https://github.com/acme/app/pull/6"]))
        .head(Change::new(["https://github.com/acme/app/pull/7"]))
        .metadata("pr", "7")
        .idempotency_key(key)
        .build()
        .unwrap()
}

async fn empty_lookups(server: &MockServer) -> (httpmock::Mock<'_>, httpmock::Mock<'_>) {
    let queue = server
        .mock_async(|when, then| {
            when.method(GET).path("/queue/api/json").query_param(
                "tree",
                "items[id,task[url],actions[parameters[name,value]]]",
            );
            then.status(200).json_body(json!({"items": []}));
        })
        .await;
    let builds = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{JOB}/api/json"))
                .query_param(
                    "tree",
                    "builds[number,queueId,actions[parameters[name,value]]]{0,100}",
                );
            then.status(200).json_body(json!({"builds": []}));
        })
        .await;
    (queue, builds)
}

#[tokio::test]
async fn a_keyed_trigger_checks_parameters_once_looks_up_then_posts_a_form() {
    let server = MockServer::start_async().await;
    let definitions = declares(&server, &[ALL.as_slice(), &["DEPLOY"]].concat()).await;
    let (queue, builds) = empty_lookups(&server).await;
    let expected_body = "SQ_BASE_URIS=%5B%22https%3A%2F%2Fgithub.com%2Facme%2Fapp%2Fpull%2F6%22%5D\
        &SQ_HEAD_URIS=%5B%22https%3A%2F%2Fgithub.com%2Facme%2Fapp%2Fpull%2F7%22%5D\
        &SQ_QUEUE=merge-main&SQ_METADATA=%7B%22pr%22%3A%227%22%7D&BUILDRUNNER_KEY=batch-1\
        &DEPLOY=false&delay=0sec";
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{JOB}/buildWithParameters"))
                .header("authorization", basic())
                .header("content-type", "application/x-www-form-urlencoded")
                .query_param_missing("SQ_HEAD_URIS")
                .body(expected_body);
            // Jenkins builds Location from the request's host: an internal one, here.
            then.status(201)
                .header("location", "http://10.0.0.7:8080/queue/item/4312/");
        })
        .await;
    let mut config = config(&server);
    config
        .extra_parameters
        .insert("DEPLOY".into(), "false".into());
    let runner = runner_with(config);
    assert_eq!(runner.trigger(&keyed("batch-1")).await.unwrap(), id(4312));
    let other = keyed("batch-1");
    assert_eq!(runner.trigger(&other).await.unwrap(), id(4312));
    definitions.assert_calls_async(1).await;
    queue.assert_calls_async(2).await;
    builds.assert_calls_async(2).await;
    create.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_merge_into_a_queued_item_answers_303_with_its_location() {
    let server = MockServer::start_async().await;
    declares(&server, &ALL).await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{JOB}/buildWithParameters"))
                .body_includes("SQ_QUEUE=merge-main")
                .body_includes("BUILDRUNNER_KEY=");
            then.status(303)
                .header("location", "https://ci.example.com/queue/item/77/");
        })
        .await;
    let unkeyed = buildrunner_testkit::request("https://github.com/acme/app/pull/8");
    assert_eq!(runner(&server).trigger(&unkeyed).await.unwrap(), id(77));
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn undeclared_parameters_are_a_configuration_error_and_nothing_is_posted() {
    let server = MockServer::start_async().await;
    let definitions = declares(&server, &["SQ_HEAD_URIS", "SQ_QUEUE"]).await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server);
    for _ in 0..2 {
        let error = runner.trigger(&keyed("k")).await.unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
        for missing in ["SQ_BASE_URIS", "SQ_METADATA", "BUILDRUNNER_KEY"] {
            assert!(message.contains(missing), "{message}");
        }
        assert!(message.contains("first run"), "{message}");
        assert!(!message.contains("SQ_QUEUE,"), "{message}");
    }
    // A refusal is not cached: the job may declare them after its first run.
    definitions.assert_calls_async(2).await;
    stray.assert_calls_async(0).await;
}

/// Whether an error is of the kind a case expects.
type IsKind = fn(&Error) -> bool;

#[tokio::test]
async fn trigger_refusals_say_what_they_mean() {
    let cases: [(u16, &str, &str, IsKind); 5] = [
        (302, "", "queue refused", |e| {
            matches!(e, Error::Rejected { .. })
        }),
        (409, "<html>app is not buildable</html>", "disabled", |e| {
            matches!(e, Error::Rejected { .. })
        }),
        (
            400,
            "<html>app is not parameterized</html>",
            "not parameterized",
            |e| matches!(e, Error::Configuration { .. }),
        ),
        (404, "<html>Not Found</html>", "was not found", |e| {
            matches!(e, Error::Configuration { .. })
        }),
        (
            403,
            "<html>No valid crumb was included in the request</html>",
            "API token",
            |e| matches!(e, Error::Configuration { .. }),
        ),
    ];
    for (status, body, words, kind) in cases {
        let server = MockServer::start_async().await;
        declares(&server, &ALL).await;
        server
            .mock_async(|when, then| {
                when.method(POST).path(format!("{JOB}/buildWithParameters"));
                then.status(status).header("location", ".").body(body);
            })
            .await;
        let error = runner(&server)
            .trigger(&buildrunner_testkit::request("https://x/1"))
            .await
            .unwrap_err();
        assert!(kind(&error), "{status}: {error:?}");
        assert!(error.to_string().contains(words), "{status}: {error}");
        assert!(!error.to_string().contains(TOKEN));
    }
}

#[tokio::test]
async fn a_location_that_is_missing_or_not_a_queue_item_is_a_protocol_error() {
    for location in [None, Some("https://ci.example.com/job/platform/job/app/")] {
        let server = MockServer::start_async().await;
        declares(&server, &ALL).await;
        let (queue, _) = empty_lookups(&server).await;
        let create = server
            .mock_async(|when, then| {
                when.method(POST).path(format!("{JOB}/buildWithParameters"));
                let then = then.status(201);
                if let Some(location) = location {
                    then.header("location", location);
                }
            })
            .await;
        let error = runner(&server)
            .trigger(&buildrunner_testkit::request("https://x/1"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Protocol { .. }),
            "{location:?}: {error:?}"
        );
        assert!(error.to_string().contains("queue/item/N"), "{error}");
        // Each unreadable answer was settled by looking the dispatch id up, never blindly.
        assert_eq!(create.calls_async().await, queue.calls_async().await);
    }
}

fn queued_item(id: u64) -> Value {
    json!({"_class": "hudson.model.Queue$WaitingItem", "id": id, "why": "In the quiet period. Expires in 4 sec",
           "blocked": false, "buildable": false, "stuck": false,
           "task": {"url": "http://10.0.0.7:8080/job/platform/job/app/"},
           "actions": [{"parameters": [{"name": "SQ_METADATA", "value": "{\"pr\":\"7\"}"}]}]})
}

fn left_item(id: u64, number: u64) -> Value {
    json!({"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": false,
           "executable": {"number": number, "url": format!("http://10.0.0.7:8080/job/platform/job/app/{number}/")}})
}

fn build(number: u64, queue: u64, building: bool, result: Option<&str>) -> Value {
    json!({"number": number, "url": format!("https://ci.example.com/job/platform/job/app/{number}/"),
           "building": building, "result": result, "queueId": queue,
           "actions": [{}, {"_class": "hudson.model.ParametersAction",
                            "parameters": [{"name": "SQ_METADATA", "value": "{\"pr\":\"7\"}"}]}]})
}

/// A mock answering `GET /queue/item/{id}/api/json` with `body`.
async fn answers_item(server: &MockServer, id: u64, body: Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/queue/item/{id}/api/json"));
            then.status(200).json_body(body);
        })
        .await
}

/// A mock answering `GET /job/platform/job/app/{number}/api/json` with `body`.
async fn answers_build(server: &MockServer, number: u64, body: Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/{number}/api/json"));
            then.status(200).json_body(body);
        })
        .await
}

#[tokio::test]
async fn status_follows_the_queue_item_then_the_build_from_the_cache() {
    let server = MockServer::start_async().await;
    let item = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/queue/item/4312/api/json")
                .query_param("tree", ITEM_TREE)
                .header("authorization", basic());
            then.status(200).json_body(queued_item(4312));
        })
        .await;
    let runner = runner(&server);
    let queued = runner.status(&id(4312)).await.unwrap();
    assert_eq!(queued.status, BuildStatus::Accepted);
    assert_eq!(
        queued.metadata["jenkins_why"],
        "In the quiet period. Expires in 4 sec"
    );
    assert_eq!(queued.metadata["pr"], "7");
    assert_eq!(
        queued.metadata["url"],
        "http://10.0.0.7:8080/job/platform/job/app/"
    );
    item.delete_async().await;
    let item = answers_item(&server, 4312, left_item(4312, 7)).await;
    let failing = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{JOB}/7/api/json"))
                .query_param("tree", BUILD_TREE);
            then.status(200)
                .json_body(build(7, 4312, true, Some("FAILURE")));
        })
        .await;
    let running = runner.status(&id(4312)).await.unwrap();
    assert_eq!(
        running.status,
        BuildStatus::Running,
        "a result set while building is not final"
    );
    assert_eq!(running.metadata["failing"], "true");
    assert_eq!(running.metadata["jenkins_build_number"], "7");
    assert_eq!(running.metadata["jenkins_queue_id"], "4312");
    failing.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/7/api/json"));
            then.status(200)
                .json_body(build(7, 4312, false, Some("FAILURE")));
        })
        .await;
    let failed = runner.status(&id(4312)).await.unwrap();
    assert_eq!(failed.status, BuildStatus::Failed);
    assert_eq!(failed.metadata["jenkins_result"], "FAILURE");
    assert_eq!(failed.metadata["pr"], "7");
    assert_eq!(
        failed.metadata["url"],
        "https://ci.example.com/job/platform/job/app/7/"
    );
    // The number is remembered: the third read did not ask the queue again.
    item.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_input_wait_is_running_and_never_green() {
    let server = MockServer::start_async().await;
    answers_item(&server, 9, left_item(9, 3)).await;
    let mut waiting = build(3, 9, true, None);
    waiting["actions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"_class": INPUT, "waitingForInput": true}));
    answers_build(&server, 3, waiting).await;
    let report = runner(&server).status(&id(9)).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert_eq!(report.metadata["jenkins_waiting_for_input"], "true");
}

#[tokio::test]
async fn an_expired_queue_item_is_found_through_queue_id_or_is_not_found() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path_matches(r"^/queue/item/\d+/api/json$");
            then.status(404).body("<html>Not Found</html>");
        })
        .await;
    let builds = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{JOB}/api/json"))
                .query_param("tree", "builds[number,queueId]{0,100}");
            then.status(200).json_body(json!({"builds": [
                {"number": 12, "queueId": 4400}, {"number": 11, "queueId": 4312}, {"number": 10}
            ]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/11/api/json"));
            then.status(200)
                .json_body(build(11, 4312, false, Some("SUCCESS")));
        })
        .await;
    let runner = runner(&server);
    let report = runner.status(&id(4312)).await.unwrap();
    assert_eq!(report.status, BuildStatus::Succeeded);
    assert_eq!(report.metadata["jenkins_build_number"], "11");
    assert!(matches!(
        runner.status(&id(5000)).await,
        Err(Error::NotFound { .. })
    ));
    builds.assert_calls_async(2).await;
}

#[tokio::test]
async fn an_html_page_where_json_was_expected_is_a_protocol_error_that_says_so() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/queue/item/1/api/json");
            then.status(200)
                .header("content-type", "text/html;charset=utf-8")
                .body("<!DOCTYPE html><html><body>Sign in to Jenkins</body></html>");
        })
        .await;
    let error = runner(&server).status(&id(1)).await.unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("HTML page where JSON was expected"),
        "{error}"
    );
}

#[tokio::test]
async fn the_key_is_found_among_queued_items_by_path_not_host_then_among_builds() {
    let server = MockServer::start_async().await;
    declares(&server, &ALL).await;
    let queue = server
        .mock_async(|when, then| {
            when.method(GET).path("/queue/api/json");
            then.status(200).json_body(json!({"items": [
                {"id": 50, "task": {"url": "http://internal:8080/job/platform/job/other/"},
                 "actions": [{"parameters": [{"name": "BUILDRUNNER_KEY", "value": "k-1"}]}]},
                {"id": 51, "task": {"url": "http://internal:8080/job/platform/job/app/"},
                 "actions": [{}, {"parameters": [{"name": "BUILDRUNNER_KEY", "value": "k-1"}]}]},
            ]}));
        })
        .await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server);
    assert_eq!(runner.trigger(&keyed("k-1")).await.unwrap(), id(51));
    stray.assert_calls_async(0).await;
    queue.delete_async().await;
    stray.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/queue/api/json");
            then.status(200).json_body(json!({"items": []}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/api/json")).query_param(
                "tree",
                "builds[number,queueId,actions[parameters[name,value]]]{0,100}",
            );
            then.status(200).json_body(json!({"builds": [
                {"number": 8, "queueId": 61, "actions": [{"parameters": [{"name": "BUILDRUNNER_KEY", "value": "k-1"}]}]},
                {"number": 7, "queueId": 60, "actions": [{"parameters": [{"name": "BUILDRUNNER_KEY", "value": "k-0"}]}]},
            ]}));
        })
        .await;
    assert_eq!(runner.trigger(&keyed("k-1")).await.unwrap(), id(61));
}

#[tokio::test]
async fn cancel_takes_a_queued_item_out_and_stops_a_running_build() {
    let server = MockServer::start_async().await;
    answers_item(&server, 5, queued_item(5)).await;
    let cancel_item = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/queue/cancelItem")
                .query_param("id", "5")
                .header("authorization", basic());
            then.status(204);
        })
        .await;
    answers_item(&server, 6, left_item(6, 2)).await;
    answers_build(&server, 2, build(2, 6, true, None)).await;
    // Jenkins answers 302 to the previous page whatever happened.
    let stop = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{JOB}/2/stop"));
            then.status(302).header("location", ".");
        })
        .await;
    let runner = runner(&server);
    runner.cancel(&id(5)).await.unwrap();
    runner.cancel(&id(6)).await.unwrap();
    cancel_item.assert_calls_async(1).await;
    stop.assert_calls_async(1).await;
}

#[tokio::test]
async fn cancel_of_a_finished_build_sends_nothing_after_the_read() {
    let server = MockServer::start_async().await;
    answers_item(&server, 6, left_item(6, 2)).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/2/api/json"));
            then.status(200)
                .json_body(build(2, 6, false, Some("SUCCESS")));
        })
        .await;
    let writes = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(500);
        })
        .await;
    runner(&server).cancel(&id(6)).await.unwrap();
    writes.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_cancel_item_that_left_the_queue_stops_its_build_and_422_is_permission_denied() {
    let server = MockServer::start_async().await;
    let item = answers_item(&server, 8, queued_item(8)).await;
    let gone = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/queue/cancelItem")
                .query_param("id", "8");
            then.status(404).body("Provided id (8) not found");
        })
        .await;
    // The item started between the read and the cancel: the second read finds the build.
    let runner = runner(&server);
    let read_then_start = async {
        item.delete_async().await;
        answers_item(&server, 8, left_item(8, 4)).await
    };
    // First cancel: the item reads as queued, cancelItem is 404, the re-read still says
    // queued: an Unavailable error that asks to try again.
    let error = runner.cancel(&id(8)).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    let _started = read_then_start.await;
    answers_build(&server, 4, build(4, 8, true, None)).await;
    let stop = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{JOB}/4/stop"));
            then.status(302);
        })
        .await;
    runner.cancel(&id(8)).await.unwrap();
    stop.assert_calls_async(1).await;
    gone.delete_async().await;
    answers_item(&server, 9, queued_item(9)).await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/queue/cancelItem")
                .query_param("id", "9");
            then.status(422);
        })
        .await;
    let denied = runner.cancel(&id(9)).await.unwrap_err();
    assert!(
        matches!(denied, Error::PermissionDenied { .. }),
        "{denied:?}"
    );
}

#[tokio::test]
async fn jobs_are_the_pipeline_stages_or_none_without_the_plugin() {
    let server = MockServer::start_async().await;
    answers_item(&server, 6, left_item(6, 2)).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/2/wfapi/describe"));
            then.status(200).json_body(json!({"id": "2", "status": "FAILED", "stages": [
                {"id": "6", "name": "build", "status": "SUCCESS"},
                {"id": "13", "name": "test", "status": "FAILED",
                 "error": {"message": "script returned exit code 1", "type": "hudson.AbortException"}},
            ]}));
        })
        .await;
    let runner = runner(&server);
    let jobs = runner.jobs(&id(6)).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[1].name.as_str(), jobs[1].status),
        ("test", BuildStatus::Failed)
    );
    assert_eq!(
        jobs[1].url.as_deref(),
        Some(
            format!(
                "{}/job/platform/job/app/2/execution/node/13/",
                server.base_url()
            )
            .as_str()
        )
    );
    assert_eq!(
        jobs[1].detail.as_deref(),
        Some("FAILED: script returned exit code 1")
    );
    let server = MockServer::start_async().await;
    answers_item(&server, 6, left_item(6, 2)).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{JOB}/2/wfapi/describe"));
            then.status(404).body("<html>Not Found</html>");
        })
        .await;
    assert!(self::runner(&server).jobs(&id(6)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_proxys_429_and_503_are_waited_out_as_retry_after_says() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/queue/item/1/api/json")
                .is_true(buildrunner_testkit::first_n(1));
            then.status(429).header("retry-after", "0");
        })
        .await;
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/queue/item/1/api/json")
                .is_true(buildrunner_testkit::first_n(1));
            then.status(503).header("retry-after", "0");
        })
        .await;
    answers_item(&server, 1, queued_item(1)).await;
    let report = runner(&server).status(&id(1)).await.unwrap();
    assert_eq!(report.status, BuildStatus::Accepted);
    limited.assert_calls_async(1).await;
    unavailable.assert_calls_async(1).await;
}

#[tokio::test]
async fn malformed_and_foreign_ids_send_nothing_and_the_token_stays_secret() {
    let server = MockServer::start_async().await;
    let stray = stray_requests(&server).await;
    let runner = runner(&server);
    assert_invalid_ids(
        &runner,
        &[
            "",
            "4312",
            "platform/app/4312",
            "platform/app/queue/",
            "platform/app/queue/0",
            "platform/app/queue/x",
            "platform/other/queue/4312",
            "app/queue/4312",
        ],
    )
    .await;
    stray.assert_calls_async(0).await;
    stray.delete_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401)
                .body("<html>Invalid password/token for user: bot</html>");
        })
        .await;
    let error = runner.status(&id(7)).await.unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{runner:?}"),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains(&basic()[6..]), "{shown}");
    }
}

#[test]
fn queue_options_are_checked() {
    let create =
        |options: Value| registry::create("jenkins", &QueueConfig::new("merge-main", options));
    // CARGO_PKG_NAME is always set while tests run: a stand-in token.
    let runner = create(json!({
        "url": "https://ci.example.com/jenkins", "job": "platform/app", "user": "bot",
        "token_env": "CARGO_PKG_NAME", "key_parameter": "", "unstable": "succeeded",
    }))
    .unwrap();
    assert_eq!(runner.backend_name(), "jenkins");
    assert!(
        !runner.capabilities().idempotent_trigger,
        "key_parameter = \"\" turns keys off"
    );
    assert!(runner.capabilities().job_reports && !runner.capabilities().retry_failed);
    let base = json!({"url": "https://ci.example.com/", "job": "app", "user": "bot", "token_env": "CARGO_PKG_NAME"});
    let with = |extra: Value| with(&base, extra);
    let cases = [
        (with(json!({"colour": "blue"})), "colour"),
        (
            json!({"job": "app", "user": "bot", "token_env": "CARGO_PKG_NAME"}),
            "url",
        ),
        (with(json!({"job": "a//b"})), "job"),
        (with(json!({"url": "http://ci.example.com/"})), "loopback"),
        (with(json!({"api_url": "https://ci.example.com/"})), "url"),
        (with(json!({"user": "a:b"})), "user"),
        (
            with(json!({"user_env": "BUILDRUNNER_TEST_SURELY_UNSET"})),
            "user or user_env",
        ),
        (
            json!({"url": "https://ci.example.com/", "job": "app", "token_env": "CARGO_PKG_NAME", "user_env": "BUILDRUNNER_TEST_SURELY_UNSET"}),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
        (
            with(json!({"unstable": "maybe"})),
            "`failed` or `succeeded`",
        ),
        (
            with(json!({"extra_parameters": {"SQ_QUEUE": "x"}})),
            "SQ_QUEUE",
        ),
        (
            with(json!({"token_env": "BUILDRUNNER_TEST_SURELY_UNSET"})),
            "BUILDRUNNER_TEST_SURELY_UNSET",
        ),
    ];
    assert_configuration_errors(create, "merge-main", cases.to_vec());
}

#[test]
fn this_test_binary_links_exactly_the_jenkins_backend() {
    assert_registered(&["jenkins"]);
}
