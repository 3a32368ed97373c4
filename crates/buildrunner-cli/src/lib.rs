//! The `buildrunner` program as a library: [`run`] is the whole command line (trigger, follow
//! and cancel CI builds on any configured backend), so a team ships `buildrunner` with a
//! backend of its own in a binary of a few lines:
//!
//! ```ignore
//! use std::process::ExitCode;
//!
//! // Link the backends this binary offers: the linker drops the registrations of a crate
//! // nothing names.
//! use my_ci_backend as _;
//!
//! fn main() -> ExitCode {
//!     buildrunner_cli::run()
//! }
//! ```
//!
//! The `buildrunner` binary of this crate is that call with the built-in backends linked
//! (feature `builtin-backends`, on by default). See `buildrunner --help` and `docs/cli.md`.

/// Writes a line to stderr, ignoring a closed stderr: a vanished reader is no reason to panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod config;
mod exit;
mod listen;
mod output;
mod telemetry;
mod watch;
mod watch_many;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, Change, TriggerRequest, registry};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::output::{OutputFormat, Printer};

/// Trigger, follow and cancel CI builds on any configured backend.
///
/// Queues are defined in a TOML file (see --config); each names a backend (`buildrunner
/// backends` lists them) and its options.
#[derive(Debug, Parser)]
#[command(name = "buildrunner", version, propagate_version = true)]
struct Cli {
    /// Configuration file [default: $BUILDRUNNER_CONFIG, else ./buildrunner.toml, else the
    /// built-in demo configuration]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Output format: text for people, json (one object on stdout) for scripts
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides it
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the registered backends
    Backends,
    /// Start a build and print its id
    Trigger(BuildArgs),
    /// Print a build's status and metadata (exits 0 whenever the status could be read)
    Status(IdArgs),
    /// Ask the CI to cancel a build (a no-op for a finished build)
    Cancel(IdArgs),
    /// Follow builds until they finish; exit 0 succeeded, 1 failed, 3 cancelled, 5 timed out
    /// (several builds: the worst of them). Ctrl-C stops watching and leaves them running (exit 130)
    Watch {
        #[command(flatten)]
        ids: WatchArgs,
        #[command(flatten)]
        poll: PollArgs,
    },
    /// Trigger a build and follow it until it finishes; exit codes as for watch.
    /// Ctrl-C cancels the build this command started, then exits 130
    Run {
        #[command(flatten)]
        build: BuildArgs,
        #[command(flatten)]
        poll: PollArgs,
    },
    /// List a build's jobs, failed first, with links (where the backend lists jobs)
    Jobs(IdArgs),
    /// Re-run only the failed jobs of a failed build, under the same id (exit 0 when the CI
    /// accepted; 4 when it refused or the build has not failed)
    Retry(IdArgs),
    /// Print a completion script for a shell, e.g. `buildrunner completions bash >
    /// /usr/share/bash-completion/completions/buildrunner`
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `buildrunner man > buildrunner.1`
    Man,
}

/// The queue a command works on: one definition, so every command spells and explains it alike.
#[derive(Debug, Args)]
struct QueueArg {
    /// Queue to use, as defined in the configuration file
    #[arg(long = "queue", value_name = "QUEUE")]
    name: String,
}

