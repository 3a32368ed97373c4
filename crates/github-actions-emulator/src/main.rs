//! `github-actions-emulator`: serves the fake GitHub Actions REST API until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_emulator_engine::{Binary, Timings, clap, serve_main};
use github_actions_emulator::{DispatchMode, GitHubActions, GitHubConfig};

const BINARY: Binary = Binary {
    name: "github-actions-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of the GitHub Actions REST API, for trying buildrunner without an \
            account. Point a `github-actions` queue's `api_url` at the printed URL and its \
            `token_env` at a variable holding the same token.",
    listen: "127.0.0.1:8788",
    token_env: "GITHUB_EMULATOR_TOKEN",
    timings: Timings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_millis(500),
    ),
    queued_alias: None,
    rate_window_secs: 3600,
    builds_word: "runs",
};

/// The GitHub Actions emulator's own flag.
#[derive(Debug, clap::Args)]
struct Extra {
    /// Answer dispatches 204 without run details, as older GitHub Enterprise Server does.
    #[arg(long)]
    ghes: bool,
}

fn main() -> ExitCode {
    serve_main::<GitHubActions, Extra>(&BINARY, |config, extra| {
        if extra.ghes {
            config.with_dispatch(DispatchMode::NoRunDetails)
        } else {
            config
        }
    })
}
