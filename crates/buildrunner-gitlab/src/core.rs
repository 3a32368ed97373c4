//! GitLab's endpoints: create a pipeline, get it, read its variables, list by name, cancel;
//! each one request through the shared [`HttpClient`].

use std::sync::Arc;

use buildrunner_api::{BuildId, Error, JobReport, Result};
use buildrunner_http::rate::BudgetKey;
use buildrunner_http::{
    Auth, ClientSpec, HttpParts, Method, NumberedIds, Operation, Reply, Request, Token, Url,
    join_path,
};
use serde::Serialize;
use serde_json::Value;

use crate::error::create_error;
use crate::model::{Pipeline, decode_jobs_response, pipeline_name};
use crate::rate::GITLAB_RATE_SCHEME;
use crate::{GitLabConfig, NAME};

/// One CI/CD variable of a pipeline creation.
#[derive(Debug, Serialize)]
pub(crate) struct Variable<'a> {
    pub key: &'a str,
    pub value: String,
}

#[derive(Serialize)]
struct CreatePipeline<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    variables: &'a [Variable<'a>],
}

/// The endpoints of one project.
#[derive(Debug)]
pub(crate) struct GitLabCore {
    /// Its configuration, client, capabilities and webhook receiver (feature `webhooks`).
    pub parts: HttpParts<GitLabConfig>,
    pub ids: NumberedIds,
}

impl GitLabCore {
    pub fn new(config: GitLabConfig, token: &Token) -> Result<Self> {
        let capabilities =
            crate::backend::capabilities(config.key_variable.is_some(), config.read_variables);
        let spec = ClientSpec {
            backend: NAME,
            service: "GitLab",
            options: config.http.clone(),
            auth: Auth::named_header("PRIVATE-TOKEN", token)?,
            default_headers: ClientSpec::accept_json(),
            scheme: Arc::new(GITLAB_RATE_SCHEME),
            budget_key: BudgetKey {
                api_url: config.api_url.to_string(),
                account: config.project.clone(),
                token_fingerprint: token.fingerprint(),
            },
            budget_store: None,
        };
        Ok(GitLabCore {
            ids: config.ids(),
            parts: HttpParts::new(spec, config, capabilities)?
                .with_webhooks(crate::webhook::receiver),
        })
    }

    /// `{api}/api/v4/projects/{project, URL-encoded}/...`
    fn url(&self, tail: &[&str]) -> Url {
        let mut segments = vec!["api", "v4", "projects", &self.parts.config.project];
        segments.extend_from_slice(tail);
        join_path(&self.parts.config.api_url, &segments)
    }

    fn pipeline_url(&self, id: u64, tail: Option<&str>) -> Url {
        let id = id.to_string();
        let mut segments = vec!["pipelines", id.as_str()];
        segments.extend(tail);
        self.url(&segments)
    }

    /// `POST .../pipeline`: the new pipeline's id. With `key`, an outcome that stays unknown
    /// is settled by looking the key up, never by creating blindly again.
    pub async fn create_pipeline(
        &self,
        variables: &[Variable<'_>],
        key: Option<&str>,
    ) -> Result<u64> {
        let op = Operation::new("trigger", format!("project {}", self.parts.config.project));
        let body = CreatePipeline {
            git_ref: &self.parts.config.git_ref,
            variables,
        };
        let body = serde_json::to_vec(&body).map_err(|e| Error::InvalidRequest {
            reason: format!("the pipeline request cannot be encoded as JSON: {e}"),
        })?;
        let request = Request::new(Method::POST, self.url(&["pipeline"])).json(&body);
        let decode = |reply: &Reply| {
            let value: Value = reply.decode(&op)?;
            Pipeline::from_json(&value)
                .map(|p| p.id)
                .ok_or_else(|| op.protocol("the created pipeline has no numeric id", None))
        };
        let refused = |reply: &Reply| create_error(reply, &op, &self.parts.config);
        let lookup = key.map(|key| move || self.find_by_key(key));
        self.parts
            .client
            .create(&op, &request, decode, refused, lookup)
            .await
    }

    /// `GET .../pipelines?name=buildrunner <key>&source=api`: the oldest pipeline named
    /// after `key` (GitLab has no filter by variable).
    pub async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let op = Operation::new(
            "idempotency lookup",
            format!("project {}", self.parts.config.project),
        );
        let mut url = self.url(&["pipelines"]);
        url.query_pairs_mut()
            .append_pair("name", &pipeline_name(key))
            .append_pair("source", "api")
            .append_pair("per_page", "100");
        let list: Vec<Value> = self.parts.client.fetch(&op, &Request::get(url)).await?;
        let pipelines: Option<Vec<Pipeline>> = list.iter().map(Pipeline::from_json).collect();
        let pipelines = pipelines.ok_or_else(|| {
            op.protocol(
                "the pipelines list has an entry that is not a pipeline",
                None,
            )
        })?;
        // Two concurrent first triggers with one key can both create; the oldest is the answer.
        Ok(pipelines.iter().map(|p| p.id).min())
    }

