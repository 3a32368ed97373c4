//! The HTTP side: an axum router over [`State`], a layer that logs, injects faults,
//! authenticates and rate-limits, and an accept loop that can drop a connection on purpose.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::Fault;
use crate::state::{Answer, Query, State};

/// Closes the connection a request came on, without an answer.
#[derive(Clone)]
struct ConnectionKiller(Arc<Notify>);

type App = Arc<State>;

pub(crate) async fn serve(listener: TcpListener, state: App) {
    let router = Router::new()
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
        .fallback(|| async {
            json_response(
                StatusCode::NOT_FOUND,
                br#"{"message":"Not Found"}"#.to_vec(),
                &[],
            )
        })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), gate))
        .with_state(state);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let killer = Arc::new(Notify::new());
            let for_requests = Arc::clone(&killer);
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectionKiller(Arc::clone(&for_requests)));
                    router.clone().oneshot(request.map(Body::new))
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = killer.notified() => {}
            }
        });
    }
}

fn json_response(
    status: StatusCode,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, self.body.to_string().into_bytes(), &self.headers)
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

async fn cancel(
    Shared(state): Shared<App>,
    Path((org, pipeline, number)): Path<(String, String, String)>,
) -> Answer {
    state.cancel(&org, &pipeline, &number)
}

async fn list(
    Shared(state): Shared<App>,
    Path((org, pipeline)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let path = format!("/v2/organizations/{org}/pipelines/{pipeline}/builds");
    state.list(&org, &pipeline, &Query::parse(query.as_deref()), &path)
}

/// Applies the gate and logs the request with the status it got.
async fn gate(Shared(state): Shared<App>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let killer = request.extensions().get::<ConnectionKiller>().cloned();
    let answered = guarded(&state, request, next).await;
    let status = answered.as_ref().map_or(0, |r| r.status().as_u16());
    state.log(&method, &path, query.as_deref(), status);
    match answered {
        Some(response) => response,
        None => {
            if let Some(ConnectionKiller(notify)) = killer {
                notify.notify_one();
            }
            std::future::pending::<Response>().await
        }
    }
}

/// Applies an injected fault, checks the token and the rate limit, and post-processes the
/// answer for faults that mangle it. `None` means: close the connection without an answer.
async fn guarded(state: &State, request: Request, next: Next) -> Option<Response> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let fault = state.take_fault(&method);
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("Error");
            return Some(json_response(
                status,
                serde_json::json!({ "message": reason })
                    .to_string()
                    .into_bytes(),
                &[],
            ));
        }
        Some(Fault::HtmlError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = Response::new(Body::from(format!(
                "<html><head><title>{code}</title></head><body><h1>{code} {}</h1></body></html>",
                status.canonical_reason().unwrap_or("Error")
            )));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return Some(response);
        }
        Some(Fault::RateLimited { reset_secs }) => {
            let body = serde_json::json!({
                "message": format!("You have exceeded your API rate limit. Please wait {reset_secs} seconds before making more requests."),
                "scope": "rest", "limit": 200, "current": 201, "reset": reset_secs,
            });
            let headers = [
                ("RateLimit-Scope", "rest".to_owned()),
                ("RateLimit-Limit", "200".to_owned()),
                ("RateLimit-Remaining", "0".to_owned()),
                ("RateLimit-Reset", reset_secs.to_string()),
            ];
            return Some(json_response(
                StatusCode::TOO_MANY_REQUESTS,
                body.to_string().into_bytes(),
                &headers,
            ));
        }
        Some(Fault::DropConnection) => return None,
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }

    let expected = format!("Bearer {}", state.token());
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes());
    if !authorized {
        return Some(json_response(
            StatusCode::UNAUTHORIZED,
            br#"{"message":"Authentication required. Please supply a valid API Access Token"}"#
                .to_vec(),
            &[],
        ));
    }

    let organization = path
        .strip_prefix("/v2/organizations/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
        .to_owned();
    let verdict = state.rate_limit(&organization);
    if let Some(exceeded) = verdict.exceeded {
        return Some(exceeded.into_response());
    }

    let mut response = next.run(request).await;
    for (name, value) in &verdict.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    Some(match fault {
        Some(Fault::DropAfterProcessing) => return None,
        Some(Fault::SlowResponse(delay)) => {
            tokio::time::sleep(delay).await;
            response
        }
        Some(Fault::TruncatedBody) => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            let mut response = Response::from_parts(parts, Body::from(cut));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        Some(Fault::WrongShape) => {
            json_response(StatusCode::OK, br#"[{"unexpected":"shape"}]"#.to_vec(), &[])
        }
        Some(Fault::EmptyOk) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::OK;
            response
        }
        Some(Fault::Oversized(size)) => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut padded = bytes.to_vec();
            if padded.len() < size {
                padded.resize(size, b' ');
            }
            let mut response = Response::from_parts(parts, Body::from(padded));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        _ => response,
    })
}
