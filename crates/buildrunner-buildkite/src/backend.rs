//! The [`HttpBackend`] implementation behind the runner: trigger, status and cancel over Buildkite REST v2.

use std::collections::BTreeMap;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, Capabilities, Error, JobReport, QueueConfig, Result, TriggerRequest,
    status_each,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner, Token};
use serde::Serialize;

use crate::NAME;
use crate::config::BuildkiteConfig;
use crate::core::BuildkiteCore;
use crate::graphql::{BUILDS_PER_QUERY, GraphQlCore};
use crate::model::{ENV_BASE_URIS, ENV_HEAD_URIS, ENV_METADATA, ENV_QUEUE, IDEMPOTENCY_META_KEY};

/// What the Buildkite backend can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    metadata_round_trip: true,
    idempotent_trigger: true,
    job_reports: true,
    retry_failed: true,
    ..buildrunner_http::CI_CAPABILITIES
};

/// A runner for one Buildkite pipeline.
///
/// One `reqwest` client (and so one connection pool) serves every call; the runner holds no
/// per-build state, so any number of builds can be followed through one runner and a fresh
/// runner answers for ids an earlier one minted.
///
/// ```no_run
/// use buildrunner_api::{BuildRunner, Change, TriggerRequest};
/// use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, Token};
///
/// # async fn example() -> buildrunner_api::Result<()> {
/// let config = BuildkiteConfig::new("acme", "monorepo")?;
/// let runner = BuildkiteRunner::new("main", config, Token::from_env("BUILDKITE_API_TOKEN", "the Buildkite API token")?)?;
/// let id = runner
///     .trigger(&TriggerRequest::new(vec![Change::new(["https://github.com/acme/monorepo/pull/7"])])?)
///     .await?;
/// println!("{id}: {}", runner.status(&id).await?.status);
/// # Ok(())
/// # }
/// ```
///
/// [`HttpRunner::new`] fails with [`Error::Configuration`] when the HTTP client cannot be
/// built or the token cannot be sent in a header.
pub type BuildkiteRunner = HttpRunner<Buildkite>;

/// Buildkite's calls over REST v2 (and GraphQL for `status_many`), for [`BuildkiteRunner`].
#[derive(Debug)]
pub struct Buildkite {
    core: BuildkiteCore,
}

#[derive(Serialize)]
struct CreateBuild<'a> {
    commit: &'a str,
    branch: &'a str,
    message: String,
    env: BTreeMap<&'static str, String>,
    meta_data: BTreeMap<&'static str, &'a str>,
}

impl Buildkite {
    /// What `status_many` answers when a GraphQL request failed: a rate limit is every
    /// build's answer (REST shares the organization's limits, so do not spend it instead);
    /// a token without GraphQL access switches this runner to REST for good; anything else
    /// is answered by REST this time.
    async fn status_many_after(
        &self,
        graphql: &GraphQlCore,
        error: Error,
        ids: &[BuildId],
    ) -> Vec<Result<BuildReport>> {
        match error {
            Error::RateLimited {
                retry_after,
                message,
            } => ids
                .iter()
                .map(|_| {
                    Err(Error::RateLimited {
                        retry_after,
                        message: message.clone(),
                    })
                })
                .collect(),
            Error::Unauthenticated { .. } | Error::PermissionDenied { .. } => {
                tracing::warn!(%error, "the token cannot use Buildkite's GraphQL API; status_many uses REST from now on");
                graphql.disable();
                status_each(ids, |id| self.status(id)).await
            }
            error => {
                tracing::warn!(%error, "a GraphQL status_many failed; asking REST this time");
                status_each(ids, |id| self.status(id)).await
            }
        }
    }

    fn create_body(&self, queue: &str, request: &TriggerRequest) -> Result<Vec<u8>> {
        let config = &self.core.parts.config;
        let mut meta_data = BTreeMap::new();
        if let Some(key) = request.idempotency_key() {
            meta_data.insert(IDEMPOTENCY_META_KEY, key);
        }
        let message = match &config.message {
            Some(message) => message.clone(),
            None => default_message(queue, request),
        };
        let body = CreateBuild {
            commit: &config.commit,
            branch: &config.branch,
            message,
            env: sq_variables(queue, request),
            meta_data,
        };
        serde_json::to_vec(&body).map_err(|e| Error::InvalidRequest {
            reason: format!("the build request cannot be encoded as JSON: {e}"),
        })
    }
}

fn default_message(queue: &str, request: &TriggerRequest) -> String {
    let mut uris = request.head_uris();
    let first = uris.next().unwrap_or_default();
    match uris.count() {
        0 => format!("buildrunner [{queue}]: {first}"),
        more => format!("buildrunner [{queue}]: {first} (+{more} more)"),
    }
}

