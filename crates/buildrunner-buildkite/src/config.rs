//! The queue options of the Buildkite backend and the runner configuration they make.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use buildrunner_api::{Error, QueueConfig, Result};
use serde::Deserialize;
use url::Url;

use crate::NAME;

/// The environment variable the token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "BUILDKITE_API_TOKEN";
/// The Buildkite REST API.
pub const DEFAULT_API_URL: &str = "https://api.buildkite.com";
/// The largest response body read by default: a build without jobs is a few KiB, so this
/// leaves room for a build with many jobs while bounding memory per call.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The most requests one runner has in flight by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;

/// The options of a `[queues.<name>]` table with `backend = "buildkite"`.
///
/// Every key but `organization` and `pipeline` has a default; an unknown key is an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    organization: String,
    pipeline: String,
    #[serde(default = "default_token_env")]
    token_env: String,
    #[serde(default = "default_api_url")]
    api_url: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    request_timeout_secs: Option<f64>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    max_retry_wait_secs: Option<f64>,
    #[serde(default)]
    initial_backoff_ms: Option<u64>,
    #[serde(default)]
    max_response_bytes: Option<usize>,
    #[serde(default)]
    max_connections: Option<usize>,
}

fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_owned()
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

/// Everything a [`BuildkiteRunner`](crate::BuildkiteRunner) needs but the token.
///
/// Built from queue options by the registry's factory, or by hand:
///
/// ```
/// use std::time::Duration;
/// use buildrunner_buildkite::BuildkiteConfig;
///
/// let mut config = BuildkiteConfig::new("acme", "monorepo")?;
/// config.branch = "merge-queue".into();
/// config.request_timeout = Duration::from_secs(10);
/// assert_eq!(config.api_url.as_str(), "https://api.buildkite.com/");
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BuildkiteConfig {
    /// The organization slug.
    pub organization: String,
    /// The pipeline slug.
    pub pipeline: String,
    /// The API root: `https://api.buildkite.com` or, for tests, a loopback `http://` URL.
    pub api_url: Url,
    /// The branch each build is created on.
    pub branch: String,
    /// The commit each build is created at.
    pub commit: String,
    /// The build message; `None` makes one from the queue name and the first head URI.
    pub message: Option<String>,
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
    /// The most requests this runner has in flight at once, and so its most open connections.
    pub max_connections: usize,
}

