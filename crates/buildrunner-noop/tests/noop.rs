//! Lifecycles of the noop backend for every outcome marker, and its id rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;

use buildrunner_api::registry;
use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, JobReport, QueueConfig, TriggerRequest,
};
use buildrunner_noop::{CAPABILITIES, NoopRunner};

fn request(uri: &str) -> TriggerRequest {
    TriggerRequest::new(vec![Change::new([uri])]).unwrap()
}

async fn trigger(runner: &NoopRunner, uri: &str) -> BuildId {
    runner.trigger(&request(uri)).await.unwrap()
}

#[tokio::test]
async fn unmarked_builds_succeed_and_fail_marked_builds_fail() {
    let runner = NoopRunner::new();
    let id = trigger(&runner, "https://github.com/acme/app/pull/1").await;
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.status, BuildStatus::Succeeded);
    assert_eq!(
        report.metadata.get("outcome").map(String::as_str),
        Some("pass")
    );

    let id = trigger(
        &runner,
        "https://github.com/acme/app/pull/1?buildrunner-outcome=fail",
    )
    .await;
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Failed
    );
    // Cancelling a terminal build is a no-op that changes nothing.
    runner.cancel(&id).await.unwrap();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Failed
    );
}

#[tokio::test]
async fn block_waits_for_a_person_never_green_until_a_cancel_ends_it() {
    let runner = NoopRunner::new();
    let id = trigger(&runner, "https://x/pull/1?buildrunner-outcome=block").await;
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.status, BuildStatus::Running);
    assert_eq!(report.metadata["outcome"], "block");
    runner.cancel(&id).await.unwrap();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Cancelled
    );
}

#[tokio::test]
async fn hang_runs_until_cancelled_and_the_cancel_is_seen_by_the_same_runner() {
    let runner = NoopRunner::new();
    let id = trigger(&runner, "https://x/pull/1?buildrunner-outcome=hang").await;
    for _ in 0..3 {
        assert_eq!(
            runner.status(&id).await.unwrap().status,
            BuildStatus::Running
        );
    }
    runner.cancel(&id).await.unwrap();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Cancelled
    );
    runner.cancel(&id).await.unwrap();
    assert_eq!(
        runner.status(&id).await.unwrap().status,
        BuildStatus::Cancelled
    );

    // A fresh runner has no record of the cancel, as documented.
    let fresh = NoopRunner::new();
    assert_eq!(
        fresh.status(&id).await.unwrap().status,
        BuildStatus::Running
    );
}

