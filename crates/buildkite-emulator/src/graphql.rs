//! Buildkite's GraphQL API, the part `status_many` uses: aliased
//! `build(slug: "org/pipeline/number") { number state blockedState url env }` fields, one
//! complexity point per build, counted against the organization's point window.

use std::sync::PoisonError;
use std::time::Instant;

use buildrunner_emulator_engine::Answer;
use serde_json::{Map, Value, json};

use crate::state::{BuildKey, State};

/// The `(alias, organization, pipeline, number)` of every `alias: build(slug: "...")` field.
fn aliased_builds(query: &str) -> Option<Vec<(String, BuildKey)>> {
    let mut builds = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("build(slug:") {
        let alias = rest[..at].trim_end().strip_suffix(':')?;
        let alias = alias
            .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()?;
        let after = &rest[at + "build(slug:".len()..];
        let slug = after.trim_start().strip_prefix('"')?;
        let end = slug.find('"')?;
        let mut parts = slug[..end].split('/');
        let (organization, pipeline, number) = (parts.next()?, parts.next()?, parts.next()?);
        let number = number.parse().ok()?;
        builds.push((
            alias.to_owned(),
            (organization.to_owned(), pipeline.to_owned(), number),
        ));
        rest = &slug[end..];
    }
    Some(builds)
}

impl State {
    /// Answers one GraphQL `POST`.
    pub(crate) fn graphql(&self, body: &[u8]) -> Answer {
        let query = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|body| body["query"].as_str().map(str::to_owned));
        let Some(builds) = query.as_deref().and_then(aliased_builds) else {
            return Answer::json(
                200,
                json!({"errors": [{"message": "Syntax error or unsupported query"}]}),
            );
        };
        let points = u32::try_from(builds.len()).unwrap_or(u32::MAX);
        let organization = builds
            .first()
            .map_or("", |(_, key)| key.0.as_str())
            .to_owned();
        let now = Instant::now();
        let window = self
            .graphql_points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spend(&organization, now, points);
        let mut headers = vec![("RateLimit-Complexity-Actual", points.to_string())];
        if let Some(window) = window {
            headers.extend([
                ("RateLimit-Limit", window.limit.to_string()),
                ("RateLimit-Remaining", window.remaining.to_string()),
                ("RateLimit-Reset", window.reset_secs().to_string()),
            ]);
            if window.exceeded {
                let message = format!(
                    "Your organization has exceeded the limit of {} complexity points. Please try again in {} seconds.",
                    window.limit,
                    window.reset_secs()
                );
                let mut answer = Answer::json(429, json!({"errors": [{"message": message}]}));
                answer.headers = headers;
                return answer;
            }
        }
        let inner = self.common.lock();
        let mut data = Map::new();
        let mut errors = Vec::new();
        for (alias, key) in builds {
            let node = match inner.build(&key) {
                Some(build) => {
                    let (state, blocked) = self.raw_state(build, now);
                    let (state, blocked_state) = if blocked {
                        ("BLOCKED".to_owned(), json!(state.to_ascii_uppercase()))
                    } else {
                        (state.to_ascii_uppercase(), Value::Null)
                    };
                    let env: Vec<String> = build
                        .env()
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect();
                    json!({
                        "number": build.number(),
                        "state": state,
                        "blockedState": blocked_state,
                        "url": self.web_url(&key.0, &key.1, build.number()),
                        "env": env,
                    })
                }
                None => {
                    errors.push(json!({"message": "No build found", "path": [alias]}));
                    Value::Null
                }
            };
            data.insert(alias, node);
        }
        let mut body = json!({ "data": data });
        if !errors.is_empty() {
            body["errors"] = Value::Array(errors);
        }
        let mut answer = Answer::json(200, body);
        answer.headers = headers;
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_slugs_are_read_from_the_query() {
        let query = "query { b0: build(slug: \"acme/app/4\") { number } b1: build(slug:\"acme/app/17\") { state } }";
        let builds = aliased_builds(query).unwrap();
        assert_eq!(
            builds,
            vec![
                ("b0".to_owned(), ("acme".to_owned(), "app".to_owned(), 4)),
                ("b1".to_owned(), ("acme".to_owned(), "app".to_owned(), 17)),
            ]
        );
        assert_eq!(
            aliased_builds("query { b0: build(slug: \"acme/app/x\") { number } }"),
            None
        );
        assert_eq!(aliased_builds("{ viewer { id } }"), Some(vec![]));
    }
}
