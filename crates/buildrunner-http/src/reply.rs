//! A complete answer, and the one table that turns HTTP statuses into [`Error`] kinds.

use buildrunner_api::{Error, Result};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::rate::RateObservation;

/// What a call is doing, for error messages and traces: `"status"` of `"acme/app/42"`.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The verb or step: `"status"`, `"trigger"`, `"idempotency lookup"`.
    pub name: &'static str,
    /// What it acts on: a build id, a pipeline path.
    pub subject: String,
}

impl Operation {
    /// An operation named `name` on `subject`.
    pub fn new(name: &'static str, subject: impl Into<String>) -> Self {
        Operation {
            name,
            subject: subject.into(),
        }
    }

    /// `"{name} {subject}"`, the prefix of every error message about it.
    pub fn describe(&self) -> String {
        format!("{} {}", self.name, self.subject)
    }

    /// A protocol error about this operation: the answer was not understood.
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

/// A complete HTTP response, its body read within the size cap, and what it said about the
/// rate budget (read once, by the client's [`RateScheme`](crate::RateScheme)).
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, whole.
    pub body: Vec<u8>,
    /// The rate-limit figures and whether this answer was a rate-limit refusal.
    pub rate: RateObservation,
}

impl Reply {
    /// Whether another attempt of the same request may get another answer: 408, 429, 5xx,
    /// and any refusal the rate scheme recognised (GitHub's 403 with no requests left).
    pub fn is_transient(&self) -> bool {
        self.is_rate_limited()
            || self.status == StatusCode::REQUEST_TIMEOUT
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status.is_server_error()
    }

    /// Whether the platform refused this request because of a rate limit.
    pub fn is_rate_limited(&self) -> bool {
        self.rate.refused.is_some()
    }

    /// How long the platform asked to wait before trying again, for a rate-limit refusal.
    pub fn rate_limit_wait(&self) -> Option<std::time::Duration> {
        self.rate.refusal_wait()
    }

    /// The body decoded as `T`, or a protocol error naming the operation.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the body is not the JSON `T` expects.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, op: &Operation) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let what = if self.is_html() {
                format!(
                    "HTTP {} with an HTML page where JSON was expected (a login page, or a proxy's error page?)",
                    self.status.as_u16()
                )
            } else {
                format!(
                    "HTTP {} with a body that is not the expected JSON: {e}",
                    self.status.as_u16()
                )
            };
            op.protocol(what, Some(e))
        })
    }

    /// Whether the body is an HTML page (by its `Content-Type`, or by how it starts): what a
    /// sign-in page or a proxy's error page answers in place of the API's JSON.
    pub fn is_html(&self) -> bool {
        let declared = self
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
        let text =
            String::from_utf8_lossy(&self.body[..self.body.len().min(64)]).to_ascii_lowercase();
        let text = text.trim_start();
        declared || text.starts_with("<!doctype html") || text.starts_with("<html")
    }

    /// `Ok(self)` for a 2xx answer, else the error it means.
    ///
    /// # Errors
    ///
    /// [`Reply::error`] of any other status.
    pub fn success(self, op: &Operation) -> Result<Reply> {
        if self.status.is_success() && !self.is_sign_in_page() {
            Ok(self)
        } else {
            Err(self.error(op))
        }
    }

    /// Whether this is a 203 with an HTML page: what Azure DevOps answers a token it did not
    /// accept (its sign-in page), in place of a 401.
    pub fn is_sign_in_page(&self) -> bool {
        self.status == StatusCode::NON_AUTHORITATIVE_INFORMATION && self.is_html()
    }

    /// The platform's own words from an error body (`message`, or GitLab's `error`),
    /// shortened and stripped of control characters.
    pub fn message(&self) -> Option<String> {
        human_message(&self.body)
    }

    /// The error this reply means for `op`; the one place HTTP statuses become error kinds.
    pub fn error(&self, op: &Operation) -> Error {
        let code = self.status.as_u16();
        let message = match self.message() {
            Some(detail) => format!("{}: HTTP {code}: {detail}", op.describe()),
            None => format!("{}: HTTP {code}", op.describe()),
        };
        if self.is_rate_limited() {
            return Error::RateLimited {
                retry_after: self.rate_limit_wait(),
                message,
            };
        }
        if self.is_sign_in_page() {
            return Error::Unauthenticated {
                message: format!(
                    "{}: HTTP 203 with a sign-in page: the token was not accepted",
                    op.describe()
                ),
            };
        }
        match self.status {
            StatusCode::UNAUTHORIZED => Error::Unauthenticated { message },
            StatusCode::FORBIDDEN => Error::PermissionDenied { message },
            StatusCode::NOT_FOUND => Error::NotFound {
                id: op.subject.clone(),
            },
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: None,
                message,
            },
            status if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() => {
                Error::Unavailable {
                    message,
                    source: None,
                }
            }
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

/// The human message of a JSON error body, cleaned for an error line; `None` for a body
/// that is not such an object (an HTML error page, nothing at all).
pub fn human_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: Option<serde_json::Value>,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let text = |value: Option<serde_json::Value>| match value? {
        serde_json::Value::String(text) => Some(text),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    let message = text(parsed.message).or_else(|| text(parsed.error))?;
    let message = message.trim();
    if message.is_empty() {
        return None;
    }
    let mut cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if message.chars().count() > 300 {
        cleaned.push('…');
    }
    Some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reply(status: u16, body: &str, refused: Option<Option<Duration>>) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            rate: RateObservation {
                windows: Vec::new(),
                refused,
                delay: None,
            },
        }
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        let op = Operation::new("status", "acme/app/7");
        let table = [
            (401, "unauthenticated"),
            (403, "permission_denied"),
            (404, "not_found"),
            (408, "unavailable"),
            (409, "rejected"),
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
            let error = reply(status, r#"{"message":"Nope"}"#, None).error(&op);
            assert_eq!(error.kind(), kind, "{status}");
            if kind != "not_found" {
                assert!(error.to_string().contains("status acme/app/7"), "{error}");
            }
        }
    }

    #[test]
    fn a_refusal_the_scheme_recognised_is_a_rate_limit_whatever_the_status() {
        let op = Operation::new("status", "x");
        let refused = reply(
            403,
            r#"{"message":"API rate limit exceeded"}"#,
            Some(Some(Duration::from_secs(9))),
        );
        assert!(refused.is_transient());
        match refused.error(&op) {
            Error::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(9)))
            }
            other => panic!("{other:?}"),
        }
        assert!(!reply(403, "", None).is_transient());
    }

    #[test]
    fn messages_are_cleaned_and_other_bodies_give_none() {
        let op = Operation::new("cancel", "acme/app/7");
        let error = reply(
            422,
            "{\"message\":\"Build can't\\nbe \\u0007canceled\"}",
            None,
        )
        .error(&op);
        assert!(
            error
                .to_string()
                .ends_with("HTTP 422: Build can't be  canceled"),
            "{error}"
        );
        let error = reply(502, "<html><body>Bad gateway</body></html>", None).error(&op);
        assert_eq!(
            error.to_string(),
            "unavailable: cancel acme/app/7: HTTP 502"
        );
        assert_eq!(
            human_message(br#"{"error":"insufficient_scope"}"#).as_deref(),
            Some("insufficient_scope")
        );
        assert_eq!(
            human_message(br#"{"message":{"base":["x"]}}"#).as_deref(),
            Some(r#"{"base":["x"]}"#)
        );
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(500));
        assert_eq!(human_message(long.as_bytes()).unwrap().chars().count(), 301);
    }
}
