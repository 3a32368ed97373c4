//! The [`HttpBackend`] implementation behind the runner: trigger, status, cancel and jobs
//! over Jenkins' queue and remote access API.

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, Capabilities, Error, JobReport, QueueConfig, Result, TriggerRequest,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner, KeyedTrigger, Token, keyed_trigger};

use crate::core::{CancelItem, JenkinsCore};
use crate::model::{
    Build, PARAM_BASE_URIS, PARAM_HEAD_URIS, PARAM_METADATA, PARAM_QUEUE, QueueState,
};
use crate::{JenkinsConfig, NAME};

/// What the Jenkins backend can do with its defaults: keys on, caller metadata read back
/// from the build's parameters, Pipeline stages as jobs. Core Jenkins cannot re-run only a
/// build's failed stages, so `retry_failed` is not declared.
pub const CAPABILITIES: Capabilities = Capabilities {
    idempotent_trigger: true,
    metadata_round_trip: true,
    job_reports: true,
    ..buildrunner_http::CI_CAPABILITIES
};

/// A runner for one Jenkins job:
///
/// ```no_run
/// # async fn example() -> buildrunner_api::Result<()> {
/// use buildrunner_api::{BuildRunner, Change, TriggerRequest};
///
/// let job = buildrunner_jenkins::JenkinsConfig::new("https://ci.example.com/", "platform/app", "bot")?;
/// let token = buildrunner_jenkins::Token::from_env("JENKINS_API_TOKEN", "the Jenkins API token")?;
/// let runner = buildrunner_jenkins::JenkinsRunner::new("main", job, token)?;
/// let request = TriggerRequest::builder()
///     .head(Change::new(["https://github.com/acme/app/pull/7"]))
///     .idempotency_key("batch-1234")
///     .build()?;
/// let build = runner.trigger(&request).await?; // platform/app/queue/4312
/// println!("{:?}", runner.status(&build).await?.status);
/// # Ok(())
/// # }
/// ```
///
/// [`HttpRunner::new`] fails with [`Error::Configuration`] when the client cannot be built or
/// the user and token cannot be sent in a header.
pub type JenkinsRunner = HttpRunner<Jenkins>;

/// Jenkins' calls, for [`JenkinsRunner`].
#[derive(Debug)]
pub struct Jenkins {
    core: JenkinsCore,
}

/// Where a build id's queue item has got to.
enum Located {
    /// Not started: the item's own report (waiting, or cancelled in the queue).
    Queued(BuildReport),
    /// Started as this build.
    Started(Build),
}

impl Jenkins {
    /// The form body of a trigger: the `SQ_*` parameters, the key, the extras, `delay=0sec`.
    fn form(&self, queue: &str, request: &TriggerRequest, key: Option<&str>) -> Vec<u8> {
        let config = &self.core.parts.config;
        let mut form = String::new();
        let mut pairs = buildrunner_http::form_urlencoded::Serializer::new(&mut form);
        pairs.append_pair(PARAM_BASE_URIS, &request.base_uris_json());
        pairs.append_pair(PARAM_HEAD_URIS, &request.head_uris_json());
        pairs.append_pair(PARAM_QUEUE, queue);
        let metadata = request.metadata_json().unwrap_or_else(|| "{}".to_owned());
        pairs.append_pair(PARAM_METADATA, &metadata);
        if let (Some(name), Some(key)) = (config.key_parameter.as_deref(), key) {
            pairs.append_pair(name, key);
        }
        for (name, value) in &config.extra_parameters {
            pairs.append_pair(name, value);
        }
        pairs.append_pair("delay", "0sec");
        pairs.finish();
        form.into_bytes()
    }

    /// The number of the build queue item `queue_id` became, or the item's own report while
    /// it has not started: the remembered number, else the item (readable for 5 minutes
    /// after it left the queue), else the job's recent builds.
    async fn number(
        &self,
        id: &BuildId,
        queue_id: u64,
    ) -> Result<std::result::Result<u64, BuildReport>> {
        let core = &self.core;
        if let Some(number) = core.remembered_number(queue_id) {
            return Ok(Ok(number));
        }
        match core.queue_item(id, queue_id).await? {
            Some(item) => match item.state {
                QueueState::Started { number } => Ok(Ok(number)),
                _ => Ok(Err(item.report())),
            },
            None => core
                .number_of_queue_item(id, queue_id)
                .await?
                .map(Ok)
                .ok_or_else(|| Error::NotFound { id: id.to_string() }),
        }
    }

