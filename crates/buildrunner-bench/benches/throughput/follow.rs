//! The `follow_*` figures: following many Buildkite builds through one tracker, within
//! Buildkite's published budgets, by polling and by webhooks. See docs/benchmarks.md.
//!
//! - The budget run follows 10,000 builds (2,000 quick) by polling only, on a clock scaled
//!   60x: a minute of Buildkite's budgets (REST 200 requests a minute, GraphQL 20,000 points
//!   per 5 minutes) passes in a second, and so do the builds' lives and the tracker's
//!   intervals. It counts the requests the emulator received and its 429 answers.
//! - The latency runs are in real time with Buildkite's real GraphQL budget: builds start at
//!   20 a second and run 2.2 s; latency is from a build's end in the emulator to the
//!   tracker's verdict.

use buildkite_emulator::BuildkiteConfig as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buildkite_emulator::{
    Emulated, Emulator, EmulatorConfig, RateLimit, WebhookFaults, WebhookTarget,
};
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, BuildStatus, Capabilities, Result, TriggerRequest,
};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
use buildrunner_tracker::listener::{Hints, WebhookListener, WebhookRoute};
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};

use crate::Figure;
use crate::platform::{TOKEN, request};

/// A minute of budget a second.
const TIME_SCALE: u32 = 60;
/// GraphQL's 20,000 points per 5 minutes is 66.7 a second; the tracker takes three quarters.
const GRAPHQL_SHARE_PER_SEC: f64 = 50.0;
const WEBHOOK_SECRET: &str = "bench-webhook-token";

/// Counts what the tracker asks for: the baseline is one request per build polled.
#[derive(Debug)]
struct CountingRunner {
    inner: Arc<dyn BuildRunner>,
    polled: AtomicUsize,
}

#[async_trait]
impl BuildRunner for CountingRunner {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        self.inner.trigger(request).await
    }
    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        self.polled.fetch_add(1, Ordering::Relaxed);
        self.inner.status(id).await
    }
    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        self.polled.fetch_add(ids.len(), Ordering::Relaxed);
        self.inner.status_many(ids).await
    }
    fn status_many_cost(&self, builds: usize) -> usize {
        self.inner.status_many_cost(builds)
    }
    fn webhooks(&self) -> Option<&dyn buildrunner_api::WebhookReceiver> {
        self.inner.webhooks()
    }
    async fn cancel(&self, id: &BuildId) -> Result<()> {
        self.inner.cancel(id).await
    }
    async fn jobs(&self, id: &BuildId) -> Result<Vec<buildrunner_api::JobReport>> {
        self.inner.jobs(id).await
    }
    async fn retry_failed(&self, id: &BuildId) -> Result<()> {
        self.inner.retry_failed(id).await
    }
}

fn runner(url: &str, graphql: bool, webhooks: bool) -> Arc<dyn BuildRunner> {
    let mut config = BuildkiteConfig::new("acme", "bench")
        .unwrap()
        .with_api_url(url)
        .unwrap();
    config.http.max_connections = 64;
    if graphql {
        config.graphql_url = Some(format!("{url}/v1").parse().unwrap());
    }
    if webhooks {
        config.webhook_secret = Some(Token::multiline(WEBHOOK_SECRET).unwrap());
    }
    Arc::new(BuildkiteRunner::new("bench", config, Token::new(TOKEN).unwrap()).unwrap())
}

/// Triggers `count` builds, 64 at a time; every fifth fails.
async fn trigger_all(runner: &Arc<dyn BuildRunner>, count: usize) -> Vec<BuildId> {
    use futures_util::stream::{self, StreamExt};
    stream::iter(0..count)
        .map(|i| {
            let runner = Arc::clone(runner);
            async move { runner.trigger(&outcome_request(i)).await.unwrap() }
        })
        .buffered(64)
        .collect()
        .await
}

fn outcome_request(i: usize) -> TriggerRequest {
    if i % 5 == 4 {
        TriggerRequest::new(vec![buildrunner_api::Change::new([format!(
            "https://x/{i}?buildrunner-outcome=fail"
        )])])
        .unwrap()
    } else {
        request(i)
    }
}

fn expected(i: usize) -> BuildStatus {
    if i % 5 == 4 {
        BuildStatus::Failed
    } else {
        BuildStatus::Succeeded
    }
}