    /// `GET .../pipelines/{id}`.
    pub async fn get_pipeline(&self, id: &BuildId, pipeline_id: u64) -> Result<Pipeline> {
        let op = Operation::new("status", id.as_str());
        let value: Value = self
            .parts
            .client
            .fetch(&op, &Request::get(self.pipeline_url(pipeline_id, None)))
            .await?;
        let pipeline = Pipeline::from_json(&value)
            .ok_or_else(|| op.protocol("the pipeline is not an object with a numeric id", None))?;
        if pipeline.id != pipeline_id {
            return Err(op.protocol(
                format_args!("GitLab answered with pipeline {}", pipeline.id),
                None,
            ));
        }
        Ok(pipeline)
    }

    /// `GET .../pipelines/{id}/variables`: `[{key, variable_type, value}]`.
    pub async fn pipeline_variables(&self, id: &BuildId, pipeline_id: u64) -> Result<Value> {
        let op = Operation::new("variables", id.as_str());
        self.parts
            .client
            .fetch(
                &op,
                &Request::get(self.pipeline_url(pipeline_id, Some("variables"))),
            )
            .await
    }

    /// `GET .../pipelines/{id}/jobs?per_page=100`: the latest attempt of each job.
    pub async fn pipeline_jobs(&self, id: &BuildId, pipeline_id: u64) -> Result<Vec<JobReport>> {
        let op = Operation::new("jobs", id.as_str());
        let mut url = self.pipeline_url(pipeline_id, Some("jobs"));
        url.query_pairs_mut().append_pair("per_page", "100");
        self.parts
            .client
            .fetch_decoded(&op, &Request::get(url), decode_jobs_response)
            .await
    }

    /// `POST .../pipelines/{id}/retry` (201): the failed and canceled jobs run again. An
    /// answer that cannot be read is settled by reading the pipeline: once it is no longer
    /// failed, the retry took; a retry is never sent again blindly.
    pub async fn retry_pipeline(&self, id: &BuildId, pipeline_id: u64) -> Result<()> {
        let op = Operation::new("retry_failed", id.as_str());
        let request = Request::new(Method::POST, self.pipeline_url(pipeline_id, Some("retry")));
        let refused = |reply: &Reply| reply.error(&op);
        let took_effect = || async {
            let pipeline = self.get_pipeline(id, pipeline_id).await?;
            Ok(!matches!(
                pipeline.status.as_deref(),
                Some("failed" | "canceled")
            ))
        };
        self.parts
            .client
            .act(&op, &request, refused, took_effect)
            .await
    }

    /// `POST .../pipelines/{id}/cancel`: GitLab answers 200 whatever the state, with the
    /// pipeline; its status says what happened.
    pub async fn cancel_pipeline(&self, id: &BuildId, pipeline_id: u64) -> Result<Pipeline> {
        let op = Operation::new("cancel", id.as_str());
        let request = Request::new(Method::POST, self.pipeline_url(pipeline_id, Some("cancel")));
        let value: Value = self.parts.client.fetch(&op, &request).await?;
        Pipeline::from_json(&value).ok_or_else(|| {
            op.protocol(
                "the cancelled pipeline is not an object with a numeric id",
                None,
            )
        })
    }
}
