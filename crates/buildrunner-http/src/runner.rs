//! The part of a [`BuildRunner`] every HTTP backend has alike, written once: the queue it
//! runs for, its constructors, the registry's factory, a trigger that holds its
//! idempotency key against other replicas, and retries of failed jobs (refused unless the
//! build failed, and remembered so a stale read is never the verdict: [`RetriedBuilds`]). A backend writes its CI's calls as an
//! [`HttpBackend`] and names `HttpRunner<ItsBackend>` as its runner.

use std::fmt::Debug;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, BuildStatus, Capabilities, Error, JobReport, QueueConfig,
    Result, TriggerRequest, WebhookReceiver, status_each,
};

use crate::{ClientSpec, HttpClient, RetriedBuilds};

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

    /// Its configuration, client, capabilities and webhook receiver, held together.
    fn parts(&self) -> &HttpParts<Self::Config>;

    /// See [`BuildRunner::capabilities`]; by default those its parts were made with.
    fn capabilities(&self) -> Capabilities {
        self.parts().capabilities
    }

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

    /// See [`BuildRunner::jobs`]; by default [`Error::Unsupported`].
    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let _ = id;
        Err(Error::Unsupported {
            backend: Self::NAME,
            operation: "jobs",
        })
    }

    /// Asks the CI to run the failed jobs of `id` again; `report` is its status, already
    /// read, and `Failed` (the runner refuses any other before calling this). By default
    /// [`Error::Unsupported`]. A retry whose outcome is unknown is settled by reading the
    /// build, never sent again blindly (`HttpClient::create` with a look-up).
    async fn retry_failed(&self, id: &BuildId, report: &BuildReport) -> Result<()> {
        let _ = (id, report);
        Err(Error::Unsupported {
            backend: Self::NAME,
            operation: "retry_failed",
        })
    }
}

/// What every HTTP backend holds besides its CI's own state, in one struct so the runner
/// reads it the same way from each: the configuration, the client its requests go through,
/// what it declares it can do and the webhook receiver the configuration asks for.
#[derive(Debug)]
pub struct HttpParts<C> {
    /// The configuration it runs with.
    pub config: C,
    /// The client its calls go through.
    pub client: HttpClient,
    /// What it declares, for this configuration (keys on or off, say).
    pub capabilities: Capabilities,
    /// The receiver of its CI's webhooks: `None` when the configuration has no secret for
    /// them, or the backend reads none.
    pub webhooks: Option<Box<dyn WebhookReceiver>>,
}

impl<C> HttpParts<C> {
    /// The parts of a backend running with `config` and declaring `capabilities`: a client
    /// made from `spec`, and no webhook receiver.
    ///
    /// # Errors
    ///
    /// What [`HttpClient::new`] refuses: [`Error::Configuration`].
    pub fn new(spec: ClientSpec, config: C, capabilities: Capabilities) -> Result<Self> {
        Ok(HttpParts {
            config,
            client: HttpClient::new(spec)?,
            capabilities,
            webhooks: None,
        })
    }

    /// The same parts with the receiver `receiver` makes of the configuration (`None` when it
    /// asks for none).
    #[must_use]
    pub fn with_webhooks(
        mut self,
        receiver: impl FnOnce(&C) -> Option<Box<dyn WebhookReceiver>>,
    ) -> Self {
        self.webhooks = receiver(&self.config);
        self
    }
}

/// The [`BuildRunner`] of an [`HttpBackend`] for one queue. Each backend names it:
/// `pub type BuildkiteRunner = HttpRunner<Buildkite>`.
#[derive(Debug)]
pub struct HttpRunner<B> {
    queue: String,
    backend: B,
    retried: RetriedBuilds,
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
            retried: RetriedBuilds::default(),
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
        &self.backend.parts().config
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
        self.backend.parts().webhooks.as_deref()
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let trigger = || self.backend.trigger(&self.queue, request);
        let client = &self.backend.parts().client;
        client
            .with_key_held(request.idempotency_key(), trigger)
            .await
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let report = self.backend.status(id).await?;
        Ok(self.retried.settle(id, report))
    }

    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        let reports = self.backend.status_many(ids).await;
        ids.iter()
            .zip(reports)
            .map(|(id, report)| report.map(|report| self.retried.settle(id, report)))
            .collect()
    }

    fn status_many_cost(&self, builds: usize) -> usize {
        self.backend.status_many_cost(builds)
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        self.backend.cancel(id).await
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        self.backend.jobs(id).await
    }

    async fn retry_failed(&self, id: &BuildId) -> Result<()> {
        if !self.backend.capabilities().retry_failed {
            return Err(Error::Unsupported {
                backend: B::NAME,
                operation: "retry_failed",
            });
        }
        let report = self.status(id).await?;
        if report.status != BuildStatus::Failed {
            let why = if self.retried.pending(id) {
                "its failed jobs are already being retried".to_owned()
            } else {
                format!(
                    "it is {}, and only a failed build's jobs are retried",
                    report.status
                )
            };
            return Err(Error::Rejected {
                message: format!("{} refused to retry {id}: {why}", B::NAME),
            });
        }
        self.backend.retry_failed(id, &report).await?;
        self.retried.note(id, report.attempt());
        Ok(())
    }
}
