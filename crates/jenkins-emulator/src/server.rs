//! Jenkins' routes, and what the shared gate needs to know of Jenkins' wire format.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Shared};
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{any, get, post};
use buildrunner_emulator_engine::{
    Answer, Engine, Platform, Query, RateVerdict, basic_password, decode_segment,
};

use crate::state::{State, page};

type App = Arc<State>;

pub(crate) fn routes(state: App) -> Router {
    Router::new()
        .route("/queue/api/json", get(queue))
        .route("/queue/item/{id}/api/json", get(queue_item))
        .route("/queue/cancelItem", post(cancel_item))
        .route("/job/{*rest}", any(job))
        .with_state(state)
}

impl Platform for State {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, _path: &str) -> Option<Answer> {
        let valid = basic_password(headers).is_some_and(|p| p == self.common.config.token);
        (!valid).then(|| page(401, "Invalid password/token for user"))
    }

    /// Jenkins has no limits of its own; a limit set on the emulator answers as a proxy in
    /// front of it would.
    fn rate_limit(&self, headers: &HeaderMap, _method: &str, _path: &str) -> RateVerdict {
        let key = basic_password(headers).unwrap_or_default();
        let Some(count) = self.common.engine.count_request(&key) else {
            return RateVerdict::default();
        };
        RateVerdict {
            headers: Vec::new(),
            exceeded: count
                .exceeded
                .then(|| self.rate_limited_fault(count.reset_secs())),
        }
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        Answer::html(
            429,
            "<html><body><h1>429 Too Many Requests</h1></body></html>",
        )
        .with_header("Retry-After", reset_secs.to_string())
    }

    fn error(&self, status: u16, text: &str) -> Answer {
        page(status, text)
    }
}

async fn queue(Shared(state): Shared<App>) -> Answer {
    state.queue()
}

async fn queue_item(
    Shared(state): Shared<App>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Answer {
    state.queue_item(&id)
}

async fn cancel_item(Shared(state): Shared<App>, RawQuery(query): RawQuery) -> Answer {
    state.cancel_item(&Query::parse(query.as_deref()))
}

/// `/job/{a}/job/{b}/...`: the job's names, then what is asked of it.
fn split_job(path: &str) -> Option<(String, Vec<String>)> {
    let mut segments = path.trim_start_matches('/').split('/').map(decode_segment);
    if segments.next()?? != "job" {
        return None;
    }
    let mut names = vec![segments.next()??];
    let mut rest: Vec<String> = Vec::new();
    while let Some(segment) = segments.next() {
        let segment = segment?;
        if rest.is_empty() && segment == "job" {
            names.push(segments.next()??);
        } else if !segment.is_empty() {
            rest.push(segment);
        }
    }
    if names.iter().any(String::is_empty) {
        return None;
    }
    Some((names.join("/"), rest))
}

async fn job(
    Shared(state): Shared<App>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Answer {
    let Some((job, rest)) = split_job(uri.path()) else {
        return page(404, "Not Found");
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (method.as_str(), rest.as_slice()) {
        ("POST", ["buildWithParameters"]) => {
            // Form fields and query parameters are both read, as Stapler does.
            let mut form = Query::parse(std::str::from_utf8(&body).ok());
            form.pairs.extend(Query::parse(query.as_deref()).pairs);
            state.build_with_parameters(&job, &form)
        }
        ("GET", ["api", "json"]) => state.job(&job),
        ("GET", [number, "api", "json"]) => state.build(&job, number),
        ("GET", [number, "wfapi", "describe"]) => state.describe(&job, number),
        ("POST", [number, "stop"]) => state.stop(&job, number),
        _ => page(404, "Not Found"),
    }
}
