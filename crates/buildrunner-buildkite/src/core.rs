//! Buildkite's endpoints: create, get, list by idempotency key and cancel a build, each one
//! request through the shared [`HttpClient`].

use std::sync::Arc;

use buildrunner_api::{BuildId, Error, Result};
use buildrunner_http::rate::BudgetKey;
use buildrunner_http::{
    Auth, ClientSpec, HttpClient, HttpParts, Method, NumberedIds, Operation, Reply, Request,
};
use url::Url;

use crate::NAME;
use crate::config::BuildkiteConfig;
use crate::graphql::GraphQlCore;
use crate::model::{Build, IDEMPOTENCY_META_KEY, Job, decode_jobs_response};
use crate::rate::BUILDKITE_RATE_SCHEME;
use buildrunner_http::Token;

/// The endpoints of one pipeline.
#[derive(Debug)]
pub(crate) struct BuildkiteCore {
    /// Its configuration, client, capabilities and webhook receiver (feature `webhooks`).
    pub parts: HttpParts<BuildkiteConfig>,
    pub ids: NumberedIds,
    builds_url: Url,
    /// `status_many` through GraphQL, with `graphql = true`.
    pub graphql: Option<GraphQlCore>,
}

/// A client for Buildkite's API at `budget_url` (REST's root, or the GraphQL endpoint): each
/// has a rate budget of its own, shared per organization and token.
pub(crate) fn client(
    config: &BuildkiteConfig,
    token: &Token,
    service: &'static str,
    budget_url: String,
) -> Result<HttpClient> {
    HttpClient::new(ClientSpec {
        backend: NAME,
        service,
        options: config.http.clone(),
        auth: Auth::bearer(token)?,
        default_headers: ClientSpec::accept_json(),
        scheme: Arc::new(BUILDKITE_RATE_SCHEME),
        budget_key: BudgetKey {
            api_url: budget_url,
            account: config.organization.clone(),
            token_fingerprint: token.fingerprint(),
        },
        budget_store: None,
    })
}

impl BuildkiteCore {
    pub fn new(config: BuildkiteConfig, token: &Token) -> Result<Self> {
        let http = client(&config, token, "Buildkite", config.api_url.to_string())?;
        let builds_url = config.builds_url();
        let graphql = match &config.graphql_url {
            Some(url) => Some(GraphQlCore::new(&config, url.clone(), token)?),
            None => None,
        };
        Ok(BuildkiteCore {
            ids: config.ids(),
            parts: HttpParts {
                webhooks: crate::webhook::receiver(&config),
                client: http,
                capabilities: crate::CAPABILITIES,
                config,
            },
            builds_url,
            graphql,
        })
    }

    pub fn pipeline_path(&self) -> String {
        format!(
            "{}/{}",
            self.parts.config.organization, self.parts.config.pipeline
        )
    }

    fn build_url(&self, number: u64, suffix: Option<&str>) -> Url {
        let number = number.to_string();
        let mut segments = vec![number.as_str()];
        segments.extend(suffix);
        buildrunner_http::join_path(&self.builds_url, &segments)
    }

    /// `POST .../builds`: the number of the new build. With `key`, an outcome that stays
    /// unknown is settled by looking the key up, never by creating blindly again.
    pub async fn create_build(&self, body: &[u8], key: Option<&str>) -> Result<u64> {
        let op = Operation::new("trigger", self.pipeline_path());
        let request = Request::new(Method::POST, self.builds_url.clone()).json(body);
        let decode = |reply: &Reply| reply.decode::<Build>(&op).map(|build| build.number);
        let lookup = key.map(|key| move || self.find_by_key(key));
        let refused = |reply: &Reply| reply.error(&op);
        self.parts
            .client
            .create(&op, &request, decode, refused, lookup)
            .await
    }

    /// `GET .../builds?meta_data[...]=key`: the oldest build created with this idempotency key.
    pub async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let op = Operation::new("idempotency lookup", self.pipeline_path());
        let mut url = self.builds_url.clone();
        url.query_pairs_mut()
            .append_pair(&format!("meta_data[{IDEMPOTENCY_META_KEY}]"), key)
            .append_pair("per_page", "100")
            .append_pair("exclude_jobs", "true")
            .append_pair("exclude_pipeline", "true");
        let builds: Vec<Build> = self.parts.client.fetch(&op, &Request::get(url)).await?;
        // Two concurrent first triggers with one key can both create; the oldest is the answer.
        Ok(builds.iter().map(|b| b.number).min())
    }

    /// `GET .../builds/{number}` without jobs or pipeline: a poll must not download every
    /// job of a large build.
    pub async fn get_build(&self, id: &BuildId, number: u64) -> Result<Build> {
        let op = Operation::new("status", id.as_str());
        let mut url = self.build_url(number, None);
        url.query_pairs_mut()
            .append_pair("exclude_jobs", "true")
            .append_pair("exclude_pipeline", "true");
        let build: Build = self.parts.client.fetch(&op, &Request::get(url)).await?;
        if build.number != number {
            return Err(op.protocol(
                format_args!("Buildkite answered with build number {}", build.number),
                None,
            ));
        }
        Ok(build)
    }

    /// `GET .../builds/{number}` with its jobs (and without the pipeline).
    pub async fn get_jobs(&self, id: &BuildId, number: u64) -> Result<Vec<Job>> {
        let op = Operation::new("jobs", id.as_str());
        let mut url = self.build_url(number, None);
        url.query_pairs_mut()
            .append_pair("exclude_pipeline", "true");
        self.parts
            .client
            .fetch_decoded(&op, &Request::get(url), decode_jobs_response)
            .await
    }

    /// `PUT .../builds/{number}/jobs/{job}/retry`: the job runs again under a new id. An
    /// answer that cannot be read is settled by reading the jobs: once this job is marked
    /// retried, the retry took. Buildkite retries a job id once and refuses the second
    /// (422): `Rejected` with its message.
    pub async fn retry_job(&self, id: &BuildId, number: u64, job: &str) -> Result<()> {
        let op = Operation::new("retry_failed", id.as_str());
        let number_text = number.to_string();
        let url = buildrunner_http::join_path(
            &self.builds_url,
            &[number_text.as_str(), "jobs", job, "retry"],
        );
        let request = Request::new(Method::PUT, url);
        let refused = |reply: &Reply| reply.error(&op);
        let took_effect = || async {
            let jobs = self.get_jobs(id, number).await?;
            Ok(jobs.iter().any(|j| j.id == job && j.retried))
        };
        self.parts
            .client
            .act(&op, &request, refused, took_effect)
            .await
    }

    /// `PUT .../builds/{number}/cancel`: `Ok(None)` when accepted, `Ok(Some(refusal))` for
    /// Buildkite's 422 (the build cannot be cancelled in its state), any other failure `Err`.
    pub async fn cancel_build(&self, id: &BuildId, number: u64) -> Result<Option<Error>> {
        let op = Operation::new("cancel", id.as_str());
        let request = Request::new(Method::PUT, self.build_url(number, Some("cancel")));
        let reply = self.parts.client.idempotent(&op, &request).await?;
        if reply.status.is_success() {
            return Ok(None);
        }
        if reply.status == buildrunner_http::StatusCode::UNPROCESSABLE_ENTITY {
            return Ok(Some(reply.error(&op)));
        }
        Err(reply.error(&op))
    }
}
