//! Whole build lifecycles of the Buildkite backend against the Buildkite emulator, where a
//! stateful server is more faithful than per-request mocks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use buildkite_emulator::BuildkiteConfig as _;
use common::{config_for, request};

use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, Fault, FaultTarget};
use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Change, Error, TriggerRequest};
use buildrunner_buildkite::{BuildkiteRunner, Token};

const TOKEN: &str = "lifecycle-token";

async fn setup() -> (Emulator, BuildkiteRunner) {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_jobs_per_build(50))
        .await
        .unwrap();
    let mut config = config_for(&emulator);
    config.http.request_timeout = Duration::from_millis(500);
    config.http.initial_backoff = Duration::from_millis(10);
    config.http.max_retries = 3;
    config.http.max_retry_wait = Duration::from_secs(3);
    let runner = BuildkiteRunner::new("main", config, Token::new(TOKEN).unwrap()).unwrap();
    (emulator, runner)
}

/// Every distinct status seen until a terminal one.
async fn follow(runner: &BuildkiteRunner, id: &BuildId) -> Vec<BuildStatus> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let status = runner.status(id).await.unwrap().status;
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status.is_terminal() {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id} never finished: {seen:?}");
}

fn assert_in_order(seen: &[BuildStatus], lifecycle: &[BuildStatus]) {
    let mut rest = lifecycle.iter();
    assert!(
        seen.iter().all(|status| rest.any(|s| s == status)),
        "{seen:?} is not in the order {lifecycle:?}"
    );
    assert_eq!(seen.last(), lifecycle.last(), "{seen:?}");
}

#[tokio::test]
async fn builds_pass_fail_and_cancel_as_their_markers_say() {
    let (emulator, runner) = setup().await;
    let pass = runner.trigger(&request("https://x/1")).await.unwrap();
    let fail = runner
        .trigger(&request("https://x/2?buildrunner-outcome=fail"))
        .await
        .unwrap();
    let hang = runner
        .trigger(&request("https://x/3?buildrunner-outcome=hang"))
        .await
        .unwrap();
    assert_eq!(pass.as_str(), "acme/app/1");

    let (passed, failed) = tokio::join!(follow(&runner, &pass), follow(&runner, &fail));
    // Polls may miss a short step on a loaded machine, but never see one out of order.
    let lifecycle = |last| [BuildStatus::Accepted, BuildStatus::Running, last];
    assert_in_order(&passed, &lifecycle(BuildStatus::Succeeded));
    assert_in_order(&failed, &lifecycle(BuildStatus::Failed));

    assert_eq!(
        runner.status(&hang).await.unwrap().status,
        BuildStatus::Running
    );
    runner.cancel(&hang).await.unwrap();
    assert_eq!(
        follow(&runner, &hang).await.last(),
        Some(&BuildStatus::Cancelled)
    );
    // Cancelling finished builds: Buildkite answers 422, the backend checks and calls it a no-op.
    runner.cancel(&pass).await.unwrap();
    runner.cancel(&hang).await.unwrap();
    assert_eq!(
        runner.status(&pass).await.unwrap().status,
        BuildStatus::Succeeded
    );

    // Every poll asked Buildkite to leave the jobs and the pipeline out.
    let polls: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert!(!polls.is_empty());
    for poll in polls {
        let query = poll.query.unwrap_or_default();
        assert!(
            query.contains("exclude_jobs=true") && query.contains("exclude_pipeline=true"),
            "{query}"
        );
    }
}

#[tokio::test]
async fn failing_builds_say_so_and_blocked_passes_are_not_green() {
    let (emulator, runner) = setup().await;
    let id = runner
        .trigger(&request("https://x/1?buildrunner-outcome=hang"))
        .await
        .unwrap();
    emulator.force_state("acme", "app", 1, "failing", false);
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert_eq!(
        report.metadata.get("failing").map(String::as_str),
        Some("true")
    );

    emulator.force_state("acme", "app", 1, "passed", true);
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Running
    );
    emulator.force_state("acme", "app", 1, "waiting_failed", false);
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Unknown
    );
    emulator.force_state("acme", "app", 1, "skipped", false);
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Failed
    );

    // Buildkite refuses to cancel; the build is not terminal, so that is an error.
    emulator.force_state("acme", "app", 1, "running", false);
    emulator.inject(FaultTarget::Method("PUT"), 1, Fault::Status(422));
    let error = runner.cancel(&id).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
}

#[tokio::test]
async fn metadata_and_the_env_contract_reach_the_build() {
    let (emulator, runner) = setup().await;
    let request = TriggerRequest::builder()
        .base(Change::new(["https://x/base/1", "https://x/base/2"]))
        .head(Change::new(["https://x/head/1"]))
        .metadata("pr", "17")
        .build()
        .unwrap();
    let id = runner.trigger(&request).await.unwrap();
    let build = emulator.build("acme", "app", 1).unwrap();
    assert_eq!(
        build.env["SQ_BASE_URIS"],
        r#"["https://x/base/1","https://x/base/2"]"#
    );
    assert_eq!(build.env["SQ_HEAD_URIS"], r#"["https://x/head/1"]"#);
    assert_eq!(build.env["SQ_QUEUE"], "main");
    assert_eq!(
        (build.branch.as_str(), build.commit.as_str()),
        ("main", "HEAD")
    );
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.metadata["pr"], "17");
    assert!(report.url().unwrap().ends_with("/acme/app/builds/1"));
}

#[tokio::test]
async fn an_ambiguous_create_with_a_key_leaves_exactly_one_build() {
    let (emulator, runner) = setup().await;
    let keyed = |key: &str| {
        TriggerRequest::builder()
            .head(Change::new(["https://x/1"]))
            .idempotency_key(key)
            .build()
            .unwrap()
    };
    for (key, fault) in [
        ("dropped", Fault::DropAfterProcessing),
        ("slow", Fault::SlowResponse(Duration::from_secs(1))),
        ("truncated", Fault::TruncatedBody),
    ] {
        let before = emulator.build_count();
        emulator.inject(FaultTarget::Method("POST"), 1, fault);
        let id = runner.trigger(&keyed(key)).await.unwrap();
        assert_eq!(
            emulator.build_count(),
            before + 1,
            "{key}: exactly one build"
        );
        // Asking again with the same key returns the same build.
        assert_eq!(runner.trigger(&keyed(key)).await.unwrap(), id, "{key}");
        assert_eq!(emulator.build_count(), before + 1, "{key}");
    }

    // Without a key an ambiguous create is reported, not repeated.
    let before = emulator.build_count();
    emulator.inject(FaultTarget::Method("POST"), 1, Fault::DropAfterProcessing);
    let error = runner.trigger(&request("https://x/2")).await.unwrap_err();
    assert!(
        error.is_retryable() && error.to_string().contains("may or may not"),
        "{error}"
    );
    assert_eq!(emulator.build_count(), before + 1);

    // A create that never reached the server is retried.
    emulator.inject(
        FaultTarget::Method("POST"),
        2,
        Fault::RateLimited { reset_secs: 0 },
    );
    runner.trigger(&request("https://x/3")).await.unwrap();
    assert_eq!(emulator.build_count(), before + 2);
}
