//! Azure DevOps' endpoints: run a pipeline, get a build, list builds by number, cancel,
//! retry the failed jobs, read the timeline; each one request through the shared
//! [`HttpClient`], with `api-version=7.1`.

use std::sync::Arc;

use buildrunner_api::{BuildId, BuildStatus, Error, JobReport, Result};
use buildrunner_http::rate::BudgetKey;
use buildrunner_http::{
    Auth, ClientSpec, HttpParts, Method, Operation, Reply, Request, Token, Url, join_path,
    keyed_capabilities,
};
use serde_json::{Map, Value, json};

use crate::error::run_error;
use crate::model::{Build, build_number, decode_timeline_response};
use crate::rate::AZURE_RATE_SCHEME;
use crate::{AzurePipelinesConfig, NAME};

const API_VERSION: &str = "7.1";

/// The endpoints of one pipeline.
#[derive(Debug)]
pub(crate) struct AzureCore {
    /// Its configuration, client, capabilities and webhook receiver (feature `webhooks`).
    pub parts: HttpParts<AzurePipelinesConfig>,
    pub ids: buildrunner_http::NumberedIds,
}

impl AzureCore {
    pub fn new(config: AzurePipelinesConfig, token: &Token) -> Result<Self> {
        let capabilities = keyed_capabilities(crate::CAPABILITIES, config.key_parameter.as_deref());
        let spec = ClientSpec {
            backend: NAME,
            service: "Azure DevOps",
            options: config.http.clone(),
            // A personal access token is the Basic password; the user name is not read.
            auth: Auth::basic("", token)?,
            default_headers: ClientSpec::accept_json(),
            scheme: Arc::new(AZURE_RATE_SCHEME),
            budget_key: BudgetKey {
                api_url: config.api_url.to_string(),
                account: config.organization.clone(),
                token_fingerprint: token.fingerprint(),
            },
            budget_store: None,
        };
        Ok(AzureCore {
            ids: config.ids(),
            parts: HttpParts::new(spec, config, capabilities)?
                .with_webhooks(crate::webhook::receiver),
        })
    }

    /// `{api}/{organization}/{project}/_apis/...?api-version=7.1`
    fn url(&self, tail: &[&str]) -> Url {
        let mut segments = vec![
            self.parts.config.organization.as_str(),
            self.parts.config.project.as_str(),
            "_apis",
        ];
        segments.extend_from_slice(tail);
        let mut url = join_path(&self.parts.config.api_url, &segments);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        url
    }

    fn build_url(&self, run_id: u64, tail: Option<&str>) -> Url {
        let id = run_id.to_string();
        let mut segments = vec!["build", "builds", id.as_str()];
        segments.extend(tail);
        self.url(&segments)
    }

