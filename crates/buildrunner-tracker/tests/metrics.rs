//! Metrics, recorded while real scenarios run against the Buildkite emulator: a
//! 503 retried, a 429 waited out, a create whose answer was lost and found again by its key,
//! webhooks refused and ignored, builds followed to their verdicts. Each test runs on its own
//! current-thread runtime inside its own recorder, so counts are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use buildkite_emulator::Emulated;
use buildrunner_api::{
    BuildId, Change, TriggerRequest, WebhookDelivery, WebhookError, WebhookEvent,
};
use buildrunner_emulator_engine::{Fault, FaultTarget};
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};
use common::{HOOK_SECRET, TOKEN, emulator, request, runner};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Runs `scenario` on a fresh current-thread runtime with a recorder of its own.
fn recorded<F: Future<Output = ()>>(scenario: impl FnOnce() -> F) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(scenario()));
    Recorded::from(&snapshotter)
}

/// Every metric recorded, keyed `name{label="value",...}` with labels sorted.
#[derive(Debug)]
struct Recorded {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<f64>>,
    labels: Vec<(String, String)>,
}

impl From<&Snapshotter> for Recorded {
    fn from(snapshotter: &Snapshotter) -> Recorded {
        let mut recorded = Recorded {
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            histograms: BTreeMap::new(),
            labels: Vec::new(),
        };
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let text: Vec<_> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let name = format!("{}{{{}}}", key.name(), text.join(","));
            recorded.labels.extend(labels);
            match value {
                DebugValue::Counter(n) => {
                    recorded.counters.insert(name, n);
                }
                DebugValue::Gauge(v) => {
                    recorded.gauges.insert(name, v.into_inner());
                }
                DebugValue::Histogram(values) => {
                    recorded
                        .histograms
                        .insert(name, values.into_iter().map(|v| v.into_inner()).collect());
                }
            }
        }
        recorded
    }
}

impl Recorded {
    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    fn observations(&self, name: &str) -> &[f64] {
        self.histograms.get(name).map_or(&[], Vec::as_slice)
    }

    /// The counters whose name starts with `prefix`, for exact comparisons.
    fn counters_of(&self, prefix: &str) -> BTreeMap<&str, u64> {
        self.counters
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, n)| (name.as_str(), *n))
            .collect()
    }
}

#[test]
fn a_503_is_one_retry_and_the_call_still_succeeds() {
    let recorded = recorded(|| async {
        let emulator = emulator().await;
        emulator.set_rate_limit(Some(buildrunner_emulator_engine::RateLimit {
            limit: 200,
            window: Duration::from_secs(60),
        }));
        let runner = runner(&emulator, false);
        let id = runner.trigger(&request("https://x/1")).await.unwrap();
        emulator.inject(FaultTarget::Method("GET"), 1, Fault::Status(503));
        runner.status(&id).await.unwrap();
    });
    // Every answer carried the organization's window of 200 a minute.
    let left = recorded.gauges["buildrunner_rate_limit_remaining{account=\"acme\",backend=\"buildkite\",scope=\"organization\"}"];
    assert!((190.0..200.0).contains(&left), "{recorded:#?}");
    assert_eq!(
        recorded.counters_of("buildrunner_http_requests_total"),
        BTreeMap::from([
            (
                "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"status\",status_class=\"2xx\"}",
                1
            ),
            (
                "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"status\",status_class=\"5xx\"}",
                1
            ),
            (
                "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"trigger\",status_class=\"2xx\"}",
                1
            ),
        ]),
        "{recorded:#?}"
    );
    assert_eq!(
        recorded.counters_of("buildrunner_http_retries_total"),
        BTreeMap::from([(
            "buildrunner_http_retries_total{backend=\"buildkite\",operation=\"status\",reason=\"unavailable\"}",
            1
        )])
    );
    assert_eq!(
        recorded.counters_of("buildrunner_calls_total"),
        BTreeMap::from([
            (
                "buildrunner_calls_total{backend=\"buildkite\",operation=\"status\",outcome=\"ok\"}",
                1
            ),
            (
                "buildrunner_calls_total{backend=\"buildkite\",operation=\"trigger\",outcome=\"ok\"}",
                1
            ),
        ])
    );
    assert_eq!(
        recorded
            .observations(
                "buildrunner_call_duration_seconds{backend=\"buildkite\",operation=\"status\",outcome=\"ok\"}"
            )
            .len(),
        1
    );
    assert_eq!(
        recorded.counter(
            "buildrunner_http_rate_limited_total{backend=\"buildkite\",operation=\"status\"}"
        ),
        0
    );
}