/// The `SQ_*` env contract: base and head URIs as JSON arrays, the queue, the metadata.
fn sq_variables(queue: &str, request: &TriggerRequest) -> BTreeMap<&'static str, String> {
    let mut env = BTreeMap::new();
    env.insert(ENV_BASE_URIS, request.base_uris_json());
    env.insert(ENV_HEAD_URIS, request.head_uris_json());
    env.insert(ENV_QUEUE, queue.to_owned());
    if let Some(metadata) = request.metadata_json() {
        env.insert(ENV_METADATA, metadata);
    }
    env
}

#[async_trait]
impl HttpBackend for Buildkite {
    const NAME: &'static str = NAME;
    type Config = BuildkiteConfig;
    type Credential = Token;

    fn new(config: BuildkiteConfig, token: Token) -> Result<Self> {
        Ok(Buildkite {
            core: BuildkiteCore::new(config, &token)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(BuildkiteConfig, Token)> {
        BuildkiteConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<BuildkiteConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let key = request.idempotency_key();
        if let Some(key) = key
            && let Some(number) = self.core.find_by_key(key).await?
        {
            tracing::info!(
                number,
                "idempotency key already used; returning the existing build"
            );
            return Ok(self.core.ids.format(number));
        }
        let body = self.create_body(queue, request)?;
        let number = self.core.create_build(&body, key).await?;
        let id = self.core.ids.format(number);
        tracing::info!(build = %id, queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let number = self.core.ids.parse(id)?;
        Ok(self.core.get_build(id, number).await?.report())
    }

    /// With `graphql = true`: one GraphQL request per 100 builds. Ids of another pipeline are
    /// refused without a request, as by `status`. The cost stays one unit a build (the
    /// default `status_many_cost`): a REST request, or a GraphQL point, from the GraphQL
    /// budget of 20,000 points per 5 minutes instead of REST's 200 requests a minute.
    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        let Some(graphql) = self.core.graphql.as_ref().filter(|g| g.enabled()) else {
            return status_each(ids, |id| self.status(id)).await;
        };
        let parsed: Vec<Result<u64>> = ids.iter().map(|id| self.core.ids.parse(id)).collect();
        let numbers: Vec<u64> = parsed
            .iter()
            .filter_map(|n| n.as_ref().ok().copied())
            .collect();
        let mut found = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(BUILDS_PER_QUERY) {
            match graphql.builds(chunk).await {
                Ok(builds) => found.extend(builds),
                Err(error) => return self.status_many_after(graphql, error, ids).await,
            }
        }
        let mut found = found.into_iter();
        ids.iter()
            .zip(parsed)
            .map(|(id, number)| {
                number?;
                match found.next().flatten() {
                    Some(build) => Ok(build.report()),
                    None => Err(Error::NotFound { id: id.to_string() }),
                }
            })
            .collect()
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let number = self.core.ids.parse(id)?;
        let jobs = self.core.get_jobs(id, number).await?;
        Ok(jobs
            .into_iter()
            .filter(|job| job.reported())
            .map(|job| job.report)
            .collect())
    }

    /// Retries each failed script job of the latest attempt (`PUT …/jobs/{id}/retry`); a
    /// job retried already (422 after a lost answer) is under way, which is what was asked.
    async fn retry_failed(&self, id: &BuildId, _report: &BuildReport) -> Result<()> {
        let number = self.core.ids.parse(id)?;
        let jobs = self.core.get_jobs(id, number).await?;
        let failed: Vec<_> = jobs
            .iter()
            .filter(|job| job.reported() && job.kind == "script" && job.report.failed())
            .collect();
        if failed.is_empty() {
            return Err(Error::Rejected {
                message: format!("{id} failed, but no failed script job can be retried"),
            });
        }
        for job in failed {
            match self.core.retry_job(id, number, &job.id).await {
                Err(Error::Rejected { message }) if message.contains("already been retried") => {}
                other => other?,
            }
            tracing::info!(build = %id, job = %job.id, "retrying a failed job");
        }
        Ok(())
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let number = self.core.ids.parse(id)?;
        let Some(refusal) = self.core.cancel_build(id, number).await? else {
            tracing::info!(build = %id, "cancel accepted");
            return Ok(());
        };
        // Buildkite refuses to cancel a finished build with a 422; check rather than trust
        // the message, and only call it a no-op when the build really is terminal.
        let report = self.status(id).await?;
        if report.status.is_terminal() {
            return Ok(());
        }
        let state = report
            .metadata
            .get("buildkite_state")
            .cloned()
            .unwrap_or_default();
        Err(match refusal {
            Error::Rejected { message } => Error::Rejected {
                message: format!("{message} (the build is still {state:?})"),
            },
            other => other,
        })
    }
}
