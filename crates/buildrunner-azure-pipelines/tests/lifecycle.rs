//! Whole lifecycles against the Azure Pipelines emulator: outcome markers, an approval wait
//! that only a cancel ends, a flaky run whose failed jobs are re-run in the same run, keys
//! found through the build number, an undeclared parameter, and Azure's delays near its limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use azure_pipelines_emulator::{Emulated, Emulator, EmulatorConfig, RateLimit};
use buildrunner_api::{BuildRunner, BuildStatus, Change, Error, TriggerRequest};
use buildrunner_azure_pipelines::{AzurePipelinesConfig, AzurePipelinesRunner, Token};
use buildrunner_testkit::{final_status, request, trailing_number, trigger};

const TOKEN: &str = "lifecycle-token";

fn config(emulator: &Emulator) -> AzurePipelinesConfig {
    let mut config = AzurePipelinesConfig::new("acme", "Platform Team", 4)
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    config.http.initial_backoff = Duration::from_millis(20);
    config.http.max_retry_wait = Duration::from_secs(10);
    config
}

fn runner(config: AzurePipelinesConfig) -> AzurePipelinesRunner {
    AzurePipelinesRunner::new("lifecycle", config, Token::new(TOKEN).unwrap()).unwrap()
}

#[tokio::test]
async fn markers_drive_the_build_and_an_approval_wait_is_never_green() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(config(&emulator));
    let pass = trigger(&runner, "https://x/1").await;
    let fail = trigger(&runner, "https://x/2?buildrunner-outcome=fail").await;
    let hang = trigger(&runner, "https://x/3?buildrunner-outcome=hang").await;
    let block = trigger(&runner, "https://x/4?buildrunner-outcome=block").await;
    assert_eq!(final_status(&runner, &pass).await, BuildStatus::Succeeded);
    assert_eq!(final_status(&runner, &fail).await, BuildStatus::Failed);
    let failed_jobs = runner.jobs(&fail).await.unwrap();
    assert!(
        failed_jobs
            .iter()
            .any(|j| j.name == "test" && j.status == BuildStatus::Failed)
    );
    runner.cancel(&hang).await.unwrap();
    assert_eq!(final_status(&runner, &hang).await, BuildStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let waiting = runner.status(&block).await.unwrap();
    assert_eq!(
        waiting.status,
        BuildStatus::Running,
        "an approval wait is in progress"
    );
    assert_eq!(waiting.metadata["azure_status"], "inProgress");
    runner.cancel(&block).await.unwrap();
    assert_eq!(final_status(&runner, &block).await, BuildStatus::Cancelled);
    // A cancel of a completed build sends nothing after its read.
    emulator.clear_requests();
    runner.cancel(&pass).await.unwrap();
    let methods: Vec<String> = emulator
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["GET"]);
}

#[tokio::test]
async fn a_flaky_runs_failed_jobs_are_rerun_in_the_same_run() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(config(&emulator));
    let id = trigger(&runner, "https://x/1?buildrunner-outcome=flaky").await;
    assert_eq!(final_status(&runner, &id).await, BuildStatus::Failed);
    runner.retry_failed(&id).await.unwrap();
    assert_eq!(final_status(&runner, &id).await, BuildStatus::Succeeded);
    let run = emulator.run_snapshot(trailing_number(&id)).unwrap();
    assert_eq!((run.retries, run.result.as_deref()), (1, Some("succeeded")));
    assert_eq!(emulator.run_count(), 1, "the same run, not a new one");
}

#[tokio::test]
async fn a_key_is_found_through_the_build_number_and_undeclared_parameters_are_refused() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(config(&emulator));
    let keyed = |key: &str| {
        TriggerRequest::builder()
            .head(Change::new(["https://x/1"]))
            .idempotency_key(key)
            .build()
            .unwrap()
    };
    let first = runner.trigger(&keyed("batch-9")).await.unwrap();
    let again = runner.trigger(&keyed("batch-9")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        emulator
            .run_snapshot(trailing_number(&first))
            .unwrap()
            .build_number,
        "buildrunner batch-9"
    );
    assert_ne!(runner.trigger(&keyed("batch-10")).await.unwrap(), first);
    assert_eq!(emulator.run_count(), 2);
    let mut undeclared = config(&emulator);
    undeclared
        .extra_parameters
        .insert("deploy".into(), "true".into());
    let error = self::runner(undeclared)
        .trigger(&request("https://x/2"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error:?}");
    assert!(
        error.to_string().contains("Unexpected parameter 'deploy'"),
        "{error}"
    );
}

#[tokio::test]
async fn delays_near_the_limit_are_waited_out_before_azure_blocks() {
    let limit = RateLimit {
        limit: 20,
        window: Duration::from_secs(300),
    };
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(limit))
        .await
        .unwrap();
    let runner = runner(config(&emulator));
    let id = trigger(&runner, "https://x/1?buildrunner-outcome=hang").await;
    let started = Instant::now();
    for _ in 0..18 {
        assert!(!runner.status(&id).await.unwrap().status.is_terminal());
    }
    // The last requests came in the delay zone: each 200 asked for a second's pause.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
