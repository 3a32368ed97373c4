//! The queue options of the GitLab backend and the configuration they make.

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    HttpOptionKeys, HttpOptions, NumberedIds, Token, Url, non_empty, parse_api_url,
};
use serde::Deserialize;

use crate::NAME;

/// The environment variable the token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "GITLAB_TOKEN";
/// GitLab.com; a self-managed instance is `https://gitlab.example.com`.
pub const DEFAULT_API_URL: &str = "https://gitlab.com";
/// The CI/CD variable that carries the idempotency key (or a fresh dispatch id).
pub const DEFAULT_KEY_VARIABLE: &str = "BUILDRUNNER_KEY";

/// The options of a `[queues.<name>]` table with `backend = "gitlab"`.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    project: serde_json::Value,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    key_variable: Option<String>,
    #[serde(default)]
    read_variables: bool,
    #[serde(flatten)]
    http: HttpOptionKeys,
}

/// Everything a [`GitLabRunner`](crate::GitLabRunner) needs but the token.
///
/// ```
/// use buildrunner_gitlab::GitLabConfig;
///
/// let config = GitLabConfig::new("acme/platform/app")?;
/// assert_eq!(config.git_ref, "main");
/// assert_eq!(config.build_id(7).as_str(), "acme/platform/app/7");
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GitLabConfig {
    /// The project: a numeric id or a `group/sub/project` path, as configured; it is also
    /// the first part of every build id.
    pub project: String,
    /// The branch or tag pipelines run on.
    pub git_ref: String,
    /// The instance: `https://gitlab.com`, a self-managed root, or a loopback `http://` URL.
    pub api_url: Url,
    /// The CI/CD variable that carries the key; `None` turns keys off (no look-ups, and no
    /// `idempotent_trigger` capability).
    pub key_variable: Option<String>,
    /// Read each pipeline's variables on `status` to report the caller's metadata: one more
    /// request per poll, and the `metadata_round_trip` capability.
    pub read_variables: bool,
    /// Timeouts, retries, caps.
    pub http: HttpOptions,
    /// The webhook token or secret (`webhook_secret_env`); with it, and the `webhooks`
    /// feature, the runner reads this CI's webhooks.
    pub webhook_secret: Option<Token>,
}

impl GitLabConfig {
    /// A configuration for one project with every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the project is neither a numeric id nor a path of
    /// `/`-separated names.
    pub fn new(project: impl Into<String>) -> Result<Self> {
        let project = project.into();
        check_project(&project)?;
        Ok(GitLabConfig {
            project,
            git_ref: "main".to_owned(),
            api_url: parse_api_url(DEFAULT_API_URL)?,
            key_variable: Some(DEFAULT_KEY_VARIABLE.to_owned()),
            read_variables: false,
            http: HttpOptions::default(),
            webhook_secret: None,
        })
    }

    /// Points the runner at a self-managed instance, or at a loopback emulator in tests. The
    /// REST API is under `{api_url}/api/v4`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for a URL that is not `https://` (plain `http://` is allowed
    /// on loopback only, where the token cannot be read on the wire).
    pub fn with_api_url(self, api_url: &str) -> Result<Self> {
        let api_url = parse_api_url(api_url)?;
        Ok(GitLabConfig { api_url, ..self })
    }

    /// The ids of this project's pipelines: `{project}/{pipeline_id}`.
    pub fn ids(&self) -> NumberedIds {
        NumberedIds::new(self.project.clone(), "acme/app/1000001")
    }

    /// The id of pipeline `pipeline_id`.
    pub fn build_id(&self, pipeline_id: u64) -> buildrunner_api::BuildId {
        self.ids().format(pipeline_id)
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = config.options(NAME)?;
        let fail = |message: String| config.error(NAME, message);
        let wrap = |e: Error| config.in_context(NAME, e);
        // `project = 42` or `project = "group/sub/project"`.
        let project = match options.project {
            serde_json::Value::Number(id) if id.is_u64() => id.to_string(),
            serde_json::Value::String(path) => path,
            other => {
                return Err(fail(format!(
                    "project must be a numeric id or a path such as \"group/project\", got {other}"
                )));
            }
        };
        let api_url = options.http.api_url_or(DEFAULT_API_URL);
        let mut built = GitLabConfig::new(project)
            .and_then(|c| c.with_api_url(api_url))
            .map_err(wrap)?;
        if let Some(git_ref) = options.git_ref {
            built.git_ref = non_empty("ref", git_ref).map_err(fail)?;
        }
        if let Some(variable) = options.key_variable {
            built.key_variable = (!variable.is_empty()).then_some(variable);
        }
        built.read_variables = options.read_variables;
        built.http = options.http.resolve().map_err(fail)?;
        built.webhook_secret = options.http.webhook_secret().map_err(wrap)?;
        let var = options.http.token_env_or(DEFAULT_TOKEN_ENV);
        let token = Token::from_env(var, "the GitLab token").map_err(wrap)?;
        Ok((built, token))
    }
}

/// A numeric id, or a path of names GitLab allows (letters, digits, `-`, `_`, `.`).
fn check_project(project: &str) -> Result<()> {
    let numeric = !project.is_empty() && project.bytes().all(|b| b.is_ascii_digit());
    let valid = if numeric {
        !project.starts_with('0') && project.len() <= 20
    } else {
        project.len() <= 1024
            && project
                .split('/')
                .all(|part| buildrunner_http::check_path_name("project", part).is_ok())
    };
    if valid {
        Ok(())
    } else {
        Err(Error::Configuration {
            message: format!(
                "project {project:?} is not valid (expected a numeric id or a path such as group/sub/project)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_ids_or_paths_of_names() {
        for ok in [
            "42",
            "acme/app",
            "acme/platform/app.v2",
            "a-b_c",
            "0team/app",
        ] {
            assert!(GitLabConfig::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/app",
            "acme//app",
            "acme/../app",
            "acme/app/",
            "ac me",
            "007",
            "a?b",
        ] {
            assert!(GitLabConfig::new(bad).is_err(), "{bad:?}");
        }
    }
}
