//! The GitHub Actions backend against the shared conformance suite: against an
//! in-process emulator for the suite and the fault matrix, always run, and against the live
//! API, run with `--live` when `BUILDRUNNER_GITHUB_OWNER`, `BUILDRUNNER_GITHUB_REPO`,
//! `BUILDRUNNER_GITHUB_WORKFLOW` and `BUILDRUNNER_GITHUB_TOKEN` are set (the workflow is the
//! sample of `docs/backends/github-actions.md`).

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_conformance::{
    EmulatedBackend, LiveHarness, RunnerFactory, Suite, Timing, http_runners, live_vars, started,
};
use buildrunner_github_actions::{
    CAPABILITIES, Credentials, GitHubActions, GitHubActionsConfig, NAME, Token,
};
use github_actions_emulator::{Emulator, EmulatorConfig};

const EMULATOR_TOKEN: &str = "conformance-token";

/// Runners of `config`, each with its own credentials from `token`.
fn runners(config: GitHubActionsConfig, token: &str) -> Result<RunnerFactory, String> {
    let credentials = Credentials::Token(Token::new(token).map_err(|e| e.to_string())?);
    Ok(http_runners::<GitHubActions>(config, credentials))
}

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    // Every dispatch carries a fresh dispatch id in the key input.
    unkeyed_triggers_are_keyed: true,
    cancel_reads_its_answer: false,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await) })
    },
    runners: |api_url, http| {
        let mut config = GitHubActionsConfig::new("acme", "conformance", "buildrunner.yml")
            .and_then(|c| c.with_api_url(api_url))
            .map_err(|e| e.to_string())?;
        config.http = http;
        runners(config, EMULATOR_TOKEN)
    },
    id_prefix: "acme/conformance",
};

fn live_harness() -> Result<LiveHarness, String> {
    let [owner, repo, workflow, token] = live_vars([
        "BUILDRUNNER_GITHUB_OWNER",
        "BUILDRUNNER_GITHUB_REPO",
        "BUILDRUNNER_GITHUB_WORKFLOW",
        "BUILDRUNNER_GITHUB_TOKEN",
    ])?;
    let config = GitHubActionsConfig::new(&owner, &repo, workflow).map_err(|e| e.to_string())?;
    Ok(LiveHarness {
        backend: NAME,
        capabilities: CAPABILITIES,
        // Hosted runners take a minute to start; a token has 5,000 requests an hour.
        timing: Timing {
            poll_interval: Duration::from_secs(10),
            lifecycle_timeout: Duration::from_secs(20 * 60),
            concurrency: 5,
        },
        id_prefix: format!("{owner}/{repo}"),
        runners: runners(config, &token)?,
    })
}

fn main() -> ExitCode {
    Suite::new()
        .emulated(EMULATED)
        .live(NAME, live_harness)
        .run()
}
