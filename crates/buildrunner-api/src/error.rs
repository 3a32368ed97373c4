use std::time::Duration;

/// A boxed error that can cross threads, used as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when triggering, following or cancelling a build.
///
/// Backends map their platform's failures onto these kinds (an HTTP backend does it in one
/// function from the status code), so a caller can react without knowing the backend:
/// retry what [`is_retryable`](Error::is_retryable), report the rest.
///
/// No variant ever holds a credential: backends build messages from status codes, the
/// platform's own error text and ids, never from request headers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before anything was sent, for example a trigger without head changes.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why the request is invalid.
        reason: String,
    },

    /// The build id is not one this runner can have minted. No request was sent.
    #[error("invalid build id {id:?}: {reason}")]
    InvalidBuildId {
        /// The id as the caller gave it.
        id: String,
        /// Why it was rejected, including the expected format.
        reason: String,
    },

    /// The CI does not know this build.
    #[error("not found: {id}")]
    NotFound {
        /// What was looked up: a build id, or the pipeline a build was to be created in.
        id: String,
    },

    /// The CI did not accept the credentials (missing, wrong or expired).
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// What the CI said, with the operation that failed.
        message: String,
    },

    /// The credentials are valid but lack the permission for this operation.
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// What the CI said, with the operation that failed.
        message: String,
    },

    /// The CI's API rate limit is exhausted and stayed so for as long as the backend waits.
    #[error("rate limited: {message}")]
    RateLimited {
        /// How long the CI asked callers to wait, when it said.
        retry_after: Option<Duration>,
        /// What the CI said, with the operation that failed.
        message: String,
    },

    /// The CI could not be reached or answered with a transient failure (5xx, timeout,
    /// dropped connection) for longer than the backend retries.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What happened, with the operation that failed.
        message: String,
        /// The underlying transport error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The CI understood the request and refused it, for example a build it cannot create or
    /// a running build it will not cancel.
    #[error("rejected: {message}")]
    Rejected {
        /// The CI's reason, with the operation that failed.
        message: String,
    },

    /// The CI's answer was not understood (wrong shape, truncated, too large).
    #[error("protocol error: {message}")]
    Protocol {
        /// What was wrong with the answer, with the operation that failed.
        message: String,
        /// The underlying decoding error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A queue's configuration is unusable: a missing or unknown option, a bad URL, a missing token.
    #[error("configuration error: {message}")]
    Configuration {
        /// What is wrong, naming the queue and the option.
        message: String,
    },

    /// No backend is registered under this name.
    #[error("{}", unknown_backend_message(name, available, closest.as_deref()))]
    UnknownBackend {
        /// The name that was asked for.
        name: String,
        /// Every registered backend name, sorted.
        available: Vec<String>,
        /// The registered name closest to `name`, when one is close enough to be a likely typo.
        closest: Option<String>,
    },

    /// Two linked crates registered a backend under the same name.
    #[error("backend name {name:?} is registered twice: by {first:?} and by {second:?}")]
    DuplicateBackend {
        /// The name registered twice.
        name: String,
        /// The summary of the first registration.
        first: String,
        /// The summary of the second registration.
        second: String,
    },

    /// The backend does not support this operation.
    #[error("backend {backend} does not support {operation}")]
    Unsupported {
        /// The backend's registered name.
        backend: &'static str,
        /// The operation that was asked for.
        operation: &'static str,
    },
}

fn unknown_backend_message(name: &str, available: &[String], closest: Option<&str>) -> String {
    let list = if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    };
    match closest {
        Some(closest) => format!(
            "unknown backend {name:?} (did you mean {closest:?}?); registered backends: {list}"
        ),
        None => format!("unknown backend {name:?}; registered backends: {list}"),
    }
}

impl Error {
    /// Whether the same call may succeed if tried again later.
    ///
    /// True for [`RateLimited`](Error::RateLimited) and [`Unavailable`](Error::Unavailable):
    /// the backend already retried within its own deadline, but the condition is transient.
    /// Everything else describes the request, the id, the configuration or the build itself
    /// and will fail the same way again.
    ///
    /// ```
    /// use buildrunner_api::Error;
    ///
    /// let error = Error::Unavailable { message: "502 from the CI".into(), source: None };
    /// assert!(error.is_retryable());
    /// assert!(!Error::NotFound { id: "acme/app/1".into() }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Unavailable { .. })
    }

    /// How long the CI asked to wait before the next request, for a rate-limited call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A stable, lowercase name of the error kind (`"not_found"`, `"rate_limited"`, ...),
    /// for logs, metrics and machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidRequest { .. } => "invalid_request",
            Error::InvalidBuildId { .. } => "invalid_build_id",
            Error::NotFound { .. } => "not_found",
            Error::Unauthenticated { .. } => "unauthenticated",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable { .. } => "unavailable",
            Error::Rejected { .. } => "rejected",
            Error::Protocol { .. } => "protocol",
            Error::Configuration { .. } => "configuration",
            Error::UnknownBackend { .. } => "unknown_backend",
            Error::DuplicateBackend { .. } => "duplicate_backend",
            Error::Unsupported { .. } => "unsupported",
        }
    }
}
