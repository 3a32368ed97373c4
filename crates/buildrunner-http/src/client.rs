//! One client per runner: a bound on requests in flight, authentication, the shared rate
//! budget, capped reads, and the retry loop every call goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use buildrunner_api::{Error, Result};
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::Instrument;
use url::Url;

use crate::auth::{Auth, bearer_value};
use crate::rate::{BudgetKey, BudgetStore, Cost, InProcessStore, RateBudget, RateScheme};
use crate::reply::{Operation, Reply};
use crate::telemetry::{self, Labels};
use crate::{HttpOptions, Token};

/// The longest single backoff step, whatever `initial_backoff` and the attempt number say.
const MAX_BACKOFF_STEP: Duration = Duration::from_secs(10);

/// Everything an [`HttpClient`] is made from.
#[derive(Debug)]
pub struct ClientSpec {
    /// The registered backend name, for traces: `"buildkite"`.
    pub backend: &'static str,
    /// The platform as people call it, for error messages: `"Buildkite"`.
    pub service: &'static str,
    /// Timeouts, retries and caps.
    pub options: HttpOptions,
    /// How requests authenticate.
    pub auth: Auth,
    /// Headers sent on every request (`Accept`, an API version).
    pub default_headers: Vec<(HeaderName, HeaderValue)>,
    /// How the platform's answers describe its rate limits.
    pub scheme: Arc<dyn RateScheme>,
    /// Which budget this client shares.
    pub budget_key: BudgetKey,
    /// Where budgets live; `None` is the process-wide [`InProcessStore`].
    pub budget_store: Option<Arc<dyn BudgetStore>>,
}

impl ClientSpec {
    /// The [`default_headers`](ClientSpec::default_headers) of a plain JSON API:
    /// `Accept: application/json`.
    pub fn accept_json() -> Vec<(HeaderName, HeaderValue)> {
        vec![(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        )]
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    method: Method,
    url: Url,
    body: Option<(&'a [u8], &'static str)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    bearer: Option<HeaderValue>,
    answer_statuses: &'static [StatusCode],
}

impl<'a> Request<'a> {
    /// A request without a body.
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            body: None,
            headers: Vec::new(),
            bearer: None,
            answer_statuses: &[],
        }
    }

    /// `GET url`.
    pub fn get(url: Url) -> Self {
        Request::new(Method::GET, url)
    }

    /// Adds a JSON body.
    pub fn json(mut self, body: &'a [u8]) -> Self {
        self.body = Some((body, "application/json"));
        self
    }

    /// Adds a form body (`application/x-www-form-urlencoded`, e.g. from
    /// [`form_urlencoded::Serializer`](crate::form_urlencoded::Serializer)): for an API that reads form fields, where a query
    /// string would run into a server's header-size limit (Jenkins' 8 KiB).
    pub fn form(mut self, body: &'a [u8]) -> Self {
        self.body = Some((body, "application/x-www-form-urlencoded"));
        self
    }

    /// Redirection statuses that are this request's answer, not a redirect: a
    /// [`create`](HttpClient::create) decodes them as it decodes a 2xx (Jenkins answers a
    /// trigger merged into a queued item with 303 and the item's `Location`). Redirects are
    /// never followed either way.
    pub fn answered_by(mut self, statuses: &'static [StatusCode]) -> Self {
        self.answer_statuses = statuses;
        self
    }

    /// Whether `status` answers this request: a 2xx, or one of [`Request::answered_by`].
    pub fn is_answer(&self, status: StatusCode) -> bool {
        status.is_success() || self.answer_statuses.contains(&status)
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Authenticates this one request with `Bearer <token>` instead of the client's [`Auth`]
    /// (a token exchange authenticates with its own credential).
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the token cannot be sent in a header.
    pub fn bearer(mut self, token: &Token) -> Result<Self> {
        self.bearer = Some(bearer_value(token)?);
        Ok(self)
    }
}

/// Why one attempt produced no [`Reply`].
#[derive(Debug)]
pub enum SendError {
    /// No connection was made: the request never reached the server, so retrying is safe
    /// even for a create.
    Connect(reqwest::Error),
    /// The request may have reached the server (timeout, connection dropped mid-way).
    Transport(reqwest::Error),
    /// The response was larger than the cap.
    TooLarge {
        /// The status of the oversized answer.
        status: StatusCode,
        /// The cap.
        limit: usize,
    },
    /// The shared rate budget is spent for longer than the call may wait; nothing was sent.
    RateBudget {
        /// How long the budget would still hold the request.
        wait: Duration,
    },
    /// No credential could be had (a token exchange failed); nothing was sent.
    Auth(Error),
}