#[test]
fn a_429_is_counted_waited_out_and_the_budget_left_is_a_gauge() {
    let recorded = recorded(|| async {
        let emulator = emulator().await;
        let runner = runner(&emulator, false);
        let id = runner.trigger(&request("https://x/1")).await.unwrap();
        emulator.inject(
            FaultTarget::Method("GET"),
            1,
            Fault::RateLimited { reset_secs: 1 },
        );
        runner.status(&id).await.unwrap();
    });
    assert_eq!(
        recorded.counters_of("buildrunner_http_rate_limited_total"),
        BTreeMap::from([(
            "buildrunner_http_rate_limited_total{backend=\"buildkite\",operation=\"status\"}",
            1
        )]),
        "{recorded:#?}"
    );
    assert_eq!(
        recorded.counter(
            "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"status\",status_class=\"4xx\"}"
        ),
        1
    );
    assert_eq!(
        recorded.counters_of("buildrunner_http_retries_total"),
        BTreeMap::from([(
            "buildrunner_http_retries_total{backend=\"buildkite\",operation=\"status\",reason=\"rate_limited\"}",
            1
        )])
    );
    let waits = recorded.observations(
        "buildrunner_rate_limit_wait_seconds{backend=\"buildkite\",source=\"server\"}",
    );
    assert_eq!(waits.len(), 1, "{recorded:#?}");
    assert!((0.5..3.0).contains(&waits[0]), "{waits:?}");
    // The refusal said no request was left; the emulator (without a limit of its own)
    // reported no figures after it, so that is the last word.
    assert_eq!(
        recorded.gauges,
        BTreeMap::from([(
            "buildrunner_rate_limit_remaining{account=\"acme\",backend=\"buildkite\",scope=\"organization\"}"
                .to_owned(),
            0.0
        )]),
        "{recorded:#?}"
    );
}

#[test]
fn a_create_whose_answer_was_lost_is_found_by_its_key_not_created_twice() {
    let builds = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&builds);
    let recorded = recorded(|| async move {
        let emulator = emulator().await;
        let runner = runner(&emulator, false);
        emulator.inject(FaultTarget::Method("POST"), 1, Fault::DropAfterProcessing);
        let keyed = TriggerRequest::builder()
            .head(Change::new(["https://x/1"]))
            .idempotency_key("merge-42")
            .build()
            .unwrap();
        runner.trigger(&keyed).await.unwrap();
        *counted.lock().unwrap() = emulator.build_count();
    });
    assert_eq!(*builds.lock().unwrap(), 1);
    assert_eq!(
        recorded.counters_of("buildrunner_ambiguous_creates_total"),
        BTreeMap::from([(
            "buildrunner_ambiguous_creates_total{backend=\"buildkite\",resolution=\"found\"}",
            1
        )]),
        "{recorded:#?}"
    );
    assert_eq!(
        recorded.counter(
            "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"trigger\",status_class=\"transport_error\"}"
        ),
        1,
        "{recorded:#?}"
    );
    assert_eq!(
        recorded.counters_of("buildrunner_calls_total"),
        BTreeMap::from([(
            "buildrunner_calls_total{backend=\"buildkite\",operation=\"trigger\",outcome=\"ok\"}",
            1
        )])
    );
}

