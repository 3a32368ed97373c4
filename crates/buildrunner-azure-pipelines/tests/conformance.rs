//! The Azure Pipelines backend against the shared conformance suite: against an in-process
//! emulator for the suite and the fault matrix, always run, and against a live organization,
//! run with `--live` when `BUILDRUNNER_AZURE_ORGANIZATION`, `BUILDRUNNER_AZURE_PROJECT`,
//! `BUILDRUNNER_AZURE_PIPELINE_ID` and `BUILDRUNNER_AZURE_TOKEN` are set (the pipeline is the
//! sample `azure-pipelines.yml` of `docs/backends/azure-pipelines.md`).

use std::process::ExitCode;
use std::time::Duration;

use azure_pipelines_emulator::{Emulator, EmulatorConfig};
use buildrunner_azure_pipelines::{AzurePipelines, AzurePipelinesConfig, CAPABILITIES, NAME};
use buildrunner_conformance::{
    EmulatedBackend, LiveHarness, Suite, Timing, live_vars, started, token_runners,
};

const EMULATOR_TOKEN: &str = "conformance-token";

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    // Every run carries a fresh dispatch id in the key parameter, and so its build number.
    unkeyed_triggers_are_keyed: true,
    // A cancel reads the build to know whether to send one: an unreadable read is read
    // again, and fails only when that fails too.
    cancel_reads_its_answer: true,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await) })
    },
    runners: |api_url, http| {
        let mut config = AzurePipelinesConfig::new("acme", "Platform Team", 4)
            .and_then(|c| c.with_api_url(api_url))
            .map_err(|e| e.to_string())?;
        config.http = http;
        token_runners::<AzurePipelines>(config, EMULATOR_TOKEN)
    },
    id_prefix: "acme/Platform Team/4",
};

fn live_harness() -> Result<LiveHarness, String> {
    let [organization, project, pipeline, token] = live_vars([
        "BUILDRUNNER_AZURE_ORGANIZATION",
        "BUILDRUNNER_AZURE_PROJECT",
        "BUILDRUNNER_AZURE_PIPELINE_ID",
        "BUILDRUNNER_AZURE_TOKEN",
    ])?;
    let pipeline: u64 = pipeline
        .parse()
        .map_err(|_| format!("BUILDRUNNER_AZURE_PIPELINE_ID {pipeline:?} is not a number"))?;
    let config =
        AzurePipelinesConfig::new(&organization, &project, pipeline).map_err(|e| e.to_string())?;
    Ok(LiveHarness {
        backend: NAME,
        capabilities: CAPABILITIES,
        // Hosted agents take a minute to start; 200 TSTUs per five minutes.
        timing: Timing {
            poll_interval: Duration::from_secs(10),
            lifecycle_timeout: Duration::from_secs(20 * 60),
            concurrency: 5,
        },
        id_prefix: format!("{organization}/{project}/{pipeline}"),
        runners: token_runners::<AzurePipelines>(config, &token)?,
    })
}

fn main() -> ExitCode {
    Suite::new()
        .emulated(EMULATED)
        .live(NAME, live_harness)
        .run()
}