#[derive(Debug, Args)]
struct BuildArgs {
    #[command(flatten)]
    queue: QueueArg,
    /// A change under test (one URI per change); repeat for more, applied in order
    #[arg(long = "head", value_name = "URI", required = true)]
    head: Vec<String>,
    /// A change already queued ahead, applied before the head changes; repeatable, in order
    #[arg(long = "base", value_name = "URI")]
    base: Vec<String>,
    /// Caller metadata carried with the build; repeatable
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
    /// Makes retrying safe: a second trigger with the same key returns the first build
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
struct WatchArgs {
    #[command(flatten)]
    queue: QueueArg,
    /// The build ids `trigger` printed; several are followed at once, with batched status
    #[arg(value_name = "BUILD_ID", required = true, num_args = 1..)]
    build_ids: Vec<String>,
}

#[derive(Debug, Args)]
struct IdArgs {
    #[command(flatten)]
    queue: QueueArg,
    /// The build id `trigger` printed
    #[arg(value_name = "BUILD_ID")]
    build_id: String,
}

#[derive(Debug, Args)]
struct PollArgs {
    /// Seconds between polls; longer while the build is queued and after errors
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    interval: Duration,
    /// Give up watching after this many seconds (exit 5); the build keeps running
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Also receive the queue's webhooks on this address (POST /webhook), so a verdict
    /// arrives as soon as the CI sends it; needs `webhook_secret_env` on the queue
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics (requests, retries, rate-limit waits, verdicts) on this
    /// address while the command runs, e.g. 127.0.0.1:9898 (scrape /metrics)
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Retry only the failed jobs of a failed build up to N times before its verdict (where
    /// the backend can); each retry keeps the build's id
    #[arg(long, value_name = "N", default_value_t = 0)]
    retry_failed: u32,
    /// Stop with exit 5 when a build is still queued (never started) after this many
    /// seconds; `run` then cancels the build it started
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    start_timeout: Option<Duration>,
}

fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "expected KEY=VALUE with a non-empty key, got {text:?}"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 31_536_000.0 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "expected a positive number of seconds, got {text:?}"
        )),
    }
}

/// Runs the `buildrunner` command line with this process's arguments and returns its exit
/// code (see `docs/cli.md`): 0 success, 1 build failed, 2 usage or configuration error, 3
/// build cancelled, 4 backend error, 5 watch timed out, 70 when the async runtime cannot
/// start. It offers the backends linked into the calling binary, and never panics on
/// anything from outside the process: every error is one line on stderr.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            note!("buildrunner: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let printer = Printer::new(cli.output);
    runtime.block_on(run_measured(cli, &printer)).into()
}

/// The exit code of a failure, after its one line on stderr.
fn failed(error: CliError) -> Exit {
    note!("buildrunner: {}", error.message);
    error.exit
}

fn init_tracing(verbose: u8) {
    use std::io::IsTerminal;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // Its fallback for a failed write is eprintln!, which panics on a closed stderr.
        .log_internal_errors(false)
        .init();
}

/// Runs the command with the metrics recorder installed; with `-v`, ends with a line that
/// sums up the requests, retries and rate-limit waits it took.
async fn run_measured(cli: Cli, printer: &Printer) -> Exit {
    let prometheus = match &cli.command {
        Command::Watch { poll, .. } | Command::Run { poll, .. } => poll.metrics,
        _ => None,
    };
    let verbose = cli.verbose > 0;
    let tally = match telemetry::install(prometheus) {
        Ok(tally) => tally,
        Err(error) => return failed(error),
    };
    let exit = dispatch(cli, printer).await.unwrap_or_else(failed);
    if verbose {
        note!("buildrunner: {}", tally.summary());
    }
    exit
}

