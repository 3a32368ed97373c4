//! `cargo xtask`: the project's checks, in one place, so a newcomer's command and CI's are the same.
//!
//! See `cargo xtask help`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const HELP: &str = "\
cargo xtask <TASK> [ARGS]

Tasks:
  ci            everything CI runs, in order: fmt, clippy, tests, docs (stops at the first failure)
  fmt           cargo fmt --all --check
  clippy        cargo clippy --workspace --all-targets -- -D warnings
  test          cargo test --workspace
  doc           cargo doc --workspace --no-deps with warnings denied
  help          this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "ci" => ci(),
        "fmt" => run_steps(&[Step::Fmt]),
        "clippy" => run_steps(&[Step::Clippy]),
        "test" => run_steps(&[Step::Test]),
        "doc" => run_steps(&[Step::Doc]),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    run_steps(&[Step::Fmt, Step::Clippy, Step::Test, Step::Doc])
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Fmt,
    Clippy,
    Test,
    Doc,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Test => "test",
            Step::Doc => "doc",
        }
    }

    fn command(self) -> Command {
        let mut command = cargo();
        match self {
            Step::Fmt => command.args(["fmt", "--all", "--check"]),
            Step::Clippy => command.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Test => command.args(["test", "--workspace", "--locked"]),
            Step::Doc => command
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        };
        command
    }
}

fn run_steps(steps: &[Step]) -> Result<(), String> {
    let started = Instant::now();
    for step in steps {
        let step_started = Instant::now();
        eprintln!("xtask: ==> {}", step.name());
        let mut command = step.command();
        command.current_dir(project_root());
        let status = command
            .status()
            .map_err(|e| format!("step {} could not start: {e}", step.name()))?;
        if !status.success() {
            return Err(format!("step {} failed ({status})", step.name()));
        }
        eprintln!(
            "xtask: <== {} ok in {:.1}s",
            step.name(),
            step_started.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "xtask: all steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The cargo that runs this xtask, so the pinned toolchain is used throughout.
fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
