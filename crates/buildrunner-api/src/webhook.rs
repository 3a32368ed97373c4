//! Webhooks as hints: what a backend makes of one delivery, without any HTTP type.
//!
//! A CI sends a webhook when a build changes. A backend that can read its CI's webhooks
//! returns a [`WebhookReceiver`] from [`BuildRunner::webhooks`](crate::BuildRunner::webhooks);
//! an HTTP listener (the tracker's, or an application's own) hands it each
//! [`WebhookDelivery`] and answers the CI from the result:
//!
//! | result                        | answer |
//! |-------------------------------|--------|
//! | `Ok(WebhookEvent::Build{..})`  | 200, and the build is polled at once |
//! | `Ok(WebhookEvent::Ignored{..})`| 200 (a CI disables a hook that keeps getting 4xx) |
//! | `Err(WebhookError::Unauthenticated)` | 401, nothing changes |
//! | `Err(WebhookError::TooLarge{..})`    | 413, nothing changes |
//!
//! The event is a hint, never a verdict: payloads can be late, duplicated, out of order or
//! stale (Buildkite says so of fast transitions), so whoever acts on one reads the build's
//! status from the CI first.

use std::fmt;
use std::time::SystemTime;

use crate::{BuildId, BuildStatus};

/// The largest webhook body a receiver reads by default. Build webhooks are a few KiB
/// (GitHub's `workflow_run` about 25 KiB with its repository objects); 1 MiB leaves room while
/// bounding what an unauthenticated sender can make the listener buffer.
pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// One webhook delivery as an HTTP server received it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    received_at: SystemTime,
}

impl WebhookDelivery {
    /// A delivery with these headers (names in any case) and raw body, received now.
    pub fn new(headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        WebhookDelivery {
            headers,
            body: body.into(),
            received_at: SystemTime::now(),
        }
    }

    /// The same delivery, received at `at` (signature windows are checked against it).
    pub fn received_at(mut self, at: SystemTime) -> Self {
        self.received_at = at;
        self
    }

    /// When it arrived.
    pub fn arrival(&self) -> SystemTime {
        self.received_at
    }

    /// The first header named `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The raw body, exactly as received (signatures cover these bytes).
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl fmt::Debug for WebhookDelivery {
    // Header values can be secrets (GitLab and Buildkite send the token in clear text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("WebhookDelivery")
            .field("header_names", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What a verified delivery says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A build changed. `status` is what the payload claims, for logs; act on a status read
    /// from the CI.
    Build {
        /// The build, as this runner names it (the same id `trigger` returned).
        id: BuildId,
        /// The status the payload claims.
        status: BuildStatus,
    },
    /// A verified delivery that names no build this runner can follow: another event type,
    /// another pipeline, a repeated delivery, a payload it cannot read.
    Ignored {
        /// Why, in a few words, for logs.
        reason: String,
    },
}

impl WebhookEvent {
    /// An [`WebhookEvent::Ignored`] with this reason.
    pub fn ignored(reason: impl Into<String>) -> Self {
        WebhookEvent::Ignored {
            reason: reason.into(),
        }
    }
}

/// Why a delivery was refused. Messages never contain a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The token or signature is missing or wrong, or the signed timestamp is outside the
    /// accepted window: answer 401.
    #[error("webhook not authenticated: {reason}")]
    Unauthenticated {
        /// Which check failed.
        reason: &'static str,
    },
    /// The body is over the receiver's limit: answer 413.
    #[error("webhook body of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Verifies and reads one CI's webhooks for one runner.
///
/// Implementations compare tokens and signatures in constant time and never panic on a
/// delivery: anything from the network is untrusted.
pub trait WebhookReceiver: fmt::Debug + Send + Sync {
    /// The largest body [`receive`](WebhookReceiver::receive) accepts; a listener should stop
    /// reading past it.
    fn max_body_bytes(&self) -> usize {
        DEFAULT_WEBHOOK_BODY_LIMIT
    }

    /// Verifies a delivery and says which build it is about.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Unauthenticated`] when it is not from the CI (or is a replay outside
    /// the window), [`WebhookError::TooLarge`] over [`max_body_bytes`](WebhookReceiver::max_body_bytes).
    fn receive(&self, delivery: &WebhookDelivery) -> Result<WebhookEvent, WebhookError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_in_any_case_and_never_printed() {
        let delivery = WebhookDelivery::new(
            vec![("X-Gitlab-Token".into(), "s3cret".into())],
            b"{}".to_vec(),
        );
        assert_eq!(delivery.header("x-gitlab-token"), Some("s3cret"));
        assert_eq!(delivery.header("x-other"), None);
        let printed = format!("{delivery:?}");
        assert!(printed.contains("X-Gitlab-Token"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
