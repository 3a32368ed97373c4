//! Azure DevOps' routes, and what the shared gate needs to know of its wire format.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State as Shared};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use buildrunner_emulator_engine::{
    Answer, Engine, Platform, Query, RateVerdict, WindowCount, basic_password,
};

use crate::state::{Scope, State, error};

type App = Arc<State>;

pub(crate) fn routes(state: App) -> Router {
    Router::new()
        .route(
            "/{org}/{project}/_apis/pipelines/{pipeline}/runs",
            post(run),
        )
        .route("/{org}/{project}/_apis/build/builds", get(list))
        .route(
            "/{org}/{project}/_apis/build/builds/{id}",
            get(build).patch(update),
        )
        .route(
            "/{org}/{project}/_apis/build/builds/{id}/timeline",
            get(timeline),
        )
        .route_layer(middleware::from_fn(require_api_version))
        .with_state(state)
}

/// Azure's answer to a token it does not accept: its sign-in page, with 203.
fn sign_in_page() -> Answer {
    Answer::html(
        203,
        "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>Sign in to your account</body></html>",
    )
}

/// `X-RateLimit-*` of a window.
fn rate_headers(count: &WindowCount) -> Vec<(&'static str, String)> {
    vec![
        ("X-RateLimit-Resource", "Core".to_owned()),
        ("X-RateLimit-Limit", count.limit.to_string()),
        ("X-RateLimit-Remaining", count.remaining.to_string()),
        ("X-RateLimit-Reset", count.reset_epoch_secs().to_string()),
    ]
}

impl Platform for State {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, _path: &str) -> Option<Answer> {
        let valid = basic_password(headers).is_some_and(|p| p == self.common.config.token);
        (!valid).then(sign_in_page)
    }

    /// Near the limit Azure delays (200 with `Retry-After`), past it it blocks (429).
    fn rate_limit(&self, headers: &HeaderMap, _method: &str, _path: &str) -> RateVerdict {
        let key = basic_password(headers).unwrap_or_default();
        let Some(count) = self.common.engine.count_request(&key) else {
            return RateVerdict::default();
        };
        let mut headers = rate_headers(&count);
        if count.exceeded {
            return RateVerdict {
                exceeded: Some(self.rate_limited_fault(count.reset_secs())),
                headers,
            };
        }
        if count.remaining.saturating_mul(5) < count.limit {
            headers.push(("Retry-After", "1".to_owned()));
            headers.push(("X-RateLimit-Delay", "0.5".to_owned()));
        }
        RateVerdict {
            headers,
            exceeded: None,
        }
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        error(
            429,
            "RequestBlockedException",
            "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.",
        )
        .with_header("Retry-After", reset_secs.max(1).to_string())
    }

    fn error(&self, status: u16, text: &str) -> Answer {
        error(status, "VssServiceException", text)
    }
}

/// Refuses a request that does not name `api-version=7.1`, as Azure refuses one without a
/// version or with one it does not serve; one layer for every route.
async fn require_api_version(request: Request, next: Next) -> Response {
    let query = Query::parse(request.uri().query());
    let refusal = match query.get("api-version") {
        Some("7.1") => return next.run(request).await,
        Some(other) => error(
            400,
            "VssVersionOutOfRangeException",
            &format!(
                "The requested REST API version of {other} is not supported by this emulator (7.1 is)."
            ),
        ),
        None => error(
            400,
            "VssVersionNotSpecifiedException",
            "No api-version was supplied for the request. An api-version must be specified.",
        ),
    };
    refusal.into_response()
}

fn scope<'a>(organization: &'a str, project: &'a str) -> Scope<'a> {
    Scope {
        organization,
        project,
    }
}

async fn run(
    Shared(state): Shared<App>,
    Path((org, project, pipeline)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    state.run(scope(&org, &project), &pipeline, &body)
}

async fn list(
    Shared(state): Shared<App>,
    Path((org, project)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    state.list(scope(&org, &project), &Query::parse(query.as_deref()))
}

async fn build(
    Shared(state): Shared<App>,
    Path((org, project, id)): Path<(String, String, String)>,
) -> Answer {
    state.get(scope(&org, &project), &id)
}

async fn update(
    Shared(state): Shared<App>,
    Path((org, project, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Answer {
    let query = Query::parse(query.as_deref());
    state.update(scope(&org, &project), &id, &query, &body)
}

async fn timeline(
    Shared(state): Shared<App>,
    Path((org, project, id)): Path<(String, String, String)>,
) -> Answer {
    state.timeline(scope(&org, &project), &id)
}
