//! `github-actions-emulator`: serves the fake GitHub Actions REST API until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use github_actions_emulator::{DispatchMode, Emulator, EmulatorConfig, RateLimit, Timings};

/// A stateful fake of the GitHub Actions REST API, for trying buildrunner without an account.
///
/// Point a `github-actions` queue's `api_url` at the printed URL and its `token_env` at a
/// variable holding the same token.
#[derive(Debug, Parser)]
#[command(name = "github-actions-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// The token accepted.
    #[arg(long, env = "GITHUB_EMULATOR_TOKEN")]
    token: String,
    /// Milliseconds a new run stays `queued`.
    #[arg(long, default_value_t = 1_000)]
    queued_ms: u64,
    /// Milliseconds a run is `in_progress` before it completes.
    #[arg(long, default_value_t = 5_000)]
    running_ms: u64,
    /// Milliseconds a cancelled run is still `in_progress` before it completes as cancelled.
    #[arg(long, default_value_t = 500)]
    canceling_ms: u64,
    /// Requests allowed per token per window; off when not given.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Seconds in one rate-limit window.
    #[arg(long, default_value_t = 3600)]
    rate_window_secs: u64,
    /// Answer dispatches 204 without run details, as older GitHub Enterprise Server does.
    #[arg(long)]
    ghes: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.token.is_empty() {
        eprintln!("github-actions-emulator: --token must not be empty");
        return ExitCode::from(2);
    }
    let mut config = EmulatorConfig::new(args.token).with_timings(Timings {
        queued: Duration::from_millis(args.queued_ms),
        running: Duration::from_millis(args.running_ms),
        canceling: Duration::from_millis(args.canceling_ms),
    });
    if let Some(limit) = args.rate_limit {
        config = config.with_rate_limit(RateLimit {
            limit,
            window: Duration::from_secs(args.rate_window_secs.max(1)),
        });
    }
    if args.ghes {
        config = config.with_dispatch(DispatchMode::NoRunDetails);
    }
    let emulator = match Emulator::start_on(config, args.listen).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!(
                "github-actions-emulator: cannot listen on {}: {e}",
                args.listen
            );
            return ExitCode::from(1);
        }
    };
    println!("github-actions-emulator listening on {}", emulator.url());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("github-actions-emulator: cannot wait for Ctrl-C: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "github-actions-emulator: stopping ({} runs served)",
        emulator.run_count()
    );
    ExitCode::SUCCESS
}
