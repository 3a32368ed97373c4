//! GitHub Actions' endpoints: dispatch a workflow, list its runs, get, cancel a run; each
//! one request through the shared [`HttpClient`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use buildrunner_api::{BuildId, BuildReport, Error, JobReport, Result};
use buildrunner_http::header::{self, HeaderValue};
use buildrunner_http::rate::BudgetKey;
use buildrunner_http::{
    Auth, ClientSpec, HttpParts, Method, NumberedIds, Operation, Reply, Request, StatusCode, Url,
    join_path, keyed_capabilities,
};
use serde_json::{Map, Value};

use crate::app::AppTokenMinter;
use crate::error::{dispatch_error, rejects_run_details};
use crate::etag::{DEFAULT_CAPACITY, EtagCache};
use crate::model::{
    WorkflowRun, decode_jobs_response, dispatched_run_id, runs_page, title_names_key,
};
use crate::rate::GITHUB_RATE_SCHEME;
use crate::{Credentials, GitHubActionsConfig, NAME};

/// How far back a caller's idempotency key is looked for before a dispatch.
pub(crate) const KEY_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// How far before a dispatch its run is looked for (clocks of client and GitHub differ).
const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The most pages of 100 runs one look-up reads.
const MAX_LOOKUP_PAGES: u32 = 10;
/// An installation token is renewed this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(300);

/// What a dispatch answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatched {
    /// The run it started (a 200 with run details, or found by key).
    Run(u64),
    /// A 204: the run exists but its id must be found by key.
    NoDetails,
}

/// The body of a dispatch, serialized without copying the inputs.
#[derive(serde::Serialize)]
struct DispatchBody<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    inputs: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_run_details: Option<bool>,
}

/// The endpoints of one workflow.
#[derive(Debug)]
pub(crate) struct GitHubCore {
    /// Its configuration, client, capabilities and webhook receiver (feature `webhooks`).
    pub parts: HttpParts<GitHubActionsConfig>,
    pub ids: NumberedIds,
    etags: EtagCache,
    /// The last answer to the recent-runs list and its entity tag, for conditional requests.
    recent: std::sync::Mutex<Option<(String, Vec<WorkflowRun>)>>,
    /// Set once the server refused `return_run_details` (an older GHES), so later
    /// dispatches do not ask again.
    no_run_details: AtomicBool,
}

impl GitHubCore {
    pub fn new(config: GitHubActionsConfig, credentials: &Credentials) -> Result<Self> {
        let auth = match credentials {
            Credentials::Token(token) => Auth::bearer(token)?,
            Credentials::App {
                app_id,
                installation_id,
                private_key,
            } => Auth::minted(
                AppTokenMinter::new(&config.api_url, *app_id, *installation_id, private_key)?,
                RENEW_EARLY,
            ),
        };
        let capabilities = keyed_capabilities(crate::CAPABILITIES, config.key_input.as_deref());
        let spec = ClientSpec {
            backend: NAME,
            service: "GitHub",
            options: config.http.clone(),
            auth,
            default_headers: vec![
                (
                    header::ACCEPT,
                    HeaderValue::from_static("application/vnd.github+json"),
                ),
                (
                    header::HeaderName::from_static("x-github-api-version"),
                    HeaderValue::from_static("2022-11-28"),
                ),
            ],
            scheme: Arc::new(GITHUB_RATE_SCHEME),
            budget_key: BudgetKey {
                api_url: config.api_url.to_string(),
                account: config.owner.clone(),
                token_fingerprint: credentials.fingerprint(),
            },
            budget_store: None,
        };
        Ok(GitHubCore {
            ids: config.ids(),
            parts: HttpParts::new(spec, config, capabilities)?
                .with_webhooks(crate::webhook::receiver),
            etags: EtagCache::new(DEFAULT_CAPACITY),
            recent: std::sync::Mutex::new(None),
            no_run_details: AtomicBool::new(false),
        })
    }

    fn repo_path(&self) -> String {
        format!("{}/{}", self.parts.config.owner, self.parts.config.repo)
    }

    fn url(&self, tail: &[&str]) -> Url {
        let mut segments = vec![
            "repos",
            &self.parts.config.owner,
            &self.parts.config.repo,
            "actions",
        ];
        segments.extend_from_slice(tail);
        join_path(&self.parts.config.api_url, &segments)
    }

    fn run_url(&self, run_id: u64, action: Option<&str>) -> Url {
        let run = run_id.to_string();
        let mut tail = vec!["runs", run.as_str()];
        tail.extend(action);
        self.url(&tail)
    }