#[test]
fn webhooks_are_counted_by_what_the_receiver_made_of_them() {
    let recorded = recorded(|| async {
        let emulator = emulator().await;
        let runner = runner(&emulator, true);
        let receiver = runner.webhooks().unwrap();
        let delivery = |token: &str, event: &str, body: Vec<u8>| {
            WebhookDelivery::new(
                vec![
                    ("X-Buildkite-Token".into(), token.into()),
                    ("X-Buildkite-Event".into(), event.into()),
                ],
                body,
            )
        };
        let wrong = receiver.receive(&delivery("not it", "build.finished", b"{}".to_vec()));
        assert!(matches!(wrong, Err(WebhookError::Unauthenticated { .. })));
        let huge = vec![b' '; receiver.max_body_bytes() + 1];
        let too_large = receiver.receive(&delivery(HOOK_SECRET, "build.finished", huge));
        assert!(matches!(too_large, Err(WebhookError::TooLarge { .. })));
        let ping = receiver.receive(&delivery(HOOK_SECRET, "ping", b"{}".to_vec()));
        assert!(matches!(ping, Ok(WebhookEvent::Ignored { .. })), "{ping:?}");
    });
    assert_eq!(
        recorded.counters_of("buildrunner_webhooks_total"),
        BTreeMap::from([
            (
                "buildrunner_webhooks_total{backend=\"buildkite\",result=\"ignored\"}",
                1
            ),
            (
                "buildrunner_webhooks_total{backend=\"buildkite\",reason=\"too_large\",result=\"refused\"}",
                1
            ),
            (
                "buildrunner_webhooks_total{backend=\"buildkite\",reason=\"unauthenticated\",result=\"refused\"}",
                1
            ),
        ])
    );
}

