//! The `observability_*` figures: what the metrics and spans of every call cost, with no
//! recorder installed and with a Prometheus recorder, against the same calls without them.
//! One current-thread runtime with a local recorder, so nothing else in the bench is measured
//! with it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildrunner_api::instrument::Instrumented;
use buildrunner_api::{BuildId, BuildRunner};

use crate::Figure;
use crate::platform::{TOKEN, request};

/// Nanoseconds a call, the median of `rounds` rounds of `calls` sequential calls.
async fn ns_per_call<F, Fut>(rounds: usize, calls: usize, call: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..calls {
            call().await;
        }
        samples.push(started.elapsed().as_nanos() as f64 / calls as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

async fn status_ns(
    runner: &Arc<dyn BuildRunner>,
    id: &BuildId,
    rounds: usize,
    calls: usize,
) -> f64 {
    ns_per_call(rounds, calls, || async {
        runner.status(id).await.unwrap();
    })
    .await
}

pub fn observability(quick: bool, figures: &mut Vec<Figure>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let (rounds, noop_calls, http_calls) = if quick {
        (5, 20_000, 500)
    } else {
        (7, 100_000, 2_000)
    };
    // Everything runs on this thread, so a local recorder sees every call.
    let measure = |runner: &Arc<dyn BuildRunner>, id: &BuildId, calls: usize, recorded: bool| {
        let run = || runtime.block_on(status_ns(runner, id, rounds, calls));
        if recorded {
            metrics::with_local_recorder(&prometheus, run)
        } else {
            run()
        }
    };

    // The noop backend: nothing but the call, so the layer's cost is all there is to see.
    let bare: Arc<dyn BuildRunner> = Arc::new(buildrunner_noop::NoopRunner::new());
    let layered: Arc<dyn BuildRunner> = Arc::new(Instrumented::new(Arc::clone(&bare), "bench"));
    let id = runtime.block_on(bare.trigger(&request(0))).unwrap();
    let bare_ns = measure(&bare, &id, noop_calls, false);
    let baseline = (
        "observability_baseline_noop_status_ns_per_call_bare".to_owned(),
        bare_ns,
    );
    for (recorded, name) in [(false, "no_recorder"), (true, "prometheus")] {
        figures.push(Figure {
            name: format!("observability_noop_status_ns_per_call_instrumented_{name}"),
            value: measure(&layered, &id, noop_calls, recorded),
            unit: "ns/call".into(),
            baseline: Some(baseline.clone()),
        });
    }

    // A real HTTP call on the Buildkite emulator (served by this runtime): every request
    // metric is recorded too.
    let emulator = runtime
        .block_on(buildkite_emulator::Emulator::start(
            buildkite_emulator::EmulatorConfig::new(TOKEN).with_timings(
                buildkite_emulator::Timings::new(
                    Duration::ZERO,
                    Duration::from_secs(3600),
                    Duration::ZERO,
                ),
            ),
        ))
        .unwrap();
    let config = buildrunner_buildkite::BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    let token = buildrunner_http::Token::new(TOKEN).unwrap();
    let inner = buildrunner_buildkite::BuildkiteRunner::new("bench", config, token).unwrap();
    let runner: Arc<dyn BuildRunner> = Arc::new(Instrumented::new(Arc::new(inner), "bench"));
    let id = runtime.block_on(runner.trigger(&request(0))).unwrap();
    measure(&runner, &id, http_calls / 4, false); // warm the connection
    let plain_us = measure(&runner, &id, http_calls, false) / 1e3;
    figures.push(Figure {
        name: "observability_buildkite_status_us_per_call_prometheus".into(),
        value: measure(&runner, &id, http_calls, true) / 1e3,
        unit: "us/call (emulator on loopback)".into(),
        baseline: Some((
            "observability_baseline_buildkite_status_us_per_call_no_recorder".into(),
            plain_us,
        )),
    });
}
