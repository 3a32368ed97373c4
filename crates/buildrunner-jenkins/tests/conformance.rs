//! The Jenkins backend against the shared conformance suite: against an in-process emulator
//! for the suite and the fault matrix, always run, and against a live Jenkins, run with
//! `--live` when `BUILDRUNNER_JENKINS_URL`, `BUILDRUNNER_JENKINS_JOB`,
//! `BUILDRUNNER_JENKINS_USER` and `BUILDRUNNER_JENKINS_TOKEN` are set (the job is the sample
//! `Jenkinsfile` of `docs/backends/jenkins.md`).

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_conformance::{
    EmulatedBackend, LiveHarness, Suite, Timing, live_vars, started, token_runners,
};
use buildrunner_jenkins::{CAPABILITIES, Jenkins, JenkinsConfig, NAME};
use jenkins_emulator::{Emulator, EmulatorConfig};

const EMULATOR_TOKEN: &str = "conformance-token";

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    // Every trigger carries a fresh dispatch id in the key parameter.
    unkeyed_triggers_are_keyed: true,
    // A cancel reads the build to know what to send (`cancelItem` or `stop`, whose 302 says
    // nothing): an unreadable read is read again, and fails only when that fails too.
    cancel_reads_its_answer: true,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await) })
    },
    runners: |api_url, http| {
        let mut config = JenkinsConfig::new(api_url, "platform/conformance", "buildrunner")
            .map_err(|e| e.to_string())?;
        config.http = http;
        token_runners::<Jenkins>(config, EMULATOR_TOKEN)
    },
    id_prefix: "platform/conformance/queue",
};

fn live_harness() -> Result<LiveHarness, String> {
    let [url, job, user, token] = live_vars([
        "BUILDRUNNER_JENKINS_URL",
        "BUILDRUNNER_JENKINS_JOB",
        "BUILDRUNNER_JENKINS_USER",
        "BUILDRUNNER_JENKINS_TOKEN",
    ])?;
    let config = JenkinsConfig::new(&url, &job, &user).map_err(|e| e.to_string())?;
    Ok(LiveHarness {
        backend: NAME,
        capabilities: CAPABILITIES,
        // Agents take a while to start; Pipelines run their stages one after another.
        timing: Timing {
            poll_interval: Duration::from_secs(5),
            lifecycle_timeout: Duration::from_secs(15 * 60),
            concurrency: 5,
        },
        id_prefix: format!("{job}/queue"),
        runners: token_runners::<Jenkins>(config, &token)?,
    })
}

fn main() -> ExitCode {
    Suite::new()
        .emulated(EMULATED)
        .live(NAME, live_harness)
        .run()
}
