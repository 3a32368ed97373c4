//! `buildkite-emulator`: serves the fake Buildkite REST API until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use buildkite_emulator::{Emulator, EmulatorConfig, RateLimit};
use clap::Parser;

/// A stateful fake of the Buildkite REST API v2, for trying buildrunner without an account.
///
/// Point a `buildkite` queue's `api_url` at the printed URL and its `token_env` at a variable
/// holding the same token.
#[derive(Debug, Parser)]
#[command(name = "buildkite-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The only bearer token accepted.
    #[arg(long, env = "BUILDKITE_EMULATOR_TOKEN")]
    token: String,
    /// Milliseconds a new build stays `scheduled`.
    #[arg(long, default_value_t = 1_000)]
    scheduled_ms: u64,
    /// Milliseconds a build runs before it finishes.
    #[arg(long, default_value_t = 5_000)]
    running_ms: u64,
    /// Milliseconds a cancelled build stays `canceling`.
    #[arg(long, default_value_t = 1_000)]
    canceling_ms: u64,
    /// Jobs per build (a poll without exclude_jobs downloads them all).
    #[arg(long, default_value_t = 3)]
    jobs: usize,
    /// Requests allowed per organization per window; off when not given.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Seconds in one rate-limit window.
    #[arg(long, default_value_t = 60)]
    rate_window_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.token.is_empty() {
        eprintln!("buildkite-emulator: --token must not be empty");
        return ExitCode::from(2);
    }
    let mut config = EmulatorConfig::new(args.token)
        .with_timings(
            Duration::from_millis(args.scheduled_ms),
            Duration::from_millis(args.running_ms),
            Duration::from_millis(args.canceling_ms),
        )
        .with_jobs_per_build(args.jobs);
    if let Some(limit) = args.rate_limit {
        config = config.with_rate_limit(RateLimit {
            limit,
            window: Duration::from_secs(args.rate_window_secs.max(1)),
        });
    }
    let emulator = match Emulator::start_on(config, args.listen).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("buildkite-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    println!("buildkite-emulator listening on {}", emulator.url());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("buildkite-emulator: cannot wait for Ctrl-C: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "buildkite-emulator: stopping ({} builds served)",
        emulator.build_count()
    );
    ExitCode::SUCCESS
}
