//! The queue options of the Jenkins backend and the configuration they make.

use std::collections::BTreeMap;

use buildrunner_api::{Error, QueueConfig, Result};
use buildrunner_http::{
    CountsAs, HttpOptions, NumberedIds, ParameterKeys, Token, Url, parse_api_url,
};
use serde::Deserialize;

use crate::NAME;

/// The environment variable the API token is read from when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "JENKINS_API_TOKEN";
/// The job parameter that carries the idempotency key (or a fresh dispatch id).
pub const DEFAULT_KEY_PARAMETER: &str = "BUILDRUNNER_KEY";

/// The options of a `[queues.<name>]` table with `backend = "jenkins"`.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    url: String,
    job: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    user_env: Option<String>,
    #[serde(default)]
    unstable: CountsAs,
    #[serde(flatten)]
    keys: ParameterKeys,
}

/// Everything a [`JenkinsRunner`](crate::JenkinsRunner) needs but the API token.
///
/// ```
/// use buildrunner_jenkins::JenkinsConfig;
///
/// let config = JenkinsConfig::new("https://ci.example.com/jenkins/", "platform/app", "bot")?;
/// assert_eq!(config.job_path(), "platform/app");
/// assert_eq!(config.build_id(4312).as_str(), "platform/app/queue/4312");
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JenkinsConfig {
    /// The Jenkins root (`https://ci.example.com/` or `.../jenkins/`); plain `http://` on
    /// loopback only.
    pub url: Url,
    /// The job's names from the outermost folder in: `["platform", "app"]`.
    pub job: Vec<String>,
    /// The user the API token belongs to.
    pub user: String,
    /// What an `UNSTABLE` result (tests failed, the build did not) counts as.
    pub unstable: CountsAs,
    /// The job parameter that carries the key; `None` turns keys off (no look-ups, and no
    /// `idempotent_trigger` capability).
    pub key_parameter: Option<String>,
    /// More string parameters sent with every trigger (each must be declared by the job).
    pub extra_parameters: BTreeMap<String, String>,
    /// Timeouts, retries, caps.
    pub http: HttpOptions,
    /// The password the Notification plugin's target URL carries (`webhook_secret_env`);
    /// with it, and the `webhooks` feature, the runner reads its notifications.
    pub webhook_secret: Option<Token>,
}

