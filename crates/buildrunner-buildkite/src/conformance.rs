//! The Buildkite backend's conformance harnesses (feature `conformance`): against an
//! in-process emulator for the suite and the fault matrix, always run, and against the live
//! API, run with `--live` when `BUILDRUNNER_BUILDKITE_ORG`, `BUILDRUNNER_BUILDKITE_PIPELINE`
//! and `BUILDRUNNER_BUILDKITE_TOKEN` are set.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildkite_emulator::{Emulator, EmulatorConfig};
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_conformance::faults::FaultHarnessRegistration;
use buildrunner_conformance::{
    EmulatedBackend, Emulation, EmulatorHarness, Harness, HarnessRegistration, LiveHarness,
    RunnerFactory, Timing, live_vars, malformed_path_ids,
};
use buildrunner_http::HttpOptions;

use crate::{BuildkiteConfig, BuildkiteRunner, CAPABILITIES, NAME, Token};

const EMULATOR_TOKEN: &str = "conformance-token";

fn runners(config: BuildkiteConfig, token: Token) -> RunnerFactory {
    Arc::new(move || -> Result<Arc<dyn BuildRunner>, String> {
        let runner = BuildkiteRunner::new("conformance", config.clone(), token.clone())
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(runner))
    })
}

fn unknown_id(config: &BuildkiteConfig) -> BuildId {
    BuildId::new(format!(
        "{}/{}/987654321",
        config.organization, config.pipeline
    ))
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

    fn unkeyed_triggers_are_keyed(&self) -> bool {
        false
    }

    async fn start(&self, http: HttpOptions) -> Result<Emulation, String> {
        let emulator = Emulator::start(EmulatorConfig::new(EMULATOR_TOKEN))
            .await
            .map_err(|e| format!("could not start the emulator: {e}"))?;
        let mut config = BuildkiteConfig::new("acme", "conformance")
            .and_then(|c| c.with_api_url(&emulator.url()))
            .map_err(|e| e.to_string())?;
        config.http = http;
        let token = Token::new(EMULATOR_TOKEN).map_err(|e| e.to_string())?;
        Ok(Emulation {
            unknown_build_id: unknown_id(&config),
            malformed_build_ids: malformed_path_ids(&config.organization, &config.pipeline),
            runners: runners(config, token),
            emulator: Box::new(emulator),
        })
    }
}

/// The real Buildkite API, with the sample pipeline of `docs/backends/buildkite.md`.
fn live_harness() -> Result<Box<dyn Harness>, String> {
    let [organization, pipeline, token] = live_vars([
        "BUILDRUNNER_BUILDKITE_ORG",
        "BUILDRUNNER_BUILDKITE_PIPELINE",
        "BUILDRUNNER_BUILDKITE_TOKEN",
    ])?;
    let config = BuildkiteConfig::new(organization, pipeline).map_err(|e| e.to_string())?;
    Ok(Box::new(LiveHarness {
        backend: NAME,
        describe: format!("live API, {}/{}", config.organization, config.pipeline),
        capabilities: CAPABILITIES,
        // Real agents take minutes, and the API allows 50 requests a minute per user.
        timing: Timing {
            poll_interval: Duration::from_secs(5),
            lifecycle_timeout: Duration::from_secs(15 * 60),
            concurrency: 10,
        },
        unknown_build_id: unknown_id(&config),
        malformed_build_ids: malformed_path_ids(&config.organization, &config.pipeline),
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
