use std::fmt::Debug;

use async_trait::async_trait;

use crate::{
    BuildId, BuildReport, Capabilities, Error, JobReport, Result, TriggerRequest, WebhookReceiver,
};

/// How many `status` calls the default [`BuildRunner::status_many`] has in flight at once.
pub const STATUS_MANY_CONCURRENCY: usize = 8;

/// One CI platform, seen through three verbs.
///
/// Implementations are long-lived and shared: a caller builds one per queue (usually through
/// [`registry::create`](crate::registry::create)), wraps it in an `Arc<dyn BuildRunner>` and
/// calls it from many tasks at once. They keep no state that must survive a restart: the
/// [`BuildId`] a backend returns carries everything it needs to find the build again.
///
/// Every method returns within a bounded time. Transient failures (a 5xx, a dropped
/// connection, a rate limit) are retried inside the backend for a bounded time; after that
/// the backend returns an error whose [`Error::is_retryable`](crate::Error::is_retryable)
/// tells the caller whether trying again later can help.
#[async_trait]
pub trait BuildRunner: Debug + Send + Sync {
    /// The registered name of the backend behind this runner, for example `"buildkite"`.
    fn backend_name(&self) -> &'static str;

    /// What this backend can do; the conformance suite skips checks a backend does not declare.
    fn capabilities(&self) -> Capabilities;

    /// Starts a build of `request.base()` followed by `request.head()` and returns its id.
    ///
    /// Returns after one round trip to the CI (plus bounded retries where they are safe).
    /// With an [idempotency key](TriggerRequest::idempotency_key), a backend that declares
    /// [`Capabilities::idempotent_trigger`] returns the id of the build an earlier call with
    /// the same key created instead of creating a second one.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`](crate::Error::Rejected) when the CI refuses the build,
    /// [`Error::Unavailable`](crate::Error::Unavailable) when its outcome is unknown,
    /// and any of the transport and authentication errors.
    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId>;

    /// Reports the current status of a build and its metadata.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuildId`](crate::Error::InvalidBuildId) (without any request) when the
    /// id is not one this runner minted, [`Error::NotFound`](crate::Error::NotFound) when the
    /// CI does not know the build, and the transport and authentication errors.
    async fn status(&self, id: &BuildId) -> Result<BuildReport>;

    /// Reports the status of many builds: one result per id, in the order of `ids`, each what
    /// [`status`](BuildRunner::status) would give for it.
    ///
    /// The default calls `status` for every id, at most [`STATUS_MANY_CONCURRENCY`] at once.
    /// A backend whose CI answers for many builds in one request overrides it, so following
    /// hundreds of builds fits the CI's request budget.
    ///
    /// ```
    /// # async fn example(runner: &dyn buildrunner_api::BuildRunner, ids: &[buildrunner_api::BuildId]) {
    /// for (id, report) in ids.iter().zip(runner.status_many(ids).await) {
    ///     match report {
    ///         Ok(report) => println!("{id}: {}", report.status),
    ///         Err(error) => println!("{id}: {error}"),
    ///     }
    /// }
    /// # }
    /// ```
    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        status_one_by_one(self, ids).await
    }

    /// How much of the CI's rate budget [`status_many`](BuildRunner::status_many) spends on
    /// `builds` builds, in the unit the CI counts (requests, or GraphQL points), so a caller
    /// with a budget can size its rounds. The default is one request per build; a backend
    /// whose CI counts a request for many builds as one says less.
    fn status_many_cost(&self, builds: usize) -> usize {
        builds
    }

    /// Reads this runner's webhooks, when its backend can and its queue names a webhook
    /// secret (`webhook_secret_env`); `None` otherwise, which is the default.
    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        None
    }

    /// Asks the CI to cancel a build and returns once the CI accepted the request.
    ///
    /// Cancelling a build that is already terminal is a no-op that returns `Ok(())`. The
    /// build may take a while to reach [`BuildStatus::Cancelled`](crate::BuildStatus::Cancelled);
    /// poll [`status`](BuildRunner::status) to see it.
    ///
    /// # Errors
    ///
    /// The same as [`status`](BuildRunner::status), plus
    /// [`Error::Rejected`](crate::Error::Rejected) when the CI refuses to cancel a build that
    /// is still running.
    async fn cancel(&self, id: &BuildId) -> Result<()>;

    /// Lists a build's jobs (the latest attempt of each), in the CI's order, so a caller can
    /// name the failed ones and link them. One request, or one walk of the CI's pages; never
    /// part of [`status`](BuildRunner::status).
    ///
    /// The default is [`Error::Unsupported`]; a backend that overrides it declares
    /// [`Capabilities::job_reports`].
    ///
    /// # Errors
    ///
    /// The same as [`status`](BuildRunner::status); [`Error::Protocol`] for a jobs page that
    /// is not understood.
    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let _ = id;
        Err(Error::Unsupported {
            backend: self.backend_name(),
            operation: "jobs",
        })
    }

    /// Asks the CI to run again only the failed jobs of a build whose status is
    /// [`Failed`](crate::BuildStatus::Failed), in the same build (the id stays the same), and
    /// returns once the CI accepted. From then on this runner never reports the failure of the
    /// earlier attempt as the build's verdict: a read that still shows it is not terminal.
    ///
    /// The default is [`Error::Unsupported`]; a backend that overrides it declares
    /// [`Capabilities::retry_failed`].
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with the reason, after reading the status and sending nothing else,
    /// when the build is not `Failed`; [`Error::Rejected`] when the CI refuses the retry (a run
    /// still in progress, a cap on re-runs); otherwise the same as [`status`](BuildRunner::status).
    async fn retry_failed(&self, id: &BuildId) -> Result<()> {
        let _ = id;
        Err(Error::Unsupported {
            backend: self.backend_name(),
            operation: "retry_failed",
        })
    }
}

/// The default [`BuildRunner::status_many`]: one `status` call per id, at most
/// [`STATUS_MANY_CONCURRENCY`] at once, answers in the order of `ids`. An override calls it
/// for the ids its batched request could not answer.
pub async fn status_one_by_one<R: BuildRunner + ?Sized>(
    runner: &R,
    ids: &[BuildId],
) -> Vec<Result<BuildReport>> {
    status_each(ids, |id| runner.status(id)).await
}

/// `status(id)` for every id, at most [`STATUS_MANY_CONCURRENCY`] at once, answers in the
/// order of `ids`: [`status_one_by_one`] for code that has a status function rather than a
/// [`BuildRunner`] (a backend's own calls).
pub async fn status_each<'a, F, Fut>(ids: &'a [BuildId], status: F) -> Vec<Result<BuildReport>>
where
    F: FnMut(&'a BuildId) -> Fut,
    Fut: std::future::Future<Output = Result<BuildReport>>,
{
    use futures_util::stream::{self, StreamExt};
    // The calls are made up front (a future does nothing until polled), which keeps
    // the stream's item type free of the closure's lifetimes.
    let calls: Vec<_> = ids.iter().map(status).collect();
    stream::iter(calls)
        .buffered(STATUS_MANY_CONCURRENCY)
        .collect()
        .await
}
