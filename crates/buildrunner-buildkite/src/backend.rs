//! The [`BuildRunner`] implementation: trigger, status and cancel over Buildkite REST v2.

use std::collections::BTreeMap;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, Capabilities, Error, QueueConfig, Result, TriggerRequest,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use url::Url;

use crate::NAME;
use crate::config::{BuildkiteConfig, Token};
use crate::core::{Core, Operation, Reply, SendError, Verdict};
use crate::id::{format_id, parse_id};
use crate::model::{
    Build, ENV_BASE_URIS, ENV_HEAD_URIS, ENV_METADATA, ENV_QUEUE, IDEMPOTENCY_META_KEY,
};

/// What the Buildkite backend can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    metadata_round_trip: true,
    web_url: true,
    idempotent_trigger: true,
    status_survives_restart: true,
    cancel_observable: true,
    outcome_markers: true,
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
/// let runner = BuildkiteRunner::new("main", config, Token::from_env("BUILDKITE_API_TOKEN")?)?;
/// let id = runner
///     .trigger(&TriggerRequest::new(vec![Change::new(["https://github.com/acme/monorepo/pull/7"])])?)
///     .await?;
/// println!("{id}: {}", runner.status(&id).await?.status);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BuildkiteRunner {
    queue: String,
    core: Core,
}

#[derive(Serialize)]
struct CreateBuild<'a> {
    commit: &'a str,
    branch: &'a str,
    message: String,
    env: BTreeMap<&'static str, String>,
    meta_data: BTreeMap<&'static str, &'a str>,
}

impl BuildkiteRunner {
    /// A runner that creates builds for `queue` in the configured pipeline.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the HTTP client cannot be built.
    pub fn new(queue: impl Into<String>, config: BuildkiteConfig, token: Token) -> Result<Self> {
        Ok(BuildkiteRunner {
            queue: queue.into(),
            core: Core::new(config, &token)?,
        })
    }

    /// The registry's factory: options from the queue table, token from its env var.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<Self> {
        let (built, token) = BuildkiteConfig::from_queue(config)?;
        BuildkiteRunner::new(config.queue.clone(), built, token)
    }

    /// The configuration this runner uses.
    pub fn config(&self) -> &BuildkiteConfig {
        &self.core.config
    }

    fn build_url(&self, number: u64, suffix: &str) -> Url {
        let mut url = self.core.builds_url.clone();
        let path = format!("{}/{number}{suffix}", url.path());
        url.set_path(&path);
        url
    }

    fn create_body(&self, request: &TriggerRequest) -> Result<Vec<u8>> {
        let config = &self.core.config;
        let mut env = BTreeMap::new();
        env.insert(
            ENV_BASE_URIS,
            to_json(&request.base_uris().collect::<Vec<_>>()),
        );
        env.insert(
            ENV_HEAD_URIS,
            to_json(&request.head_uris().collect::<Vec<_>>()),
        );
        env.insert(ENV_QUEUE, self.queue.clone());
        if !request.metadata().is_empty() {
            env.insert(ENV_METADATA, to_json(request.metadata()));
        }
        let mut meta_data = BTreeMap::new();
        if let Some(key) = request.idempotency_key() {
            meta_data.insert(IDEMPOTENCY_META_KEY, key);
        }
        let message = match &config.message {
            Some(message) => message.clone(),
            None => default_message(&self.queue, request),
        };
        let body = CreateBuild {
            commit: &config.commit,
            branch: &config.branch,
            message,
            env,
            meta_data,
        };
        serde_json::to_vec(&body).map_err(|e| Error::InvalidRequest {
            reason: format!("the build request cannot be encoded as JSON: {e}"),
        })
    }

    /// The number of the build an earlier trigger with this idempotency key created, if any.
    async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let op = Operation::new("idempotency lookup", self.pipeline_path());
        let mut url = self.core.builds_url.clone();
        url.query_pairs_mut()
            .append_pair(&format!("meta_data[{IDEMPOTENCY_META_KEY}]"), key)
            .append_pair("per_page", "100")
            .append_pair("exclude_jobs", "true")
            .append_pair("exclude_pipeline", "true");
        let reply = self.core.idempotent(&op, Method::GET, url).await?;
        if !reply.status.is_success() {
            return Err(reply.error(&op));
        }
        let builds: Vec<Build> = reply.decode(&op)?;
        // Two concurrent first triggers with one key can both create; the oldest is the answer.
        Ok(builds.iter().map(|b| b.number).min())
    }

    fn pipeline_path(&self) -> String {
        format!(
            "{}/{}",
            self.core.config.organization, self.core.config.pipeline
        )
    }

    /// After a create whose outcome is unknown: find the build by key, or give up safely.
    async fn settle_unknown_create(&self, key: Option<&str>, error: Error) -> Verdict<u64> {
        let Some(key) = key else {
            return Verdict::Done(Err(Error::Unavailable {
                message: format!(
                    "{error}; the build may or may not have been created, and a trigger without an \
                     idempotency key is not retried blindly (give one to make triggers safe to retry)"
                ),
                source: None,
            }));
        };
        match self.find_by_key(key).await {
            Ok(Some(number)) => Verdict::Done(Ok(number)),
            Ok(None) => Verdict::Retry { error, wait: None },
            Err(lookup) => Verdict::Done(Err(Error::Unavailable {
                message: format!(
                    "{error}; looking the build up by its idempotency key failed too ({lookup}); \
                     trigger again with the same key to find or create it"
                ),
                source: None,
            })),
        }
    }

    fn expect_success(reply: Reply, op: &Operation) -> Result<Reply> {
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(reply.error(op))
        }
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

