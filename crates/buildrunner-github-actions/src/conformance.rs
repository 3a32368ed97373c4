//! The GitHub Actions backend's conformance harnesses (feature `conformance`): against an
//! in-process emulator for the suite and the fault matrix, always run, and against the live
//! API, run with `--live` when `BUILDRUNNER_GITHUB_OWNER`, `BUILDRUNNER_GITHUB_REPO`,
//! `BUILDRUNNER_GITHUB_WORKFLOW` and `BUILDRUNNER_GITHUB_TOKEN` are set (the workflow is the
//! sample of `docs/backends/github-actions.md`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_conformance::faults::FaultHarnessRegistration;
use buildrunner_conformance::{
    EmulatedBackend, Emulation, EmulatorHarness, Harness, HarnessRegistration, LiveHarness,
    RunnerFactory, Timing, live_vars, malformed_path_ids,
};
use buildrunner_http::HttpOptions;
use github_actions_emulator::{Emulator, EmulatorConfig};

use crate::{CAPABILITIES, Credentials, GitHubActionsConfig, GitHubActionsRunner, NAME, Token};

const EMULATOR_TOKEN: &str = "conformance-token";

fn runners(config: GitHubActionsConfig, token: Token) -> RunnerFactory {
    Arc::new(move || -> Result<Arc<dyn BuildRunner>, String> {
        let credentials = Credentials::Token(token.clone());
        let runner = GitHubActionsRunner::new("conformance", config.clone(), credentials)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(runner))
    })
}

struct Emulated;

#[async_trait]
impl EmulatedBackend for Emulated {
    fn backend(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// Every dispatch carries a fresh dispatch id in the key input.
    fn unkeyed_triggers_are_keyed(&self) -> bool {
        true
    }

    async fn start(&self, http: HttpOptions) -> Result<Emulation, String> {
        let emulator = Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN))
            .await
            .map_err(|e| format!("could not start the emulator: {e}"))?;
        let mut config = GitHubActionsConfig::new("acme", "conformance", "buildrunner.yml")
            .and_then(|c| c.with_api_url(&emulator.url()))
            .map_err(|e| e.to_string())?;
        config.http = http;
        let token = Token::new(EMULATOR_TOKEN).map_err(|e| e.to_string())?;
        Ok(Emulation {
            unknown_build_id: BuildId::new("acme/conformance/987654321"),
            malformed_build_ids: malformed_path_ids("acme", "conformance"),
            runners: runners(config, token),
            emulator: Box::new(emulator),
        })
    }
}

fn live_harness() -> Result<Box<dyn Harness>, String> {
    let [owner, repo, workflow, token] = live_vars([
        "BUILDRUNNER_GITHUB_OWNER",
        "BUILDRUNNER_GITHUB_REPO",
        "BUILDRUNNER_GITHUB_WORKFLOW",
        "BUILDRUNNER_GITHUB_TOKEN",
    ])?;
    let config = GitHubActionsConfig::new(&owner, &repo, &workflow).map_err(|e| e.to_string())?;
    Ok(Box::new(LiveHarness {
        backend: NAME,
        describe: format!("live API, {owner}/{repo} {workflow}"),
        capabilities: CAPABILITIES,
        // Hosted runners take a minute to start; a token has 5,000 requests an hour.
        timing: Timing {
            poll_interval: Duration::from_secs(10),
            lifecycle_timeout: Duration::from_secs(20 * 60),
            concurrency: 5,
        },
        unknown_build_id: BuildId::new(format!("{owner}/{repo}/987654321")),
        malformed_build_ids: malformed_path_ids(&owner, &repo),
        runners: runners(config, Token::new(token).map_err(|e| e.to_string())?),
    }))
}

buildrunner_conformance::inventory::submit! {
    HarnessRegistration::new(NAME, false, || Ok(Box::new(EmulatorHarness(Emulated))))
}

buildrunner_conformance::inventory::submit! {
    HarnessRegistration::new(NAME, true, live_harness)
}

buildrunner_conformance::inventory::submit! {
    FaultHarnessRegistration { make: || Box::new(EmulatorHarness(Emulated)) }
}
