//! What differs between the platforms the bench measures: how to start the emulator, make a
//! runner, and send the same requests through bare reqwest.

use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, Change, TriggerRequest};
use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner};
use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
use buildrunner_gitlab::{GitLabConfig, GitLabRunner};
use serde_json::{Value, json};

pub const TOKEN: &str = "bench-token";

/// A platform with an HTTP backend and an emulator binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Buildkite,
    GitHubActions,
    GitLab,
}

impl Platform {
    pub const ALL: [Platform; 3] = [
        Platform::Buildkite,
        Platform::GitHubActions,
        Platform::GitLab,
    ];

    /// The prefix of its figures: Buildkite's names predate the others and stay bare.
    pub fn prefix(self) -> &'static str {
        match self {
            Platform::Buildkite => "",
            Platform::GitHubActions => "github_actions_",
            Platform::GitLab => "gitlab_",
        }
    }

    pub fn arg(self) -> &'static str {
        match self {
            Platform::Buildkite => "buildkite",
            Platform::GitHubActions => "github-actions",
            Platform::GitLab => "gitlab",
        }
    }

    pub fn from_arg(arg: &str) -> Platform {
        Platform::ALL
            .into_iter()
            .find(|p| p.arg() == arg)
            .expect("a platform name")
    }

    /// The env var `cargo xtask bench` puts the emulator binary's path in.
    pub fn emulator_env(self) -> &'static str {
        match self {
            Platform::Buildkite => "BUILDRUNNER_BENCH_BUILDKITE_EMULATOR",
            Platform::GitHubActions => "BUILDRUNNER_BENCH_GITHUB_EMULATOR",
            Platform::GitLab => "BUILDRUNNER_BENCH_GITLAB_EMULATOR",
        }
    }

    /// Emulator flags: builds start at once and stay running (and cancelled ones
    /// cancelling) for the whole run; `jobs` only means something to Buildkite.
    pub fn emulator_args(self, jobs: usize) -> Vec<String> {
        let hour = "36000000".to_owned();
        let mut args = vec!["--listen", "127.0.0.1:0", "--token", TOKEN]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        match self {
            Platform::Buildkite => args.extend([
                "--scheduled-ms".into(),
                "0".into(),
                "--running-ms".into(),
                hour.clone(),
                "--canceling-ms".into(),
                hour,
                "--jobs".into(),
                jobs.to_string(),
            ]),
            Platform::GitHubActions => args.extend([
                "--queued-ms".into(),
                "0".into(),
                "--running-ms".into(),
                hour.clone(),
                "--canceling-ms".into(),
                hour,
            ]),
            Platform::GitLab => args.extend([
                "--pending-ms".into(),
                "0".into(),
                "--running-ms".into(),
                hour.clone(),
                "--canceling-ms".into(),
                hour,
            ]),
        }
        args
    }

    /// A runner with every setting at its default but the connection bound.
    pub fn runner(self, url: &str) -> Arc<dyn BuildRunner> {
        match self {
            Platform::Buildkite => {
                let mut config = BuildkiteConfig::new("acme", "bench")
                    .unwrap()
                    .with_api_url(url)
                    .unwrap();
                config.http.max_connections = 64;
                Arc::new(BuildkiteRunner::new("bench", config, Token::new(TOKEN).unwrap()).unwrap())
            }
            Platform::GitHubActions => {
                let mut config = GitHubActionsConfig::new("acme", "bench", "buildrunner.yml")
                    .unwrap()
                    .with_api_url(url)
                    .unwrap();
                config.http.max_connections = 64;
                let credentials = Credentials::Token(Token::new(TOKEN).unwrap());
                Arc::new(GitHubActionsRunner::new("bench", config, credentials).unwrap())
            }
            Platform::GitLab => {
                let mut config = GitLabConfig::new("acme/bench")
                    .unwrap()
                    .with_api_url(url)
                    .unwrap();
                config.http.max_connections = 64;
                Arc::new(GitLabRunner::new("bench", config, Token::new(TOKEN).unwrap()).unwrap())
            }
        }
    }

    /// The number (Buildkite) or run id (GitHub) an id names.
    pub fn build_number(self, id: &BuildId) -> u64 {
        id.as_str().rsplit('/').next().unwrap().parse().unwrap()
    }

    /// The URL of one build's status.
    pub fn status_url(self, url: &str, number: u64) -> String {
        match self {
            Platform::Buildkite => format!(
                "{url}/v2/organizations/acme/pipelines/bench/builds/{number}?exclude_jobs=true&exclude_pipeline=true"
            ),
            Platform::GitHubActions => {
                format!("{url}/repos/acme/bench/actions/runs/{number}?exclude_pull_requests=true")
            }
            Platform::GitLab => format!("{url}/api/v4/projects/acme%2Fbench/pipelines/{number}"),
        }
    }
}

