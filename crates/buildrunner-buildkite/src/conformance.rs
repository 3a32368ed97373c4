//! The Buildkite backend's conformance harnesses (feature `conformance`): one against an
//! in-process emulator, always run, and one against the live API, run with `--live` when
//! `BUILDRUNNER_BUILDKITE_ORG`, `BUILDRUNNER_BUILDKITE_PIPELINE` and
//! `BUILDRUNNER_BUILDKITE_TOKEN` are set.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildkite_emulator::{Emulator, EmulatorConfig};
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_conformance::{
    Environment, Harness, HarnessRegistration, RunnerEnvironment, Timing, malformed_path_ids,
};

use crate::{BuildkiteConfig, BuildkiteRunner, CAPABILITIES, NAME, Token};

const EMULATOR_TOKEN: &str = "conformance-token";
const ORG: &str = "acme";
const PIPELINE: &str = "conformance";

/// An environment of runners over `config`; `keep_alive` (the emulator) lives as long.
fn environment(
    config: BuildkiteConfig,
    token: Token,
    keep_alive: impl std::any::Any + Send + Sync,
) -> Result<Box<dyn Environment>, String> {
    let unknown = BuildId::new(format!(
        "{}/{}/987654321",
        config.organization, config.pipeline
    ));
    let malformed = malformed_path_ids(&config.organization, &config.pipeline);
    let make = move || -> Result<Arc<dyn BuildRunner>, String> {
        let runner = BuildkiteRunner::new("conformance", config.clone(), token.clone())
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
        let mut config = BuildkiteConfig::new(ORG, PIPELINE)
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

/// The real Buildkite API, with the sample pipeline of `docs/backends/buildkite.md`.
struct LiveHarness {
    organization: String,
    pipeline: String,
    token: Token,
}

fn live_harness() -> Result<Box<dyn Harness>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("BUILDRUNNER_BUILDKITE_ORG"),
        var("BUILDRUNNER_BUILDKITE_PIPELINE"),
        var("BUILDRUNNER_BUILDKITE_TOKEN"),
    ) {
        (Some(organization), Some(pipeline), Some(token)) => Ok(Box::new(LiveHarness {
            organization,
            pipeline,
            token: Token::new(token).map_err(|e| e.to_string())?,
        })),
        _ => Err("set BUILDRUNNER_BUILDKITE_ORG, BUILDRUNNER_BUILDKITE_PIPELINE and BUILDRUNNER_BUILDKITE_TOKEN".to_owned()),
    }
}

#[async_trait]
impl Harness for LiveHarness {
    fn backend(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("live API, {}/{}", self.organization, self.pipeline)
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn error_markers(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        // Real agents take minutes, and the API allows 50 requests a minute per user.
        Timing {
            poll_interval: Duration::from_secs(5),
            lifecycle_timeout: Duration::from_secs(15 * 60),
            concurrency: 10,
        }
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        let config = BuildkiteConfig::new(self.organization.clone(), self.pipeline.clone())
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
