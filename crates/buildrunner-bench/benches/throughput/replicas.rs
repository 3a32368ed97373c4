//! The `replicas_*` figures: several replica processes against one Buildkite emulator with
//! Buildkite's limit (time scaled), with and without a shared Redis, and what a Redis take
//! adds to a call. See docs/replicas.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildrunner_http::rate::redis::RedisStore;
use buildrunner_http::rate::{
    BudgetKey, BudgetStore, Cost, InProcessStore, RateBudget, RateObservation, RateWindow,
};
use buildrunner_replicas::{BUILDKITE_LIMIT_SCALED, RedisServer, Scenario, run};

use crate::Figure;

fn replica_binary() -> String {
    std::env::var("BUILDRUNNER_BENCH_REPLICA")
        .expect("BUILDRUNNER_BENCH_REPLICA (cargo xtask bench builds the replica)")
}

pub async fn replicas(quick: bool, figures: &mut Vec<Figure>) {
    let redis = RedisServer::start().unwrap();
    let builds = if quick { 50 } else { 100 };
    let scale = if quick {
        format!(" (quick: {builds} builds a process)")
    } else {
        String::new()
    };
    let mut limited = Scenario::new(replica_binary(), 3, builds);
    limited.rate_limit = Some(BUILDKITE_LIMIT_SCALED);
    limited.redis = Some(redis.url());
    let shared = run(&limited, None).await.unwrap();
    limited.redis = None;
    let alone = run(&limited, None).await.unwrap();
    assert_eq!(
        (shared.replicas_ok, alone.replicas_ok),
        (3, 3),
        "{shared:?} {alone:?}"
    );
    let limit = "Buildkite's 200 a minute, time scaled 30x";
    figures.push(Figure {
        name: "replicas_3_processes_429_answers".into(),
        value: shared.answers_429 as f64,
        unit: format!(
            "429 answers of {} requests, one Redis budget, {limit}{scale}",
            shared.requests
        ),
        baseline: Some((
            "replicas_3_processes_429_answers_without_redis".into(),
            alone.answers_429 as f64,
        )),
    });
    figures.push(Figure {
        name: "replicas_3_processes_429_answers_without_redis".into(),
        value: alone.answers_429 as f64,
        unit: format!(
            "429 answers of {} requests, a budget each, {limit}{scale}",
            alone.requests
        ),
        baseline: None,
    });

    let mut keyed = Scenario::new(replica_binary(), 4, 50);
    keyed.keys = Some("batch-".into());
    keyed.concurrency = 16;
    keyed.redis = Some(redis.url());
    let locked = run(&keyed, None).await.unwrap();
    keyed.redis = None;
    let unlocked = run(&keyed, None).await.unwrap();
    figures.push(Figure {
        name: "replicas_4_processes_duplicate_builds".into(),
        value: locked.builds_created.saturating_sub(50) as f64,
        unit: "builds beyond one per key, 4 processes triggering the same 50 keys, Redis locks"
            .into(),
        baseline: Some((
            "replicas_4_processes_duplicate_builds_without_redis".into(),
            unlocked.builds_created.saturating_sub(50) as f64,
        )),
    });
    figures.push(Figure {
        name: "replicas_4_processes_duplicate_builds_without_redis".into(),
        value: unlocked.builds_created.saturating_sub(50) as f64,
        unit: "builds beyond one per key, the same without Redis".into(),
        baseline: None,
    });

    let calls = if quick { 2_000 } else { 10_000 };
    let key = BudgetKey {
        api_url: "http://127.0.0.1:1".into(),
        account: "bench".into(),
        token_fingerprint: 7,
    };
    let store = RedisStore::shared(&redis.url()).unwrap();
    let in_redis = take_latency(store.budget(&key), calls).await;
    let in_process = take_latency(InProcessStore::default().budget(&key), calls).await;
    figures.push(Figure {
        name: "rate_budget_take_us_redis".into(),
        value: in_redis,
        unit: format!("us per take, mean of {calls}, loopback redis-server"),
        baseline: Some(("rate_budget_take_us_in_process".into(), in_process)),
    });
    figures.push(Figure {
        name: "rate_budget_added_latency_us_per_call_redis".into(),
        value: in_redis - in_process,
        unit: "us a call spends more with a Redis take than with the in-process one".into(),
        baseline: None,
    });
}

/// The mean time of one take from a budget that has plenty left.
async fn take_latency(budget: Arc<dyn RateBudget>, calls: usize) -> f64 {
    let plenty = RateObservation {
        windows: vec![RateWindow {
            scope: "organization".into(),
            remaining: 1_000_000_000,
            reset_in: Duration::from_secs(3600),
        }],
        ..RateObservation::default()
    };
    budget.observe(&plenty).await;
    let started = Instant::now();
    for _ in 0..calls {
        let permit = budget
            .acquire(Duration::from_secs(1), Cost::One)
            .await
            .unwrap();
        drop(permit);
    }
    started.elapsed().as_secs_f64() * 1e6 / calls as f64
}
