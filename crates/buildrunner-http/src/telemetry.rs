//! What the shared HTTP machinery records: metrics through the [`metrics`] facade, and one
//! span per request named and attributed after OpenTelemetry's HTTP client conventions.
//!
//! | Metric | Kind | Labels |
//! |---|---|---|
//! | [`HTTP_REQUESTS_TOTAL`] | counter | `backend`, `operation`, `status_class` |
//! | [`HTTP_REQUEST_DURATION_SECONDS`] | histogram | `backend`, `operation`, `status_class` |
//! | [`HTTP_RATE_LIMITED_TOTAL`] | counter | `backend`, `operation` |
//! | [`HTTP_RETRIES_TOTAL`] | counter | `backend`, `operation`, `reason` |
//! | [`RATE_LIMIT_WAIT_SECONDS`] | histogram | `backend`, `source` |
//! | [`RATE_LIMIT_REMAINING`] | gauge | `backend`, `account`, `scope` |
//! | [`AMBIGUOUS_CREATES_TOTAL`] | counter | `backend`, `resolution` |
//!
//! Every label value comes from a fixed set or from configuration (`account`: the
//! organization, owner or project a budget counts against); none is a token, a URL, a query
//! or a build id.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use crate::rate::RateObservation;

/// Counter: requests sent, by the class of their answer (`2xx` .. `5xx`), or
/// `connect_error` / `transport_error` when none came.
pub const HTTP_REQUESTS_TOTAL: &str = "buildrunner_http_requests_total";
/// Histogram: seconds from sending a request to the end of its answer's body.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "buildrunner_http_request_duration_seconds";
/// Counter: answers the platform's rate-limit scheme recognised as a refusal (429s, and
/// GitHub's 403 with no requests left).
pub const HTTP_RATE_LIMITED_TOTAL: &str = "buildrunner_http_rate_limited_total";
/// Counter: attempts repeated, by the kind of error that made the previous one fail.
pub const HTTP_RETRIES_TOTAL: &str = "buildrunner_http_retries_total";
/// Histogram: waits for rate limits; `source` is `budget` (held back by the shared budget
/// before sending) or `server` (the platform said how long, after a refusal).
pub const RATE_LIMIT_WAIT_SECONDS: &str = "buildrunner_rate_limit_wait_seconds";
/// Gauge: requests left in a rate-limit window, as the platform last reported it.
pub const RATE_LIMIT_REMAINING: &str = "buildrunner_rate_limit_remaining";
/// Counter: creates whose outcome was unknown (a timeout, a 5xx, a dropped connection), by
/// how they were settled: `found` (the key lookup found the build), `not_found` (sent
/// again), `lookup_failed`, or `unkeyed` (reported, never repeated).
pub const AMBIGUOUS_CREATES_TOTAL: &str = "buildrunner_ambiguous_creates_total";

/// Budget waits shorter than this are the cost of taking a permit, not a rate limit.
const NOTICEABLE_WAIT: Duration = Duration::from_millis(1);

/// The metric label of an operation: its name with spaces as underscores
/// (`"idempotency lookup"` is `idempotency_lookup`).
pub(crate) fn operation_label(name: &'static str) -> String {
    name.replace(' ', "_")
}

/// `2xx`, `3xx`, `4xx` or `5xx`.
pub(crate) fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Labels shared by one client's metrics.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub backend: &'static str,
    pub account: String,
}

impl Labels {
    /// A request sent and how it ended.
    pub fn request(&self, operation: &str, status_class: &'static str, took: Duration) {
        let labels = [
            ("backend", self.backend.to_owned()),
            ("operation", operation.to_owned()),
            ("status_class", status_class.to_owned()),
        ];
        metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
        metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(took);
    }

    /// What an answer said about the budget: the windows left, and a refusal.
    pub fn rate(&self, operation: &str, rate: &RateObservation) {
        if rate.refused.is_some() {
            metrics::counter!(
                HTTP_RATE_LIMITED_TOTAL,
                "backend" => self.backend,
                "operation" => operation.to_owned(),
            )
            .increment(1);
        }
        for window in &rate.windows {
            metrics::gauge!(
                RATE_LIMIT_REMAINING,
                "backend" => self.backend,
                "account" => self.account.clone(),
                "scope" => window.scope.clone(),
            )
            .set(window.remaining as f64);
        }
    }

    /// A wait for the shared budget before sending, when it was more than taking a permit.
    pub fn budget_wait(&self, waited: Duration) {
        if waited >= NOTICEABLE_WAIT {
            self.rate_wait("budget", waited);
        }
    }

    /// A wait the platform asked for after refusing a request.
    pub fn server_wait(&self, wait: Duration) {
        self.rate_wait("server", wait);
    }

    fn rate_wait(&self, source: &'static str, wait: Duration) {
        metrics::histogram!(
            RATE_LIMIT_WAIT_SECONDS,
            "backend" => self.backend,
            "source" => source,
        )
        .record(wait);
    }

    /// An attempt about to be repeated because of an error of kind `reason`.
    pub fn retry(&self, operation: &str, reason: &'static str) {
        metrics::counter!(
            HTTP_RETRIES_TOTAL,
            "backend" => self.backend,
            "operation" => operation.to_owned(),
            "reason" => reason,
        )
        .increment(1);
    }

    /// A create with an unknown outcome, settled as `resolution` says.
    pub fn ambiguous_create(&self, resolution: &'static str) {
        metrics::counter!(
            AMBIGUOUS_CREATES_TOTAL,
            "backend" => self.backend,
            "resolution" => resolution,
        )
        .increment(1);
    }
}

/// The span of one request, after OpenTelemetry's HTTP client semantic conventions: named by
/// the method (`otel.name`), with `http.request.method`, `server.address`, `server.port`,
/// `url.scheme` and `url.path` (never the query, user or password), and room for
/// `http.response.status_code` and `error.type`.
pub(crate) fn request_span(
    backend: &'static str,
    operation: &'static str,
    method: &Method,
    url: &Url,
) -> tracing::Span {
    tracing::info_span!(
        "http_request",
        otel.name = method.as_str(),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = method.as_str(),
        http.response.status_code = tracing::field::Empty,
        server.address = url.host_str().unwrap_or_default(),
        server.port = url.port_or_known_default(),
        url.scheme = url.scheme(),
        url.path = url.path(),
        error.type = tracing::field::Empty,
        buildrunner.backend = backend,
        buildrunner.operation = operation,
    )
}

/// Records the answer's status on a request span; 4xx and 5xx mark it failed, as the
/// conventions say for a client.
pub(crate) fn record_status(span: &tracing::Span, status: StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_client_error() || status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.as_str());
    }
}

/// Records a request that got no answer.
pub(crate) fn record_failure(span: &tracing::Span, error_type: &'static str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_operation_labels() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::NOT_MODIFIED), "3xx");
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(operation_label("idempotency lookup"), "idempotency_lookup");
        assert_eq!(operation_label("status"), "status");
    }
}
