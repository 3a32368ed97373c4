//! The HTTP layer: one client per runner, bounded reads, the status-to-error mapping and the
//! retry loop every verb goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildrunner_api::{Error, Result};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::Instrument;
use url::Url;

use crate::config::{BuildkiteConfig, Token};
use crate::model::ErrorBody;
use crate::rate::{self, BudgetKey, RateBudget};

/// The longest single backoff step, whatever `initial_backoff` and the attempt number say.
const MAX_BACKOFF_STEP: Duration = Duration::from_secs(10);

/// What a call is doing, for error messages and traces: `"status"` of `"acme/app/42"`.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub name: &'static str,
    pub subject: String,
}

impl Operation {
    pub fn new(name: &'static str, subject: impl Into<String>) -> Self {
        Operation {
            name,
            subject: subject.into(),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.name, self.subject)
    }

    pub fn protocol(
        &self,
        what: impl std::fmt::Display,
        source: Option<serde_json::Error>,
    ) -> Error {
        Error::Protocol {
            message: format!("{}: {what}", self.describe()),
            source: source.map(|e| Box::new(e) as _),
        }
    }
}

/// A complete HTTP response, its body read within the size cap.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether another attempt of the same request may get another answer.
    pub fn is_transient(&self) -> bool {
        is_transient_status(self.status)
    }

    /// The body decoded as `T`, or a protocol error naming the operation.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, op: &Operation) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let what = format!(
                "HTTP {} with a body that is not the expected JSON: {e}",
                self.status.as_u16()
            );
            op.protocol(what, Some(e))
        })
    }

    /// How long Buildkite asked to wait, for a 429: the reset header of the scope the body
    /// names (`rest` → `RateLimit-Reset`, `rest_user` → `RateLimit-User-Reset`), else either
    /// header, else the body's `reset`.
    pub fn rate_limit_wait(&self) -> Option<Duration> {
        if self.status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let body = ErrorBody::parse(&self.body);
        let header_secs = |name: &str| -> Option<f64> {
            self.headers
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
        };
        let secs = match body.scope.as_deref() {
            Some("rest_user") => header_secs("ratelimit-user-reset"),
            Some("rest") => header_secs("ratelimit-reset"),
            _ => None,
        }
        .or_else(|| header_secs("ratelimit-reset"))
        .or_else(|| header_secs("ratelimit-user-reset"))
        .or(body.reset)?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
    }

    /// The error this reply means for `op`; the one place HTTP statuses become error kinds.
    pub fn error(&self, op: &Operation) -> Error {
        let code = self.status.as_u16();
        let detail = ErrorBody::parse(&self.body).message_for_humans();
        let message = match &detail {
            Some(detail) => format!("{}: HTTP {code}: {detail}", op.describe()),
            None => format!("{}: HTTP {code}", op.describe()),
        };
        match self.status {
            StatusCode::UNAUTHORIZED => Error::Unauthenticated { message },
            StatusCode::FORBIDDEN => Error::PermissionDenied { message },
            StatusCode::NOT_FOUND => Error::NotFound {
                id: op.subject.clone(),
            },
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: self.rate_limit_wait(),
                message,
            },
            status if is_transient_status(status) => Error::Unavailable {
                message,
                source: None,
            },
            status if status.is_client_error() => Error::Rejected { message },
            status if status.is_redirection() => Error::Protocol {
                message: format!(
                    "{message}: redirect not followed (the token is never sent to another URL)"
                ),
                source: None,
            },
            _ => Error::Protocol {
                message: format!("{message}: unexpected status"),
                source: None,
            },
        }
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Why one attempt produced no [`Reply`].
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection was made: the request never reached Buildkite, so retrying is safe
    /// even for a create.
    Connect(reqwest::Error),
    /// The request may have reached Buildkite (timeout, connection dropped mid-way).
    Transport(reqwest::Error),
    /// The response was larger than the cap.
    TooLarge { status: StatusCode, limit: usize },
    /// The shared rate-limit budget is spent for longer than the call may wait; nothing was sent.
    RateBudget { wait: Duration },
}

impl SendError {
    pub fn into_error(self, op: &Operation) -> Error {
        match self {
            SendError::Connect(e) => Error::Unavailable {
                message: format!(
                    "{}: could not connect to Buildkite: {}",
                    op.describe(),
                    without_url(&e)
                ),
                source: Some(Box::new(e.without_url())),
            },
            SendError::Transport(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "transport error"
                };
                Error::Unavailable {
                    message: format!("{}: {what}: {}", op.describe(), without_url(&e)),
                    source: Some(Box::new(e.without_url())),
                }
            }
            SendError::RateBudget { wait } => Error::RateLimited {
                retry_after: Some(wait),
                message: format!(
                    "{}: the organization's rate limit is spent for another {:.1}s (max_retry_wait is shorter); nothing was sent",
                    op.describe(),
                    wait.as_secs_f64()
                ),
            },
            SendError::TooLarge { status, limit } => Error::Protocol {
                message: format!(
                    "{}: HTTP {} response body is larger than the {limit} byte limit (max_response_bytes)",
                    op.describe(),
                    status.as_u16()
                ),
                source: None,
            },
        }
    }
}

