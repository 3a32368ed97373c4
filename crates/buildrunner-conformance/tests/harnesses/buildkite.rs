//! The Buildkite backend's conformance harnesses : against an
//! in-process emulator for the suite and the fault matrix, always run, and against the live
//! API, run with `--live` when `BUILDRUNNER_BUILDKITE_ORG`, `BUILDRUNNER_BUILDKITE_PIPELINE`
//! and `BUILDRUNNER_BUILDKITE_TOKEN` are set (the pipeline is the sample of
//! `docs/backends/buildkite.md`).

use std::sync::Arc;
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig};
use buildrunner_api::BuildRunner;
use buildrunner_conformance::{EmulatedBackend, LiveHarness, RunnerFactory, Timing, live_vars};
use buildrunner_http::HttpOptions;

use buildrunner_buildkite::{BuildkiteConfig, BuildkiteRunner, CAPABILITIES, NAME, Token};

const EMULATOR_TOKEN: &str = "conformance-token";

/// Runners of `config` that authenticate with `token`.
fn runners(config: BuildkiteConfig, token: &str) -> Result<RunnerFactory, String> {
    let token = Token::new(token).map_err(|e| e.to_string())?;
    Ok(Arc::new(move || {
        BuildkiteRunner::new("conformance", config.clone(), token.clone())
            .map(|runner| Arc::new(runner) as Arc<dyn BuildRunner>)
            .map_err(|e| e.to_string())
    }))
}

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    unkeyed_triggers_are_keyed: false,
    cancel_reads_its_answer: false,
    start_emulator: || {
        Box::pin(async {
            let emulator = Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await;
            emulator
                .map(|e| Box::new(e) as Box<dyn Emulated>)
                .map_err(|e| format!("could not start the emulator: {e}"))
        })
    },
    runners: |api_url, http: HttpOptions| {
        let mut config = BuildkiteConfig::new("acme", "conformance")
            .and_then(|c| c.with_api_url(api_url))
            .map_err(|e| e.to_string())?;
        config.http = http;
        // status_many through GraphQL, so the suite checks it agrees with REST's status.
        let graphql = buildrunner_http::parse_api_url(api_url).and_then(|url| {
            url.join("v1")
                .map_err(|e| buildrunner_api::Error::Configuration {
                    message: e.to_string(),
                })
        });
        config.graphql_url = Some(graphql.map_err(|e| e.to_string())?);
        runners(config, EMULATOR_TOKEN)
    },
    id_prefix: "acme/conformance",
};

fn live_harness() -> Result<LiveHarness, String> {
    let [organization, pipeline, token] = live_vars([
        "BUILDRUNNER_BUILDKITE_ORG",
        "BUILDRUNNER_BUILDKITE_PIPELINE",
        "BUILDRUNNER_BUILDKITE_TOKEN",
    ])?;
    let config = BuildkiteConfig::new(organization, pipeline).map_err(|e| e.to_string())?;
    Ok(LiveHarness {
        backend: NAME,
        capabilities: CAPABILITIES,
        // Real agents take minutes, and the API allows 50 requests a minute per user.
        timing: Timing {
            poll_interval: Duration::from_secs(5),
            lifecycle_timeout: Duration::from_secs(15 * 60),
            concurrency: 10,
        },
        id_prefix: format!("{}/{}", config.organization, config.pipeline),
        runners: runners(config, &token)?,
    })
}

buildrunner_conformance::register_harnesses!(EMULATED, live_harness);
