//! The contract every buildrunner backend implements.
//!
//! A merge queue (or any orchestrator) uses this crate to trigger a CI build for a
//! speculative branch state, follow it and cancel it, without knowing which CI runs it:
//!
//! - [`BuildRunner`] is the async trait with three verbs: [`trigger`](BuildRunner::trigger),
//!   [`status`](BuildRunner::status) and [`cancel`](BuildRunner::cancel).
//! - [`TriggerRequest`], [`BuildId`], [`BuildStatus`] and [`BuildReport`] are what flows
//!   through it; [`Capabilities`] is what a backend declares it can do.
//! - [`Error`] is the one error type, with [`Error::is_retryable`] for callers that poll.
//! - [`webhook`]: what a backend makes of its CI's webhooks (hints for a tracker).
//! - [`instrument`]: metrics and spans for every call, as a layer around any runner.
//! - [`registry`] collects backends that link themselves in with [`inventory`] and builds
//!   a runner from a backend name and a [`QueueConfig`] at run time.
//!
//! This crate knows no HTTP and no backend. A backend is a crate of its own that depends on
//! this one and submits a [`BackendRegistration`].
//!
//! ```
//! use buildrunner_api::{BuildStatus, Change, TriggerRequest};
//!
//! let request = TriggerRequest::builder()
//!     .base(Change::new(["https://github.com/acme/app/pull/6"]))
//!     .head(Change::new(["https://github.com/acme/app/pull/7"]))
//!     .metadata("queue-position", "3")
//!     .build()?;
//! assert_eq!(request.head().len(), 1);
//! assert!(TriggerRequest::new(vec![]).is_err(), "a request needs head changes");
//! assert!(BuildStatus::Failed.is_terminal());
//! assert!(!BuildStatus::Unknown.is_terminal());
//! # Ok::<(), buildrunner_api::Error>(())
//! ```

mod capabilities;
mod error;
pub mod instrument;
pub mod outcome;
pub mod registry;
mod runner;
mod types;
pub mod webhook;

pub use capabilities::Capabilities;
pub use error::{BoxError, Error, Result};
pub use registry::{BackendRegistration, QueueConfig};
pub use runner::{BuildRunner, STATUS_MANY_CONCURRENCY, status_each, status_one_by_one};
pub use types::{
    ATTEMPT_KEY, BuildId, BuildMetadata, BuildReport, BuildStatus, Change, JobReport,
    MAX_IDEMPOTENCY_KEY_LEN, TriggerRequest, TriggerRequestBuilder, failed_first,
};
pub use webhook::{WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver};

/// Re-exported so backend crates submit registrations with the same `inventory` version
/// this crate collects them with.
pub use inventory;
