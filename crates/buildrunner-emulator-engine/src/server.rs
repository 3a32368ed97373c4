//! Serving a platform: an accept loop that can drop a connection on purpose, and the gate
//! every request passes (fault injection, authentication, rate limit, request log).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::{Engine, Fault, LoggedRequest};

/// An answer before it becomes an HTTP response.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The JSON body; `Value::Null` sends no body; a string is sent as plain text when
    /// `plain` is set.
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Send a string body as `text/plain` instead of JSON (GitLab's `Retry later`).
    pub plain: bool,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            headers: Vec::new(),
            plain: false,
        }
    }

    /// A plain-text answer.
    pub fn plain(status: u16, text: &str) -> Answer {
        Answer {
            plain: true,
            ..Answer::json(status, Value::String(text.to_owned()))
        }
    }

    /// An HTML page (Jenkins' error pages, a sign-in page served where JSON was asked for).
    pub fn html(status: u16, page: &str) -> Answer {
        Answer::plain(status, page).with_header("Content-Type", "text/html;charset=utf-8")
    }

    /// An answer without a body (GitHub's 204).
    pub fn empty(status: u16) -> Answer {
        Answer::json(status, Value::Null)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (body, content_type) = match (&self.body, self.plain) {
            (Value::Null, _) => (Vec::new(), None),
            (Value::String(text), true) => (text.clone().into_bytes(), Some("text/plain")),
            (body, _) => (
                body.to_string().into_bytes(),
                Some("application/json; charset=utf-8"),
            ),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        add_headers(response.headers_mut(), &self.headers);
        response
    }
}

fn add_headers(map: &mut HeaderMap, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
}

/// What the gate counted for one request against the rate limit.
#[derive(Debug, Default)]
pub struct RateVerdict {
    /// Headers to add to the answer.
    pub headers: Vec<(&'static str, String)>,
    /// The refusal to send instead, when the limit is spent.
    pub exceeded: Option<Answer>,
}

/// The wire-format parts of a platform that the shared gate needs.
pub trait Platform: Send + Sync + 'static {
    /// The engine state (faults, log, rate windows).
    fn engine(&self) -> &Engine;
    /// `Some(refusal)` when the request lacks the right credentials.
    fn authenticate(&self, headers: &HeaderMap, path: &str) -> Option<Answer>;
    /// Counts the request against its rate window.
    fn rate_limit(&self, headers: &HeaderMap, method: &str, path: &str) -> RateVerdict;
    /// The platform's answer to a [`Fault::RateLimited`].
    fn rate_limited_fault(&self, reset_secs: u64) -> Answer;
    /// The platform's JSON error answer.
    fn error(&self, status: u16, message: &str) -> Answer;
}

/// Closes the connection a request came on, without an answer.
#[derive(Clone)]
struct ConnectionKiller(Arc<Notify>);

/// Serves `router` (the platform's routes) behind the gate until the task is dropped.
pub async fn serve<P: Platform>(listener: TcpListener, platform: Arc<P>, router: Router) {
    let not_found = Arc::clone(&platform);
    let router = router
        .fallback(move || {
            let platform = Arc::clone(&not_found);
            async move { platform.error(404, "Not Found") }
        })
        .layer(middleware::from_fn_with_state(platform, gate::<P>));
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

/// Applies the gate and logs the request with the status it got.
async fn gate<P: Platform>(
    Shared(platform): Shared<Arc<P>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let killer = request.extensions().get::<ConnectionKiller>().cloned();
    let answered = guarded(platform.as_ref(), request, next).await;
    let status = answered.as_ref().map_or(0, |r| r.status().as_u16());
    platform.engine().log(LoggedRequest {
        method,
        path,
        query,
        status,
    });
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

/// Applies an injected fault, checks credentials and the rate limit, and post-processes the
/// answer for faults that mangle it. `None` means: close the connection without an answer.
async fn guarded<P: Platform>(platform: &P, request: Request, next: Next) -> Option<Response> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let fault = platform.engine().take_fault(&method);
    match fault {
        Some(Fault::Status(code)) => {
            let reason = StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            return Some(platform.error(code, reason).into_response());
        }
        Some(Fault::HtmlError(code)) => return Some(html_error(code)),
        Some(Fault::RateLimited { reset_secs }) => {
            return Some(platform.rate_limited_fault(reset_secs).into_response());
        }
        Some(Fault::DropConnection) => return None,
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    if let Some(refusal) = platform.authenticate(request.headers(), &path) {
        return Some(refusal.into_response());
    }
    let verdict = platform.rate_limit(request.headers(), &method, &path);
    if let Some(exceeded) = verdict.exceeded {
        return Some(exceeded.into_response());
    }
    let mut response = next.run(request).await;
    add_headers(response.headers_mut(), &verdict.headers);
    Some(match fault {
        Some(Fault::DropAfterProcessing) => return None,
        Some(Fault::SlowResponse(delay)) => {
            tokio::time::sleep(delay).await;
            response
        }
        Some(Fault::TruncatedBody) => {
            rebody(response, |bytes| bytes[..bytes.len() / 2].to_vec()).await
        }
        Some(Fault::WrongShape) => {
            Answer::json(200, serde_json::json!([{"unexpected": "shape"}])).into_response()
        }
        Some(Fault::EmptyOk) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::OK;
            response
        }
        Some(Fault::Oversized(size)) => {
            rebody(response, |bytes| {
                let mut padded = bytes.to_vec();
                if padded.len() < size {
                    padded.resize(size, b' ');
                }
                padded
            })
            .await
        }
        _ => response,
    })
}

fn html_error(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::from(format!(
        "<html><head><title>{code}</title></head><body><h1>{code} {}</h1></body></html>",
        status.canonical_reason().unwrap_or("Error")
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

async fn rebody(response: Response, change: impl FnOnce(&[u8]) -> Vec<u8>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut response = Response::from_parts(parts, Body::from(change(&bytes)));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}
