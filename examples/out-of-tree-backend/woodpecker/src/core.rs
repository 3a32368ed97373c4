//! Woodpecker's endpoints (create a pipeline, list, get, cancel) and their wire structs, each
//! one request through the shared [`HttpClient`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::{BuildId, Result};
use buildrunner_http::rate::{Answered, BudgetKey, HeaderScheme, retry_after};
use buildrunner_http::{
    Auth, ClientSpec, HttpClient, HttpParts, Method, NumberedIds, Operation, Reply, Request,
    StatusCode, Token, Url, join_path,
};
use serde::{Deserialize, Serialize};

use crate::{KEY_VARIABLE, NAME, WoodpeckerConfig};

/// Woodpecker has no rate limit of its own; a proxy's 429 is waited out after `Retry-After`.
const RATE_SCHEME: HeaderScheme = HeaderScheme {
    windows: &[],
    refusal: proxy_refusal,
    not_modified_is_free: false,
};

fn proxy_refusal(answer: &Answered<'_>) -> Option<Option<Duration>> {
    (answer.status == StatusCode::TOO_MANY_REQUESTS).then(|| retry_after(answer.headers))
}

/// `POST /api/repos/{repo_id}/pipelines`: a manual pipeline with these variables.
#[derive(Debug, Serialize)]
pub(crate) struct CreatePipeline<'a> {
    pub branch: &'a str,
    pub variables: BTreeMap<&'static str, String>,
}

/// A pipeline as the API answers it; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Pipeline {
    pub number: u64,
    pub status: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug)]
pub(crate) struct Core {
    /// Its configuration and client; Woodpecker's webhooks are not read.
    pub parts: HttpParts<WoodpeckerConfig>,
    pub ids: NumberedIds,
}

impl Core {
    pub fn new(config: WoodpeckerConfig, token: &Token) -> Result<Self> {
        let spec = ClientSpec {
            backend: NAME,
            service: "Woodpecker",
            options: config.http.clone(),
            auth: Auth::bearer(token)?,
            default_headers: Vec::new(),
            scheme: Arc::new(RATE_SCHEME),
            budget_key: BudgetKey {
                api_url: config.api_url.to_string(),
                account: config.repo_id.to_string(),
                token_fingerprint: token.fingerprint(),
            },
            budget_store: None,
        };
        Ok(Core {
            ids: config.ids(),
            parts: HttpParts::new(spec, config, crate::CAPABILITIES)?,
        })
    }

    fn url(&self, tail: &[&str]) -> Url {
        let repo = self.parts.config.repo_id.to_string();
        let mut segments = vec!["api", "repos", repo.as_str(), "pipelines"];
        segments.extend_from_slice(tail);
        join_path(&self.parts.config.api_url, &segments)
    }

    /// Creates a pipeline; an unknown outcome is settled by looking `key` up.
    pub async fn create(&self, body: &CreatePipeline<'_>, key: &str) -> Result<u64> {
        let op = Operation::new(
            "trigger",
            format!("repository {}", self.parts.config.repo_id),
        );
        let body = serde_json::to_vec(body)
            .map_err(|e| op.protocol("the pipeline request cannot be encoded", Some(e)))?;
        let request = Request::new(Method::POST, self.url(&[])).json(&body);
        let decode = |reply: &Reply| reply.decode::<Pipeline>(&op).map(|p| p.number);
        let refused = |reply: &Reply| reply.error(&op);
        let lookup = Some(move || self.find_by_key(key));
        self.parts
            .client
            .create(&op, &request, decode, refused, lookup)
            .await
    }

    /// The oldest recent pipeline whose key variable is `key`.
    pub async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let op = Operation::new(
            "idempotency lookup",
            format!("repository {}", self.parts.config.repo_id),
        );
        let mut url = self.url(&[]);
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("perPage", "50");
        let pipelines: Vec<Pipeline> = self.parts.client.fetch(&op, &Request::get(url)).await?;
        Ok(pipelines
            .iter()
            .filter(|p| p.variables.get(KEY_VARIABLE).map(String::as_str) == Some(key))
            .map(|p| p.number)
            .min())
    }

    pub async fn get(&self, id: &BuildId, number: u64) -> Result<Pipeline> {
        let op = Operation::new("status", id.as_str());
        let pipeline: Pipeline = self
            .parts
            .client
            .fetch(&op, &Request::get(self.url(&[&number.to_string()])))
            .await?;
        if pipeline.number != number {
            return Err(op.protocol(
                format_args!("answered with pipeline {}", pipeline.number),
                None,
            ));
        }
        Ok(pipeline)
    }

    /// Asks for a cancel; `Ok(false)` when Woodpecker refuses it with a 400 (the pipeline is
    /// no longer pending, running or blocked), for the caller to check.
    pub async fn cancel(&self, id: &BuildId, number: u64) -> Result<bool> {
        let op = Operation::new("cancel", id.as_str());
        let request = Request::new(Method::POST, self.url(&[&number.to_string(), "cancel"]));
        let reply = self.parts.client.idempotent(&op, &request).await?;
        match reply.status {
            status if status.is_success() => Ok(true),
            StatusCode::BAD_REQUEST => Ok(false),
            _ => Err(reply.error(&op)),
        }
    }
}
