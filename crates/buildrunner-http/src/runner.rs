//! The part of a [`BuildRunner`] every HTTP backend has alike, written once: the queue it
//! runs for, its constructors, the registry's factory, and a trigger that holds its
//! idempotency key against other replicas. A backend writes its CI's calls as an
//! [`HttpBackend`] and names `HttpRunner<ItsBackend>` as its runner.

use std::fmt::Debug;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, Capabilities, QueueConfig, Result, TriggerRequest,
    WebhookReceiver, status_each,
};

use crate::HttpClient;

/// One CI's calls: what an HTTP backend writes. [`HttpRunner`] makes a [`BuildRunner`] of it.
#[async_trait]
pub trait HttpBackend: Debug + Send + Sync + Sized + 'static {
    /// The registered backend name, `"buildkite"`.
    const NAME: &'static str;
    /// The backend's configuration.
    type Config: Debug + Send + Sync;
    /// What it authenticates with.
    type Credential;

    /// The backend for `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`](buildrunner_api::Error::Configuration) when the client cannot
    /// be built or the credential cannot be used.
    fn new(config: Self::Config, credential: Self::Credential) -> Result<Self>;

    /// A queue's configuration and credential, from its options and environment.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`](buildrunner_api::Error::Configuration) naming the option or
    /// variable that is wrong or missing.
    fn read_queue(queue: &QueueConfig) -> Result<(Self::Config, Self::Credential)>;

    /// The configuration it runs with.
    fn config(&self) -> &Self::Config;

    /// The client its calls go through.
    fn client(&self) -> &HttpClient;

    /// See [`BuildRunner::capabilities`].
    fn capabilities(&self) -> Capabilities;

    /// See [`BuildRunner::webhooks`].
    fn webhooks(&self) -> Option<&dyn WebhookReceiver>;

    /// Looks the idempotency key up, then creates a build for `queue`; the runner calls it
    /// holding the key. See [`BuildRunner::trigger`].
    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId>;

    /// See [`BuildRunner::status`].
    async fn status(&self, id: &BuildId) -> Result<BuildReport>;

    /// See [`BuildRunner::status_many`]; by default one `status` per id.
    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        status_each(ids, |id| self.status(id)).await
    }

    /// See [`BuildRunner::status_many_cost`].
    fn status_many_cost(&self, builds: usize) -> usize {
        builds
    }

    /// See [`BuildRunner::cancel`].
    async fn cancel(&self, id: &BuildId) -> Result<()>;
}

/// The [`BuildRunner`] of an [`HttpBackend`] for one queue. Each backend names it:
/// `pub type BuildkiteRunner = HttpRunner<Buildkite>`.
#[derive(Debug)]
pub struct HttpRunner<B> {
    queue: String,
    backend: B,
}

impl<B: HttpBackend> HttpRunner<B> {
    /// A runner that creates builds for `queue` with `config`, authenticated by `credential`.
    ///
    /// # Errors
    ///
    /// What the backend's [`HttpBackend::new`] refuses:
    /// [`Error::Configuration`](buildrunner_api::Error::Configuration).
    pub fn new(
        queue: impl Into<String>,
        config: B::Config,
        credential: B::Credential,
    ) -> Result<Self> {
        Ok(HttpRunner {
            queue: queue.into(),
            backend: B::new(config, credential)?,
        })
    }

    /// The registry's factory: the queue's options and credential, then [`HttpRunner::new`].
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`](buildrunner_api::Error::Configuration) naming the queue and
    /// the backend.
    pub fn from_queue(queue: &QueueConfig) -> Result<Self> {
        let (config, credential) = B::read_queue(queue)?;
        HttpRunner::new(queue.queue.clone(), config, credential)
            .map_err(|e| queue.in_context(B::NAME, e))
    }

    /// The configuration this runner uses.
    pub fn config(&self) -> &B::Config {
        self.backend.config()
    }

    /// The queue it creates builds for.
    pub fn queue(&self) -> &str {
        &self.queue
    }
}

#[async_trait]
impl<B: HttpBackend> BuildRunner for HttpRunner<B> {
    fn backend_name(&self) -> &'static str {
        B::NAME
    }

    fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        self.backend.webhooks()
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let trigger = || self.backend.trigger(&self.queue, request);
        let client = self.backend.client();
        client
            .with_key_held(request.idempotency_key(), trigger)
            .await
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        self.backend.status(id).await
    }

    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        self.backend.status_many(ids).await
    }

    fn status_many_cost(&self, builds: usize) -> usize {
        self.backend.status_many_cost(builds)
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        self.backend.cancel(id).await
    }
}
