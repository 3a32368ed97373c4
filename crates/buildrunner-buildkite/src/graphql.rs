//! Buildkite's GraphQL API, for `status_many` with `graphql = true`: up to 100 builds in one
//! `POST`, each an aliased `build(slug: "org/pipeline/number")`. It has its own budget (a
//! separate client keyed by the GraphQL URL, learning complexity points from the same
//! `RateLimit-*` headers), since Buildkite counts GraphQL points apart from REST requests.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use buildrunner_api::Result;
use buildrunner_http::{HttpClient, Method, Operation, Request, Token};
use serde_json::{Value, json};
use url::Url;

use crate::config::BuildkiteConfig;
use crate::core::client;
use crate::model::Build;

/// The most builds one query asks for: about 100 complexity points, far below the 50,000 a
/// query may have, and a response of a few hundred KiB at most.
pub(crate) const BUILDS_PER_QUERY: usize = 100;

/// The GraphQL endpoint of one pipeline.
#[derive(Debug)]
pub(crate) struct GraphQlCore {
    http: HttpClient,
    url: Url,
    pipeline_path: String,
    /// Cleared when the token turns out to have no GraphQL access; REST answers from then on.
    enabled: AtomicBool,
}

impl GraphQlCore {
    pub fn new(config: &BuildkiteConfig, url: Url, token: &Token) -> Result<Self> {
        let http = client(config, token, "Buildkite GraphQL", url.to_string())?;
        Ok(GraphQlCore {
            http,
            url,
            pipeline_path: format!("{}/{}", config.organization, config.pipeline),
            enabled: AtomicBool::new(true),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Stops using GraphQL for this runner (the token cannot).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// The builds with these numbers, in order; `None` for a build Buildkite does not know.
    /// At most [`BUILDS_PER_QUERY`] numbers.
    pub async fn builds(&self, numbers: &[u64]) -> Result<Vec<Option<Build>>> {
        let op = Operation::new("status_many", self.pipeline_path.clone());
        let body = json!({ "query": query(&self.pipeline_path, numbers) }).to_string();
        let request = Request::new(Method::POST, self.url.clone()).json(body.as_bytes());
        // A query changes nothing, so it is as safe to repeat as a GET.
        let reply = self.http.idempotent(&op, &request).await?.success(&op)?;
        let answer: Value = reply.decode(&op)?;
        let Some(data) = answer.get("data").and_then(Value::as_object) else {
            let message = answer["errors"][0]["message"].as_str().unwrap_or("no data");
            return Err(op.protocol(
                format_args!("GraphQL answered without data: {message}"),
                None,
            ));
        };
        numbers
            .iter()
            .enumerate()
            .map(|(index, &number)| match data.get(&alias(index)) {
                None | Some(Value::Null) => Ok(None),
                Some(node) => match Build::from_graphql(node) {
                    Some(build) if build.number == number => Ok(Some(build)),
                    _ => Err(op.protocol(
                        format_args!("GraphQL answered for build {number} with something else"),
                        None,
                    )),
                },
            })
            .collect()
    }
}

fn alias(index: usize) -> String {
    format!("b{index}")
}

/// `query { b0: build(slug: "org/pipeline/1") { ... } b1: ... }`. The slugs were checked at
/// configuration (letters, digits, `-`, `_`, `.`), so they need no escaping.
fn query(pipeline_path: &str, numbers: &[u64]) -> String {
    let mut query = String::from("query {");
    for (index, number) in numbers.iter().enumerate() {
        let _ = write!(
            query,
            " {}: build(slug: \"{pipeline_path}/{number}\") {{ number state blockedState url env }}",
            alias(index)
        );
    }
    query.push_str(" }");
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_aliases_each_build() {
        assert_eq!(
            query("acme/app", &[4, 17]),
            "query { b0: build(slug: \"acme/app/4\") { number state blockedState url env } \
             b1: build(slug: \"acme/app/17\") { number state blockedState url env } }"
        );
    }
}
