//! Metrics and spans for every call through the trait, whatever the backend: a layer around
//! any runner.
//!
//! [`registry::create`](crate::registry::create) returns runners already wrapped in
//! [`Instrumented`]; an application that builds a backend's runner directly wraps it itself.
//! Metrics go through the [`metrics`] facade and spans through [`tracing`]: nothing is
//! recorded or exported until the application installs a recorder or a subscriber.
//!
//! | Metric | Kind | Labels |
//! |---|---|---|
//! | [`CALLS_TOTAL`] | counter | `backend`, `operation`, `outcome` |
//! | [`CALL_DURATION_SECONDS`] | histogram | `backend`, `operation`, `outcome` |
//! | [`WEBHOOKS_TOTAL`] | counter | `backend`, `result`, `reason` (refusals only) |
//!
//! `operation` is `trigger`, `status`, `status_many`, `cancel`, `jobs` or `retry_failed`; `outcome` is `ok` or the
//! [`Error::kind`](crate::Error::kind) of the error (for `status_many`, of the first build
//! that failed). A webhook's `result` is `accepted` (it names a build and a status),
//! `ignored` (verified, but about nothing a runner follows, or a repeat) or `refused`, with
//! `reason` `unauthenticated` (401) or `too_large` (413). No label carries a build id, a queue or anything else without a bound.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument as _;

use crate::{
    BuildId, BuildReport, BuildRunner, Capabilities, JobReport, Result, TriggerRequest,
    WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver,
};

/// Counter: calls through the trait, by backend, operation and outcome.
pub const CALLS_TOTAL: &str = "buildrunner_calls_total";
/// Histogram: how long calls through the trait took, retries and rate-limit waits included.
pub const CALL_DURATION_SECONDS: &str = "buildrunner_call_duration_seconds";

/// Counter: webhook deliveries the runner's receiver was given, by backend and result (and
/// for refusals, the reason).
pub const WEBHOOKS_TOTAL: &str = "buildrunner_webhooks_total";

/// A runner that records a metric and a span for every call, then passes it on unchanged.
///
/// Spans are named `buildrunner.<operation>` at `INFO` level and carry `buildrunner.backend`,
/// `buildrunner.queue`, `buildrunner.operation`, and `buildrunner.build_id` (once known) or
/// `buildrunner.builds` (how many a `status_many` asks about); a failed call sets
/// `otel.status_code = "ERROR"` and `error.type` to the error's kind. The HTTP requests a
/// call makes are child spans of it.
///
/// ```
/// use std::sync::Arc;
/// use buildrunner_api::BuildRunner;
/// use buildrunner_api::instrument::Instrumented;
///
/// fn instrumented(runner: Arc<dyn BuildRunner>) -> Arc<dyn BuildRunner> {
///     Arc::new(Instrumented::new(runner, "main"))
/// }
/// ```
#[derive(Debug)]
pub struct Instrumented {
    inner: Arc<dyn BuildRunner>,
    queue: String,
    webhooks: Option<InstrumentedWebhooks>,
}

impl Instrumented {
    /// Wraps `inner`, the runner of queue `queue` (the queue names spans, never metrics).
    pub fn new(inner: Arc<dyn BuildRunner>, queue: impl Into<String>) -> Self {
        let webhooks = inner.webhooks().is_some().then(|| InstrumentedWebhooks {
            runner: Arc::clone(&inner),
        });
        Instrumented {
            inner,
            queue: queue.into(),
            webhooks,
        }
    }

    /// The runner it wraps.
    pub fn inner(&self) -> &Arc<dyn BuildRunner> {
        &self.inner
    }

    /// Runs `call` inside `span`, then records its outcome and duration.
    async fn measured<T>(
        &self,
        operation: &'static str,
        span: tracing::Span,
        call: impl Future<Output = T>,
        outcome: impl FnOnce(&T) -> &'static str,
    ) -> T {
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        let outcome = outcome(&result);
        if outcome != "ok" {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", outcome);
        }
        let labels = [
            ("backend", self.inner.backend_name()),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metrics::counter!(CALLS_TOTAL, &labels).increment(1);
        metrics::histogram!(CALL_DURATION_SECONDS, &labels).record(started.elapsed());
        result
    }
}

/// `ok`, or the kind of the error.
fn outcome<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    }
}

