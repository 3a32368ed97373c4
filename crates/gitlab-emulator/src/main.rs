//! `gitlab-emulator`: serves the fake GitLab CI pipelines API until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_emulator_engine::{Binary, RateLimit, Timings, clap, serve_main};
use gitlab_emulator::{GitLab, GitLabConfig};

const BINARY: Binary = Binary {
    name: "gitlab-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of the GitLab CI pipelines API, for trying buildrunner without an \
            account. Point a `gitlab` queue's `api_url` at the printed URL and its `token_env` \
            at a variable holding the same token (sent as PRIVATE-TOKEN).",
    listen: "127.0.0.1:8789",
    token_env: "GITLAB_EMULATOR_TOKEN",
    timings: Timings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_millis(500),
    ),
    queued_alias: Some("pending-ms"),
    rate_window_secs: 60,
    builds_word: "pipelines",
};

/// The GitLab emulator's own flag.
#[derive(Debug, clap::Args)]
struct Extra {
    /// Pipelines that may be created per project per minute; off when not given.
    #[arg(long)]
    create_limit: Option<u32>,
}

fn main() -> ExitCode {
    serve_main::<GitLab, Extra>(&BINARY, |config, extra| match extra.create_limit {
        Some(limit) => config.with_create_limit(RateLimit {
            limit,
            window: Duration::from_secs(60),
        }),
        None => config,
    })
}