/// Waits for a terminal verdict of every build in `expected`, or for `patience` of quiet;
/// each verdict is stamped when it arrives.
async fn verdicts(
    mut events: tokio::sync::mpsc::Receiver<TrackerEvent>,
    expected: usize,
    patience: Duration,
) -> HashMap<BuildId, (BuildStatus, Instant)> {
    let mut verdicts = HashMap::new();
    while verdicts.len() < expected {
        match tokio::time::timeout(patience, events.recv()).await {
            Ok(Some(TrackerEvent::Changed { id, report, .. })) if report.status.is_terminal() => {
                verdicts.insert(id, (report.status, Instant::now()));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    verdicts
}

pub async fn follow(quick: bool, figures: &mut Vec<Figure>) {
    budget_run(quick, figures).await;
    latency_runs(quick, figures).await;
}

/// 10,000 builds by polling only, within Buildkite's budgets (time scaled).
async fn budget_run(quick: bool, figures: &mut Vec<Figure>) {
    let builds = if quick { 2_000 } else { 10_000 };
    let scaled = |d: Duration| d / TIME_SCALE;
    let config = EmulatorConfig::new(TOKEN)
        .with_timings(buildkite_emulator::Timings::new(
            scaled(Duration::from_secs(30)),
            scaled(Duration::from_secs(300)),
            Duration::ZERO,
        ))
        .with_graphql_rate_limit(RateLimit {
            limit: 20_000,
            window: scaled(Duration::from_secs(300)),
        });
    let emulator = Emulator::start(config).await.unwrap();
    let url = emulator.url();
    let ids = trigger_all(&runner(&url, false, false), builds).await;
    // Triggers are not what this run measures; polling from here on is.
    emulator.set_rate_limit(Some(RateLimit {
        limit: 200,
        window: scaled(Duration::from_secs(60)),
    }));
    emulator.clear_requests();
    let counting = Arc::new(CountingRunner {
        inner: runner(&url, true, false),
        polled: AtomicUsize::new(0),
    });
    let options = TrackerOptions {
        intervals: Intervals {
            min: scaled(Duration::from_secs(5)),
            max: scaled(Duration::from_secs(120)),
            age_factor: 0.1,
        },
        batch_size: 100,
        max_cost_per_sec: GRAPHQL_SHARE_PER_SEC * f64::from(TIME_SCALE),
        confirm_after: scaled(Duration::from_secs(1)),
        ..TrackerOptions::default()
    };
    let (tracker, events) = Tracker::start(counting.clone(), options);
    for id in &ids {
        tracker.follow(id.clone());
    }
    let verdicts = verdicts(events, builds, Duration::from_secs(60)).await;
    drop(tracker);
    assert_eq!(verdicts.len(), builds, "every build got its verdict");
    let requests = emulator.requests();
    let refused = requests.iter().filter(|r| r.status == 429).count();
    let polled = counting.polled.load(Ordering::Relaxed);
    let scale = if quick {
        format!(" (quick: {builds} builds)")
    } else {
        String::new()
    };
    figures.push(Figure {
        name: "follow_10000_builds_requests_per_build".into(),
        value: requests.len() as f64 / builds as f64,
        unit: format!("requests per build, polling only{scale}"),
        baseline: Some((
            "one_status_per_build_per_round".into(),
            polled as f64 / builds as f64,
        )),
    });
    // A failed verdict carries its failed jobs: one jobs read each (a build GET with jobs).
    let jobs_reads = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/builds/"))
        .filter(|r| !r.query.as_deref().unwrap_or("").contains("exclude_jobs"))
        .count();
    let failed = verdicts
        .values()
        .filter(|(status, _)| *status == BuildStatus::Failed)
        .count();
    figures.push(Figure {
        name: "follow_jobs_reads_per_failed_verdict".into(),
        value: jobs_reads as f64 / failed.max(1) as f64,
        unit: format!("jobs reads per failed verdict ({failed} failed){scale}"),
        baseline: Some(("one_jobs_read_per_failed_verdict".into(), 1.0)),
    });
    figures.push(Figure {
        name: "follow_10000_builds_429_answers".into(),
        value: refused as f64,
        unit: format!("429 answers, Buildkite limits time scaled {TIME_SCALE}x{scale}"),
        baseline: None,
    });
}

/// What one latency run saw.
struct LatencyRun {
    /// From each build's end to its verdict, for the builds that got one.
    latencies: Vec<Duration>,
    /// Builds without a verdict, or with a wrong one.
    lost: usize,
}

async fn latency_run(builds: usize, webhooks: Option<WebhookFaults>) -> LatencyRun {
    let (queued, running) = (Duration::from_millis(200), Duration::from_secs(2));
    let config = EmulatorConfig::new(TOKEN)
        .with_timings(buildkite_emulator::Timings::new(
            queued,
            running,
            Duration::ZERO,
        ))
        .with_graphql_rate_limit(RateLimit {
            limit: 20_000,
            window: Duration::from_secs(300),
        });
    let emulator = Emulator::start(config).await.unwrap();
    let runner = runner(&emulator.url(), true, webhooks.is_some());
    let options = TrackerOptions {
        max_cost_per_sec: GRAPHQL_SHARE_PER_SEC,
        ..TrackerOptions::default()
    };
    let (tracker, events) = Tracker::start(Arc::clone(&runner), options);
    let tracker = Arc::new(tracker);
    // Verdicts are stamped as they arrive, while builds are still being started.
    let collected = tokio::spawn(verdicts(events, builds, Duration::from_secs(30)));
    let _listener = match webhooks {
        Some(faults) => {
            let route = WebhookRoute {
                runner: Arc::clone(&runner),
                hints: Arc::clone(&tracker) as Arc<dyn Hints>,
            };
            let queues = HashMap::from([("bench".to_owned(), route)]);
            let listener = WebhookListener::bind(crate::LOOPBACK, queues, Some("bench".into()))
                .await
                .unwrap();
            let mut target = WebhookTarget::new(
                format!("http://{}/webhook", listener.local_addr()),
                WEBHOOK_SECRET,
            );
            target.faults = faults;
            emulator.send_webhooks(target);
            Some(listener)
        }
        None => None,
    };
    // Builds start at 20 a second, as a busy merge queue's do.
    let mut ends = HashMap::new();
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    for i in 0..builds {
        pace.tick().await;
        let started = Instant::now();
        let id = runner.trigger(&outcome_request(i)).await.unwrap();
        tracker.follow(id.clone());
        // The build started no earlier than the request did: a latency is never flattered.
        ends.insert(id, (started + queued + running, expected(i)));
    }
    let verdicts = collected.await.unwrap();
    let mut latencies = Vec::new();
    let mut lost = 0;
    for (id, (end, status)) in &ends {
        match verdicts.get(id) {
            Some((verdict, at)) if verdict == status => {
                latencies.push(at.saturating_duration_since(*end));
            }
            _ => lost += 1,
        }
    }
    LatencyRun { latencies, lost }
}

fn p99_ms(latencies: &mut [Duration]) -> f64 {
    latencies.sort();
    let at = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
    latencies
        .get(at)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

async fn latency_runs(quick: bool, figures: &mut Vec<Figure>) {
    let builds = if quick { 150 } else { 400 };
    let about = format!("ms, {builds} builds starting 20 a second, real Buildkite GraphQL budget");
    let mut polling = latency_run(builds, None).await;
    let mut hooked = latency_run(builds, Some(WebhookFaults::default())).await;
    let dropping = WebhookFaults {
        drop: 0.3,
        ..WebhookFaults::default()
    };
    let mut dropped = latency_run(builds, Some(dropping)).await;
    let polling_p99 = p99_ms(&mut polling.latencies);
    figures.push(Figure {
        name: "follow_verdict_latency_ms_p99_polling".into(),
        value: polling_p99,
        unit: format!("{about}, default intervals (5 s while young)"),
        baseline: None,
    });
    figures.push(Figure {
        name: "follow_verdict_latency_ms_p99_webhooks".into(),
        value: p99_ms(&mut hooked.latencies),
        unit: about.clone(),
        baseline: Some(("follow_verdict_latency_ms_p99_polling".into(), polling_p99)),
    });
    figures.push(Figure {
        name: "follow_verdict_latency_ms_p99_webhooks_30pct_dropped".into(),
        value: p99_ms(&mut dropped.latencies),
        unit: format!("{about}; a dropped webhook's verdict comes from polling"),
        baseline: Some(("follow_verdict_latency_ms_p99_polling".into(), polling_p99)),
    });
    figures.push(Figure {
        name: "follow_verdicts_lost_with_30pct_webhooks_dropped".into(),
        value: dropped.lost as f64,
        unit: format!("verdicts lost of {builds}"),
        baseline: None,
    });
    assert_eq!(
        polling.lost + hooked.lost,
        0,
        "no verdict lost without faults"
    );
}