/// Serializes the env contract's values: string lists and string maps, which cannot fail.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[async_trait]
impl BuildRunner for BuildkiteRunner {
    fn backend_name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let key = request.idempotency_key();
        if let Some(key) = key
            && let Some(number) = self.find_by_key(key).await?
        {
            tracing::info!(
                number,
                "idempotency key already used; returning the existing build"
            );
            return Ok(format_id(&self.core.config, number));
        }
        let body = self.create_body(request)?;
        let op = Operation::new("trigger", self.pipeline_path());
        let (op, body, url) = (&op, &body[..], &self.core.builds_url);
        let number = self
            .core
            .retrying(op, |deadline| async move {
                match self
                    .core
                    .send(op, Method::POST, url.clone(), Some(body), deadline)
                    .await
                {
                    Ok(reply) if reply.status.is_success() => match reply.decode::<Build>(op) {
                        Ok(build) => Verdict::Done(Ok(build.number)),
                        Err(error) => self.settle_unknown_create(key, error).await,
                    },
                    // Buildkite refuses a rate-limited request before creating anything.
                    Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS => Verdict::Retry {
                        error: reply.error(op),
                        wait: reply.rate_limit_wait(),
                    },
                    Ok(reply) if reply.is_transient() => {
                        self.settle_unknown_create(key, reply.error(op)).await
                    }
                    Ok(reply) => Verdict::Done(Err(reply.error(op))),
                    Err(SendError::Connect(e)) => Verdict::Retry {
                        error: SendError::Connect(e).into_error(op),
                        wait: None,
                    },
                    Err(SendError::TooLarge { status, limit }) if !status.is_success() => {
                        Verdict::Done(Err(SendError::TooLarge { status, limit }.into_error(op)))
                    }
                    // Nothing was sent.
                    Err(e @ SendError::RateBudget { .. }) => Verdict::Done(Err(e.into_error(op))),
                    Err(e) => self.settle_unknown_create(key, e.into_error(op)).await,
                }
            })
            .await?;
        let id = format_id(&self.core.config, number);
        tracing::info!(build = %id, queue = %self.queue, "triggered");
        Ok(id)
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let number = parse_id(&self.core.config, id)?;
        let op = Operation::new("status", id.as_str());
        let mut url = self.build_url(number, "");
        // A poll must not download every job of a large build, nor the pipeline.
        url.query_pairs_mut()
            .append_pair("exclude_jobs", "true")
            .append_pair("exclude_pipeline", "true");
        let reply = Self::expect_success(self.core.idempotent(&op, Method::GET, url).await?, &op)?;
        let build: Build = reply.decode(&op)?;
        if build.number != number {
            return Err(op.protocol(
                format_args!("Buildkite answered with build number {}", build.number),
                None,
            ));
        }
        Ok(build.report())
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let number = parse_id(&self.core.config, id)?;
        let op = Operation::new("cancel", id.as_str());
        let reply = self
            .core
            .idempotent(&op, Method::PUT, self.build_url(number, "/cancel"))
            .await?;
        if reply.status.is_success() {
            tracing::info!(build = %id, "cancel accepted");
            return Ok(());
        }
        if reply.status != StatusCode::UNPROCESSABLE_ENTITY {
            return Err(reply.error(&op));
        }
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
        Err(match reply.error(&op) {
            Error::Rejected { message } => Error::Rejected {
                message: format!("{message} (the build is still {state:?})"),
            },
            other => other,
        })
    }
}