async fn dispatch(cli: Cli, printer: &Printer) -> Result<Exit, CliError> {
    // An empty $BUILDRUNNER_CONFIG counts as unset, as for most tools.
    let config_path = cli.config.clone().or_else(|| {
        std::env::var_os("BUILDRUNNER_CONFIG")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    });
    let config = || Config::load(config_path.as_deref());
    match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "buildrunner", &mut out);
            printer.raw(&out);
            Ok(Exit::Success)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .map_err(|e| {
                    CliError::new(Exit::Internal, format!("cannot render the manual: {e}"))
                })?;
            printer.raw(&out);
            Ok(Exit::Success)
        }
        Command::Backends => {
            let backends = registry::backends()?;
            printer.backends(&backends);
            Ok(Exit::Success)
        }
        Command::Trigger(build) => {
            let runner = build.queue.runner(&config()?)?;
            let id = runner.trigger(&request(&build)?).await?;
            printer.triggered(&id);
            Ok(Exit::Success)
        }
        Command::Status(args) => {
            let runner = args.queue.runner(&config()?)?;
            let id = BuildId::new(args.build_id);
            let report = runner.status(&id).await?;
            printer.report(&id, &report);
            Ok(Exit::Success)
        }
        Command::Cancel(args) => {
            let runner = args.queue.runner(&config()?)?;
            let id = BuildId::new(args.build_id);
            runner.cancel(&id).await?;
            printer.cancelled(&id);
            Ok(Exit::Success)
        }
        Command::Jobs(args) => {
            let runner = args.queue.runner(&config()?)?;
            let id = BuildId::new(args.build_id);
            let jobs = runner.jobs(&id).await?;
            printer.jobs(&id, &jobs);
            Ok(Exit::Success)
        }
        Command::Retry(args) => {
            let runner = args.queue.runner(&config()?)?;
            let id = BuildId::new(args.build_id);
            runner.retry_failed(&id).await?;
            printer.retry_requested(&id);
            Ok(Exit::Success)
        }
        Command::Watch { ids, poll } => {
            let runner = ids.queue.runner(&config()?)?;
            let queue = ids.queue.name;
            let ids: Vec<BuildId> = ids.build_ids.into_iter().map(BuildId::new).collect();
            match &ids[..] {
                [id] => {
                    let wake = Arc::new(listen::WakeOnHint::default());
                    let _listener = match poll.listen {
                        Some(addr) => {
                            Some(listen::listen(addr, &queue, &runner, wake.clone()).await?)
                        }
                        None => None,
                    };
                    wake.watch(id.clone());
                    let wake = poll.listen.is_some().then_some(wake.as_ref());
                    watch::watch(
                        runner.as_ref(),
                        id,
                        &poll.settings(),
                        printer,
                        watch::OnInterrupt::LeaveRunning,
                        wake,
                    )
                    .await
                }
                _ => {
                    watch_many::watch_many(
                        runner,
                        &queue,
                        &ids,
                        &poll.settings(),
                        poll.listen,
                        printer,
                    )
                    .await
                }
            }
        }
        Command::Run { build, poll } => {
            let runner = build.queue.runner(&config()?)?;
            let request = request(&build)?;
            // Listen before triggering: a queue that cannot listen must not leave a build.
            let wake = Arc::new(listen::WakeOnHint::default());
            let _listener = match poll.listen {
                Some(addr) => {
                    Some(listen::listen(addr, &build.queue.name, &runner, wake.clone()).await?)
                }
                None => None,
            };
            let id = runner.trigger(&request).await?;
            printer.started(&id);
            wake.watch(id.clone());
            let wake = poll.listen.is_some().then_some(wake.as_ref());
            watch::watch(
                runner.as_ref(),
                &id,
                &poll.settings(),
                printer,
                watch::OnInterrupt::Cancel,
                wake,
            )
            .await
        }
    }
}

impl PollArgs {
    fn settings(&self) -> watch::Settings {
        watch::Settings {
            interval: self.interval,
            timeout: self.timeout,
            retry_failed: self.retry_failed,
            start_timeout: self.start_timeout,
        }
    }
}

impl QueueArg {
    /// The queue's runner, made from its configuration; errors name the file and the queue.
    fn runner(&self, config: &Config) -> Result<Arc<dyn BuildRunner>, CliError> {
        let queue = &self.name;
        let (backend, queue_config) = config.queue(queue)?;
        registry::create(backend, &queue_config).map_err(|e| {
            let mut error = CliError::from(e);
            error.message = format!("{}: queue `{queue}`: {}", config.source(), error.message);
            error
        })
    }
}

fn request(build: &BuildArgs) -> Result<TriggerRequest, CliError> {
    let mut builder = TriggerRequest::builder();
    for uri in &build.base {
        builder = builder.base(Change::new([uri.as_str()]));
    }
    for uri in &build.head {
        builder = builder.head(Change::new([uri.as_str()]));
    }
    for (key, value) in &build.meta {
        builder = builder.metadata(key, value);
    }
    if let Some(key) = &build.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    Ok(builder.build()?)
}
