//! A buildrunner backend for [Woodpecker CI](https://woodpecker-ci.org): manual pipelines
//! over its REST API, registered as `woodpecker`.
//!
//! It is written against the published buildrunner crates only, in the layout every backend
//! shares: `config.rs` (the queue options), `core.rs` (Woodpecker's endpoints and wire
//! structs), `backend.rs` (the trait). The shared HTTP client retries, rate-limits, caps
//! bodies and settles creates whose outcome is unknown; this crate only speaks Woodpecker.
//!
//! Build ids are `{repo_id}/{number}`, e.g. `12/7`.

mod backend;
mod config;
mod core;

use buildrunner_api::registry::BackendRegistration;

pub use backend::{CAPABILITIES, Woodpecker, WoodpeckerRunner};
pub use buildrunner_http::Token;
pub use config::{DEFAULT_TOKEN_ENV, KEY_VARIABLE, WoodpeckerConfig};

/// The registered backend name.
pub const NAME: &str = "woodpecker";

/// The registration `buildrunner` finds the backend by.
pub const REGISTRATION: BackendRegistration = BackendRegistration::new(
    NAME,
    "Woodpecker CI manual pipelines over its REST API",
    |queue| Ok(std::sync::Arc::new(WoodpeckerRunner::from_queue(queue)?)),
);

buildrunner_api::inventory::submit! { REGISTRATION }
