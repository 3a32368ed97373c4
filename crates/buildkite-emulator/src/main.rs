//! `buildkite-emulator`: serves the fake Buildkite REST API until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use buildkite_emulator::{Buildkite, BuildkiteConfig};
use buildrunner_emulator_engine::{Binary, Timings, clap, serve_main};

const BINARY: Binary = Binary {
    name: "buildkite-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of the Buildkite REST API v2, for trying buildrunner without an \
            account. Point a `buildkite` queue's `api_url` at the printed URL and its \
            `token_env` at a variable holding the same token.",
    listen: "127.0.0.1:8787",
    token_env: "BUILDKITE_EMULATOR_TOKEN",
    timings: Timings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(1),
    ),
    queued_alias: Some("scheduled-ms"),
    rate_window_secs: 60,
    builds_word: "builds",
};

/// The Buildkite emulator's own flag.
#[derive(Debug, clap::Args)]
struct Extra {
    /// Jobs per build (a poll without exclude_jobs downloads them all).
    #[arg(long, default_value_t = 3)]
    jobs: usize,
}

fn main() -> ExitCode {
    serve_main::<Buildkite, Extra>(&BINARY, |config, extra| {
        config.with_jobs_per_build(extra.jobs)
    })
}
