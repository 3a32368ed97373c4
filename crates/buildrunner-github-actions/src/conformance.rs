//! The GitHub Actions backend's conformance harnesses (feature `conformance`): one against
//! an in-process emulator, always run, and one against the live API, run with `--live` when
//! `BUILDRUNNER_GITHUB_OWNER`, `BUILDRUNNER_GITHUB_REPO`, `BUILDRUNNER_GITHUB_WORKFLOW` and
//! `BUILDRUNNER_GITHUB_TOKEN` are set (the workflow is the sample of
//! `docs/backends/github-actions.md`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_conformance::{
    Environment, Harness, HarnessRegistration, RunnerEnvironment, Timing, malformed_path_ids,
};
use github_actions_emulator::{Emulator, EmulatorConfig};

use crate::{CAPABILITIES, Credentials, GitHubActionsConfig, GitHubActionsRunner, NAME, Token};

const EMULATOR_TOKEN: &str = "conformance-token";

fn environment(
    config: GitHubActionsConfig,
    token: Token,
    keep_alive: impl std::any::Any + Send + Sync,
) -> Result<Box<dyn Environment>, String> {
    let unknown = BuildId::new(format!("{}/{}/987654321", config.owner, config.repo));
    let malformed = malformed_path_ids(&config.owner, &config.repo);
    let make = move || -> Result<Arc<dyn BuildRunner>, String> {
        let credentials = Credentials::Token(token.clone());
        let runner = GitHubActionsRunner::new("conformance", config.clone(), credentials)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(runner))
    };
    Ok(Box::new(RunnerEnvironment::new(
        make, unknown, malformed, keep_alive,
    )?))
}

struct EmulatorHarness;

#[async_trait]
impl Harness for EmulatorHarness {
    fn backend(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        "in-process emulator".to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let emulator = Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN))
            .await
            .map_err(|e| format!("could not start the emulator: {e}"))?;
        let mut config = GitHubActionsConfig::new("acme", "conformance", "buildrunner.yml")
            .and_then(|c| c.with_api_url(&emulator.url()))
            .map_err(|e| e.to_string())?;
        config.http.request_timeout = Duration::from_secs(5);
        config.http.max_retries = 2;
        config.http.initial_backoff = Duration::from_millis(10);
        config.http.max_retry_wait = Duration::from_secs(2);
        let token = Token::new(EMULATOR_TOKEN).map_err(|e| e.to_string())?;
        environment(config, token, emulator)
    }
}

struct LiveHarness {
    owner: String,
    repo: String,
    workflow: String,
    token: Token,
}

fn live_harness() -> Result<Box<dyn Harness>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("BUILDRUNNER_GITHUB_OWNER"),
        var("BUILDRUNNER_GITHUB_REPO"),
        var("BUILDRUNNER_GITHUB_WORKFLOW"),
        var("BUILDRUNNER_GITHUB_TOKEN"),
    ) {
        (Some(owner), Some(repo), Some(workflow), Some(token)) => Ok(Box::new(LiveHarness {
            owner,
            repo,
            workflow,
            token: Token::new(token).map_err(|e| e.to_string())?,
        })),
        _ => Err("set BUILDRUNNER_GITHUB_OWNER, BUILDRUNNER_GITHUB_REPO, BUILDRUNNER_GITHUB_WORKFLOW and BUILDRUNNER_GITHUB_TOKEN".to_owned()),
    }
}

#[async_trait]
impl Harness for LiveHarness {
    fn backend(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("live API, {}/{} {}", self.owner, self.repo, self.workflow)
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn error_markers(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        // Hosted runners take a minute to start; a token has 5,000 requests an hour.
        Timing {
            poll_interval: Duration::from_secs(10),
            lifecycle_timeout: Duration::from_secs(20 * 60),
            concurrency: 5,
        }
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let config = GitHubActionsConfig::new(&self.owner, &self.repo, &self.workflow)
            .map_err(|e| e.to_string())?;
        environment(config, self.token.clone(), ())
    }
}

buildrunner_conformance::inventory::submit! {
    HarnessRegistration::new(NAME, false, || Ok(Box::new(EmulatorHarness)))
}

buildrunner_conformance::inventory::submit! {
    HarnessRegistration::new(NAME, true, live_harness)
}
