//! The registry of backends, collected at link time with [`inventory`].
//!
//! A backend crate submits one `const` [`BackendRegistration`]:
//!
//! ```
//! use std::sync::Arc;
//! use buildrunner_api::{registry::BackendRegistration, BuildRunner, QueueConfig, Result};
//!
//! fn create(config: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
//!     # let _ = config;
//!     # unimplemented_backend()
//!     // deserialize the options with `config.options::<MyOptions>("mine")?`, then build the runner
//! }
//! # fn unimplemented_backend() -> Result<Arc<dyn BuildRunner>> {
//! #     Err(buildrunner_api::Error::Unsupported { backend: "mine", operation: "create" })
//! # }
//!
//! buildrunner_api::inventory::submit! {
//!     BackendRegistration::new("mine", "an example backend", create)
//! }
//! ```
//!
//! An application then picks a backend by name from its configuration with [`create`].
//! Registrations of a crate that nothing references are dropped by the linker, so every
//! binary that uses the registry names its backend crates once (`use buildrunner_noop as _;`).

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;

use crate::{BuildRunner, Error, Result};

/// The signature of a backend's factory: builds a runner for one queue.
pub type BackendFactory = fn(&QueueConfig) -> Result<Arc<dyn BuildRunner>>;

/// One backend, as a backend crate registers it: a name, a one-line summary and a factory.
#[derive(Clone, Copy)]
pub struct BackendRegistration {
    /// The name configuration selects it by, for example `"buildkite"`.
    pub name: &'static str,
    /// A one-line description, shown by `buildrunner backends`.
    pub summary: &'static str,
    /// Builds a runner for one queue; fails with [`Error::Configuration`] on bad options.
    pub create: BackendFactory,
}

impl BackendRegistration {
    /// A registration, usable in `inventory::submit!`.
    pub const fn new(name: &'static str, summary: &'static str, create: BackendFactory) -> Self {
        BackendRegistration {
            name,
            summary,
            create,
        }
    }
}

impl fmt::Debug for BackendRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendRegistration")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

inventory::collect!(BackendRegistration);

/// The configuration of one queue, handed to a backend's factory.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// The queue's name, for messages and for backends that pass it on to the CI.
    pub queue: String,
    /// The backend's own options; each backend deserializes them and rejects unknown keys.
    pub options: serde_json::Value,
}

impl QueueConfig {
    /// A queue configuration.
    pub fn new(queue: impl Into<String>, options: serde_json::Value) -> Self {
        QueueConfig {
            queue: queue.into(),
            options,
        }
    }

    /// Deserializes the options into a backend's option struct; `null` counts as no options.
    ///
    /// Give the option struct `#[serde(deny_unknown_fields)]` so a misspelt key is an error.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] naming the queue, the backend and serde's reason (which names
    /// the unknown or missing key).
    pub fn options<T: DeserializeOwned>(&self, backend: &str) -> Result<T> {
        let options = match &self.options {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            other => other.clone(),
        };
        serde_json::from_value(options).map_err(|e| Error::Configuration {
            message: format!(
                "queue {:?} (backend {backend}): invalid options: {e}",
                self.queue
            ),
        })
    }

    /// An [`Error::Configuration`] about this queue.
    pub fn error(&self, backend: &str, message: impl fmt::Display) -> Error {
        Error::Configuration {
            message: format!("queue {:?} (backend {backend}): {message}", self.queue),
        }
    }

    /// `error` with this queue named, when it is a configuration error; any other unchanged.
    pub fn in_context(&self, backend: &str, error: Error) -> Error {
        match error {
            Error::Configuration { message } => self.error(backend, message),
            other => other,
        }
    }
}

/// An index of backend registrations by name, sorted.
#[derive(Debug, Clone)]
pub struct Registry {
    backends: Vec<&'static BackendRegistration>,
}

impl Registry {
    /// Indexes the given registrations.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateBackend`] when two registrations share a name.
    pub fn from_registrations(
        registrations: impl IntoIterator<Item = &'static BackendRegistration>,
    ) -> Result<Self> {
        Self::index(registrations).map_err(DuplicateName::into_error)
    }

    fn index(
        registrations: impl IntoIterator<Item = &'static BackendRegistration>,
    ) -> std::result::Result<Self, DuplicateName> {
        let mut backends: Vec<_> = registrations.into_iter().collect();
        backends.sort_by(|a, b| a.name.cmp(b.name).then(a.summary.cmp(b.summary)));
        if let Some(pair) = backends
            .windows(2)
            .find(|pair| pair[0].name == pair[1].name)
        {
            return Err(DuplicateName {
                name: pair[0].name,
                first: pair[0].summary,
                second: pair[1].summary,
            });
        }
        Ok(Registry { backends })
    }

