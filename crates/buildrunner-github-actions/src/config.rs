//! The queue options of the GitHub Actions backend and the configuration they make.

use std::collections::BTreeMap;

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    HttpOptionKeys, HttpOptions, NumberedIds, Token, Url, check_path_name, parse_api_url,
};
use serde::Deserialize;

use crate::NAME;

/// The environment variable the token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";
/// GitHub's REST API; GitHub Enterprise Server's is `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The workflow input that carries the idempotency key (or a fresh dispatch id).
pub const DEFAULT_KEY_INPUT: &str = "buildrunner_key";
/// GitHub accepts at most this many inputs in one dispatch.
pub const MAX_INPUTS: usize = 25;

/// The options of a `[queues.<name>]` table with `backend = "github-actions"`.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    owner: String,
    repo: String,
    workflow: String,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    app_id: Option<u64>,
    #[serde(default)]
    installation_id: Option<u64>,
    #[serde(default)]
    private_key_env: Option<String>,
    #[serde(default)]
    extra_inputs: BTreeMap<String, String>,
    #[serde(default)]
    key_input: Option<String>,
    #[serde(default)]
    force_cancel: bool,
    #[serde(flatten)]
    http: HttpOptionKeys,
}

/// How the runner proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A personal access token, fine-grained token or `GITHUB_TOKEN`.
    Token(Token),
    /// A GitHub App installation: a JWT signed with the App's key is exchanged for an
    /// installation token, renewed before it expires.
    App {
        /// The App id.
        app_id: u64,
        /// The installation in the repository's account.
        installation_id: u64,
        /// The App's private key, PEM.
        private_key: Token,
    },
}

impl Credentials {
    /// A fingerprint that tells credentials apart without keeping them.
    pub(crate) fn fingerprint(&self) -> u64 {
        match self {
            Credentials::Token(token) => token.fingerprint(),
            Credentials::App {
                installation_id,
                private_key,
                ..
            } => private_key.fingerprint() ^ installation_id.rotate_left(17),
        }
    }
}

/// Everything a [`GitHubActionsRunner`](crate::GitHubActionsRunner) needs but credentials.
///
/// ```
/// use buildrunner_github_actions::GitHubActionsConfig;
///
/// let config = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")?;
/// assert_eq!(config.git_ref, "main");
/// assert_eq!(config.key_input.as_deref(), Some("buildrunner_key"));
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GitHubActionsConfig {
    /// The repository owner (user or organization).
    pub owner: String,
    /// The repository name.
    pub repo: String,
    /// The workflow: its file name (`buildrunner.yml`) or numeric id.
    pub workflow: String,
    /// The branch or tag the workflow is dispatched on.
    pub git_ref: String,
    /// The API root: `https://api.github.com`, GHES `https://HOST/api/v3`, or a loopback
    /// `http://` URL for tests.
    pub api_url: Url,
    /// Inputs sent with every dispatch; the backend's own inputs win on a clash.
    pub extra_inputs: BTreeMap<String, String>,
    /// The input that carries the idempotency key or dispatch id; `None` turns keys off
    /// (no look-ups, and no `idempotent_trigger` capability).
    pub key_input: Option<String>,
    /// Cancel with `force-cancel`, which also stops `always()` steps.
    pub force_cancel: bool,
    /// Timeouts, retries, caps.
    pub http: HttpOptions,
    /// The webhook token or secret (`webhook_secret_env`); with it, and the `webhooks`
    /// feature, the runner reads this CI's webhooks.
    pub webhook_secret: Option<Token>,
}

impl GitHubActionsConfig {
    /// A configuration for one workflow with every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when owner, repository or workflow has characters GitHub
    /// does not allow there.
    pub fn new(
        owner: impl Into<String>,
        repo: impl Into<String>,
        workflow: impl Into<String>,
    ) -> Result<Self> {
        let (owner, repo, workflow) = (owner.into(), repo.into(), workflow.into());
        check_path_name("owner", &owner)?;
        check_path_name("repo", &repo)?;
        check_path_name("workflow", &workflow)?;
        Ok(GitHubActionsConfig {
            owner,
            repo,
            workflow,
            git_ref: "main".to_owned(),
            api_url: parse_api_url(DEFAULT_API_URL)?,
            extra_inputs: BTreeMap::new(),
            key_input: Some(DEFAULT_KEY_INPUT.to_owned()),
            force_cancel: false,
            http: HttpOptions::default(),
            webhook_secret: None,
        })
    }

    /// Points the runner at another API root.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] unless the URL is `https://`, or `http://` on loopback.
    pub fn with_api_url(mut self, api_url: &str) -> Result<Self> {
        self.api_url = parse_api_url(api_url)?;
        Ok(self)
    }

