//! The program's metrics recorder: a running tally for the `-v` summary line, and with
//! `--metrics ADDR` a Prometheus endpoint serving every metric the libraries record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use buildrunner_http::telemetry::{
    HTTP_RATE_LIMITED_TOTAL, HTTP_REQUESTS_TOTAL, HTTP_RETRIES_TOTAL, RATE_LIMIT_WAIT_SECONDS,
};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::Matcher;
use metrics_util::layers::FanoutBuilder;

use crate::exit::{CliError, Exit};

/// Histogram buckets for every `_seconds` metric, from a fast request to a long build, so
/// Prometheus can aggregate them (`histogram_quantile`) across replicas.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0,
];

/// What the summary line counts, summed over every label.
#[derive(Debug, Default)]
pub struct Tally {
    requests: Arc<AtomicU64>,
    rate_limited: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
    waits: Arc<Waits>,
}

/// Rate-limit waits: how many, and their total in microseconds.
#[derive(Debug, Default)]
struct Waits {
    count: AtomicU64,
    micros: AtomicU64,
}

impl HistogramFn for Waits {
    fn record(&self, seconds: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = (seconds.max(0.0) * 1e6) as u64;
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl Tally {
    /// The `-v` line: `12 requests (1 rate-limited), 2 retries, 1 rate-limit wait (3.0 s)`.
    pub fn summary(&self) -> String {
        let requests = self.requests.load(Ordering::Relaxed);
        let rate_limited = self.rate_limited.load(Ordering::Relaxed);
        let retries = self.retries.load(Ordering::Relaxed);
        let waits = self.waits.count.load(Ordering::Relaxed);
        let waited = self.waits.micros.load(Ordering::Relaxed) as f64 / 1e6;
        format!(
            "{requests} {} ({rate_limited} rate-limited), {retries} {}, {waits} rate-limit {} ({waited:.1} s)",
            plural(requests, "request", "requests"),
            plural(retries, "retry", "retries"),
            plural(waits, "wait", "waits"),
        )
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Feeds a [`Tally`]; every other metric goes nowhere.
#[derive(Debug)]
struct TallyRecorder(Arc<Tally>);

impl Recorder for TallyRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let tally = &self.0;
        match key.name() {
            HTTP_REQUESTS_TOTAL => Counter::from_arc(Arc::clone(&tally.requests)),
            HTTP_RATE_LIMITED_TOTAL => Counter::from_arc(Arc::clone(&tally.rate_limited)),
            HTTP_RETRIES_TOTAL => Counter::from_arc(Arc::clone(&tally.retries)),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match key.name() {
            RATE_LIMIT_WAIT_SECONDS => Histogram::from_arc(Arc::clone(&self.0.waits)),
            _ => Histogram::noop(),
        }
    }
}

/// Installs the process's recorder: the tally, and with `prometheus` an endpoint on that
/// address serving Prometheus text at any path (`/metrics` by convention). Must run inside
/// the Tokio runtime, which serves the endpoint.
///
/// # Errors
///
/// A usage error when the address cannot be bound; an internal one when a recorder was
/// already installed.
pub fn install(prometheus: Option<SocketAddr>) -> Result<Arc<Tally>, CliError> {
    let tally = Arc::new(Tally::default());
    let mut fanout = FanoutBuilder::default().add_recorder(TallyRecorder(Arc::clone(&tally)));
    if let Some(addr) = prometheus {
        let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|builder| builder.build())
            .map_err(|e| {
                CliError::new(
                    Exit::Usage,
                    format!("--metrics {addr}: cannot serve metrics: {e}"),
                )
            })?;
        tokio::spawn(async move {
            if let Err(e) = exporter.await {
                tracing::warn!("the metrics endpoint stopped: {e:?}");
            }
        });
        tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
        fanout = fanout.add_recorder(recorder);
    }
    metrics::set_global_recorder(fanout.build()).map_err(|e| {
        CliError::new(
            Exit::Internal,
            format!("cannot install the metrics recorder: {e}"),
        )
    })?;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_sums_requests_retries_and_waits_over_every_label() {
        let tally = Arc::new(Tally::default());
        let recorder = TallyRecorder(Arc::clone(&tally));
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(HTTP_REQUESTS_TOTAL, "status_class" => "2xx").increment(3);
            metrics::counter!(HTTP_REQUESTS_TOTAL, "status_class" => "4xx").increment(1);
            metrics::counter!(HTTP_RATE_LIMITED_TOTAL).increment(1);
            metrics::counter!(HTTP_RETRIES_TOTAL, "reason" => "rate_limited").increment(1);
            metrics::histogram!(RATE_LIMIT_WAIT_SECONDS, "source" => "server").record(1.25);
            metrics::histogram!(RATE_LIMIT_WAIT_SECONDS, "source" => "budget").record(0.5);
            metrics::counter!("something_else").increment(7);
        });
        assert_eq!(
            tally.summary(),
            "4 requests (1 rate-limited), 1 retry, 2 rate-limit waits (1.8 s)"
        );
        assert_eq!(
            Tally::default().summary(),
            "0 requests (0 rate-limited), 0 retries, 0 rate-limit waits (0.0 s)"
        );
    }
}
