//! Buildkite's routes, and what the shared gate needs to know of Buildkite's wire format.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Shared};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post, put};
use buildrunner_emulator_engine::{Answer, Engine, Platform, Query, RateVerdict};

use crate::state::{State, rate_limited};

type App = Arc<State>;

pub(crate) fn routes(state: App) -> Router {
    Router::new()
        .route(
            "/v2/organizations/{org}/pipelines/{pipeline}/builds",
            get(list).post(create),
        )
        .route(
            "/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}",
            get(status),
        )
        .route(
            "/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}/cancel",
            put(cancel),
        )
        .route(
            "/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}/jobs/{job}/retry",
            put(retry_job),
        )
        .route("/v1", post(graphql))
        .with_state(state)
}

impl Platform for State {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, _path: &str) -> Option<Answer> {
        let expected = format!("Bearer {}", self.token());
        let authorized = headers
            .get(header::AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == expected.as_bytes());
        (!authorized).then(|| {
            self.error(
                401,
                "Authentication required. Please supply a valid API Access Token",
            )
        })
    }

    fn rate_limit(&self, _headers: &HeaderMap, _method: &str, path: &str) -> RateVerdict {
        if path == "/v1" {
            return RateVerdict::default(); // GraphQL counts points, in its handler
        }
        let organization = path
            .strip_prefix("/v2/organizations/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        State::rate_limit(self, organization)
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        let mut answer = rate_limited(200, 201, reset_secs);
        answer.headers = vec![
            ("RateLimit-Scope", "rest".to_owned()),
            ("RateLimit-Limit", "200".to_owned()),
            ("RateLimit-Remaining", "0".to_owned()),
            ("RateLimit-Reset", reset_secs.to_string()),
        ];
        answer
    }

    fn error(&self, status: u16, message: &str) -> Answer {
        Answer::json(status, serde_json::json!({ "message": message }))
    }
}

async fn create(
    Shared(state): Shared<App>,
    Path((org, pipeline)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    state.create(&org, &pipeline, &body)
}

async fn status(
    Shared(state): Shared<App>,
    Path((org, pipeline, number)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    state.get(&org, &pipeline, &number, &Query::parse(query.as_deref()))
}

async fn graphql(Shared(state): Shared<App>, body: Bytes) -> Answer {
    state.graphql(&body)
}

async fn cancel(
    Shared(state): Shared<App>,
    Path((org, pipeline, number)): Path<(String, String, String)>,
) -> Answer {
    state.cancel(&org, &pipeline, &number)
}

async fn retry_job(
    Shared(state): Shared<App>,
    Path((org, pipeline, number, job)): Path<(String, String, String, String)>,
) -> Answer {
    state.retry_job(&org, &pipeline, &number, &job)
}

async fn list(
    Shared(state): Shared<App>,
    Path((org, pipeline)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let path = format!("/v2/organizations/{org}/pipelines/{pipeline}/builds");
    state.list(&org, &pipeline, &Query::parse(query.as_deref()), &path)
}
