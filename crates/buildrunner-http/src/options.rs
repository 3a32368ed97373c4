//! The options every HTTP backend shares: timeouts, retries, body and connection caps.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The largest response body read by default: a build object is a few KiB, so this leaves
/// room for large answers while bounding memory per call.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The most requests one runner has in flight by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;

/// How an [`HttpClient`](crate::HttpClient) times, retries and bounds its requests.
///
/// ```
/// use std::time::Duration;
/// use buildrunner_http::HttpOptions;
///
/// let options = HttpOptions { max_retries: 2, ..HttpOptions::default() };
/// assert_eq!(options.request_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long one HTTP request may take, connection included.
    pub request_timeout: Duration,
    /// How many times a failed request is retried at most.
    pub max_retries: u32,
    /// The total time a call may spend on retries (waits and attempts after the first); no
    /// retry starts after it and no wait extends past it.
    pub max_retry_wait: Duration,
    /// The first backoff delay; each retry doubles it, with jitter, up to 10 seconds.
    pub initial_backoff: Duration,
    /// The largest response body read; a larger one is a protocol error.
    pub max_response_bytes: usize,
    /// The most requests a runner has in flight at once, and so its most open connections.
    pub max_connections: usize,
    /// `redis://host:port/db`: share the rate budget and idempotency-key locks with every
    /// process that names the same Redis (feature `redis`); `None` keeps them in-process.
    pub rate_budget_url: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            max_retry_wait: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            rate_budget_url: None,
        }
    }
}

/// The shared keys of a queue table, as written in configuration, and every key nobody
/// claimed. A backend flattens this as the **last** field of its own options struct (serde
/// cannot combine `flatten` with `deny_unknown_fields`, so unknown keys are collected here and
/// refused by [`HttpOptionKeys::resolve`]):
///
/// ```
/// use buildrunner_http::HttpOptionKeys;
///
/// #[derive(serde::Deserialize)]
/// struct Options {
///     organization: String,
///     #[serde(flatten)]
///     http: HttpOptionKeys,
/// }
///
/// let options: Options = serde_json::from_value(serde_json::json!({
///     "organization": "acme", "max_retries": 2, "colour": "blue"
/// }))?;
/// assert_eq!(options.http.max_retries, Some(2));
/// assert!(options.http.resolve().unwrap_err().contains("colour"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpOptionKeys {
    /// `api_url`: the API root; each backend has its default ([`HttpOptionKeys::api_url_or`]).
    #[serde(default)]
    pub api_url: Option<String>,
    /// `token_env`: the env var holding the token; each backend has its default.
    #[serde(default)]
    pub token_env: Option<String>,
    /// `request_timeout_secs`
    #[serde(default)]
    pub request_timeout_secs: Option<f64>,
    /// `max_retries`
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// `max_retry_wait_secs`
    #[serde(default)]
    pub max_retry_wait_secs: Option<f64>,
    /// `initial_backoff_ms`
    #[serde(default)]
    pub initial_backoff_ms: Option<u64>,
    /// `max_response_bytes`
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// `max_connections`
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// `rate_budget_url`: a Redis shared by replicas (feature `redis`).
    #[serde(default)]
    pub rate_budget_url: Option<String>,
    /// `webhook_secret_env`: the env var holding the queue's webhook token or secret; without
    /// it the runner reads no webhooks.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Every key no field claimed: refused by [`HttpOptionKeys::resolve`].
    #[serde(flatten)]
    pub unknown: UnknownKeys,
}

impl HttpOptionKeys {
    /// `api_url`, else the backend's `default`.
    pub fn api_url_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.api_url.as_deref().unwrap_or(default)
    }

    /// `token_env`, else the backend's `default`.
    pub fn token_env_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.token_env.as_deref().unwrap_or(default)
    }

    /// The webhook secret from the env var `webhook_secret_env` names; `None` without the key.
    ///
    /// # Errors
    ///
    /// [`buildrunner_api::Error::Configuration`] naming the variable (never its value) when it
    /// is unset or blank.
    pub fn webhook_secret(&self) -> buildrunner_api::Result<Option<crate::Token>> {
        self.webhook_secret_env
            .as_deref()
            .map(|var| crate::Token::multiline_from_env(var, "the webhook secret"))
            .transpose()
    }

    /// The options these keys describe, the rest at their defaults.
    ///
    /// # Errors
    ///
    /// A sentence naming the unknown keys, or the key whose value is out of range.
    pub fn resolve(&self) -> Result<HttpOptions, String> {
        self.unknown.check()?;
        let mut options = HttpOptions::default();
        if let Some(secs) = self.request_timeout_secs {
            options.request_timeout = seconds("request_timeout_secs", secs, false)?;
        }
        if let Some(retries) = self.max_retries {
            options.max_retries = retries;
        }
        if let Some(secs) = self.max_retry_wait_secs {
            options.max_retry_wait = seconds("max_retry_wait_secs", secs, true)?;
        }
        if let Some(ms) = self.initial_backoff_ms {
            options.initial_backoff = Duration::from_millis(ms);
        }
        if let Some(bytes) = self.max_response_bytes {
            if bytes < 1024 {
                return Err("max_response_bytes must be at least 1024".to_owned());
            }
            options.max_response_bytes = bytes;
        }
        if let Some(connections) = self.max_connections {
            if !(1..=1024).contains(&connections) {
                return Err("max_connections must be between 1 and 1024".to_owned());
            }
            options.max_connections = connections;
        }
        if let Some(url) = &self.rate_budget_url {
            options.rate_budget_url = Some(redis_url(url)?);
        }
        Ok(options)
    }
}

