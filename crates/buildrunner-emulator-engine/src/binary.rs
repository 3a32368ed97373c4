//! The `main` of every emulator binary: the common flags, the platform's own flags, serving
//! until Ctrl-C. A platform's `main.rs` is a [`Binary`] descriptor and one call.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches, value_parser};

use crate::{Emulated, Emulation, Emulator, EmulatorConfig, RateLimit, Timings};

/// What an emulator binary is called and its defaults.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The program name, e.g. `acme-ci-emulator`.
    pub name: &'static str,
    /// The program's version (its crate's `CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// One paragraph for `--help`: what it fakes and how to point a queue at it.
    pub about: &'static str,
    /// The address it listens on without `--listen`.
    pub listen: &'static str,
    /// The environment variable `--token` is read from when not given.
    pub token_env: &'static str,
    /// The step durations without `--queued-ms`, `--running-ms`, `--canceling-ms`.
    pub timings: Timings,
    /// The platform's own word for `--queued-ms` (`scheduled-ms`), kept as an alias.
    pub queued_alias: Option<&'static str>,
    /// Seconds in one rate-limit window without `--rate-window-secs`.
    pub rate_window_secs: u64,
    /// What it counts on the way out: `builds`, `runs`, `pipelines`.
    pub builds_word: &'static str,
}

/// The flags every emulator binary has.
fn common_flags(binary: &Binary) -> Command {
    let millis = |name: &'static str, default: Duration, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("MS")
            .value_parser(value_parser!(u64))
            .default_value(default.as_millis().to_string())
            .help(help)
    };
    let mut queued = millis(
        "queued-ms",
        binary.timings.queued,
        "Milliseconds a new build waits before it runs",
    );
    if let Some(alias) = binary.queued_alias {
        queued = queued.visible_alias(alias);
    }
    Command::new(binary.name)
        .version(binary.version)
        .about(binary.about)
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR")
                .value_parser(value_parser!(SocketAddr))
                .default_value(binary.listen)
                .help(
                    "Address to listen on; port 0 picks a free port (the URL is printed on stdout)",
                ),
        )
        .arg(
            Arg::new("token")
                .long("token")
                .env(binary.token_env)
                .required(true)
                .hide_env_values(true)
                .help("The only token accepted"),
        )
        .arg(queued)
        .arg(millis(
            "running-ms",
            binary.timings.running,
            "Milliseconds a build runs before it finishes",
        ))
        .arg(millis(
            "canceling-ms",
            binary.timings.canceling,
            "Milliseconds a cancelled build is still cancelling",
        ))
        .arg(
            Arg::new("rate-limit")
                .long("rate-limit")
                .value_name("REQUESTS")
                .value_parser(value_parser!(u32))
                .help("Requests allowed per window; off when not given"),
        )
        .arg(
            Arg::new("rate-window-secs")
                .long("rate-window-secs")
                .value_name("SECS")
                .value_parser(value_parser!(u64))
                .default_value(binary.rate_window_secs.to_string())
                .help("Seconds in one rate-limit window"),
        )
}

/// The common settings the flags asked for, or why they cannot be used.
fn common_config<X: Default>(matches: &ArgMatches) -> Result<EmulatorConfig<X>, String> {
    let token = matches
        .get_one::<String>("token")
        .filter(|token| !token.is_empty())
        .ok_or("--token must not be empty")?;
    let millis = |name: &str| Duration::from_millis(matches.get_one::<u64>(name).map_or(0, |m| *m));
    let mut config = EmulatorConfig::new(token.as_str()).with_timings(Timings::new(
        millis("queued-ms"),
        millis("running-ms"),
        millis("canceling-ms"),
    ));
    if let Some(limit) = matches.get_one::<u32>("rate-limit") {
        let window = matches
            .get_one::<u64>("rate-window-secs")
            .map_or(60, |s| *s);
        config = config.with_rate_limit(RateLimit {
            limit: *limit,
            window: Duration::from_secs(window.max(1)),
        });
    }
    Ok(config)
}

/// Runs an emulator binary: parses the common flags and the platform's `A`, lets `configure`
/// apply `A` to the configuration, serves until Ctrl-C and prints how many builds it served.
///
/// Exits 2 on bad flags, 1 when it cannot listen or wait for Ctrl-C, 0 after Ctrl-C.
///
/// ```no_run
/// # use buildrunner_emulator_engine::{Binary, Emulation, EmulatorConfig};
/// # fn demo<P: Emulation>(binary: &Binary) -> std::process::ExitCode {
/// #[derive(Debug, clap::Args)]
/// struct Extra {}
///
/// buildrunner_emulator_engine::serve_main::<P, Extra>(binary, |config, Extra {}| config)
/// # }
/// ```
pub fn serve_main<P, A>(
    binary: &Binary,
    configure: impl FnOnce(EmulatorConfig<P::Options>, A) -> EmulatorConfig<P::Options>,
) -> ExitCode
where
    P: Emulation,
    A: Args + FromArgMatches,
{
    let matches = A::augment_args(common_flags(binary)).get_matches();
    let config = match (common_config(&matches), A::from_arg_matches(&matches)) {
        (Ok(config), Ok(extra)) => configure(config, extra),
        (Err(message), _) => {
            eprintln!("{}: {message}", binary.name);
            return ExitCode::from(2);
        }
        (_, Err(e)) => e.exit(),
    };
    let listen = matches
        .get_one::<SocketAddr>("listen")
        .copied()
        .unwrap_or(crate::LOOPBACK);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", binary.name);
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve_until_interrupted::<P>(binary, config, listen))
}

async fn serve_until_interrupted<P: Emulation>(
    binary: &Binary,
    config: EmulatorConfig<P::Options>,
    listen: SocketAddr,
) -> ExitCode {
    let emulator = match Emulator::<P>::start_on(config, listen).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("{}: cannot listen on {listen}: {e}", binary.name);
            return ExitCode::from(1);
        }
    };
    println!("{} listening on {}", binary.name, emulator.url());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("{}: cannot wait for Ctrl-C: {e}", binary.name);
        return ExitCode::from(1);
    }
    eprintln!(
        "{}: stopping ({} {} served)",
        binary.name,
        emulator.builds_created(),
        binary.builds_word
    );
    ExitCode::SUCCESS
}
