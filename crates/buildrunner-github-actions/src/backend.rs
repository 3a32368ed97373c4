//! The [`HttpBackend`] implementation behind the runner: trigger, status and cancel over GitHub Actions.

use std::time::SystemTime;

use std::collections::HashMap;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, Capabilities, Error, JobReport, QueueConfig, Result, TriggerRequest,
    status_each,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner};

use crate::core::{Dispatched, GitHubCore, KEY_LOOKBACK};
use crate::model::{WorkflowRun, dispatch_inputs};
use crate::{Credentials, GitHubActionsConfig, NAME};

/// What the GitHub Actions backend can do with keys on (the default `key_input`). GitHub
/// does not hand dispatch inputs back, so caller metadata does not round-trip.
pub const CAPABILITIES: Capabilities = Capabilities {
    idempotent_trigger: true,
    job_reports: true,
    retry_failed: true,
    ..buildrunner_http::CI_CAPABILITIES
};

/// A runner for one GitHub Actions workflow, here authenticated as a GitHub App:
///
/// ```no_run
/// use buildrunner_api::{BuildRunner, Change, TriggerRequest};
/// use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
///
/// # async fn example() -> buildrunner_api::Result<()> {
/// let private_key = Token::multiline_from_env("APP_PRIVATE_KEY", "the GitHub App key")?;
/// let credentials = Credentials::App { app_id: 1234, installation_id: 5678, private_key };
/// let workflow = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")?;
/// let runner = GitHubActionsRunner::new("main", workflow, credentials)?;
/// let head = Change::new(["https://github.com/acme/app/pull/7"]);
/// let run = runner.trigger(&TriggerRequest::new(vec![head])?).await?;
/// let report = runner.status(&run).await?;
/// assert!(!report.status.is_terminal() || report.url().is_some());
/// # Ok(())
/// # }
/// ```
///
/// [`HttpRunner::new`] fails with [`Error::Configuration`] when the client cannot be built, a
/// credential cannot be sent in a header, an App key is not an RSA PEM key, or dispatches
/// would carry more than 25 inputs.
pub type GitHubActionsRunner = HttpRunner<GitHubActions>;

/// GitHub Actions' calls (workflow dispatch, runs, cancel), for [`GitHubActionsRunner`].
#[derive(Debug)]
pub struct GitHubActions {
    core: GitHubCore,
}

#[async_trait]
impl HttpBackend for GitHubActions {
    const NAME: &'static str = NAME;
    type Config = GitHubActionsConfig;
    type Credential = Credentials;

    fn new(config: GitHubActionsConfig, credentials: Credentials) -> Result<Self> {
        config.check_inputs()?;
        Ok(GitHubActions {
            core: GitHubCore::new(config, &credentials)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(GitHubActionsConfig, Credentials)> {
        GitHubActionsConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<GitHubActionsConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let config = &self.core.parts.config;
        let started = SystemTime::now();
        let key = match (&config.key_input, request.idempotency_key()) {
            (None, _) => None,
            (Some(_), Some(key)) => {
                if let Some(run_id) = self.core.find_by_key(key, started - KEY_LOOKBACK).await? {
                    tracing::info!(
                        run_id,
                        "idempotency key already used; returning the existing run"
                    );
                    return Ok(self.core.ids.format(run_id));
                }
                Some(key.to_owned())
            }
            (Some(_), None) => Some(buildrunner_http::dispatch_id()),
        };
        let named_key = config.key_input.as_deref().zip(key.as_deref());
        let inputs = dispatch_inputs(&config.extra_inputs, queue, request, named_key);
        let run_id = match self.core.dispatch(&inputs, key.as_deref()).await? {
            Dispatched::Run(run_id) => run_id,
            Dispatched::NoDetails => match &key {
                Some(key) => self.core.find_dispatched(key, started).await?,
                None => {
                    return Err(Error::Protocol {
                        message: format!(
                            "trigger {}/{}: GitHub answered without run details and key_input is off, \
                             so the run cannot be found; set key_input and use it in the workflow's run-name",
                            config.owner, config.repo
                        ),
                        source: None,
                    });
                }
            },
        };
        let id = self.core.ids.format(run_id);
        tracing::info!(build = %id, queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let run_id = self.core.ids.parse(id)?;
        self.core.get_run(id, run_id).await
    }

    /// The workflow's 100 most recent runs answer in one (conditional) request; ids not among
    /// them, and everything when the list cannot be read, go one by one.
    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        let wanted = ids
            .iter()
            .filter(|id| self.core.ids.parse(id).is_ok())
            .count();
        if wanted < 2 {
            return status_each(ids, |id| self.status(id)).await;
        }
        let recent = match self.core.recent_runs().await {
            Ok(runs) => runs,
            Err(error) => {
                tracing::debug!(%error, "the runs list failed; asking run by run");
                return status_each(ids, |id| self.status(id)).await;
            }
        };
        let by_id: HashMap<u64, &WorkflowRun> = recent.iter().map(|run| (run.id, run)).collect();
        let listed: Vec<Option<Result<BuildReport>>> = ids
            .iter()
            .map(|id| match self.core.ids.parse(id) {
                Err(invalid) => Some(Err(invalid)),
                Ok(run_id) => by_id.get(&run_id).map(|run| Ok(run.report())),
            })
            .collect();
        let missing: Vec<BuildId> = ids
            .iter()
            .zip(&listed)
            .filter(|(_, answer)| answer.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut rest = status_each(&missing, |id| self.status(id))
            .await
            .into_iter();
        listed
            .into_iter()
            .map(|answer| {
                answer.or_else(|| rest.next()).unwrap_or_else(|| {
                    Err(Error::Protocol {
                        message: "status_many lost an answer".to_owned(),
                        source: None,
                    })
                })
            })
            .collect()
    }

    /// One list request when the runs are among the workflow's 100 most recent (a merge
    /// queue's are), and GitHub does not count it when nothing changed.
    fn status_many_cost(&self, builds: usize) -> usize {
        builds.min(1)
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let run_id = self.core.ids.parse(id)?;
        self.core.run_jobs(id, run_id).await
    }

    async fn retry_failed(&self, id: &BuildId, report: &BuildReport) -> Result<()> {
        let run_id = self.core.ids.parse(id)?;
        match self
            .core
            .rerun_failed_jobs(id, run_id, report.attempt())
            .await
        {
            // GitHub is already re-running it: after a re-run whose answer was lost, ours;
            // either way what was asked holds.
            Err(Error::Rejected { message }) if message.contains("already running") => {
                tracing::info!(build = %id, "a re-run of the failed jobs is already under way");
                Ok(())
            }
            Err(error) => Err(error),
            Ok(()) => {
                tracing::info!(build = %id, "re-running the failed jobs");
                Ok(())
            }
        }
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let run_id = self.core.ids.parse(id)?;
        let Some(refusal) = self.core.cancel_run(id, run_id).await? else {
            tracing::info!(build = %id, "cancel accepted");
            return Ok(());
        };
        // GitHub answers 409 for a completed run; check rather than trust the message.
        let report = self.status(id).await?;
        if report.metadata.get("github_status").map(String::as_str) == Some("completed") {
            return Ok(());
        }
        let status = report
            .metadata
            .get("github_status")
            .cloned()
            .unwrap_or_default();
        Err(match refusal {
            Error::Rejected { message } => Error::Rejected {
                message: format!("{message} (the run is still {status:?})"),
            },
            other => other,
        })
    }
}