#[tokio::test]
async fn error_markers_fail_the_verb_they_name() {
    let runner = NoopRunner::new();
    let error = runner
        .trigger(&request(
            "https://x/pull/1?buildrunner-outcome=trigger-error",
        ))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    assert!(!error.is_retryable());

    let id = trigger(&runner, "https://x/pull/1?buildrunner-outcome=status-error").await;
    let error = runner.status(&id).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(error.to_string().contains(id.as_str()));

    let error = runner
        .trigger(&request("https://x/pull/1?buildrunner-outcome=sucess"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
}

#[tokio::test]
async fn a_fresh_runner_answers_for_ids_another_minted() {
    let first = NoopRunner::new();
    let second = NoopRunner::new();
    for (uri, status) in [
        ("https://x/1", BuildStatus::Succeeded),
        ("https://x/1?buildrunner-outcome=fail", BuildStatus::Failed),
        ("https://x/1?buildrunner-outcome=hang", BuildStatus::Running),
    ] {
        let id = trigger(&first, uri).await;
        assert_eq!(second.status(&id).await.unwrap().status, status, "{uri}");
    }
}

#[tokio::test]
async fn ids_are_distinct_unless_an_idempotency_key_repeats() {
    let runner = Arc::new(NoopRunner::new());
    let mut ids = std::collections::HashSet::new();
    for _ in 0..1000 {
        assert!(ids.insert(trigger(&runner, "https://x/1").await));
    }
    let keyed = |key: &str| {
        TriggerRequest::builder()
            .head(Change::new(["https://x/1"]))
            .idempotency_key(key)
            .build()
            .unwrap()
    };
    let a = runner.trigger(&keyed("batch-1")).await.unwrap();
    let b = NoopRunner::new().trigger(&keyed("batch-1")).await.unwrap();
    let c = runner.trigger(&keyed("batch-2")).await.unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn malformed_ids_are_invalid_and_forged_ids_are_not_found() {
    let runner = NoopRunner::new();
    let good = trigger(&runner, "https://x/1").await;
    let text = good.as_str();
    let (body, check) = text.rsplit_once(':').unwrap();
    let forged_check = format!(
        "{body}:{}",
        if check == "00000000" {
            "00000001"
        } else {
            "00000000"
        }
    );

    for malformed in [
        String::new(),
        "noop".to_owned(),
        "acme/app/42".to_owned(),
        text.replacen("noop:", "nope:", 1),
        text.replacen(":pass:", ":trigger-error:", 1),
        text.replacen(":pass:", ":PASS:", 1),
        text.to_uppercase(),
        format!("{text}:extra"),
        format!("{body}:{}", &check[..7]),
        text.replacen(':', "::", 1),
    ] {
        let id = BuildId::new(malformed.clone());
        let error = runner.status(&id).await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidBuildId { .. }),
            "{malformed:?}: {error:?}"
        );
        assert!(error.to_string().contains("expected noop:"), "{error}");
        let error = runner.cancel(&id).await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidBuildId { .. }),
            "{malformed:?}: {error:?}"
        );
    }

    let forged = BuildId::new(forged_check);
    assert!(matches!(
        runner.status(&forged).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        runner.cancel(&forged).await,
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn noop_is_registered_with_its_capabilities_and_rejects_options() {
    let names: Vec<_> = registry::backends()
        .unwrap()
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        names,
        ["noop"],
        "this test binary links exactly the noop backend"
    );
    let runner =
        registry::create("noop", &QueueConfig::new("demo", serde_json::Value::Null)).unwrap();
    assert_eq!(runner.backend_name(), "noop");
    assert_eq!(runner.capabilities(), CAPABILITIES);

    let error = registry::create(
        "noop",
        &QueueConfig::new("demo", serde_json::json!({"speed": 1})),
    )
    .unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
    assert!(
        error.to_string().contains("speed") && error.to_string().contains("demo"),
        "{error}"
    );
}

#[test]
fn noop_declares_every_capability_but_metadata_and_urls() {
    // The conformance suite checks each declared capability against the behaviour; this pins
    // the declaration itself, so dropping one is a visible change.
    let declared = NoopRunner::new().capabilities();
    assert!(declared.idempotent_trigger);
    assert!(declared.status_survives_restart);
    assert!(declared.cancel_observable);
    assert!(declared.outcome_markers);
    assert!(!declared.metadata_round_trip && !declared.web_url);
}

#[tokio::test]
async fn keyed_ids_are_stable_across_runners_and_versions() {
    // Another process, or the next release, must mint the same id for the same key: golden
    // values, computed once, pin the key hash.
    let keyed = |key: &str| {
        TriggerRequest::builder()
            .head(Change::new(["https://x/1"]))
            .idempotency_key(key)
            .build()
            .unwrap()
    };
    let first = NoopRunner::new().trigger(&keyed("batch-1")).await.unwrap();
    let again = NoopRunner::new().trigger(&keyed("batch-1")).await.unwrap();
    let other = NoopRunner::new().trigger(&keyed("batch-2")).await.unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(first.as_str(), GOLDEN_BATCH_1);
}

const GOLDEN_BATCH_1: &str = "noop:pass:f86a6684b4c0aa0983d41189a903916a:30ff798c";

#[tokio::test]
async fn an_unminted_id_is_well_formed_but_unknown() {
    let error = NoopRunner::new()
        .status(&buildrunner_noop::unminted_build_id())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn jobs_say_which_job_failed_and_a_retry_is_not_offered() {
    let runner = NoopRunner::new();
    let names = |jobs: Vec<JobReport>| -> Vec<(String, BuildStatus)> {
        jobs.into_iter().map(|j| (j.name, j.status)).collect()
    };
    let failed = trigger(&runner, "https://x/1?buildrunner-outcome=fail").await;
    assert_eq!(
        names(runner.jobs(&failed).await.unwrap()),
        [
            ("build".to_owned(), BuildStatus::Succeeded),
            ("test".to_owned(), BuildStatus::Failed)
        ]
    );
    // Without state a flaky build cannot pass on a retry: it is a failure, and noop says so.
    let flaky = trigger(&runner, "https://x/1?buildrunner-outcome=flaky").await;
    assert_eq!(
        runner.status(&flaky).await.unwrap().status,
        BuildStatus::Failed
    );
    assert!(matches!(
        runner.retry_failed(&flaky).await,
        Err(Error::Unsupported {
            operation: "retry_failed",
            ..
        })
    ));
    let declared = runner.capabilities();
    assert!(!declared.retry_failed && declared.job_reports);
    let blocked = trigger(&runner, "https://x/1?buildrunner-outcome=block").await;
    let jobs = names(runner.jobs(&blocked).await.unwrap());
    assert_eq!(jobs[2], ("approval".to_owned(), BuildStatus::Running));
    let malformed = BuildId::new("noop:nope");
    assert!(matches!(
        runner.jobs(&malformed).await,
        Err(Error::InvalidBuildId { .. })
    ));
}
