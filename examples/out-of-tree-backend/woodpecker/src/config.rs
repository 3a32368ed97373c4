//! The queue options of the Woodpecker backend and the configuration they make.

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    HttpOptionKeys, HttpOptions, NumberedIds, Token, Url, non_empty, parse_api_url,
};
use serde::Deserialize;

use crate::NAME;

/// The environment variable the token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "WOODPECKER_TOKEN";

/// The pipeline variable that carries the idempotency key (or a fresh dispatch id).
pub const KEY_VARIABLE: &str = "BUILDRUNNER_KEY";

/// The options of a `[queues.<name>]` table with `backend = "woodpecker"`.
#[derive(Debug, Deserialize)]
struct Options {
    repo_id: u64,
    #[serde(default)]
    branch: Option<String>,
    #[serde(flatten)]
    http: HttpOptionKeys,
}

/// Everything a [`WoodpeckerRunner`](crate::WoodpeckerRunner) needs but the token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WoodpeckerConfig {
    /// The repository's numeric id on the server; the first part of every build id.
    pub repo_id: u64,
    /// The branch pipelines run on.
    pub branch: String,
    /// The server root, e.g. `https://ci.example.com` (plain `http://` on loopback only).
    pub api_url: Url,
    /// Timeouts, retries, caps.
    pub http: HttpOptions,
}

impl WoodpeckerConfig {
    /// A configuration for one repository on the server at `api_url`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for a repository id of 0 or a URL that is not `https://`
    /// (or `http://` on loopback).
    pub fn new(repo_id: u64, api_url: &str) -> Result<Self> {
        if repo_id == 0 {
            return Err(Error::Configuration {
                message: "repo_id must be a positive number".to_owned(),
            });
        }
        Ok(WoodpeckerConfig {
            repo_id,
            branch: "main".to_owned(),
            api_url: parse_api_url(api_url)?,
            http: HttpOptions::default(),
        })
    }

    /// The ids of this repository's pipelines: `{repo_id}/{number}`.
    pub fn ids(&self) -> NumberedIds {
        NumberedIds::new(self.repo_id.to_string(), "12/7")
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(queue: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = queue.options(NAME)?;
        let fail = |message: String| queue.error(NAME, message);
        let api_url = options.http.api_url.as_deref().ok_or_else(|| {
            fail("api_url is required: the root of your Woodpecker server".to_owned())
        })?;
        let mut config = WoodpeckerConfig::new(options.repo_id, api_url)
            .map_err(|e| queue.in_context(NAME, e))?;
        if let Some(branch) = options.branch {
            config.branch = non_empty("branch", branch).map_err(fail)?;
        }
        config.http = options.http.resolve().map_err(fail)?;
        let var = options.http.token_env_or(DEFAULT_TOKEN_ENV);
        let token =
            Token::from_env(var, "the Woodpecker token").map_err(|e| queue.in_context(NAME, e))?;
        Ok((config, token))
    }
}
