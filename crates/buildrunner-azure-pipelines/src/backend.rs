//! The [`HttpBackend`] implementation behind the runner: trigger, status, cancel, jobs and
//! retries of failed jobs over Azure DevOps' Pipelines and Build APIs.

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, Capabilities, Error, JobReport, QueueConfig, Result, TriggerRequest,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner, KeyedTrigger, Token, keyed_trigger};
use serde_json::{Map, Value};

use crate::core::AzureCore;
use crate::model::{
    PARAM_BASE_URIS, PARAM_HEAD_URIS, PARAM_METADATA, PARAM_QUEUE, key_fits_a_build_number,
};
use crate::{AzurePipelinesConfig, NAME};

/// What the Azure Pipelines backend can do with its defaults: keys on, caller metadata read
/// back from the build's `templateParameters`, timeline jobs, and re-runs of failed jobs in
/// the same run.
pub const CAPABILITIES: Capabilities = Capabilities {
    idempotent_trigger: true,
    metadata_round_trip: true,
    job_reports: true,
    retry_failed: true,
    ..buildrunner_http::CI_CAPABILITIES
};

/// A runner for one Azure Pipelines pipeline:
///
/// ```no_run
/// # async fn example() -> buildrunner_api::Result<()> {
/// use buildrunner_api::{BuildRunner, Change, TriggerRequest};
/// use buildrunner_azure_pipelines::{AzurePipelinesConfig, AzurePipelinesRunner, Token};
///
/// let pipeline = AzurePipelinesConfig::new("acme", "Platform", 4)?;
/// let token = Token::from_env("AZURE_DEVOPS_TOKEN", "the Azure DevOps token")?;
/// let runner = AzurePipelinesRunner::new("main", pipeline, token)?;
/// let request = TriggerRequest::builder()
///     .head(Change::new(["https://dev.azure.com/acme/Platform/_git/app/pullrequest/7"]))
///     .idempotency_key("batch-1234")
///     .build()?;
/// let build = runner.trigger(&request).await?; // acme/Platform/4/311
/// println!("{:?}", runner.status(&build).await?.status);
/// # Ok(())
/// # }
/// ```
///
/// [`HttpRunner::new`] fails with [`Error::Configuration`] when the client cannot be built or
/// the token cannot be sent in a header.
pub type AzurePipelinesRunner = HttpRunner<AzurePipelines>;

/// Azure Pipelines' calls, for [`AzurePipelinesRunner`].
#[derive(Debug)]
pub struct AzurePipelines {
    core: AzureCore,
}

impl AzurePipelines {
    /// The runtime parameters: the `sq_*` contract, the key, the extras.
    fn parameters(
        &self,
        queue: &str,
        request: &TriggerRequest,
        key: Option<&str>,
    ) -> Map<String, Value> {
        let config = &self.core.parts.config;
        let mut parameters = Map::new();
        let mut put = |name: &str, value: String| {
            parameters.insert(name.to_owned(), Value::String(value));
        };
        put(PARAM_BASE_URIS, request.base_uris_json());
        put(PARAM_HEAD_URIS, request.head_uris_json());
        put(PARAM_QUEUE, queue.to_owned());
        if let Some(metadata) = request.metadata_json() {
            put(PARAM_METADATA, metadata);
        }
        if let (Some(name), Some(key)) = (config.key_parameter.as_deref(), key) {
            put(name, key.to_owned());
        }
        for (name, value) in &config.extra_parameters {
            put(name, value.clone());
        }
        parameters
    }
}

#[async_trait]
impl HttpBackend for AzurePipelines {
    const NAME: &'static str = NAME;
    type Config = AzurePipelinesConfig;
    type Credential = Token;

    fn new(config: AzurePipelinesConfig, token: Token) -> Result<Self> {
        Ok(AzurePipelines {
            core: AzureCore::new(config, &token)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(AzurePipelinesConfig, Token)> {
        AzurePipelinesConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<AzurePipelinesConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let core = &self.core;
        let keys_on = core.parts.config.key_parameter.is_some();
        // The key becomes the build number, which Azure restricts.
        if let (true, Some(key)) = (keys_on, request.idempotency_key())
            && !key_fits_a_build_number(key)
        {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "idempotency key {key:?} cannot stand in an Azure build number (no \" / : < > \\ | ? @ *, no trailing '.', at most 243 characters)"
                ),
            });
        }
        let find = |key: String| async move { core.find_by_key(&key).await };
        let key = match keyed_trigger(keys_on, request, find).await? {
            KeyedTrigger::Found(run) => return Ok(core.ids.format(run)),
            KeyedTrigger::Send(key) => key,
        };
        let parameters = self.parameters(queue, request, key.as_deref());
        let run = core.run_pipeline(parameters, key.as_deref()).await?;
        let id = core.ids.format(run);
        tracing::info!(build = %id, queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let run_id = self.core.ids.parse(id)?;
        let build = self.core.get_build(id, run_id).await?;
        Ok(build.report(self.core.parts.config.partially_succeeded))
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let run_id = self.core.ids.parse(id)?;
        self.core.timeline_jobs(id, run_id).await
    }

    async fn retry_failed(&self, id: &BuildId, _report: &BuildReport) -> Result<()> {
        let run_id = self.core.ids.parse(id)?;
        self.core.retry_failed_jobs(id, run_id).await?;
        tracing::info!(build = %id, "retrying the failed jobs");
        Ok(())
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let run_id = self.core.ids.parse(id)?;
        // The cancel must know the build's state (what Azure answers a cancel of a completed
        // build is not documented: none is sent), so an unreadable read is read again.
        let build =
            buildrunner_http::read_again_if_unreadable(|| self.core.get_build(id, run_id)).await?;
        if build.is_completed() || build.status.as_deref() == Some("cancelling") {
            tracing::info!(build = %id, status = ?build.status, "cancel: nothing to do");
            return Ok(());
        }
        self.core.cancel_build(id, run_id).await?;
        tracing::info!(build = %id, "cancel requested");
        Ok(())
    }
}
