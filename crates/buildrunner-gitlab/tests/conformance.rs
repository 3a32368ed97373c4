//! The GitLab backend against the shared conformance suite: against an in-process
//! emulator for the suite and the fault matrix, always run, and against a live instance, run
//! with `--live` when `BUILDRUNNER_GITLAB_PROJECT` and `BUILDRUNNER_GITLAB_TOKEN` are set
//! (`BUILDRUNNER_GITLAB_API_URL` for a self-managed instance; the project has the sample
//! `.gitlab-ci.yml` of `docs/backends/gitlab.md`).

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_api::Capabilities;
use buildrunner_conformance::{
    EmulatedBackend, LiveHarness, RunnerFactory, Suite, Timing, live_vars, started, token_runners,
};
use buildrunner_gitlab::{CAPABILITIES, GitLab, GitLabConfig, NAME};
use gitlab_emulator::{Emulator, EmulatorConfig};

const EMULATOR_TOKEN: &str = "conformance-token";

/// The harnesses read variables back, so metadata round-trips and is checked.
const HARNESS_CAPABILITIES: Capabilities = Capabilities {
    metadata_round_trip: true,
    ..CAPABILITIES
};

fn runners(mut config: GitLabConfig, token: &str) -> Result<RunnerFactory, String> {
    config.read_variables = true;
    token_runners::<GitLab>(config, token)
}

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: HARNESS_CAPABILITIES,
    // Every pipeline carries a fresh dispatch id in its key variable.
    unkeyed_triggers_are_keyed: true,
    cancel_reads_its_answer: true,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await) })
    },
    runners: |api_url, http| {
        let mut config = GitLabConfig::new("acme/platform/conformance")
            .and_then(|c| c.with_api_url(api_url))
            .map_err(|e| e.to_string())?;
        config.http = http;
        runners(config, EMULATOR_TOKEN)
    },
    id_prefix: "acme/platform/conformance",
};

fn live_harness() -> Result<LiveHarness, String> {
    let [project, token] = live_vars(["BUILDRUNNER_GITLAB_PROJECT", "BUILDRUNNER_GITLAB_TOKEN"])?;
    let mut config = GitLabConfig::new(&project).map_err(|e| e.to_string())?;
    if let Ok(api_url) = std::env::var("BUILDRUNNER_GITLAB_API_URL") {
        config = config.with_api_url(&api_url).map_err(|e| e.to_string())?;
    }
    Ok(LiveHarness {
        backend: NAME,
        capabilities: HARNESS_CAPABILITIES,
        // Shared runners take a minute to start; pipeline creation is limited to 25 a minute.
        timing: Timing {
            poll_interval: Duration::from_secs(10),
            lifecycle_timeout: Duration::from_secs(20 * 60),
            concurrency: 5,
        },
        id_prefix: project,
        runners: runners(config, &token)?,
    })
}

fn main() -> ExitCode {
    Suite::new()
        .emulated(EMULATED)
        .live(NAME, live_harness)
        .run()
}
