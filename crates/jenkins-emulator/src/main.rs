//! `jenkins-emulator`: serves the fake Jenkins until interrupted.

use std::process::ExitCode;
use std::time::Duration;

use buildrunner_emulator_engine::{Binary, Timings, clap, serve_main};
use jenkins_emulator::{Jenkins, JenkinsConfig};

const BINARY: Binary = Binary {
    name: "jenkins-emulator",
    version: env!("CARGO_PKG_VERSION"),
    about: "A stateful fake of Jenkins' queue and remote access API, for trying buildrunner \
            without a Jenkins. Point a `jenkins` queue's `url` at the printed URL, `user` at any \
            name and its `token_env` at a variable holding the same token (the Basic password).",
    listen: "127.0.0.1:8790",
    token_env: "JENKINS_EMULATOR_TOKEN",
    timings: Timings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_millis(500),
    ),
    queued_alias: None,
    rate_window_secs: 60,
    builds_word: "queue items",
};

/// The Jenkins emulator's own flag.
#[derive(Debug, clap::Args)]
struct Extra {
    /// Seconds a queue item stays readable after it left the queue (Jenkins: 300).
    #[arg(long, default_value_t = 300)]
    left_item_secs: u64,
}

fn main() -> ExitCode {
    serve_main::<Jenkins, Extra>(&BINARY, |config, extra| {
        config.with_left_item_lifetime(Duration::from_secs(extra.left_item_secs))
    })
}