/// A `rate_budget_url` checked as far as it can be without connecting.
fn redis_url(url: &str) -> Result<String, String> {
    if url.starts_with("rediss://") {
        return Err(
            "rate_budget_url: rediss:// (TLS) is not built in; reach Redis over a private network or a local TLS proxy with redis://"
                .to_owned(),
        );
    }
    if !url.starts_with("redis://") {
        return Err("rate_budget_url must be a redis:// URL".to_owned());
    }
    if !cfg!(feature = "redis") {
        return Err("rate_budget_url needs buildrunner built with the `redis` feature".to_owned());
    }
    Ok(url.to_owned())
}

/// Every key a backend's options struct did not claim; see [`HttpOptionKeys`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct UnknownKeys(BTreeMap<String, serde_json::Value>);

impl UnknownKeys {
    /// `Err` naming the unknown keys, if there are any.
    ///
    /// # Errors
    ///
    /// When any key is left.
    pub fn check(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        Err(format!("unknown option(s): {}", names.join(", ")))
    }
}

fn seconds(key: &str, secs: f64, zero_allowed: bool) -> Result<Duration, String> {
    let valid =
        secs.is_finite() && secs <= 86_400.0 && (secs > 0.0 || (zero_allowed && secs == 0.0));
    if !valid {
        return Err(format!(
            "{key} must be a number of seconds between 0 and 86400, got {secs}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A required text option that must not be blank.
///
/// # Errors
///
/// A sentence naming the key when the value is blank.
pub fn non_empty(key: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("{key} must not be empty"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_with_ranges_checked() {
        let keys = HttpOptionKeys {
            api_url: None,
            token_env: Some("MY_TOKEN".into()),
            request_timeout_secs: Some(2.5),
            max_retries: Some(1),
            max_retry_wait_secs: Some(0.0),
            initial_backoff_ms: Some(7),
            max_response_bytes: Some(2048),
            max_connections: Some(4),
            webhook_secret_env: None,
            rate_budget_url: None,
            unknown: UnknownKeys::default(),
        };
        let options = keys.resolve().unwrap();
        assert_eq!(keys.api_url_or("https://x"), "https://x");
        assert_eq!(keys.token_env_or("DEFAULT_TOKEN"), "MY_TOKEN");
        assert_eq!(options.request_timeout, Duration::from_millis(2500));
        assert_eq!(options.max_retry_wait, Duration::ZERO);
        assert_eq!(
            (
                options.max_retries,
                options.max_response_bytes,
                options.max_connections
            ),
            (1, 2048, 4)
        );
        for bad in [
            HttpOptionKeys {
                request_timeout_secs: Some(0.0),
                ..Default::default()
            },
            HttpOptionKeys {
                max_retry_wait_secs: Some(-1.0),
                ..Default::default()
            },
            HttpOptionKeys {
                max_retry_wait_secs: Some(f64::NAN),
                ..Default::default()
            },
            HttpOptionKeys {
                max_response_bytes: Some(10),
                ..Default::default()
            },
            HttpOptionKeys {
                max_connections: Some(0),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rate_budget_url_is_a_plain_redis_url_and_needs_the_feature() {
        let with = |url: &str| HttpOptionKeys {
            rate_budget_url: Some(url.to_owned()),
            ..Default::default()
        };
        for bad in [
            "http://127.0.0.1:6379",
            "rediss://redis.internal:6380/0",
            "",
        ] {
            assert!(with(bad).resolve().is_err(), "{bad}");
        }
        let plain = with("redis://127.0.0.1:6379/0").resolve();
        if cfg!(feature = "redis") {
            assert_eq!(
                plain.unwrap().rate_budget_url.as_deref(),
                Some("redis://127.0.0.1:6379/0")
            );
        } else {
            assert!(plain.unwrap_err().contains("`redis` feature"));
        }
    }
}
