//! Replicas as separate OS processes against one Buildkite emulator, with and without a real
//! `redis-server` shared between them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use buildrunner_replicas::{BUILDKITE_LIMIT_SCALED, RedisServer, Scenario, run};

const REPLICA: &str = env!("CARGO_BIN_EXE_buildrunner-replica");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_budget_through_redis_and_meet_no_429() {
    let redis = RedisServer::start().unwrap();
    let mut scenario = Scenario::new(REPLICA, 3, 100);
    scenario.rate_limit = Some(BUILDKITE_LIMIT_SCALED);
    scenario.redis = Some(redis.url());
    let shared = run(&scenario, None).await.unwrap();
    assert_eq!(
        shared.replicas_ok, 3,
        "every verdict right: {:?}",
        shared.failures
    );
    assert_eq!(shared.builds_created, 300);
    assert_eq!(shared.answers_429, 0, "{shared:?}");

    // The same without Redis: each replica spends "the whole" budget.
    scenario.redis = None;
    let alone = run(&scenario, None).await.unwrap();
    assert_eq!(alone.replicas_ok, 3, "{:?}", alone.failures);
    assert!(alone.answers_429 > 0, "three budgets collide: {alone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_triggering_the_same_keys_create_each_build_once() {
    let redis = RedisServer::start().unwrap();
    let mut scenario = Scenario::new(REPLICA, 4, 50);
    scenario.keys = Some("batch-".into());
    scenario.redis = Some(redis.url());
    scenario.concurrency = 16;
    let outcome = run(&scenario, None).await.unwrap();
    assert_eq!(outcome.replicas_ok, 4, "{:?}", outcome.failures);
    assert_eq!(outcome.builds_created, 50, "one build per key: {outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_fails_no_build() {
    let mut redis = RedisServer::start().unwrap();
    let mut scenario = Scenario::new(REPLICA, 3, 100);
    scenario.rate_limit = Some(BUILDKITE_LIMIT_SCALED);
    scenario.redis = Some(redis.url());
    let url = redis.url();
    let kill: Box<dyn FnOnce() + Send> = Box::new(move || redis.kill());
    let outcome = run(&scenario, Some((Duration::from_millis(1500), kill)))
        .await
        .unwrap();
    assert_eq!(
        outcome.replicas_ok, 3,
        "every build got its verdict: {:?}",
        outcome.failures
    );
    assert_eq!(outcome.builds_created, 300);
    let gone = RedisServer::start().map(|r| r.url() != url);
    assert!(gone.is_ok(), "a fresh redis-server still starts");
}