#[test]
fn the_tracker_counts_builds_followed_and_verdicts_by_status() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ids);
    let recorded = recorded(|| async move {
        let emulator = emulator().await;
        let runner = runner(&emulator, true);
        // The emulator's webhooks reach the tracker through the listener: accepted ones.
        let (tracker, mut events) = Tracker::start(
            Arc::clone(&runner),
            TrackerOptions {
                intervals: Intervals {
                    min: Duration::from_millis(50),
                    max: Duration::from_millis(50),
                    age_factor: 0.0,
                },
                max_cost_per_sec: 1000.0,
                ..TrackerOptions::default()
            },
        );
        let tracker = Arc::new(tracker);
        let route = buildrunner_tracker::listener::WebhookRoute {
            runner: Arc::clone(&runner),
            hints: Arc::clone(&tracker) as Arc<dyn buildrunner_tracker::listener::Hints>,
        };
        let listener = buildrunner_tracker::listener::WebhookListener::bind(
            "127.0.0.1:0".parse().unwrap(),
            std::collections::HashMap::from([("q".to_owned(), route)]),
            Some("q".to_owned()),
        )
        .await
        .unwrap();
        emulator.send_webhooks(buildkite_emulator::WebhookTarget::new(
            format!("http://{}/webhook", listener.local_addr()),
            HOOK_SECRET,
        ));
        for uri in ["https://x/1", "https://x/2?buildrunner-outcome=fail"] {
            let id = runner.trigger(&request(uri)).await.unwrap();
            tracker.follow(id.clone());
            seen.lock().unwrap().push(id);
        }
        let mut verdicts = 0;
        while verdicts < 2 {
            let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
                .await
                .unwrap()
                .unwrap();
            if let TrackerEvent::Changed { report, .. } = event
                && report.status.is_terminal()
            {
                verdicts += 1;
            }
        }
        assert_eq!(tracker.followed(), 0);
        // Let the last webhooks arrive (the emulator sends them as the builds change).
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    assert_eq!(
        recorded.counters_of("buildrunner_tracker_verdicts_total"),
        BTreeMap::from([
            (
                "buildrunner_tracker_verdicts_total{backend=\"buildkite\",status=\"failed\"}",
                1
            ),
            (
                "buildrunner_tracker_verdicts_total{backend=\"buildkite\",status=\"succeeded\"}",
                1
            ),
        ]),
        "{recorded:#?}"
    );
    for status in ["failed", "succeeded"] {
        let took = recorded.observations(&format!(
            "buildrunner_tracker_verdict_seconds{{backend=\"buildkite\",status=\"{status}\"}}"
        ));
        assert_eq!(took.len(), 1, "{recorded:#?}");
        assert!(
            took[0] > 0.1,
            "{took:?}: the emulated build alone runs 0.13 s"
        );
    }
    assert_eq!(
        recorded.gauges["buildrunner_tracker_builds_followed{backend=\"buildkite\"}"],
        0.0
    );
    assert!(
        recorded
            .observations("buildrunner_tracker_poll_lag_seconds{backend=\"buildkite\"}")
            .len()
            >= 2
    );
    assert!(
        recorded.counter("buildrunner_webhooks_total{backend=\"buildkite\",result=\"accepted\"}")
            >= 2,
        "{recorded:#?}"
    );
    assert!(
        recorded.counter(
            "buildrunner_calls_total{backend=\"buildkite\",operation=\"status_many\",outcome=\"ok\"}"
        ) >= 2
    );
    assert_labels_are_bounded(&recorded, &ids.lock().unwrap());
}

/// No label value is a token, a URL, a query or a build id; every label name is one of the
/// documented few.
fn assert_labels_are_bounded(recorded: &Recorded, ids: &[BuildId]) {
    let names: BTreeSet<&str> = recorded.labels.iter().map(|(k, _)| k.as_str()).collect();
    let documented = BTreeSet::from([
        "account",
        "backend",
        "operation",
        "outcome",
        "reason",
        "resolution",
        "result",
        "scope",
        "source",
        "status",
        "status_class",
    ]);
    assert!(names.is_subset(&documented), "{names:?}");
    assert!(!ids.is_empty());
    for (name, value) in &recorded.labels {
        let leaked = value.contains(TOKEN)
            || value.contains(HOOK_SECRET)
            || value.contains("://")
            || value.contains('?')
            || value.contains('/')
            || ids.iter().any(|id| value.contains(id.as_str()));
        assert!(!leaked, "label {name}={value:?}");
    }
}

#[test]
fn no_label_carries_a_token_url_query_or_build_id_in_any_scenario() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ids);
    let recorded = recorded(|| async move {
        let emulator = emulator().await;
        let runner = runner(&emulator, true);
        let faults = [
            Fault::Status(503),
            Fault::RateLimited { reset_secs: 1 },
            Fault::DropAfterProcessing,
            Fault::WrongShape,
        ];
        for (n, fault) in faults.into_iter().enumerate() {
            let keyed = TriggerRequest::builder()
                .head(Change::new([format!(
                    "https://x/{n}?buildrunner-outcome=fail"
                )]))
                .idempotency_key(format!("key-{n}"))
                .build()
                .unwrap();
            emulator.inject(FaultTarget::Any, 1, fault);
            if let Ok(id) = runner.trigger(&keyed).await {
                let _ = runner.status(&id).await;
                let _ = runner.cancel(&id).await;
                let _ = runner.status_many(std::slice::from_ref(&id)).await;
                seen.lock().unwrap().push(id);
            }
        }
        let _ = runner.status(&BuildId::new("acme/app/999")).await;
    });
    assert!(recorded.counters.len() > 5, "{recorded:#?}");
    assert_labels_are_bounded(&recorded, &ids.lock().unwrap());
}

#[test]
fn a_batch_with_one_unknown_build_is_counted_by_that_failure() {
    let recorded = recorded(|| async {
        let emulator = emulator().await;
        let runner = runner(&emulator, false);
        let id = runner.trigger(&request("https://x/1")).await.unwrap();
        let unknown = BuildId::new("acme/app/999");
        let answers = runner.status_many(&[id.clone(), unknown]).await;
        assert!(answers[0].is_ok() && answers[1].is_err(), "{answers:?}");
        runner.cancel(&id).await.unwrap();
    });
    assert_eq!(
        recorded.counters_of("buildrunner_calls_total"),
        BTreeMap::from([
            (
                "buildrunner_calls_total{backend=\"buildkite\",operation=\"cancel\",outcome=\"ok\"}",
                1
            ),
            (
                "buildrunner_calls_total{backend=\"buildkite\",operation=\"status_many\",outcome=\"not_found\"}",
                1
            ),
            (
                "buildrunner_calls_total{backend=\"buildkite\",operation=\"trigger\",outcome=\"ok\"}",
                1
            ),
        ]),
        "{recorded:#?}"
    );
}
