//! The [`HttpBackend`] implementation behind the runner: trigger, status and cancel over GitLab's pipelines API.

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildMetadata, BuildReport, Capabilities, Error, JobReport, QueueConfig, Result,
    TriggerRequest,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner, KeyedTrigger, Token, keyed_trigger};

use crate::core::{GitLabCore, Variable};
use crate::model::{
    VAR_BASE_URIS, VAR_HEAD_URIS, VAR_METADATA, VAR_QUEUE, caller_metadata, cancel_settled,
};
use crate::{GitLabConfig, NAME};

/// What the GitLab backend can do with its defaults: keys on (`idempotent_trigger`), and
/// variables not read, so no `metadata_round_trip` (a runner with `read_variables` declares it).
pub const CAPABILITIES: Capabilities = capabilities(true, false);

/// The capabilities of a runner with keys on or off and variables read or not: ids, urls,
/// cancels and markers work alike either way.
pub(crate) const fn capabilities(keys: bool, read_variables: bool) -> Capabilities {
    let mut capabilities = buildrunner_http::CI_CAPABILITIES;
    capabilities.idempotent_trigger = keys;
    capabilities.metadata_round_trip = read_variables;
    capabilities.job_reports = true;
    capabilities.retry_failed = true;
    capabilities
}

/// A runner for one GitLab project's pipelines. With `read_variables`, caller metadata comes
/// back in every report, at one request more per poll:
///
/// ```no_run
/// # async fn example() -> buildrunner_api::Result<()> {
/// use buildrunner_api::{BuildRunner, TriggerRequest};
///
/// let mut project = buildrunner_gitlab::GitLabConfig::new("acme/platform/app")?;
/// project.read_variables = true;
/// let token = buildrunner_gitlab::Token::from_env("GITLAB_TOKEN", "the GitLab token")?;
/// let runner = buildrunner_gitlab::GitLabRunner::new("main", project, token)?;
/// let request = TriggerRequest::builder()
///     .head(buildrunner_api::Change::new(["https://gitlab.com/acme/app/-/merge_requests/7"]))
///     .metadata("mr", "7")
///     .build()?;
/// let pipeline = runner.trigger(&request).await?;
/// assert_eq!(runner.status(&pipeline).await?.metadata["mr"], "7");
/// # Ok(())
/// # }
/// ```
///
/// [`HttpRunner::new`] fails with [`Error::Configuration`] when the client cannot be built or
/// the token cannot be sent in a header.
pub type GitLabRunner = HttpRunner<GitLab>;

/// GitLab's pipeline calls, for [`GitLabRunner`].
#[derive(Debug)]
pub struct GitLab {
    core: GitLabCore,
}

impl GitLab {
    /// The `SQ_*` variables, and the key variable.
    fn variables<'a>(
        &'a self,
        queue: &str,
        request: &TriggerRequest,
        key: Option<&'a str>,
    ) -> Vec<Variable<'a>> {
        let mut variables = vec![
            Variable {
                key: VAR_BASE_URIS,
                value: request.base_uris_json(),
            },
            Variable {
                key: VAR_HEAD_URIS,
                value: request.head_uris_json(),
            },
            Variable {
                key: VAR_QUEUE,
                value: queue.to_owned(),
            },
        ];
        if let Some(metadata) = request.metadata_json() {
            variables.push(Variable {
                key: VAR_METADATA,
                value: metadata,
            });
        }
        if let (Some(name), Some(key)) = (self.core.parts.config.key_variable.as_deref(), key) {
            variables.push(Variable {
                key: name,
                value: key.to_owned(),
            });
        }
        variables
    }
}

#[async_trait]
impl HttpBackend for GitLab {
    const NAME: &'static str = NAME;
    type Config = GitLabConfig;
    type Credential = Token;

    fn new(config: GitLabConfig, token: Token) -> Result<Self> {
        Ok(GitLab {
            core: GitLabCore::new(config, &token)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(GitLabConfig, Token)> {
        GitLabConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<GitLabConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let core = &self.core;
        let keys_on = core.parts.config.key_variable.is_some();
        let find = |key: String| async move { core.find_by_key(&key).await };
        let key = match keyed_trigger(keys_on, request, find).await? {
            KeyedTrigger::Found(pipeline) => return Ok(core.ids.format(pipeline)),
            KeyedTrigger::Send(key) => key,
        };
        let variables = self.variables(queue, request, key.as_deref());
        let pipeline = self
            .core
            .create_pipeline(&variables, key.as_deref())
            .await?;
        let id = self.core.ids.format(pipeline);
        tracing::info!(build = %id, queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let pipeline_id = self.core.ids.parse(id)?;
        let pipeline = self.core.get_pipeline(id, pipeline_id).await?;
        let caller = if self.core.parts.config.read_variables {
            caller_metadata(&self.core.pipeline_variables(id, pipeline_id).await?)
        } else {
            BuildMetadata::new()
        };
        Ok(pipeline.report(caller))
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let pipeline_id = self.core.ids.parse(id)?;
        self.core.pipeline_jobs(id, pipeline_id).await
    }

    async fn retry_failed(&self, id: &BuildId, _report: &BuildReport) -> Result<()> {
        let pipeline_id = self.core.ids.parse(id)?;
        self.core.retry_pipeline(id, pipeline_id).await?;
        tracing::info!(build = %id, "retrying the failed jobs");
        Ok(())
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let pipeline_id = self.core.ids.parse(id)?;
        let pipeline = match self.core.cancel_pipeline(id, pipeline_id).await {
            Ok(pipeline) => pipeline,
            // The cancel reached GitLab but its answer cannot be read: read the pipeline.
            Err(Error::Protocol { message, .. }) => {
                tracing::warn!(build = %id, %message, "cancel answer not understood; reading the pipeline");
                self.core.get_pipeline(id, pipeline_id).await?
            }
            Err(other) => return Err(other),
        };
        let status = pipeline.status.unwrap_or_default();
        // GitLab answers 200 whatever happened: the returned status says whether the cancel
        // took effect (canceling, canceled) or had nothing to do (already finished).
        if cancel_settled(&status) {
            tracing::info!(build = %id, status, "cancel settled");
            return Ok(());
        }
        Err(Error::Rejected {
            message: format!(
                "cancel {id}: GitLab left the pipeline {status:?} (a pipeline waiting for a manual job is not cancelled)"
            ),
        })
    }
}
