//! Many runners on one organization and token share one rate-limit budget: with the
//! emulator's rate limit on, they slow down together instead of provoking 429s, and no caller
//! sees an error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{config_for, request};

use std::sync::Arc;
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig, RateLimit};
use buildrunner_api::{BuildRunner, BuildStatus};
use buildrunner_buildkite::{BuildkiteRunner, Token};

const TOKEN: &str = "rate-limit-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_builds_through_five_runners_finish_without_a_429_or_an_error() {
    let limit = RateLimit {
        limit: 40,
        window: Duration::from_secs(1),
    };
    let emulator = Emulator::start(
        EmulatorConfig::new(TOKEN)
            .with_timings(buildkite_emulator::Timings::new(
                Duration::from_millis(50),
                Duration::from_millis(300),
                Duration::from_millis(50),
            ))
            .with_rate_limit(limit),
    )
    .await
    .unwrap();
    let runners: Vec<Arc<BuildkiteRunner>> = (0..5)
        .map(|queue| {
            let config = config_for(&emulator);
            Arc::new(
                BuildkiteRunner::new(format!("queue-{queue}"), config, Token::new(TOKEN).unwrap())
                    .unwrap(),
            )
        })
        .collect();

    let tasks: Vec<_> = (0..50)
        .map(|build| {
            let runner = Arc::clone(&runners[build % runners.len()]);
            tokio::spawn(async move {
                let request = request(format!("https://x/pull/{build}"));
                let id = runner.trigger(&request).await?;
                loop {
                    let report = runner.status(&id).await?;
                    if report.status.is_terminal() {
                        return Ok::<_, buildrunner_api::Error>(report.status);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().expect("no error reaches the caller"));
    }
    assert!(
        statuses.iter().all(|s| *s == BuildStatus::Succeeded),
        "{statuses:?}"
    );

    let log = emulator.requests();
    let limited = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        limited, 0,
        "the runners slowed down before Buildkite had to say 429"
    );
    assert!(
        log.len() >= 100,
        "50 triggers and at least one poll each: {}",
        log.len()
    );
    eprintln!("{} requests, {limited} answered 429", log.len());
}

#[tokio::test]
async fn a_budget_spent_for_longer_than_the_retry_budget_fails_fast_without_sending() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_rate_limit(RateLimit {
        limit: 2,
        window: Duration::from_secs(60),
    }))
    .await
    .unwrap();
    let mut config = config_for(&emulator);
    config.http.max_retry_wait = Duration::from_secs(1);
    let runner = BuildkiteRunner::new("q", config, Token::new(TOKEN).unwrap()).unwrap();
    let id = runner.trigger(&request("https://x/1")).await.unwrap();
    runner.status(&id).await.unwrap();
    let started = std::time::Instant::now();
    let error = runner.status(&id).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "it did not wait: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, buildrunner_api::Error::RateLimited { .. }),
        "{error:?}"
    );
    let wait = error.retry_after().unwrap();
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert_eq!(
        emulator.requests().len(),
        2,
        "the third request was never sent"
    );
}
