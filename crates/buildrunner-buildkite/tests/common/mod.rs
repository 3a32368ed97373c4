//! Fixtures shared by the test targets that run the backend against the emulator.

#![allow(dead_code, clippy::unwrap_used)] // each test target uses some of these; setup fails loudly

use buildkite_emulator::Emulator;
use buildrunner_api::{Change, TriggerRequest};
use buildrunner_buildkite::BuildkiteConfig;

/// The pipeline every emulator test uses.
pub const ORGANIZATION: &str = "acme";
/// See [`ORGANIZATION`].
pub const PIPELINE: &str = "app";

/// A configuration for `acme/app` on `emulator`, every other setting at its default.
pub fn config_for(emulator: &Emulator) -> BuildkiteConfig {
    BuildkiteConfig::new(ORGANIZATION, PIPELINE)
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap()
}

/// A request with one head change of one URI.
pub fn request(uri: impl Into<String>) -> TriggerRequest {
    TriggerRequest::new(vec![Change::new([uri.into()])]).unwrap()
}
