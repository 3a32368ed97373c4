//! `gitlab-emulator`: serves the fake GitLab CI pipelines API until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gitlab_emulator::{Emulator, EmulatorConfig, RateLimit, Timings};

/// A stateful fake of the GitLab CI pipelines API, for trying buildrunner without an account.
///
/// Point a `gitlab` queue's `api_url` at the printed URL and its `token_env` at a variable
/// holding the same token.
#[derive(Debug, Parser)]
#[command(name = "gitlab-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8789")]
    listen: SocketAddr,
    /// The token accepted (`PRIVATE-TOKEN`).
    #[arg(long, env = "GITLAB_EMULATOR_TOKEN")]
    token: String,
    /// Milliseconds a new pipeline stays `pending`.
    #[arg(long, default_value_t = 1_000)]
    pending_ms: u64,
    /// Milliseconds a pipeline runs before it finishes.
    #[arg(long, default_value_t = 5_000)]
    running_ms: u64,
    /// Milliseconds a cancelled pipeline stays `canceling`.
    #[arg(long, default_value_t = 500)]
    canceling_ms: u64,
    /// Requests allowed per token per window; off when not given.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Seconds in one rate-limit window.
    #[arg(long, default_value_t = 60)]
    rate_window_secs: u64,
    /// Pipelines that may be created per project per minute; off when not given.
    #[arg(long)]
    create_limit: Option<u32>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.token.is_empty() {
        eprintln!("gitlab-emulator: --token must not be empty");
        return ExitCode::from(2);
    }
    let mut config = EmulatorConfig::new(args.token).with_timings(Timings {
        queued: Duration::from_millis(args.pending_ms),
        running: Duration::from_millis(args.running_ms),
        canceling: Duration::from_millis(args.canceling_ms),
    });
    if let Some(limit) = args.rate_limit {
        config = config.with_rate_limit(RateLimit {
            limit,
            window: Duration::from_secs(args.rate_window_secs.max(1)),
        });
    }
    if let Some(limit) = args.create_limit {
        config = config.with_create_limit(RateLimit {
            limit,
            window: Duration::from_secs(60),
        });
    }
    let emulator = match Emulator::start_on(config, args.listen).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("gitlab-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    println!("gitlab-emulator listening on {}", emulator.url());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("gitlab-emulator: cannot wait for Ctrl-C: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "gitlab-emulator: stopping ({} pipelines served)",
        emulator.pipeline_count()
    );
    ExitCode::SUCCESS
}
