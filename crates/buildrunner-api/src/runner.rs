use std::fmt::Debug;

use async_trait::async_trait;

use crate::{BuildId, BuildReport, Capabilities, Result, TriggerRequest};

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
}