pub fn request(i: usize) -> TriggerRequest {
    TriggerRequest::new(vec![Change::new([format!("https://x/pull/{i}")])]).unwrap()
}

/// Bare reqwest: the same requests, bodies decoded into `serde_json::Value`.
#[derive(Clone)]
pub struct Baseline {
    platform: Platform,
    client: reqwest::Client,
    url: String,
}

impl Baseline {
    pub fn new(platform: Platform, url: &str) -> Baseline {
        Baseline {
            platform,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: url.to_owned(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let request = match self.platform {
            Platform::GitLab => request.header("PRIVATE-TOKEN", TOKEN),
            _ => request.bearer_auth(TOKEN),
        };
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let bytes = response.bytes().await.unwrap();
        if bytes.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&bytes).unwrap()
    }

    pub async fn status(&self, number: u64) -> Value {
        let url = self.platform.status_url(&self.url, number);
        self.send(self.client.get(url)).await
    }

    pub async fn cancel(&self, number: u64) -> Value {
        let request = match self.platform {
            Platform::Buildkite => self.client.put(format!(
                "{}/v2/organizations/acme/pipelines/bench/builds/{number}/cancel",
                self.url
            )),
            Platform::GitHubActions => self.client.post(format!(
                "{}/repos/acme/bench/actions/runs/{number}/cancel",
                self.url
            )),
            Platform::GitLab => self.client.post(format!(
                "{}/api/v4/projects/acme%2Fbench/pipelines/{number}/cancel",
                self.url
            )),
        };
        self.send(request).await
    }

    /// Creates a build and returns its number or run id.
    pub async fn trigger(&self, i: usize) -> u64 {
        let head = format!("[\"https://x/pull/{i}\"]");
        let (url, body, field) = match self.platform {
            Platform::Buildkite => (
                format!("{}/v2/organizations/acme/pipelines/bench/builds", self.url),
                json!({"commit": "HEAD", "branch": "main", "message": format!("bench {i}"),
                       "env": {"SQ_BASE_URIS": "[]", "SQ_HEAD_URIS": head, "SQ_QUEUE": "bench"}, "meta_data": {}}),
                "number",
            ),
            Platform::GitHubActions => (
                format!(
                    "{}/repos/acme/bench/actions/workflows/buildrunner.yml/dispatches",
                    self.url
                ),
                json!({"ref": "main", "return_run_details": true,
                       "inputs": {"sq_base_uris": "[]", "sq_head_uris": head, "sq_queue": "bench",
                                  "buildrunner_key": format!("{i:032x}")}}),
                "workflow_run_id",
            ),
            Platform::GitLab => (
                format!("{}/api/v4/projects/acme%2Fbench/pipeline", self.url),
                json!({"ref": "main", "variables": [
                    {"key": "SQ_BASE_URIS", "value": "[]"},
                    {"key": "SQ_HEAD_URIS", "value": head},
                    {"key": "SQ_QUEUE", "value": "bench"},
                    {"key": "BUILDRUNNER_KEY", "value": format!("{i:032x}")},
                ]}),
                "id",
            ),
        };
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
        self.send(request).await[field].as_u64().unwrap()
    }
}