    /// Where queue item `queue_id` has got to: [`number`](Self::number), then the build.
    async fn locate(&self, id: &BuildId, queue_id: u64) -> Result<Located> {
        match self.number(id, queue_id).await? {
            Err(report) => Ok(Located::Queued(report)),
            Ok(number) => Ok(Located::Started(self.core.build(id, number).await?)),
        }
    }

    /// [`locate`](Self::locate) for a cancel, which must know where the build is to know
    /// what to send: an answer that cannot be read (a proxy's garbled page) is read once more
    /// before the cancel gives up.
    async fn locate_for_cancel(&self, id: &BuildId, queue_id: u64) -> Result<Located> {
        buildrunner_http::read_again_if_unreadable(|| self.locate(id, queue_id)).await
    }

    /// Stops build `build` if it is still building; a finished one is left alone.
    async fn stop_if_building(&self, id: &BuildId, build: &Build) -> Result<()> {
        if !build.building {
            tracing::info!(build = %id, result = ?build.result, "cancel: already finished");
            return Ok(());
        }
        self.core.stop(id, build.number).await?;
        tracing::info!(build = %id, number = build.number, "stop requested");
        Ok(())
    }
}

#[async_trait]
impl HttpBackend for Jenkins {
    const NAME: &'static str = NAME;
    type Config = JenkinsConfig;
    type Credential = Token;

    fn new(config: JenkinsConfig, token: Token) -> Result<Self> {
        Ok(Jenkins {
            core: JenkinsCore::new(config, &token)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(JenkinsConfig, Token)> {
        JenkinsConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<JenkinsConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let core = &self.core;
        core.ensure_parameters_declared().await?;
        // A key (or a fresh dispatch id) on every request: Jenkins merges queued items whose
        // parameters are equal.
        let keys_on = core.parts.config.key_parameter.is_some();
        let find = |key: String| async move { core.find_by_key(&key).await };
        let key = match keyed_trigger(keys_on, request, find).await? {
            KeyedTrigger::Found(queue_id) => return Ok(core.ids.format(queue_id)),
            KeyedTrigger::Send(key) => key,
        };
        let form = self.form(queue, request, key.as_deref());
        let queue_id = core.build_with_parameters(&form, key.as_deref()).await?;
        let id = core.ids.format(queue_id);
        tracing::info!(build = %id, queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let queue_id = self.core.ids.parse(id)?;
        Ok(match self.locate(id, queue_id).await? {
            Located::Queued(report) => report,
            Located::Started(build) => build.report(queue_id, self.core.parts.config.unstable),
        })
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let queue_id = self.core.ids.parse(id)?;
        match self.number(id, queue_id).await? {
            Ok(number) => self.core.stages(id, number).await,
            // Not started: no stages yet.
            Err(_) => Ok(Vec::new()),
        }
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let queue_id = self.core.ids.parse(id)?;
        let build = match self.locate_for_cancel(id, queue_id).await? {
            Located::Started(build) => build,
            Located::Queued(report) if report.status.is_terminal() => return Ok(()),
            Located::Queued(_) => match self.core.cancel_item(id, queue_id).await? {
                CancelItem::Cancelled => {
                    tracing::info!(build = %id, "queue item cancelled");
                    return Ok(());
                }
                // It left the queue meanwhile: it started, or was cancelled.
                CancelItem::Gone => match self.locate_for_cancel(id, queue_id).await? {
                    Located::Started(build) => build,
                    Located::Queued(report) if report.status.is_terminal() => return Ok(()),
                    Located::Queued(_) => {
                        return Err(Error::Unavailable {
                            message: format!(
                                "cancel {id}: Jenkins no longer lists the item in its queue but it has not started yet; try again"
                            ),
                            source: None,
                        });
                    }
                },
            },
        };
        self.stop_if_building(id, &build).await
    }
}
