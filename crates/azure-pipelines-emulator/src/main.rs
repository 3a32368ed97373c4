//! `azure-pipelines-emulator`: serves the fake Azure Pipelines API until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use azure_pipelines_emulator::AzurePipelines;
use buildrunner_emulator_engine::{Binary, Timings, clap, serve_main};

const BINARY: Binary = Binary {
    name: "azure-pipelines-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of the Azure Pipelines runs and builds API (REST 7.1), for trying \
            buildrunner without an Azure DevOps organization. Point an `azure-pipelines` \
            queue's `api_url` at the printed URL and its `token_env` at a variable holding the \
            same token (the Basic password).",
    listen: "127.0.0.1:8791",
    token_env: "AZURE_EMULATOR_TOKEN",
    timings: Timings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_millis(500),
    ),
    queued_alias: Some("not-started-ms"),
    rate_window_secs: 300,
    builds_word: "runs",
};

fn main() -> ExitCode {
    serve_main::<AzurePipelines, NoFlags>(&BINARY, |config, _| config)
}

/// The Azure emulator has no flags of its own.
#[derive(Debug, clap::Args)]
struct NoFlags {}