    /// Every registration, sorted by name.
    pub fn backends(&self) -> &[&'static BackendRegistration] {
        &self.backends
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.backends.iter().map(|b| b.name).collect()
    }

    /// The registration with this name.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBackend`] listing every registered name and the closest one.
    pub fn get(&self, name: &str) -> Result<&'static BackendRegistration> {
        if let Some(found) = self.backends.iter().find(|b| b.name == name) {
            return Ok(found);
        }
        Err(Error::UnknownBackend {
            name: name.to_owned(),
            available: self.names().into_iter().map(str::to_owned).collect(),
            closest: closest_name(name, self.names()).map(str::to_owned),
        })
    }

    /// Builds a runner for one queue with the named backend, wrapped in
    /// [`Instrumented`](crate::instrument::Instrumented) so every call is measured.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBackend`] for a name that is not registered, and whatever the
    /// backend's factory returns (usually [`Error::Configuration`]).
    pub fn create(&self, name: &str, config: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
        let runner = (self.get(name)?.create)(config)?;
        Ok(Arc::new(crate::instrument::Instrumented::new(
            runner,
            &config.queue,
        )))
    }
}

/// The candidate a mistyped `name` most likely meant, if any is close enough: the nearest by
/// optimal-string-alignment distance, ignoring case, within a third of its length (at least
/// one edit, and never every character).
///
/// Unknown backend names are suggested with it; applications can use the same rule for their
/// own names (the CLI does for queue names).
///
/// ```
/// use buildrunner_api::registry::closest_name;
///
/// assert_eq!(closest_name("buildkit", ["buildkite", "noop"]), Some("buildkite"));
/// assert_eq!(closest_name("jenkins", ["buildkite", "noop"]), None);
/// ```
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = name.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::osa_distance(&wanted, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len() / 3).max(1) && *distance < candidate.len()
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// The registry of every backend linked into this binary, built once on first use.
///
/// # Errors
///
/// [`Error::DuplicateBackend`] when two linked crates register the same name.
pub fn global() -> Result<&'static Registry> {
    static GLOBAL: OnceLock<std::result::Result<Registry, DuplicateName>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| Registry::index(inventory::iter::<BackendRegistration>))
        .as_ref()
        .map_err(|duplicate| duplicate.into_error())
}

/// Two registrations under one name; kept apart from [`Error`] so the global index can be
/// cached and the error rebuilt on every call.
#[derive(Debug, Clone, Copy)]
struct DuplicateName {
    name: &'static str,
    first: &'static str,
    second: &'static str,
}

impl DuplicateName {
    fn into_error(self) -> Error {
        Error::DuplicateBackend {
            name: self.name.to_owned(),
            first: self.first.to_owned(),
            second: self.second.to_owned(),
        }
    }
}

/// Every backend linked into this binary, sorted by name.
///
/// # Errors
///
/// [`Error::DuplicateBackend`] when two linked crates register the same name.
pub fn backends() -> Result<Vec<&'static BackendRegistration>> {
    Ok(global()?.backends().to_vec())
}

/// Builds a runner for one queue with the backend registered as `name`.
///
/// ```
/// use buildrunner_api::{registry, Error, QueueConfig};
///
/// let config = QueueConfig::new("main", serde_json::json!({}));
/// match registry::create("no-such-backend", &config) {
///     Err(Error::UnknownBackend { available, .. }) => assert!(!available.contains(&"no-such-backend".to_string())),
///     other => panic!("expected an unknown backend error, got {other:?}"),
/// }
/// ```
///
/// # Errors
///
/// [`Error::UnknownBackend`] for a name that is not registered, [`Error::DuplicateBackend`]
/// when the registry is inconsistent, and whatever the backend's factory returns.
pub fn create(name: &str, config: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
    global()?.create(name, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_suggests_typos_and_case_but_not_strangers() {
        let names = ["buildkite", "githubactions", "noop"];
        assert_eq!(closest_name("buildkit", names), Some("buildkite"));
        assert_eq!(closest_name("Buildkite", names), Some("buildkite"));
        assert_eq!(closest_name("nop", names), Some("noop"));
        assert_eq!(closest_name("github-actions", names), Some("githubactions"));
        assert_eq!(closest_name("jenkins", names), None);
        assert_eq!(closest_name("x", []), None);
        assert_eq!(
            closest_name("b", ["a"]),
            None,
            "one letter is no typo of another"
        );
        assert_eq!(
            closest_name("dmeo", ["demo"]),
            Some("demo"),
            "a transposition is one edit"
        );
    }
}
