//! The queue options of the Buildkite backend and the runner configuration they make.

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    HttpOptionKeys, HttpOptions, NumberedIds, Token, check_path_name, join_path, non_empty,
    parse_api_url,
};
use serde::Deserialize;
use url::Url;

use crate::NAME;

/// The environment variable the token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "BUILDKITE_API_TOKEN";
/// The Buildkite REST API.
pub const DEFAULT_API_URL: &str = "https://api.buildkite.com";
/// Buildkite's GraphQL endpoint, used for `status_many` with `graphql = true`.
pub const DEFAULT_GRAPHQL_URL: &str = "https://graphql.buildkite.com/v1";

/// The options of a `[queues.<name>]` table with `backend = "buildkite"`.
///
/// Every key but `organization` and `pipeline` has a default; an unknown key is an error.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    organization: String,
    pipeline: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    graphql: bool,
    #[serde(default)]
    graphql_url: Option<String>,
    #[serde(flatten)]
    http: HttpOptionKeys,
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
/// config.http.request_timeout = Duration::from_secs(10);
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
    /// Timeouts, retries, caps: what every HTTP backend shares.
    pub http: HttpOptions,
    /// The webhook token or secret (`webhook_secret_env`); with it, and the `webhooks`
    /// feature, the runner reads this CI's webhooks.
    pub webhook_secret: Option<Token>,
    /// Answer `status_many` through Buildkite's GraphQL API (up to 100 builds a request) when
    /// set; the token then needs GraphQL access. Off by default.
    pub graphql_url: Option<Url>,
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
        check_path_name("organization", &organization)?;
        check_path_name("pipeline", &pipeline)?;
        Ok(BuildkiteConfig {
            organization,
            pipeline,
            api_url: parse_api_url(DEFAULT_API_URL)?,
            branch: "main".to_owned(),
            commit: "HEAD".to_owned(),
            message: None,
            http: HttpOptions::default(),
            webhook_secret: None,
            graphql_url: None,
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
        self.ids().format(number)
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
        self.ids().parse(id)
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = config.options(NAME)?;
        let fail = |message: String| config.error(NAME, message);
        let wrap = |e: Error| config.in_context(NAME, e);
        let mut built = BuildkiteConfig::new(options.organization, options.pipeline)
            .and_then(|c| c.with_api_url(options.http.api_url_or(DEFAULT_API_URL)))
            .map_err(wrap)?;
        if let Some(branch) = options.branch {
            built.branch = non_empty("branch", branch).map_err(fail)?;
        }
        if let Some(commit) = options.commit {
            built.commit = non_empty("commit", commit).map_err(fail)?;
        }
        built.message = options.message;
        built.http = options.http.resolve().map_err(fail)?;
        built.webhook_secret = options.http.webhook_secret().map_err(wrap)?;
        if options.graphql {
            let url = options
                .graphql_url
                .as_deref()
                .unwrap_or(DEFAULT_GRAPHQL_URL);
            built.graphql_url = Some(parse_api_url(url).map_err(wrap)?);
        } else if options.graphql_url.is_some() {
            return Err(fail(
                "graphql_url is set but graphql is not true".to_owned(),
            ));
        }
        let token_env = options.http.token_env_or(DEFAULT_TOKEN_ENV);
        let token = Token::from_env(token_env, "the Buildkite API token").map_err(wrap)?;
        Ok((built, token))
    }

    /// The ids of this pipeline's builds: `{organization}/{pipeline}/{number}`.
    pub(crate) fn ids(&self) -> NumberedIds {
        NumberedIds::new(
            format!("{}/{}", self.organization, self.pipeline),
            "acme/monorepo/42",
        )
    }

    /// `{api}/v2/organizations/{org}/pipelines/{pipeline}/builds`
    pub(crate) fn builds_url(&self) -> Url {
        join_path(
            &self.api_url,
            &[
                "v2",
                "organizations",
                &self.organization,
                "pipelines",
                &self.pipeline,
                "builds",
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ids_name_this_pipeline_only() {
        let config = BuildkiteConfig::new("acme", "monorepo").unwrap();
        let id = config.build_id(u64::MAX);
        assert_eq!(id.as_str(), "acme/monorepo/18446744073709551615");
        assert_eq!(config.parse_build_id(&id).unwrap(), u64::MAX);
        let error = config
            .parse_build_id(&buildrunner_api::BuildId::from("ACME/monorepo/42"))
            .unwrap_err();
        assert!(
            error.to_string().contains("this queue runs acme/monorepo"),
            "{error}"
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
}