impl SendError {
    /// Whether the request certainly did not take effect on the server.
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self,
            SendError::Connect(_) | SendError::RateBudget { .. } | SendError::Auth(_)
        )
    }

    /// The error this failure means for `op` on `service`.
    pub fn into_error(self, service: &str, op: &Operation) -> Error {
        match self {
            SendError::Connect(e) => Error::Unavailable {
                message: format!(
                    "{}: could not connect to {service}: {}",
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
                    "{}: the {service} rate limit is spent for another {:.1}s (max_retry_wait is shorter); nothing was sent",
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
            SendError::Auth(error) => error,
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

/// What one attempt inside [`HttpClient::retrying`] decided.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Stop with this result.
    Done(Result<T>),
    /// Try again after `wait` (or a backoff step), unless attempts or time run out; then
    /// return `error`.
    Retry {
        /// What to return if no attempt is left.
        error: Error,
        /// The wait the server asked for, if any.
        wait: Option<Duration>,
    },
}

/// The shared HTTP machinery of one runner. See the crate docs.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    backend: &'static str,
    service: &'static str,
    options: HttpOptions,
    auth: Auth,
    default_headers: Vec<(HeaderName, HeaderValue)>,
    /// Bounds the requests in flight, and so the open connections, of this runner.
    connections: tokio::sync::Semaphore,
    scheme: Arc<dyn RateScheme>,
    budget: Arc<dyn RateBudget>,
    labels: Labels,
    #[cfg(feature = "redis")]
    budget_key: BudgetKey,
    #[cfg(feature = "redis")]
    redis: Option<Arc<crate::rate::redis::RedisStore>>,
}

/// Held by a trigger while it looks its idempotency key up and creates, so another replica
/// sharing the Redis of `rate_budget_url` does not do the same at the same time. Without
/// Redis (or while it is down) it holds nothing.
#[derive(Debug)]
pub struct KeyGuard {
    #[cfg(feature = "redis")]
    lock: Option<crate::rate::redis::KeyLock>,
}

impl KeyGuard {
    /// Lets the next replica go.
    pub async fn release(self) {
        #[cfg(feature = "redis")]
        if let Some(lock) = self.lock {
            lock.release().await;
        }
    }
}

impl HttpClient {
    /// A client as `spec` describes.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the HTTP client cannot be built.
    pub fn new(spec: ClientSpec) -> Result<Self> {
        let options = spec.options;
        let client = reqwest::Client::builder()
            .user_agent(concat!("buildrunner/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the credential to whatever host it names.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(options.max_connections)
            .build()
            .map_err(|e| Error::Configuration {
                message: format!("could not build the HTTP client: {e}"),
            })?;
        #[cfg(feature = "redis")]
        let redis = match &options.rate_budget_url {
            Some(url) => Some(
                crate::rate::redis::RedisStore::shared(url)
                    .map_err(|message| Error::Configuration { message })?,
            ),
            None => None,
        };
        let shared: Option<Arc<dyn BudgetStore>> = {
            #[cfg(feature = "redis")]
            {
                redis
                    .clone()
                    .map(|store| Arc::new(store) as Arc<dyn BudgetStore>)
            }
            #[cfg(not(feature = "redis"))]
            {
                None
            }
        };
        let store = spec
            .budget_store
            .or(shared)
            .unwrap_or_else(|| InProcessStore::global() as Arc<dyn BudgetStore>);
        Ok(HttpClient {
            client,
            backend: spec.backend,
            service: spec.service,
            connections: tokio::sync::Semaphore::new(options.max_connections.max(1)),
            options,
            auth: spec.auth,
            default_headers: spec.default_headers,
            scheme: spec.scheme,
            budget: store.budget(&spec.budget_key),
            labels: Labels {
                backend: spec.backend,
                account: spec.budget_key.account.clone(),
            },
            #[cfg(feature = "redis")]
            budget_key: spec.budget_key,
            #[cfg(feature = "redis")]
            redis,
        })
    }

    /// Runs `trigger` holding idempotency key `key` (when there is one) against other
    /// replicas: look-up-then-create is one step across processes sharing a Redis.
    pub async fn with_key_held<T, Fut>(&self, key: Option<&str>, trigger: impl FnOnce() -> Fut) -> T
    where
        Fut: std::future::Future<Output = T>,
    {
        let Some(key) = key else {
            return trigger().await;
        };
        let guard = self.hold_key(key).await;
        let result = trigger().await;
        guard.release().await;
        result
    }

    /// Holds idempotency key `key` of this API and account against other replicas (with
    /// `rate_budget_url`), waiting a bounded time for another holder. Call it before looking
    /// the key up and release it after the create.
    pub async fn hold_key(&self, key: &str) -> KeyGuard {
        #[cfg(feature = "redis")]
        {
            let lock = match &self.redis {
                // Within the call's own retry budget, so a trigger keeps its deadline.
                Some(store) => {
                    let wait = self.options.max_retry_wait;
                    store.lock(&self.budget_key, key, wait).await
                }
                None => None,
            };
            KeyGuard { lock }
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = key;
            KeyGuard {}
        }
    }

    /// The labels this client's metrics carry.
    pub(crate) fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The error `failure` means for `op`.
    pub fn error(&self, failure: SendError, op: &Operation) -> Error {
        failure.into_error(self.service, op)
    }

    /// One request, its body read within the cap. It waits for the rate budget no later
    /// than `deadline` (the call's retry deadline), and is not sent if it would have to. A
    /// minted token the platform answers 401 to is renewed and the request sent once more.
    ///
    /// # Errors
    ///
    /// A [`SendError`] saying whether the request may have reached the server.
    pub async fn send(
        &self,
        op: &Operation,
        request: &Request<'_>,
        deadline: Instant,
    ) -> std::result::Result<Reply, SendError> {
        let reply = self.send_once(op, request, deadline).await?;
        if reply.0.status == StatusCode::UNAUTHORIZED
            && let (Auth::Minted(minted), Some(used)) = (&self.auth, &reply.1)
        {
            minted.refused(used);
            tracing::info!(op = op.name, subject = %op.subject, "access token refused; minting a new one");
            return Ok(self.send_once(op, request, deadline).await?.0);
        }
        Ok(reply.0)
    }

    /// One attempt; also returns the minted credential it used, if any.
    async fn send_once(
        &self,
        op: &Operation,
        request: &Request<'_>,
        deadline: Instant,
    ) -> std::result::Result<(Reply, Option<HeaderValue>), SendError> {
        let credential = match (&request.bearer, &self.auth) {
            (Some(bearer), _) => Some((header::AUTHORIZATION, bearer.clone())),
            (None, Auth::None) => None,
            (None, Auth::Header(name, value)) => Some((name.clone(), value.clone())),
            (None, Auth::Minted(minted)) => Some((
                header::AUTHORIZATION,
                minted.header(self).await.map_err(SendError::Auth)?,
            )),
        };
        let minted_used = match (&request.bearer, &self.auth) {
            (None, Auth::Minted(_)) => credential.as_ref().map(|(_, value)| value.clone()),
            _ => None,
        };
        // A closed semaphore cannot happen (it is never closed); go on without a slot if it did.
        let _slot = self.connections.acquire().await.ok();
        let conditional = request
            .headers
            .iter()
            .any(|(name, _)| name == header::IF_NONE_MATCH || name == header::IF_MODIFIED_SINCE);
        let cost = if conditional && self.scheme.not_modified_is_free() {
            Cost::FreeIfUnchanged
        } else {
            Cost::One
        };
        let waiting = Instant::now();
        let _permit = self
            .budget
            .acquire(deadline.saturating_duration_since(waiting), cost)
            .await
            .map_err(|wait| SendError::RateBudget { wait })?;
        self.labels.budget_wait(waiting.elapsed());
        let (status, headers, body) = self.exchange(op, request, credential).await?;
        let rate = self
            .scheme
            .observe(status, &headers, &body, SystemTime::now());
        self.budget.observe(&rate).await;
        self.labels
            .rate(&telemetry::operation_label(op.name), &rate);
        Ok((
            Reply {
                status,
                headers,
                body,
                rate,
            },
            minted_used,
        ))
    }

    /// Sends `request` with `credential` and reads the answer within the cap, in a span of
    /// its own, counting it by how it ended.
    async fn exchange(
        &self,
        op: &Operation,
        request: &Request<'_>,
        credential: Option<(HeaderName, HeaderValue)>,
    ) -> std::result::Result<(StatusCode, header::HeaderMap, Vec<u8>), SendError> {
        let method = &request.method;
        let span = telemetry::request_span(self.backend, op.name, method, &request.url);
        let operation = telemetry::operation_label(op.name);
        let mut builder = self.client.request(method.clone(), request.url.clone());
        for (name, value) in self.default_headers.iter().chain(&request.headers) {
            builder = builder.header(name, value);
        }
        if let Some((name, value)) = credential {
            builder = builder.header(name, value);
        }
        if let Some((body, content_type)) = request.body {
            builder = builder
                .header(header::CONTENT_TYPE, content_type)
                .body(body.to_vec());
        }
        let started = Instant::now();
        let answer = async {
            let response = builder.send().await.map_err(|e| {
                tracing::debug!(backend = self.backend, op = op.name, subject = %op.subject, %method, error = %without_url(&e), "request failed");
                let class = if e.is_connect() { "connect_error" } else { "transport_error" };
                telemetry::record_failure(&tracing::Span::current(), class);
                self.labels.request(&operation, class, started.elapsed());
                if e.is_connect() {
                    SendError::Connect(e)
                } else {
                    SendError::Transport(e)
                }
            })?;
            let status = response.status();
            telemetry::record_status(&tracing::Span::current(), status);
            let headers = response.headers().clone();
            let body = read_capped(response, self.options.max_response_bytes).await;
            self.labels.request(
                &operation,
                telemetry::status_class(status),
                started.elapsed(),
            );
            let body = body?;
            tracing::debug!(
                backend = self.backend,
                op = op.name,
                subject = %op.subject,
                %method,
                status = status.as_u16(),
                bytes = body.len(),
                latency_ms = started.elapsed().as_millis() as u64,
                "request"
            );
            Ok((status, headers, body))
        };
        answer.instrument(span).await
    }

    /// A request that is safe to repeat (GET, cancel): transient statuses and transport
    /// failures are retried; any other reply is returned for the caller to read.
    ///
    /// # Errors
    ///
    /// The last failure once retries or the deadline run out; an oversized body at once.
    pub async fn idempotent(&self, op: &Operation, request: &Request<'_>) -> Result<Reply> {
        self.retrying(op, |deadline| async move {
            match self.send(op, request, deadline).await {
                Ok(reply) if reply.is_transient() => Verdict::Retry {
                    error: reply.error(op),
                    wait: reply.rate_limit_wait(),
                },
                Ok(reply) => Verdict::Done(Ok(reply)),
                Err(
                    e @ (SendError::TooLarge { .. }
                    | SendError::RateBudget { .. }
                    | SendError::Auth(_)),
                ) => Verdict::Done(Err(self.error(e, op))),
                Err(e) => Verdict::Retry {
                    error: self.error(e, op),
                    wait: None,
                },
            }
        })
        .await
    }

    /// A request that is safe to repeat whose 2xx answer is the JSON `T`: [`idempotent`],
    /// then [`Reply::success`], then [`Reply::decode`].
    ///
    /// # Errors
    ///
    /// As [`HttpClient::idempotent`]; the error a non-2xx answer means; [`Error::Protocol`]
    /// for a body that is not the JSON `T`.
    ///
    /// [`idempotent`]: HttpClient::idempotent
    pub async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        op: &Operation,
        request: &Request<'_>,
    ) -> Result<T> {
        self.idempotent(op, request).await?.success(op)?.decode(op)
    }

    /// A request that is safe to repeat whose 2xx body `decode` reads (a backend's public
    /// `decode_*_response`, the one its fuzzers drive): [`idempotent`], then
    /// [`Reply::success`], then `decode`, its error named after `op`.
    ///
    /// # Errors
    ///
    /// As [`HttpClient::idempotent`]; the error a non-2xx answer means; [`Error::Protocol`]
    /// when `decode` refuses the body.
    ///
    /// [`idempotent`]: HttpClient::idempotent
    pub async fn fetch_decoded<T>(
        &self,
        op: &Operation,
        request: &Request<'_>,
        decode: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let reply = self.idempotent(op, request).await?.success(op)?;
        decode(&reply.body).map_err(|e| op.protocol(e, None))
    }

    /// Runs `attempt` until it is done, `max_retries` retries have failed, or the next wait
    /// would end after `max_retry_wait` from the start. Each attempt gets that deadline, for
    /// the waits inside it.
    ///
    /// # Errors
    ///
    /// The error of the last attempt that asked for a retry, when none is left.
    pub async fn retrying<T, F, Fut>(&self, op: &Operation, mut attempt: F) -> Result<T>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Verdict<T>>,
    {
        let started = Instant::now();
        let deadline = started + self.options.max_retry_wait;
        let mut retries = 0u32;
        loop {
            let (error, wait) = match attempt(deadline).await {
                Verdict::Done(result) => return result,
                Verdict::Retry { error, wait } => (error, wait),
            };
            if retries >= self.options.max_retries {
                tracing::warn!(backend = self.backend, op = op.name, subject = %op.subject, retries, error = %error, "giving up: retries exhausted");
                return Err(error);
            }
            retries += 1;
            let delay = match wait {
                Some(wait) => wait + jitter(Duration::from_millis(250)),
                None => backoff(self.options.initial_backoff, retries),
            };
            if Instant::now() + delay > deadline {
                tracing::warn!(backend = self.backend, op = op.name, subject = %op.subject, retries, error = %error, "giving up: the next wait would pass max_retry_wait");
                return Err(match error {
                    Error::RateLimited { message, .. } => Error::RateLimited {
                        retry_after: wait,
                        message,
                    },
                    other => other,
                });
            }
            tracing::info!(backend = self.backend, op = op.name, subject = %op.subject, retry = retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            self.labels
                .retry(&telemetry::operation_label(op.name), error.kind());
            if wait.is_some() {
                self.labels.server_wait(delay);
            }
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
}