/// A call's span: one literal name per operation, the same fields on each.
macro_rules! call_span {
    ($name:literal, $operation:literal, $runner:expr) => {
        tracing::info_span!(
            $name,
            buildrunner.backend = $runner.inner.backend_name(),
            buildrunner.queue = %$runner.queue,
            buildrunner.operation = $operation,
            buildrunner.build_id = tracing::field::Empty,
            buildrunner.builds = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    };
}

#[async_trait]
impl BuildRunner for Instrumented {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let span = call_span!("buildrunner.trigger", "trigger", self);
        let call = async {
            let id = self.inner.trigger(request).await?;
            tracing::Span::current().record("buildrunner.build_id", id.as_str());
            Ok(id)
        };
        self.measured("trigger", span, call, outcome).await
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let span = call_span!("buildrunner.status", "status", self);
        span.record("buildrunner.build_id", id.as_str());
        self.measured("status", span, self.inner.status(id), outcome)
            .await
    }

    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        let span = call_span!("buildrunner.status_many", "status_many", self);
        span.record("buildrunner.builds", ids.len());
        let first_failure = |results: &Vec<Result<BuildReport>>| {
            results
                .iter()
                .find_map(|result| result.as_ref().err())
                .map_or("ok", crate::Error::kind)
        };
        self.measured(
            "status_many",
            span,
            self.inner.status_many(ids),
            first_failure,
        )
        .await
    }

    fn status_many_cost(&self, builds: usize) -> usize {
        self.inner.status_many_cost(builds)
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        self.webhooks
            .as_ref()
            .map(|webhooks| webhooks as &dyn WebhookReceiver)
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let span = call_span!("buildrunner.cancel", "cancel", self);
        span.record("buildrunner.build_id", id.as_str());
        self.measured("cancel", span, self.inner.cancel(id), outcome)
            .await
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let span = call_span!("buildrunner.jobs", "jobs", self);
        span.record("buildrunner.build_id", id.as_str());
        self.measured("jobs", span, self.inner.jobs(id), outcome)
            .await
    }

    async fn retry_failed(&self, id: &BuildId) -> Result<()> {
        let span = call_span!("buildrunner.retry_failed", "retry_failed", self);
        span.record("buildrunner.build_id", id.as_str());
        self.measured("retry_failed", span, self.inner.retry_failed(id), outcome)
            .await
    }
}

/// The wrapped runner's webhook receiver, counting what it makes of each delivery.
#[derive(Debug)]
struct InstrumentedWebhooks {
    runner: Arc<dyn BuildRunner>,
}

impl WebhookReceiver for InstrumentedWebhooks {
    fn max_body_bytes(&self) -> usize {
        self.runner
            .webhooks()
            .map_or(crate::webhook::DEFAULT_WEBHOOK_BODY_LIMIT, |receiver| {
                receiver.max_body_bytes()
            })
    }

    fn receive(&self, delivery: &WebhookDelivery) -> Result<WebhookEvent, WebhookError> {
        let result = match self.runner.webhooks() {
            Some(receiver) => receiver.receive(delivery),
            // A runner's receiver does not come and go; this is only for completeness.
            None => Ok(WebhookEvent::ignored("the runner reads no webhooks")),
        };
        let backend = self.runner.backend_name();
        let refused = |reason: &'static str| metrics::counter!(WEBHOOKS_TOTAL, "backend" => backend, "result" => "refused", "reason" => reason);
        match &result {
            Ok(WebhookEvent::Build { .. }) => {
                metrics::counter!(WEBHOOKS_TOTAL, "backend" => backend, "result" => "accepted")
            }
            Ok(WebhookEvent::Ignored { .. }) => {
                metrics::counter!(WEBHOOKS_TOTAL, "backend" => backend, "result" => "ignored")
            }
            Err(WebhookError::Unauthenticated { .. }) => refused("unauthenticated"),
            Err(WebhookError::TooLarge { .. }) => refused("too_large"),
        }
        .increment(1);
        result
    }
}
