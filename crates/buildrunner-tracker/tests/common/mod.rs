//! What the metrics and spans tests share: an emulator that runs builds fast and an
//! instrumented Buildkite runner on it.

#![allow(dead_code)] // each test target uses part of it

use std::sync::Arc;
use std::time::Duration;

use buildkite_emulator::{Emulator, EmulatorConfig};
use buildrunner_api::BuildRunner;
use buildrunner_api::instrument::Instrumented;
use buildrunner_http::Token;

/// The emulator's token; no metric label or span field may carry it.
pub const TOKEN: &str = "metrics-test-token-s3cr3t";
pub const HOOK_SECRET: &str = "metrics-hook-s3cr3t";

/// An emulator whose builds queue 30 ms and run 100 ms.
pub async fn emulator() -> Emulator {
    let config = EmulatorConfig::new(TOKEN).with_timings(buildkite_emulator::Timings::new(
        Duration::from_millis(30),
        Duration::from_millis(100),
        Duration::from_millis(30),
    ));
    Emulator::start(config).await.unwrap()
}

/// A registry-style runner (instrumented) on the emulator, retrying fast.
pub fn runner(emulator: &Emulator, webhooks: bool) -> Arc<dyn BuildRunner> {
    let mut config = buildrunner_buildkite::BuildkiteConfig::new("acme", "app")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    config.http.max_retries = 3;
    config.http.initial_backoff = Duration::from_millis(5);
    if webhooks {
        config.webhook_secret = Some(Token::new(HOOK_SECRET).unwrap());
    }
    let runner =
        buildrunner_buildkite::BuildkiteRunner::new("q", config, Token::new(TOKEN).unwrap())
            .unwrap();
    Arc::new(Instrumented::new(Arc::new(runner), "q"))
}

pub use buildrunner_testkit::request;