impl JenkinsConfig {
    /// A configuration for job `job` (`folder/sub/app`) on the Jenkins at `url`, triggered
    /// as `user`, every other setting at its default.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for a URL that is not `https://` (or `http://` on loopback),
    /// a job path with an empty or `.`/`..` segment, or a blank user (or one with `:`).
    pub fn new(url: &str, job: &str, user: &str) -> Result<Self> {
        let mut url = parse_api_url(url)?;
        // The root is a directory: `.../jenkins` and `.../jenkins/` name the same Jenkins.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let config = JenkinsConfig {
            url,
            job: parse_job(job)?,
            user: check_user(user)?,
            unstable: CountsAs::Failed,
            key_parameter: Some(DEFAULT_KEY_PARAMETER.to_owned()),
            extra_parameters: BTreeMap::new(),
            http: HttpOptions::default(),
            webhook_secret: None,
        };
        Ok(config)
    }

    /// The job as configured: `folder/sub/app`, the first part of every build id.
    pub fn job_path(&self) -> String {
        self.job.join("/")
    }

    /// `/job/{a}/job/{b}`: the job's path under the root, each name encoded as one segment,
    /// as Jenkins writes it in the urls it reports.
    pub fn job_url_path(&self) -> String {
        let mut segments = Vec::with_capacity(self.job.len() * 2);
        for name in &self.job {
            segments.push("job");
            segments.push(name.as_str());
        }
        match Url::parse("http://jenkins.invalid/") {
            Ok(base) => buildrunner_http::join_path(&base, &segments)
                .path()
                .to_owned(),
            Err(_) => String::new(),
        }
    }

    /// The ids of this job's builds: `{job}/queue/{queue item}`.
    pub fn ids(&self) -> NumberedIds {
        NumberedIds::new(
            format!("{}/queue", self.job_path()),
            "folder/app/queue/4312",
        )
    }

    /// The id of the build queued as item `queue_id`.
    pub fn build_id(&self, queue_id: u64) -> buildrunner_api::BuildId {
        self.ids().format(queue_id)
    }

    /// Every parameter a trigger sends, in the order the job should declare them.
    pub fn parameter_names(&self) -> Vec<&str> {
        let mut names = crate::model::SQ_PARAMETERS.to_vec();
        names.extend(self.key_parameter.as_deref());
        names.extend(self.extra_parameters.keys().map(String::as_str));
        names
    }

    /// The configuration a queue's options describe, and the token from the env var they name.
    pub(crate) fn from_queue(config: &QueueConfig) -> Result<(Self, Token)> {
        let options: Options = config.options(NAME)?;
        let fail = |message: String| config.error(NAME, message);
        let wrap = |e: Error| config.in_context(NAME, e);
        let http = &options.keys.http;
        if http.api_url.is_some() {
            return Err(fail(
                "api_url is not a Jenkins option: the Jenkins root is `url`".to_owned(),
            ));
        }
        let user = match (options.user, options.user_env) {
            (Some(user), None) => user,
            (None, Some(var)) => std::env::var(&var).map_err(|_| {
                fail(format!(
                    "user_env names {var}, which is not set (it should hold the Jenkins user)"
                ))
            })?,
            (Some(_), Some(_)) => return Err(fail("give user or user_env, not both".to_owned())),
            (None, None) => {
                return Err(fail(
                    "user is missing: the Jenkins user the API token belongs to (or user_env)"
                        .to_owned(),
                ));
            }
        };
        let mut built = JenkinsConfig::new(&options.url, &options.job, &user).map_err(wrap)?;
        built.unstable = options.unstable;
        built.key_parameter = options.keys.key_parameter_or(DEFAULT_KEY_PARAMETER);
        let ours = crate::model::SQ_PARAMETERS
            .into_iter()
            .chain(built.key_parameter.as_deref())
            .chain(["delay"]);
        built.extra_parameters = options.keys.extra_parameters(ours).map_err(fail)?;
        built.http = http.resolve().map_err(fail)?;
        built.webhook_secret = http.webhook_secret().map_err(wrap)?;
        let var = http.token_env_or(DEFAULT_TOKEN_ENV);
        let token = Token::from_env(var, "the Jenkins API token").map_err(wrap)?;
        Ok((built, token))
    }
}

/// `folder/sub/app`: names separated by `/`, none empty or `.`/`..`, none with control
/// characters (each is URL-encoded as one path segment, so spaces and `%` are fine).
fn parse_job(job: &str) -> Result<Vec<String>> {
    let names: Vec<String> = job.split('/').map(str::to_owned).collect();
    let valid = job.len() <= 1024
        && names.iter().all(|name| {
            !name.is_empty()
                && name != "."
                && name != ".."
                && !name.chars().any(char::is_control)
                && name.trim() == name
        });
    if valid {
        Ok(names)
    } else {
        Err(Error::Configuration {
            message: format!(
                "job {job:?} is not valid (expected the job's path of names, e.g. folder/sub/app)"
            ),
        })
    }
}

fn check_user(user: &str) -> Result<String> {
    if user.trim().is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        return Err(Error::Configuration {
            message:
                "user must be the Jenkins user name the API token belongs to (not blank, no ':')"
                    .to_owned(),
        });
    }
    Ok(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_paths_of_names() {
        for ok in ["app", "platform/app", "a b/c%d/ünï", "x.y/z-1"] {
            assert!(
                JenkinsConfig::new("https://ci.example.com", ok, "bot").is_ok(),
                "{ok}"
            );
        }
        for bad in ["", "/app", "a//b", "a/../b", "a/./b", "a/", " a", "a\nb"] {
            assert!(
                JenkinsConfig::new("https://ci.example.com", bad, "bot").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_root_is_a_directory_and_plain_http_is_for_loopback() {
        let config = JenkinsConfig::new("https://ci.example.com/jenkins", "app", "bot").unwrap();
        assert_eq!(config.url.as_str(), "https://ci.example.com/jenkins/");
        assert!(JenkinsConfig::new("http://ci.example.com/", "app", "bot").is_err());
        assert!(JenkinsConfig::new("http://127.0.0.1:8080/", "app", "bot").is_ok());
        for user in ["", "a:b", "  "] {
            assert!(
                JenkinsConfig::new("https://ci.example.com", "app", user).is_err(),
                "{user:?}"
            );
        }
    }
}
