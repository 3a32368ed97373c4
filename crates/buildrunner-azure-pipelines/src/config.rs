//! The queue options of the Azure Pipelines backend and the configuration they make.

use std::collections::BTreeMap;

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    CountsAs, HttpOptions, NumberedIds, ParameterKeys, Token, Url, check_path_name, non_empty,
    parse_api_url,
};
use serde::Deserialize;

use crate::NAME;

/// The environment variable the personal access token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "AZURE_DEVOPS_TOKEN";
/// Azure DevOps Services; a server is `https://HOST` (or `https://HOST/tfs`), its collection
/// given as the `organization`.
pub const DEFAULT_API_URL: &str = "https://dev.azure.com";
/// The runtime parameter that carries the idempotency key (or a fresh dispatch id).
pub const DEFAULT_KEY_PARAMETER: &str = "buildrunner_key";

/// The options of a `[queues.<name>]` table with `backend = "azure-pipelines"`.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    organization: String,
    project: String,
    pipeline_id: u64,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    partially_succeeded: CountsAs,
    #[serde(flatten)]
    keys: ParameterKeys,
}

/// Everything an [`AzurePipelinesRunner`](crate::AzurePipelinesRunner) needs but the token.
///
/// ```
/// use buildrunner_azure_pipelines::AzurePipelinesConfig;
///
/// let config = AzurePipelinesConfig::new("acme", "Platform Team", 4)?;
/// assert_eq!(config.git_ref, "refs/heads/main");
/// assert_eq!(config.build_id(11).as_str(), "acme/Platform Team/4/11");
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AzurePipelinesConfig {
    /// The organization (on a server: the collection).
    pub organization: String,
    /// The project's name (spaces allowed) or id.
    pub project: String,
    /// The numeric id of the pipeline definition.
    pub pipeline_id: u64,
    /// The branch runs use: `refs/heads/main`.
    pub git_ref: String,
    /// `https://dev.azure.com`, a server's root, or a loopback `http://` URL.
    pub api_url: Url,
    /// The runtime parameter that carries the key; `None` turns keys off (no look-ups, and no
    /// `idempotent_trigger` capability).
    pub key_parameter: Option<String>,
    /// What a `partiallySucceeded` build (a step failed with `continueOnError`) counts as.
    pub partially_succeeded: CountsAs,
    /// More runtime parameters sent with every trigger (each must be declared by the YAML).
    pub extra_parameters: BTreeMap<String, String>,
    /// Timeouts, retries, caps.
    pub http: HttpOptions,
    /// The password service hooks send (`webhook_secret_env`); with it, and the `webhooks`
    /// feature, the runner reads their run-state events.
    pub webhook_secret: Option<Token>,
}

impl AzurePipelinesConfig {
    /// A configuration for pipeline `pipeline_id` of `organization`/`project`, every other
    /// setting at its default.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for an organization that is not a name of letters, digits,
    /// `-`, `_` and `.`, a project name that is empty, too long or has `/` or control
    /// characters, or a pipeline id of 0.
    pub fn new(organization: &str, project: &str, pipeline_id: u64) -> Result<Self> {
        check_path_name("organization", organization)?;
        check_project(project)?;
        if pipeline_id == 0 {
            return Err(Error::Configuration {
                message: "pipeline_id must be the pipeline's numeric id (> 0)".to_owned(),
            });
        }
        Ok(AzurePipelinesConfig {
            organization: organization.to_owned(),
            project: project.to_owned(),
            pipeline_id,
            git_ref: "refs/heads/main".to_owned(),
            api_url: parse_api_url(DEFAULT_API_URL)?,
            key_parameter: Some(DEFAULT_KEY_PARAMETER.to_owned()),
            partially_succeeded: CountsAs::Failed,
            extra_parameters: BTreeMap::new(),
            http: HttpOptions::default(),
            webhook_secret: None,
        })
    }

    /// Points the runner at an Azure DevOps Server, or at a loopback emulator in tests.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for a URL that is not `https://` (or `http://` on loopback).
    pub fn with_api_url(self, api_url: &str) -> Result<Self> {
        let api_url = parse_api_url(api_url)?;
        Ok(AzurePipelinesConfig { api_url, ..self })
    }

    /// The pipeline as errors and ids name it: `{organization}/{project}/{pipeline_id}`.
    pub fn pipeline_path(&self) -> String {
        format!(
            "{}/{}/{}",
            self.organization, self.project, self.pipeline_id
        )
    }

    /// The ids of this pipeline's runs: `{organization}/{project}/{pipeline_id}/{run_id}`.
    pub fn ids(&self) -> NumberedIds {
        NumberedIds::new(self.pipeline_path(), "acme/app/4/11")
    }

    /// The id of run `run_id`.
    pub fn build_id(&self, run_id: u64) -> buildrunner_api::BuildId {
        self.ids().format(run_id)
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = config.options(NAME)?;
        let fail = |message: String| config.error(NAME, message);
        let wrap = |e: Error| config.in_context(NAME, e);
        let http = &options.keys.http;
        let api_url = http.api_url_or(DEFAULT_API_URL);
        let mut built =
            AzurePipelinesConfig::new(&options.organization, &options.project, options.pipeline_id)
                .and_then(|c| c.with_api_url(api_url))
                .map_err(wrap)?;
        if let Some(git_ref) = options.git_ref {
            built.git_ref = non_empty("ref", git_ref).map_err(fail)?;
        }
        built.key_parameter = options.keys.key_parameter_or(DEFAULT_KEY_PARAMETER);
        built.partially_succeeded = options.partially_succeeded;
        let ours = crate::model::SQ_PARAMETERS
            .into_iter()
            .chain(built.key_parameter.as_deref());
        built.extra_parameters = options.keys.extra_parameters(ours).map_err(fail)?;
        built.http = http.resolve().map_err(fail)?;
        built.webhook_secret = http.webhook_secret().map_err(wrap)?;
        let var = http.token_env_or(DEFAULT_TOKEN_ENV);
        let token = Token::from_env(var, "the Azure DevOps personal access token").map_err(wrap)?;
        Ok((built, token))
    }
}

/// Azure allows spaces and most punctuation in project names, but not `/`, and at most 64
/// characters.
fn check_project(project: &str) -> Result<()> {
    let valid = !project.trim().is_empty()
        && project.chars().count() <= 64
        && !project.contains(['/', '\\'])
        && !project.chars().any(char::is_control)
        && project.trim() == project;
    if valid {
        Ok(())
    } else {
        Err(Error::Configuration {
            message: format!(
                "project {project:?} is not valid (expected the project's name or id, without '/')"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_checked() {
        assert!(AzurePipelinesConfig::new("acme", "Platform Team", 4).is_ok());
        for (org, project, id) in [
            ("", "app", 4),
            ("ac me", "app", 4),
            ("acme", "", 4),
            ("acme", "a/b", 4),
            ("acme", " app", 4),
            ("acme", "app", 0),
        ] {
            assert!(
                AzurePipelinesConfig::new(org, project, id).is_err(),
                "{org:?} {project:?} {id}"
            );
        }
        let config = AzurePipelinesConfig::new("acme", "app", 4).unwrap();
        assert!(
            config
                .clone()
                .with_api_url("http://devops.example.com")
                .is_err()
        );
        assert!(config.with_api_url("http://127.0.0.1:9").is_ok());
    }
}
