//! The Buildkite backend against the shared conformance suite: two columns against an
//! in-process emulator, always run (`buildkite`, REST only, also under the fault matrix, and
//! `buildkite graphql`, whose `status_many` goes through GraphQL, so the suite checks it
//! agrees with REST's `status`), and one against the live API, run with `--live` when `BUILDRUNNER_BUILDKITE_ORG`, `BUILDRUNNER_BUILDKITE_PIPELINE`
//! and `BUILDRUNNER_BUILDKITE_TOKEN` are set (the pipeline is the sample of
//! `docs/backends/buildkite.md`).

use std::process::ExitCode;
use std::time::Duration;

use buildkite_emulator::{Emulator, EmulatorConfig};
use buildrunner_buildkite::{Buildkite, BuildkiteConfig, CAPABILITIES, NAME};
use buildrunner_conformance::{
    EmulatedBackend, LiveHarness, Suite, Timing, live_vars, started, token_runners,
};
use buildrunner_http::HttpOptions;

const EMULATOR_TOKEN: &str = "conformance-token";

/// A runner configuration on the emulator at `api_url`.
fn emulator_config(api_url: &str, http: HttpOptions) -> Result<BuildkiteConfig, String> {
    let mut config = BuildkiteConfig::new("acme", "conformance")
        .and_then(|c| c.with_api_url(api_url))
        .map_err(|e| e.to_string())?;
    config.http = http;
    Ok(config)
}

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    unkeyed_triggers_are_keyed: false,
    cancel_reads_its_answer: false,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN)).await) })
    },
    runners: |api_url, http| {
        token_runners::<Buildkite>(emulator_config(api_url, http)?, EMULATOR_TOKEN)
    },
    id_prefix: "acme/conformance",
};

/// The same backend with `graphql = true`: `status_many` asks GraphQL for up to 100 builds
/// a request.
const EMULATED_GRAPHQL: EmulatedBackend = EmulatedBackend {
    runners: |api_url, http| {
        let mut config = emulator_config(api_url, http)?;
        let graphql = buildrunner_http::parse_api_url(api_url).and_then(|url| {
            url.join("v1")
                .map_err(|e| buildrunner_api::Error::Configuration {
                    message: e.to_string(),
                })
        });
        config.graphql_url = Some(graphql.map_err(|e| e.to_string())?);
        token_runners::<Buildkite>(config, EMULATOR_TOKEN)
    },
    ..EMULATED
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
        runners: token_runners::<Buildkite>(config, &token)?,
    })
}

fn main() -> ExitCode {
    Suite::new()
        .emulated(EMULATED)
        .variant("graphql", EMULATED_GRAPHQL)
        .live(NAME, live_harness)
        .run()
}
