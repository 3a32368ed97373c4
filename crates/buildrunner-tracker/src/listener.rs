//! An HTTP listener for CI webhooks that turns each verified delivery into a hint for
//! whatever follows the builds: a [`Tracker`], or anything else that implements [`Hints`]
//! (feature `listener`).
//!
//! It serves `POST /webhook` (the default queue) and `POST /webhook/<queue>` and answers as
//! `docs/following-builds.md` says: 200 to every verified delivery (also those it ignores, so
//! a CI never disables the hook), 401 to a missing or bad token or signature, 413 over the
//! receiver's size cap, 404 elsewhere. Which backend reads a queue's webhooks is the runner's
//! business ([`BuildRunner::webhooks`]); the listener names no CI.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent};
use buildrunner_api::{BuildId, BuildRunner, BuildStatus};
use tokio::task::JoinHandle;

use crate::Tracker;

/// Whatever follows builds and wants to hear that one changed.
pub trait Hints: std::fmt::Debug + Send + Sync {
    /// A verified webhook claims `id` is now `claimed`; returns whether `id` is followed.
    /// Implementations poll the build rather than believe the claim.
    fn hint(&self, id: &BuildId, claimed: BuildStatus) -> bool;
}

impl Hints for Tracker {
    fn hint(&self, id: &BuildId, claimed: BuildStatus) -> bool {
        Tracker::hint(self, id, claimed)
    }
}

/// One queue the listener serves: the runner whose backend reads the webhooks, and what
/// follows its builds.
#[derive(Debug, Clone)]
pub struct WebhookRoute {
    /// The queue's runner; [`BuildRunner::webhooks`] must be `Some`.
    pub runner: Arc<dyn BuildRunner>,
    /// Told of each verified build event (usually a [`Tracker`]).
    pub hints: Arc<dyn Hints>,
}

/// What a listener has answered so far.
#[derive(Debug, Default)]
pub struct ListenerCounts {
    /// Verified deliveries that named a build (followed or not).
    pub builds: AtomicU64,
    /// Verified deliveries acknowledged and ignored.
    pub ignored: AtomicU64,
    /// Deliveries refused: bad credentials (401) or too large (413).
    pub refused: AtomicU64,
}

#[derive(Debug)]
struct Routes {
    queues: HashMap<String, WebhookRoute>,
    default_queue: Option<String>,
    counts: Arc<ListenerCounts>,
}

/// A running listener. Dropping it stops it.
#[derive(Debug)]
pub struct WebhookListener {
    addr: SocketAddr,
    counts: Arc<ListenerCounts>,
    task: JoinHandle<()>,
}

impl WebhookListener {
    /// Listens on `addr` for the webhooks of `queues`; `POST /webhook` goes to
    /// `default_queue`. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn bind(
        addr: SocketAddr,
        queues: HashMap<String, WebhookRoute>,
        default_queue: Option<String>,
    ) -> std::io::Result<WebhookListener> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(ListenerCounts::default());
        let routes = Arc::new(Routes {
            queues,
            default_queue,
            counts: Arc::clone(&counts),
        });
        let app = Router::new()
            .route("/webhook", post(default_queue_webhook))
            .route("/webhook/{queue}", post(queue_webhook))
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .with_state(routes);
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the webhook listener stopped");
            }
        });
        Ok(WebhookListener { addr, counts, task })
    }

    /// The address it listens on (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has answered so far.
    pub fn counts(&self) -> &ListenerCounts {
        &self.counts
    }
}

impl Drop for WebhookListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn default_queue_webhook(State(routes): State<Arc<Routes>>, request: Request) -> StatusCode {
    let Some(queue) = routes.default_queue.clone() else {
        return StatusCode::NOT_FOUND;
    };
    receive(&routes, &queue, request).await
}

async fn queue_webhook(
    State(routes): State<Arc<Routes>>,
    Path(queue): Path<String>,
    request: Request,
) -> StatusCode {
    receive(&routes, &queue, request).await
}

async fn receive(routes: &Routes, queue: &str, request: Request) -> StatusCode {
    let Some(route) = routes.queues.get(queue) else {
        return StatusCode::NOT_FOUND;
    };
    let Some(receiver) = route.runner.webhooks() else {
        return StatusCode::NOT_FOUND;
    };
    let limit = receiver.max_body_bytes();
    let (parts, body) = request.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    // Read one byte past the cap so an oversized body is told apart from one at the cap.
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), limit.saturating_add(1)).await else {
        routes.counts.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::PAYLOAD_TOO_LARGE;
    };
    let delivery = WebhookDelivery::new(headers, bytes.to_vec());
    match receiver.receive(&delivery) {
        Ok(WebhookEvent::Build { id, status }) => {
            routes.counts.builds.fetch_add(1, Ordering::Relaxed);
            let followed = route.hints.hint(&id, status);
            tracing::debug!(%queue, build = %id, %status, followed, "webhook");
            StatusCode::OK
        }
        Ok(WebhookEvent::Ignored { reason }) => {
            routes.counts.ignored.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%queue, %reason, "webhook ignored");
            StatusCode::OK
        }
        Ok(_) => StatusCode::OK,
        Err(error) => {
            routes.counts.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%queue, %error, "webhook refused");
            match error {
                WebhookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNAUTHORIZED,
            }
        }
    }
}