    /// `GET …/_apis/build/builds?definitions={pipeline}&buildNumber=buildrunner {key}`: the
    /// oldest build the sample YAML named after `key`.
    pub async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let op = Operation::new(
            "idempotency lookup",
            format!("pipeline {}", self.parts.config.pipeline_path()),
        );
        let mut url = self.url(&["build", "builds"]);
        url.query_pairs_mut()
            .append_pair("definitions", &self.parts.config.pipeline_id.to_string())
            .append_pair("buildNumber", &build_number(key));
        let list: Value = self.parts.client.fetch(&op, &Request::get(url)).await?;
        let builds = list
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| op.protocol("the build list has no value array", None))?;
        let ids: Option<Vec<u64>> = builds.iter().map(|b| b.get("id")?.as_u64()).collect();
        let ids = ids.ok_or_else(|| op.protocol("a build in the list has no numeric id", None))?;
        // Two concurrent first triggers with one key can both run; the oldest is the answer.
        Ok(ids.into_iter().min())
    }

    /// `POST …/_apis/pipelines/{pipeline_id}/runs`: the new run's id, which is also its
    /// build's. With `key`, an outcome that stays unknown is settled by looking the key up,
    /// never by running blindly again.
    pub async fn run_pipeline(
        &self,
        parameters: Map<String, Value>,
        key: Option<&str>,
    ) -> Result<u64> {
        let op = Operation::new(
            "trigger",
            format!("pipeline {}", self.parts.config.pipeline_path()),
        );
        let body = json!({
            "resources": {"repositories": {"self": {"refName": self.parts.config.git_ref}}},
            "templateParameters": parameters,
        });
        let body = serde_json::to_vec(&body).map_err(|e| Error::InvalidRequest {
            reason: format!("the run request cannot be encoded as JSON: {e}"),
        })?;
        let pipeline = self.parts.config.pipeline_id.to_string();
        let request =
            Request::new(Method::POST, self.url(&["pipelines", &pipeline, "runs"])).json(&body);
        let decode = |reply: &Reply| {
            let run: Value = reply.decode(&op)?;
            run.get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| op.protocol("the run has no numeric id", None))
        };
        let refused = |reply: &Reply| run_error(reply, &op, &self.parts.config);
        let lookup = key.map(|key| move || self.find_by_key(key));
        self.parts
            .client
            .create(&op, &request, decode, refused, lookup)
            .await
    }

    /// `GET …/_apis/build/builds/{id}`.
    pub async fn get_build(&self, id: &BuildId, run_id: u64) -> Result<Build> {
        let op = Operation::new("status", id.as_str());
        let value: Value = self
            .parts
            .client
            .fetch(&op, &Request::get(self.build_url(run_id, None)))
            .await?;
        let build = Build::from_json(&value)
            .ok_or_else(|| op.protocol("the build is not an object with a numeric id", None))?;
        if build.id != run_id {
            return Err(op.protocol(format_args!("Azure answered with build {}", build.id), None));
        }
        Ok(build)
    }

    /// `GET …/_apis/build/builds/{id}/timeline`: its `Job` records.
    pub async fn timeline_jobs(&self, id: &BuildId, run_id: u64) -> Result<Vec<JobReport>> {
        let op = Operation::new("jobs", id.as_str());
        let partially = self.parts.config.partially_succeeded;
        self.parts
            .client
            .fetch_decoded(
                &op,
                &Request::get(self.build_url(run_id, Some("timeline"))),
                |body| decode_timeline_response(body, partially),
            )
            .await
    }

    /// `PATCH …/_apis/build/builds/{id}` with `{"status": "cancelling"}` (200 with the build).
    pub async fn cancel_build(&self, id: &BuildId, run_id: u64) -> Result<()> {
        let op = Operation::new("cancel", id.as_str());
        let body = br#"{"status":"cancelling"}"#;
        let request = Request::new(Method::PATCH, self.build_url(run_id, None)).json(body);
        self.parts
            .client
            .idempotent(&op, &request)
            .await?
            .success(&op)?;
        Ok(())
    }

    /// `PATCH …/_apis/build/builds/{id}?retry=true` with an empty body (Azure refuses a body
    /// with this parameter): the UI's "Rerun failed jobs", in the same run. An answer that
    /// cannot be read is settled by reading the build: once it is no longer failed, the
    /// retry took; it is never sent again blindly.
    pub async fn retry_failed_jobs(&self, id: &BuildId, run_id: u64) -> Result<()> {
        let op = Operation::new("retry_failed", id.as_str());
        let mut url = self.build_url(run_id, None);
        url.query_pairs_mut().append_pair("retry", "true");
        let request = Request::new(Method::PATCH, url);
        let refused = |reply: &Reply| reply.error(&op);
        let took_effect = || async {
            let build = self.get_build(id, run_id).await?;
            Ok(build.report(self.parts.config.partially_succeeded).status != BuildStatus::Failed)
        };
        self.parts
            .client
            .act(&op, &request, refused, took_effect)
            .await
    }
}
