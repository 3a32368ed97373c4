//! `woodpecker-emulator`: serves the fake Woodpecker API until interrupted.

use std::process::ExitCode;

use buildrunner_emulator_engine::{Binary, clap, serve_main};
use woodpecker_emulator::{DEMO_TIMINGS, Woodpecker};

const BINARY: Binary = Binary {
    name: "woodpecker-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of Woodpecker CI's pipelines API. Point a `woodpecker` queue's \
            `api_url` at the printed URL and its `token_env` at a variable holding the token.",
    listen: "127.0.0.1:8790",
    token_env: "WOODPECKER_EMULATOR_TOKEN",
    timings: DEMO_TIMINGS,
    queued_alias: None,
    rate_window_secs: 60,
    builds_word: "pipelines",
};

/// Woodpecker has no flags of its own.
#[derive(Debug, clap::Args)]
struct NoFlags {}

fn main() -> ExitCode {
    serve_main::<Woodpecker, NoFlags>(&BINARY, |config, NoFlags {}| config)
}
