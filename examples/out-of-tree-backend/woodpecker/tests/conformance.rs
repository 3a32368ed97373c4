//! The buildrunner conformance suite and fault matrix against this backend, on the Woodpecker
//! emulator in this process: `cargo test --test conformance` prints the `[woodpecker]`
//! column and fault table.

use std::process::ExitCode;

use buildrunner_conformance::{EmulatedBackend, Suite, started, token_runners};
use buildrunner_woodpecker::{CAPABILITIES, NAME, Woodpecker, WoodpeckerConfig};
use woodpecker_emulator::{Emulator, EmulatorConfig};

const TOKEN: &str = "conformance-token";
const REPO_ID: u64 = 12;

const EMULATED: EmulatedBackend = EmulatedBackend {
    backend: NAME,
    capabilities: CAPABILITIES,
    // Every trigger carries a fresh dispatch id in its key variable.
    unkeyed_triggers_are_keyed: true,
    cancel_reads_its_answer: false,
    start_emulator: || {
        Box::pin(async { started(Emulator::start(EmulatorConfig::new(TOKEN)).await) })
    },
    runners: |api_url, http| {
        let mut config = WoodpeckerConfig::new(REPO_ID, api_url).map_err(|e| e.to_string())?;
        config.http = http;
        token_runners::<Woodpecker>(config, TOKEN)
    },
    id_prefix: "12",
};

fn main() -> ExitCode {
    Suite::new().emulated(EMULATED).run()
}