impl BuildkiteConfig {
    /// A configuration for one pipeline with every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when a slug is empty or has characters a slug cannot have.
    pub fn new(organization: impl Into<String>, pipeline: impl Into<String>) -> Result<Self> {
        let organization = organization.into();
        let pipeline = pipeline.into();
        check_slug("organization", &organization)?;
        check_slug("pipeline", &pipeline)?;
        Ok(BuildkiteConfig {
            organization,
            pipeline,
            api_url: parse_api_url(DEFAULT_API_URL)?,
            branch: "main".to_owned(),
            commit: "HEAD".to_owned(),
            message: None,
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            max_retry_wait: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// Points the runner at another API root (a loopback emulator, say).
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] unless the URL is `https://`, or `http://` on a loopback host,
    /// without query or fragment.
    pub fn with_api_url(mut self, api_url: &str) -> Result<Self> {
        self.api_url = parse_api_url(api_url)?;
        Ok(self)
    }

    /// The id of build `number` of this pipeline: `{organization}/{pipeline}/{number}`.
    pub fn build_id(&self, number: u64) -> buildrunner_api::BuildId {
        crate::id::format_id(self, number)
    }

    /// The build number an id names, checked strictly against this pipeline.
    ///
    /// ```
    /// use buildrunner_api::BuildId;
    /// use buildrunner_buildkite::BuildkiteConfig;
    ///
    /// let config = BuildkiteConfig::new("acme", "monorepo")?;
    /// assert_eq!(config.parse_build_id(&BuildId::from("acme/monorepo/42"))?, 42);
    /// assert!(config.parse_build_id(&BuildId::from("acme/other/42")).is_err());
    /// # Ok::<(), buildrunner_api::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuildId`] for a malformed id or one of another organization or pipeline.
    pub fn parse_build_id(&self, id: &buildrunner_api::BuildId) -> Result<u64> {
        crate::id::parse_id(self, id)
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = config.options(NAME)?;
        let wrap = |e: Error| match e {
            Error::Configuration { message } => config.error(NAME, message),
            other => other,
        };
        let mut built = BuildkiteConfig::new(options.organization, options.pipeline)
            .and_then(|c| c.with_api_url(&options.api_url))
            .map_err(wrap)?;
        if let Some(branch) = options.branch {
            built.branch = non_empty("branch", branch).map_err(wrap)?;
        }
        if let Some(commit) = options.commit {
            built.commit = non_empty("commit", commit).map_err(wrap)?;
        }
        built.message = options.message;
        if let Some(secs) = options.request_timeout_secs {
            built.request_timeout = seconds("request_timeout_secs", secs, false).map_err(wrap)?;
        }
        if let Some(retries) = options.max_retries {
            built.max_retries = retries;
        }
        if let Some(secs) = options.max_retry_wait_secs {
            built.max_retry_wait = seconds("max_retry_wait_secs", secs, true).map_err(wrap)?;
        }
        if let Some(ms) = options.initial_backoff_ms {
            built.initial_backoff = Duration::from_millis(ms);
        }
        if let Some(bytes) = options.max_response_bytes {
            if bytes < 1024 {
                return Err(config.error(NAME, "max_response_bytes must be at least 1024"));
            }
            built.max_response_bytes = bytes;
        }
        if let Some(connections) = options.max_connections {
            if !(1..=1024).contains(&connections) {
                return Err(config.error(NAME, "max_connections must be between 1 and 1024"));
            }
            built.max_connections = connections;
        }
        if options.token_env.is_empty() {
            return Err(config.error(NAME, "token_env must name an environment variable"));
        }
        let token = Token::from_env(&options.token_env).map_err(wrap)?;
        Ok((built, token))
    }

    /// `{api}/v2/organizations/{org}/pipelines/{pipeline}/builds`
    pub(crate) fn builds_url(&self) -> Url {
        let mut url = self.api_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!(
            "{base}/v2/organizations/{}/pipelines/{}/builds",
            self.organization, self.pipeline
        ));
        url
    }
}

fn non_empty(key: &str, value: String) -> Result<String> {
    if value.trim().is_empty() {
        Err(Error::Configuration {
            message: format!("{key} must not be empty"),
        })
    } else {
        Ok(value)
    }
}

fn seconds(key: &str, secs: f64, zero_allowed: bool) -> Result<Duration> {
    let valid =
        secs.is_finite() && secs <= 86_400.0 && (secs > 0.0 || (zero_allowed && secs == 0.0));
    if !valid {
        return Err(Error::Configuration {
            message: format!("{key} must be a number of seconds between 0 and 86400, got {secs}"),
        });
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Buildkite slugs are lowercase letters, digits and dashes; this also accepts `_` and `.`,
/// and refuses anything that would change the meaning of a URL path.
fn check_slug(what: &str, slug: &str) -> Result<()> {
    let valid = !slug.is_empty()
        && slug.len() <= 255
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && slug != "."
        && slug != "..";
    if valid {
        Ok(())
    } else {
        Err(Error::Configuration {
            message: format!(
                "{what} slug {slug:?} is not valid (expected letters, digits, '-', '_' or '.')"
            ),
        })
    }
}

fn parse_api_url(text: &str) -> Result<Url> {
    let bad = |why: &str| Error::Configuration {
        message: format!("api_url {text:?} {why}"),
    };
    let url = Url::parse(text).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials; use token_env"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(bad(
            "uses plain http, which is only allowed for loopback hosts (the token would travel in clear)",
        )),
        _ => Err(bad("must be an https:// URL")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A Buildkite API token. `Debug` and `Display` print it redacted, so it cannot reach a log,
/// an error message or a panic by accident.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for an empty or blank token, or one that cannot be sent in
    /// an HTTP header.
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(Error::Configuration {
                message: "the Buildkite API token is empty".to_owned(),
            });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Configuration {
                message: "the Buildkite API token has characters a token cannot have".to_owned(),
            });
        }
        Ok(Token(token))
    }

    /// Reads the token from an environment variable.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] naming the variable (never its value) when it is unset,
    /// empty or not a valid token.
    pub fn from_env(var: &str) -> Result<Self> {
        let value = std::env::var(var).map_err(|_| Error::Configuration {
            message: format!("environment variable {var} (the Buildkite API token) is not set"),
        })?;
        Token::new(value).map_err(|_| Error::Configuration {
            message: format!(
                "environment variable {var} (the Buildkite API token) is empty or invalid"
            ),
        })
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A stable hash of the token (FNV-1a), to tell tokens apart without keeping them.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://api.buildkite.com",
            "https://proxy.example.com/buildkite/",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:3000",
            "http://[::1]:9000",
        ] {
            assert!(parse_api_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.buildkite.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
            "https://api.buildkite.com?x=1",
            "https://user:pw@api.buildkite.com",
        ] {
            assert!(
                matches!(parse_api_url(bad), Err(Error::Configuration { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn builds_url_keeps_a_base_path() {
        let config = BuildkiteConfig::new("acme", "app")
            .unwrap()
            .with_api_url("https://proxy.example.com/bk/")
            .unwrap();
        assert_eq!(
            config.builds_url().as_str(),
            "https://proxy.example.com/bk/v2/organizations/acme/pipelines/app/builds"
        );
    }

    #[test]
    fn slugs_are_checked() {
        for bad in ["", "a/b", "a b", "..", "a?b", "ä"] {
            assert!(BuildkiteConfig::new(bad, "p").is_err(), "{bad:?}");
            assert!(BuildkiteConfig::new("o", bad).is_err(), "{bad:?}");
        }
        assert!(BuildkiteConfig::new("acme-inc", "mono_repo.v2").is_ok());
    }

    #[test]
    fn tokens_never_print() {
        let token = Token::new("bkua_secret123").unwrap();
        assert!(!format!("{token:?} {token}").contains("secret"));
        assert!(Token::new("  ").is_err());
        assert!(Token::new("a\nb").is_err());
    }
}