/// reqwest's message without the URL, which the operation already names.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What one attempt inside [`Core::retrying`] decided.
pub(crate) enum Verdict<T> {
    /// Stop with this result.
    Done(Result<T>),
    /// Try again after `wait` (or a backoff step), unless attempts or time run out; then
    /// return `error`.
    Retry {
        error: Error,
        wait: Option<Duration>,
    },
}

/// The shared HTTP machinery of one runner.
#[derive(Debug)]
pub(crate) struct Core {
    client: reqwest::Client,
    auth: HeaderValue,
    /// Bounds the requests in flight, and so the open connections, of this runner.
    connections: tokio::sync::Semaphore,
    /// Shared with every runner of the same organization and token.
    budget: Arc<RateBudget>,
    pub config: BuildkiteConfig,
    pub builds_url: Url,
}

impl Core {
    pub fn new(config: BuildkiteConfig, token: &Token) -> Result<Self> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                Error::Configuration {
                    message: "the Buildkite API token cannot be sent in an HTTP header".to_owned(),
                }
            })?;
        auth.set_sensitive(true);
        let client = reqwest::Client::builder()
            .user_agent(concat!("buildrunner/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the bearer token to whatever host it names.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(config.max_connections)
            .build()
            .map_err(|e| Error::Configuration {
                message: format!("could not build the HTTP client: {e}"),
            })?;
        let builds_url = config.builds_url();
        let budget = rate::shared(BudgetKey {
            api_url: config.api_url.to_string(),
            organization: config.organization.clone(),
            token_fingerprint: token.fingerprint(),
        });
        Ok(Core {
            client,
            auth,
            connections: tokio::sync::Semaphore::new(config.max_connections.max(1)),
            budget,
            config,
            builds_url,
        })
    }

    /// One request, its body read within the cap. It waits for the rate-limit budget no
    /// later than `deadline` (the call's retry deadline), and is not sent if it would have to.
    pub async fn send(
        &self,
        op: &Operation,
        method: Method,
        url: Url,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> std::result::Result<Reply, SendError> {
        // A closed semaphore cannot happen (it is never closed); go on without a slot if it did.
        let _slot = self.connections.acquire().await.ok();
        let _permit = self
            .budget
            .acquire(deadline.saturating_duration_since(Instant::now()))
            .await
            .map_err(|wait| SendError::RateBudget { wait })?;
        let started = Instant::now();
        let mut request = self
            .client
            .request(method.clone(), url)
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| {
            tracing::debug!(op = op.name, subject = %op.subject, %method, error = %without_url(&e), "request failed");
            if e.is_connect() {
                SendError::Connect(e)
            } else {
                SendError::Transport(e)
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response, self.config.max_response_bytes).await?;
        let body_reset = (status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| ErrorBody::parse(&body).reset)
            .flatten()
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(|secs| Duration::from_secs_f64(secs.min(3600.0)));
        self.budget.update(status, &headers, body_reset);
        tracing::debug!(
            op = op.name,
            subject = %op.subject,
            %method,
            status = status.as_u16(),
            bytes = body.len(),
            latency_ms = started.elapsed().as_millis() as u64,
            "buildkite request"
        );
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// A request that is safe to repeat (GET, cancel): transient statuses and transport
    /// failures are retried; any other reply is returned for the caller to read.
    pub async fn idempotent(&self, op: &Operation, method: Method, url: Url) -> Result<Reply> {
        let (method, url) = (&method, &url);
        self.retrying(op, |deadline| async move {
            match self
                .send(op, method.clone(), url.clone(), None, deadline)
                .await
            {
                Ok(reply) if reply.is_transient() => Verdict::Retry {
                    error: reply.error(op),
                    wait: reply.rate_limit_wait(),
                },
                Ok(reply) => Verdict::Done(Ok(reply)),
                Err(e @ (SendError::TooLarge { .. } | SendError::RateBudget { .. })) => {
                    Verdict::Done(Err(e.into_error(op)))
                }
                Err(e) => Verdict::Retry {
                    error: e.into_error(op),
                    wait: None,
                },
            }
        })
        .await
    }

    /// Runs `attempt` until it is done, `max_retries` retries have failed, or the next wait
    /// would end after `max_retry_wait` from the start. Each attempt gets that deadline, for
    /// the waits inside it.
    pub async fn retrying<T, F, Fut>(&self, op: &Operation, mut attempt: F) -> Result<T>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Verdict<T>>,
    {
        let started = Instant::now();
        let deadline = started + self.config.max_retry_wait;
        let mut retries = 0u32;
        loop {
            let span = tracing::debug_span!(
                "buildkite",
                backend = "buildkite",
                op = op.name,
                subject = %op.subject,
                attempt = retries + 1
            );
            let (error, wait) = match attempt(deadline).instrument(span).await {
                Verdict::Done(result) => return result,
                Verdict::Retry { error, wait } => (error, wait),
            };
            if retries >= self.config.max_retries {
                tracing::warn!(op = op.name, subject = %op.subject, retries, error = %error, "giving up: retries exhausted");
                return Err(error);
            }
            retries += 1;
            let delay = match wait {
                Some(wait) => wait + jitter(Duration::from_millis(250)),
                None => backoff(self.config.initial_backoff, retries),
            };
            if Instant::now() + delay > deadline {
                tracing::warn!(op = op.name, subject = %op.subject, retries, error = %error, "giving up: the next wait would pass max_retry_wait");
                return Err(match error {
                    Error::RateLimited { message, .. } => Error::RateLimited {
                        retry_after: wait,
                        message,
                    },
                    other => other,
                });
            }
            tracing::info!(op = op.name, subject = %op.subject, retry = retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Exponential backoff with jitter: step `n` waits between half and all of
/// `initial * 2^(n-1)`, capped at [`MAX_BACKOFF_STEP`].
fn backoff(initial: Duration, retry: u32) -> Duration {
    let step = initial
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(MAX_BACKOFF_STEP);
    step / 2 + jitter(step / 2)
}

fn jitter(max: Duration) -> Duration {
    max.mul_f64(fastrand::f64())
}

async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, SendError> {
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(SendError::TooLarge { status, limit });
    }
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |len| len as usize),
    );
    while let Some(chunk) = response.chunk().await.map_err(SendError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(SendError::TooLarge { status, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let initial = Duration::from_millis(100);
        for retry in 1..=20 {
            let expected = (initial * 2u32.pow(retry.min(17) - 1)).min(MAX_BACKOFF_STEP);
            let delay = backoff(initial, retry);
            assert!(
                delay >= expected / 2 && delay <= expected,
                "retry {retry}: {delay:?}"
            );
        }
    }

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rate_limit_wait_follows_the_scope_in_the_body() {
        let both = [("ratelimit-reset", "30"), ("ratelimit-user-reset", "5")];
        let secs = |r: Reply| r.rate_limit_wait().map(|d| d.as_secs());
        assert_eq!(secs(reply(429, &both, r#"{"scope":"rest"}"#)), Some(30));
        assert_eq!(secs(reply(429, &both, r#"{"scope":"rest_user"}"#)), Some(5));
        assert_eq!(secs(reply(429, &both, "")), Some(30));
        assert_eq!(secs(reply(429, &both[1..], r#"{"scope":"rest"}"#)), Some(5));
        assert_eq!(secs(reply(429, &[], r#"{"reset": 7}"#)), Some(7));
        assert_eq!(
            secs(reply(429, &[("ratelimit-reset", "soon")], "<html>")),
            None
        );
        assert_eq!(secs(reply(503, &both, "")), None);
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        let op = Operation::new("status", "acme/app/7");
        let table = [
            (401, "unauthenticated"),
            (403, "permission_denied"),
            (404, "not_found"),
            (408, "unavailable"),
            (422, "rejected"),
            (400, "rejected"),
            (429, "rate_limited"),
            (500, "unavailable"),
            (502, "unavailable"),
            (503, "unavailable"),
            (504, "unavailable"),
            (301, "protocol"),
            (101, "protocol"),
        ];
        for (status, kind) in table {
            let error = reply(status, &[], r#"{"message":"Nope"}"#).error(&op);
            assert_eq!(error.kind(), kind, "{status}");
            if kind != "not_found" {
                assert!(error.to_string().contains("status acme/app/7"), "{error}");
            }
        }
        let error = reply(
            422,
            &[],
            "{\"message\":\"Build can't\\nbe \\u0007canceled\"}",
        )
        .error(&op);
        assert!(
            error
                .to_string()
                .ends_with("HTTP 422: Build can't be  canceled"),
            "{error}"
        );
        let error = reply(502, &[], "<html><body>Bad gateway</body></html>").error(&op);
        assert_eq!(
            error.to_string(),
            "unavailable: status acme/app/7: HTTP 502"
        );
    }
}