    /// The configuration a queue's options describe, and its credentials.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Credentials)> {
        let options: Options = config.options(NAME)?;
        let fail = |message: String| config.error(NAME, message);
        let wrap = |e: Error| config.in_context(NAME, e);
        let mut built = GitHubActionsConfig::new(options.owner, options.repo, options.workflow)
            .and_then(|c| c.with_api_url(options.http.api_url_or(DEFAULT_API_URL)))
            .map_err(wrap)?;
        if let Some(git_ref) = options.git_ref {
            built.git_ref = buildrunner_http::non_empty("ref", git_ref).map_err(fail)?;
        }
        built.extra_inputs = options.extra_inputs;
        if let Some(key_input) = options.key_input {
            built.key_input = (!key_input.is_empty()).then_some(key_input);
        }
        built.force_cancel = options.force_cancel;
        built.http = options.http.resolve().map_err(fail)?;
        built.webhook_secret = options.http.webhook_secret().map_err(wrap)?;
        built.check_inputs().map_err(wrap)?;
        let credentials = match (
            options.app_id,
            options.installation_id,
            options.private_key_env,
        ) {
            (None, None, None) => {
                let var = options.http.token_env_or(DEFAULT_TOKEN_ENV);
                Credentials::Token(Token::from_env(var, "the GitHub token").map_err(wrap)?)
            }
            (Some(app_id), Some(installation_id), Some(key_env))
                if options.http.token_env.is_none() =>
            {
                let private_key = Token::multiline_from_env(&key_env, "the GitHub App private key")
                    .map_err(wrap)?;
                Credentials::App {
                    app_id,
                    installation_id,
                    private_key,
                }
            }
            _ => {
                return Err(fail(
                    "give either token_env, or all of app_id, installation_id and private_key_env (GitHub App)"
                        .to_owned(),
                ));
            }
        };
        Ok((built, credentials))
    }

    /// The ids of this repository's runs: `{owner}/{repo}/{run_id}`; GitHub names are
    /// case-insensitive.
    pub fn ids(&self) -> NumberedIds {
        NumberedIds::new(format!("{}/{}", self.owner, self.repo), "acme/app/30433642")
            .case_insensitive()
    }

    /// The inputs a dispatch sends besides `extra_inputs`.
    pub(crate) fn own_inputs(&self) -> Vec<&str> {
        let mut own = vec!["sq_base_uris", "sq_head_uris", "sq_queue", "sq_metadata"];
        own.extend(self.key_input.as_deref());
        own
    }

    /// Refuses a configuration whose dispatches would carry more inputs than GitHub takes.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] with the count.
    pub fn check_inputs(&self) -> Result<()> {
        let own = self.own_inputs();
        let extra = self
            .extra_inputs
            .keys()
            .filter(|k| !own.contains(&k.as_str()))
            .count();
        if own.len() + extra > MAX_INPUTS {
            return Err(Error::Configuration {
                message: format!(
                    "a dispatch would carry {} inputs ({} of extra_inputs and {} of buildrunner's), \
                     more than the {MAX_INPUTS} GitHub accepts",
                    own.len() + extra,
                    extra,
                    own.len()
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_of_different_tokens_and_installations_have_different_budgets() {
        let token = |t: &str| Credentials::Token(Token::new(t).unwrap());
        let app = |installation_id: u64| Credentials::App {
            app_id: 1,
            installation_id,
            private_key: Token::multiline("-----BEGIN KEY-----").unwrap(),
        };
        let prints = [
            token("ghp_one").fingerprint(),
            token("ghp_two").fingerprint(),
            app(10).fingerprint(),
            app(11).fingerprint(),
        ];
        for (i, a) in prints.iter().enumerate() {
            for b in &prints[i + 1..] {
                assert_ne!(a, b, "{prints:?}");
            }
        }
        assert_eq!(token("ghp_one").fingerprint(), prints[0], "stable");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a/b", "a b", "..", "a?b", "ä"] {
            assert!(
                GitHubActionsConfig::new(bad, "r", "w.yml").is_err(),
                "{bad:?}"
            );
            assert!(
                GitHubActionsConfig::new("o", bad, "w.yml").is_err(),
                "{bad:?}"
            );
            assert!(GitHubActionsConfig::new("o", "r", bad).is_err(), "{bad:?}");
        }
        assert!(GitHubActionsConfig::new("acme-inc", "mono_repo.v2", "161335").is_ok());
    }

    #[test]
    fn more_than_25_inputs_is_a_configuration_error() {
        let mut config = GitHubActionsConfig::new("o", "r", "w.yml").unwrap();
        for i in 0..20 {
            config.extra_inputs.insert(format!("extra_{i}"), "x".into());
        }
        assert!(config.check_inputs().is_ok(), "20 + 5 = 25 is allowed");
        config
            .extra_inputs
            .insert("sq_queue".into(), "overridden".into());
        assert!(
            config.check_inputs().is_ok(),
            "a reserved name does not add an input"
        );
        config.extra_inputs.insert("extra_20".into(), "x".into());
        let error = config.check_inputs().unwrap_err().to_string();
        assert!(error.contains("26 inputs"), "{error}");
        config.key_input = None;
        assert!(config.check_inputs().is_ok());
    }
}
