//! GitLab's routes, and what the shared gate needs to know of GitLab's wire format.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Shared};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use buildrunner_emulator_engine::{Answer, Engine, Platform, Query, RateVerdict, WindowCount};

use crate::state::{State, message};

type App = Arc<State>;

pub(crate) fn routes(state: App) -> Router {
    Router::new()
        .route("/api/v4/projects/{project}/pipeline", post(create))
        .route("/api/v4/projects/{project}/pipelines", get(list))
        .route("/api/v4/projects/{project}/pipelines/{id}", get(pipeline))
        .route(
            "/api/v4/projects/{project}/pipelines/{id}/variables",
            get(variables),
        )
        .route(
            "/api/v4/projects/{project}/pipelines/{id}/cancel",
            post(cancel),
        )
        .route("/api/v4/projects/{project}/pipelines/{id}/jobs", get(jobs))
        .route(
            "/api/v4/projects/{project}/pipelines/{id}/retry",
            post(retry),
        )
        .with_state(state)
}

/// The token of a request: `PRIVATE-TOKEN`, or a bearer token.
fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = headers.get("private-token").and_then(|v| v.to_str().ok()) {
        return Some(token);
    }
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

impl Platform for State {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, _path: &str) -> Option<Answer> {
        let valid = credential(headers).is_some_and(|token| token == self.common.config.token);
        (!valid).then(|| message(401, "401 Unauthorized"))
    }

    fn rate_limit(&self, headers: &HeaderMap, _method: &str, _path: &str) -> RateVerdict {
        let key = credential(headers).unwrap_or("").to_owned();
        let Some(count) = self.common.engine.count_request(&key) else {
            return RateVerdict::default();
        };
        let headers = State::rate_headers(&count);
        let exceeded = count.exceeded.then(|| refused(&count, headers.clone()));
        RateVerdict { headers, exceeded }
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        let count = WindowCount {
            limit: 2000,
            used: 2001,
            remaining: 0,
            reset_in: std::time::Duration::from_secs(reset_secs),
            exceeded: true,
        };
        refused(&count, State::rate_headers(&count))
    }

    fn error(&self, status: u16, text: &str) -> Answer {
        message(status, &format!("{status} {text}"))
    }
}

/// GitLab's throttled answer: plain text, `Retry-After` in seconds, the headers of the window.
fn refused(count: &WindowCount, headers: Vec<(&'static str, String)>) -> Answer {
    let mut answer = Answer::plain(429, "Retry later");
    answer.headers = headers;
    answer
        .headers
        .push(("Retry-After", count.reset_secs().to_string()));
    answer
}

async fn create(Shared(state): Shared<App>, Path(project): Path<String>, body: Bytes) -> Answer {
    state.create(&project, &body)
}

async fn list(
    Shared(state): Shared<App>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let path = format!("/api/v4/projects/{}/pipelines", project.replace('/', "%2F"));
    state.list(&project, &Query::parse(query.as_deref()), &path)
}

async fn pipeline(
    Shared(state): Shared<App>,
    Path((project, id)): Path<(String, String)>,
) -> Answer {
    state.get(&project, &id)
}

async fn variables(
    Shared(state): Shared<App>,
    Path((project, id)): Path<(String, String)>,
) -> Answer {
    state.variables(&project, &id)
}

async fn cancel(Shared(state): Shared<App>, Path((project, id)): Path<(String, String)>) -> Answer {
    state.cancel(&project, &id)
}

async fn jobs(Shared(state): Shared<App>, Path((project, id)): Path<(String, String)>) -> Answer {
    state.jobs(&project, &id)
}

async fn retry(Shared(state): Shared<App>, Path((project, id)): Path<(String, String)>) -> Answer {
    state.retry(&project, &id)
}