    /// `POST .../workflows/{workflow}/dispatches`. A dispatch whose outcome is unknown is
    /// settled by looking `key` up, never by dispatching blindly again; a server that refuses
    /// `return_run_details` is asked once more without it (its refusal created nothing).
    pub async fn dispatch(
        &self,
        inputs: &Map<String, Value>,
        key: Option<&str>,
    ) -> Result<Dispatched> {
        let started = SystemTime::now();
        if !self.no_run_details.load(Ordering::Relaxed) {
            match self.dispatch_once(inputs, key, true, started).await {
                Err(Error::Unsupported { .. }) => {
                    tracing::info!("the server refuses return_run_details; dispatching without it");
                    self.no_run_details.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.dispatch_once(inputs, key, false, started).await
    }

    async fn dispatch_once(
        &self,
        inputs: &Map<String, Value>,
        key: Option<&str>,
        run_details: bool,
        started: SystemTime,
    ) -> Result<Dispatched> {
        let op = Operation::new(
            "trigger",
            format!(
                "{} workflow {}",
                self.repo_path(),
                self.parts.config.workflow
            ),
        );
        let body = DispatchBody {
            git_ref: &self.parts.config.git_ref,
            inputs,
            return_run_details: run_details.then_some(true),
        };
        let body = serde_json::to_vec(&body).map_err(|e| Error::InvalidRequest {
            reason: format!("the dispatch cannot be encoded as JSON: {e}"),
        })?;
        let request = Request::new(
            Method::POST,
            self.url(&["workflows", &self.parts.config.workflow, "dispatches"]),
        )
        .json(&body);
        let decode = |reply: &Reply| {
            if reply.status == StatusCode::NO_CONTENT {
                return Ok(Dispatched::NoDetails);
            }
            let value: Value = reply.decode(&op)?;
            dispatched_run_id(&value)
                .map(Dispatched::Run)
                .ok_or_else(|| op.protocol("the dispatch answer has no workflow_run_id", None))
        };
        let refused = |reply: &Reply| {
            if run_details && rejects_run_details(reply) {
                Error::Unsupported {
                    backend: NAME,
                    operation: "return_run_details",
                }
            } else {
                dispatch_error(reply, &op, &self.parts.config)
            }
        };
        let since = started - CLOCK_SKEW;
        let lookup = key.map(|key| {
            move || async move { Ok(self.find_by_key(key, since).await?.map(Dispatched::Run)) }
        });
        self.parts
            .client
            .create(&op, &request, decode, refused, lookup)
            .await
    }

    /// The run a dispatch that answered 204 started, found by its key; the run can take a
    /// moment to be listed, so this looks again with backoff until `max_retry_wait`.
    pub async fn find_dispatched(&self, key: &str, started: SystemTime) -> Result<u64> {
        let op = Operation::new("find dispatched run", key.to_owned());
        let since = started - CLOCK_SKEW;
        self.parts
            .client
            .retrying(&op, |_| async move {
                match self.find_by_key(key, since).await {
                    Ok(Some(run_id)) => buildrunner_http::Verdict::Done(Ok(run_id)),
                    Ok(None) => buildrunner_http::Verdict::Retry {
                        error: Error::Unavailable {
                            message: format!(
                                "the workflow was dispatched but no run of {} names key {key} yet \
                                 (does the workflow's run-name contain ${{{{ inputs.{} }}}}?)",
                                self.repo_path(),
                                self.parts
                                    .config
                                    .key_input
                                    .as_deref()
                                    .unwrap_or("buildrunner_key")
                            ),
                            source: None,
                        },
                        wait: None,
                    },
                    Err(error) => buildrunner_http::Verdict::Done(Err(error)),
                }
            })
            .await
    }

    /// `GET .../workflows/{workflow}/runs?event=workflow_dispatch&created=>=...`: the oldest
    /// run whose display title names `key`.
    pub async fn find_by_key(&self, key: &str, since: SystemTime) -> Result<Option<u64>> {
        let op = Operation::new("idempotency lookup", self.repo_path());
        let created = format!(">={}", humantime::format_rfc3339_seconds(since));
        let mut oldest: Option<u64> = None;
        for page in 1..=MAX_LOOKUP_PAGES {
            let mut url = self.url(&["workflows", &self.parts.config.workflow, "runs"]);
            url.query_pairs_mut()
                .append_pair("event", "workflow_dispatch")
                .append_pair("per_page", "100")
                .append_pair("created", &created)
                .append_pair("page", &page.to_string());
            let value: Value = self.parts.client.fetch(&op, &Request::get(url)).await?;
            let runs = runs_page(&value)
                .ok_or_else(|| op.protocol("the runs list has no workflow_runs array", None))?;
            let count = runs.len();
            for run in runs
                .into_iter()
                .filter(|r| title_names_key(&r.display_title, key))
            {
                oldest = Some(oldest.map_or(run.id, |o| o.min(run.id)));
            }
            if count < 100 {
                break;
            }
        }
        Ok(oldest)
    }

    /// `GET .../runs/{run_id}`, conditional on the last answer's entity tag: an unchanged
    /// run costs a 304, which GitHub does not count against the rate limit.
    pub async fn get_run(&self, id: &BuildId, run_id: u64) -> Result<BuildReport> {
        let op = Operation::new("status", id.as_str());
        let mut url = self.run_url(run_id, None);
        url.query_pairs_mut()
            .append_pair("exclude_pull_requests", "true");
        let cached = self.etags.etag(run_id);
        let mut request = Request::get(url.clone());
        if let Some(tag) = cached
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let mut reply = self.parts.client.idempotent(&op, &request).await?;
        if reply.status == StatusCode::NOT_MODIFIED {
            if let Some(report) = cached.and_then(|tag| self.etags.report(run_id, &tag)) {
                return Ok(report);
            }
            // The entry went between the request and now: ask again, unconditionally.
            reply = self
                .parts
                .client
                .idempotent(&op, &Request::get(url))
                .await?;
        }
        let reply = reply.success(&op)?;
        let value: Value = reply.decode(&op)?;
        let run = WorkflowRun::from_json(&value)
            .ok_or_else(|| op.protocol("the run is not an object with a numeric id", None))?;
        if run.id != run_id {
            return Err(op.protocol(format_args!("GitHub answered with run {}", run.id), None));
        }
        let report = run.report();
        if let Some(tag) = reply
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        {
            self.etags.store(run_id, tag.to_owned(), report.clone());
        }
        Ok(report)
    }

    /// `GET .../workflows/{workflow}/runs?event=workflow_dispatch&per_page=100`: the
    /// workflow's 100 most recent runs in one request, conditional on the last answer's
    /// entity tag (an unchanged list is a 304, free of the rate limit).
    pub async fn recent_runs(&self) -> Result<Vec<WorkflowRun>> {
        let op = Operation::new("status_many", self.repo_path());
        let mut url = self.url(&["workflows", &self.parts.config.workflow, "runs"]);
        url.query_pairs_mut()
            .append_pair("event", "workflow_dispatch")
            .append_pair("per_page", "100")
            .append_pair("exclude_pull_requests", "true");
        let cached = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut request = Request::get(url.clone());
        if let Some(tag) = cached
            .as_ref()
            .and_then(|(tag, _)| HeaderValue::from_str(tag).ok())
        {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let mut reply = self.parts.client.idempotent(&op, &request).await?;
        if reply.status == StatusCode::NOT_MODIFIED {
            if let Some((_, runs)) = cached {
                return Ok(runs);
            }
            reply = self
                .parts
                .client
                .idempotent(&op, &Request::get(url))
                .await?;
        }
        let reply = reply.success(&op)?;
        let value: Value = reply.decode(&op)?;
        let runs = runs_page(&value)
            .ok_or_else(|| op.protocol("the runs list has no workflow_runs array", None))?;
        if let Some(tag) = reply
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        {
            *self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((tag.to_owned(), runs.clone()));
        }
        Ok(runs)
    }

    /// `GET .../runs/{run_id}/jobs?filter=latest&per_page=100`: the latest attempt's jobs.
    pub async fn run_jobs(&self, id: &BuildId, run_id: u64) -> Result<Vec<JobReport>> {
        let op = Operation::new("jobs", id.as_str());
        let mut url = self.run_url(run_id, Some("jobs"));
        url.query_pairs_mut()
            .append_pair("filter", "latest")
            .append_pair("per_page", "100");
        self.parts
            .client
            .fetch_decoded(&op, &Request::get(url), decode_jobs_response)
            .await
    }

    /// `POST .../runs/{run_id}/rerun-failed-jobs` (201). A refusal (403: still running, no
    /// failed job, the 50 re-runs used up) is `Rejected` with GitHub's message. An answer
    /// that cannot be read is settled by reading the run: a higher `run_attempt` than
    /// `attempt`, or a run no longer completed, means the re-run took.
    pub async fn rerun_failed_jobs(
        &self,
        id: &BuildId,
        run_id: u64,
        attempt: Option<u32>,
    ) -> Result<()> {
        let op = Operation::new("retry_failed", id.as_str());
        let request = Request::new(
            Method::POST,
            self.run_url(run_id, Some("rerun-failed-jobs")),
        );
        let refused = |reply: &Reply| match reply.error(&op) {
            Error::PermissionDenied { message } => Error::Rejected { message },
            other => other,
        };
        let took_effect = || async {
            let report = self.get_run(id, run_id).await?;
            let newer =
                matches!((report.attempt(), attempt), (Some(now), Some(then)) if now > then);
            Ok(newer || !report.status.is_terminal())
        };
        self.parts
            .client
            .act(&op, &request, refused, took_effect)
            .await
    }

    /// `POST .../runs/{run_id}/cancel` (or `force-cancel`): `Ok(None)` when accepted,
    /// `Ok(Some(refusal))` for GitHub's 409, any other failure `Err`.
    pub async fn cancel_run(&self, id: &BuildId, run_id: u64) -> Result<Option<Error>> {
        let op = Operation::new("cancel", id.as_str());
        let action = if self.parts.config.force_cancel {
            "force-cancel"
        } else {
            "cancel"
        };
        let request = Request::new(Method::POST, self.run_url(run_id, Some(action)));
        let reply = self.parts.client.idempotent(&op, &request).await?;
        if reply.status.is_success() {
            return Ok(None);
        }
        if reply.status == StatusCode::CONFLICT {
            return Ok(Some(reply.error(&op)));
        }
        Err(reply.error(&op))
    }
}
