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
  ci            everything CI runs, in order: fmt, clippy, tests, the fault matrix,
                conformance, docs, package, out-of-tree (stops at the first failure)
  faults        the fault matrix of every HTTP backend (12 faults x 4 verbs x once/always):
                the `[backend] fault_matrix` trial of every workspace package's `conformance`
                test target, one table a backend, then the total
  conformance [--backend NAME] [--live] [-- TRIAL ARGS]
                every workspace package's `conformance` test target (found with cargo
                metadata), then ONE matrix over all their columns; --backend runs one
                backend's columns; --live adds the live columns (they need credentials, see
                docs/conformance.md); then plants one bug per check and prints
                `planted bugs: N/N checks caught`
  bench [--quick] [--json PATH] [--platform buildkite|github-actions|gitlab] [--follow-only]
        [--replicas-only] [--observability-only]
                every HTTP backend against bare reqwest on its emulator (separate process):
                throughput, CPU per op, bytes per poll, memory, requests per lifecycle;
                with Buildkite, following 10,000 builds (follow_*: requests, 429s,
                verdict latency by polling and by webhooks, verdicts lost) and replicas
                sharing a budget and key locks through a real redis-server (replicas_*);
                --quick measures for about a minute on 2 cores (docs/benchmarks.md)
  fmt           cargo fmt --all --check
  clippy        cargo clippy --workspace --all-targets -- -D warnings, and the same for the
                test = false targets the xtask runs (conformance, fault matrix, planted bugs)
  test          cargo test --workspace
  doc           cargo doc --workspace --no-deps with warnings denied
  package       cargo package of every publishable crate (the libraries and the CLI)
  out-of-tree   package our crates, then build examples/out-of-tree-backend (a repository
                of its own) against those packages in a scratch copy, run its tests, its
                conformance suite and fault matrix, and check its binary lists its backend
  mutants [ARGS]
                cargo mutants on the api and noop crates and the backends' model, id and
                config modules (installs cargo-mutants when missing; not part of ci: slow);
                ARGS go to cargo mutants (e.g. -j 2, --list)
  help          this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "ci" => ci(),
        "conformance" => conformance(&args[1..]),
        "bench" => bench(&args[1..]),
        "fmt" => run_steps(&[Step::Fmt]),
        "clippy" => run_steps(&[Step::Clippy, Step::ClippyRunByXtask]),
        "test" => run_steps(&[Step::EnsureRedis, Step::Test]),
        "faults" => run_steps(&[Step::FaultMatrix]),
        "doc" => run_steps(&[Step::Doc]),
        "package" => run_steps(&[Step::Package]),
        "out-of-tree" => run_steps(&[Step::Package, Step::OutOfTree]),
        "mutants" => mutants(&args[1..]),
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
    run_steps(&[
        Step::EnsureRedis,
        Step::Fmt,
        Step::Clippy,
        Step::ClippyRunByXtask,
        Step::Test,
        Step::FaultMatrix,
        Step::Conformance(ConformanceArgs::default()),
        Step::PlantedBugs,
        Step::Doc,
        Step::Package,
        Step::OutOfTree,
    ])
}

/// The files `cargo xtask mutants` mutates: the contract crate, the noop backend, and the
/// parts of each HTTP backend that read outside input (models, ids, configuration).
const MUTATED: [&str; 9] = [
    "crates/buildrunner-api/src/*.rs",
    "crates/buildrunner-noop/src/*.rs",
    "crates/buildrunner-http/src/numbered_id.rs",
    "crates/buildrunner-buildkite/src/model.rs",
    "crates/buildrunner-buildkite/src/config.rs",
    "crates/buildrunner-github-actions/src/model.rs",
    "crates/buildrunner-github-actions/src/config.rs",
    "crates/buildrunner-gitlab/src/model.rs",
    "crates/buildrunner-gitlab/src/config.rs",
];

fn mutants(args: &[String]) -> Result<(), String> {
    let installed = cargo()
        .args(["mutants", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        eprintln!("xtask: installing cargo-mutants");
        let status = cargo()
            .args(["install", "cargo-mutants", "--locked"])
            .status()
            .map_err(|e| format!("cannot run cargo install: {e}"))?;
        if !status.success() {
            return Err("cargo install cargo-mutants failed".into());
        }
    }
    let mut command = cargo();
    command.arg("mutants").current_dir(project_root());
    for pattern in MUTATED {
        command.args(["--file", pattern]);
    }
    command.args(args);
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo mutants: {e}"))?;
    // cargo mutants exits 2 when mutants survive: a finding to read, reported as a failure.
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo mutants: {status} (see mutants.out/)"))
    }
}

/// The workspace's crates marked `publish = false` (test tools, emulators, benches, this
/// xtask), read from their manifests so a new one is never packaged by mistake.
fn unpublished() -> Vec<String> {
    let root = project_root();
    let manifests = std::fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("Cargo.toml"))
        .chain([root.join("xtask").join("Cargo.toml")]);
    manifests
        .filter_map(|manifest| std::fs::read_to_string(manifest).ok())
        .filter(|text| text.lines().any(|line| line.trim() == "publish = false"))
        .filter_map(|text| {
            let name = text
                .lines()
                .find_map(|line| line.trim().strip_prefix("name = "))?;
            Some(name.trim_matches('"').to_owned())
        })
        .collect()
}

fn conformance(args: &[String]) -> Result<(), String> {
    let mut parsed = ConformanceArgs::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--backend" => {
                let name = rest.next().ok_or("--backend needs a backend name")?;
                parsed.backend = Some(name.clone());
            }
            "--live" => parsed.live = true,
            "--" => {
                parsed.passthrough = rest.by_ref().cloned().collect();
            }
            other => return Err(format!("conformance: unknown argument {other:?}\n\n{HELP}")),
        }
    }
    run_steps(&[Step::Conformance(parsed), Step::PlantedBugs])
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut forwarded = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" | "--follow-only" | "--replicas-only" | "--observability-only" => {
                forwarded.push(arg.clone())
            }
            "--platform" => {
                let name = rest
                    .next()
                    .ok_or("--platform needs the name of a platform the bench measures")?;
                forwarded.push(arg.clone());
                forwarded.push(name.clone());
            }
            "--json" => {
                let path = rest.next().ok_or("--json needs a path")?;
                // cargo runs benches from the package directory; make the path the caller's.
                let path = env::current_dir()
                    .map_err(|e| format!("cannot read the current directory: {e}"))?
                    .join(path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                forwarded.push("--json".to_owned());
                forwarded.push(path.display().to_string());
            }
            other => return Err(format!("bench: unknown argument {other:?}\n\n{HELP}")),
        }
    }
    run_steps(&[
        Step::EnsureRedis,
        Step::BuildEmulator,
        Step::Bench(forwarded),
    ])
}

/// What `cargo xtask conformance` was asked for.
#[derive(Debug, Clone, Default)]
struct ConformanceArgs {
    backend: Option<String>,
    live: bool,
    passthrough: Vec<String>,
}

#[derive(Debug, Clone)]
enum Step {
    Fmt,
    Clippy,
    /// Clippy on the `test = false` targets, which `--all-targets` leaves out.
    ClippyRunByXtask,
    Test,
    FaultMatrix,
    Conformance(ConformanceArgs),
    PlantedBugs,
    Doc,
    /// `cargo package` of every publishable crate, verified against each other.
    Package,
    /// The example repository of its own built against the packaged crates.
    OutOfTree,
    BuildEmulator,
    Bench(Vec<String>),
    /// The replica tests and figures run a real redis-server: install it when it is missing.
    EnsureRedis,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::ClippyRunByXtask => "clippy (targets the xtask runs)",
            Step::Test => "test",
            Step::FaultMatrix => "fault matrix",
            Step::Conformance(_) => "conformance",
            Step::PlantedBugs => "planted bugs",
            Step::Doc => "doc",
            Step::Package => "package",
            Step::OutOfTree => "out-of-tree",
            Step::BuildEmulator => "build emulator",
            Step::Bench(_) => "bench",
            Step::EnsureRedis => "redis-server",
        }
    }

    /// The one command this step is, or `None` for the steps that run several
    /// (`conformance_matrix`, `out_of_tree`).
    fn command(&self) -> Option<Command> {
        let mut command = cargo();
        match self {
            Step::EnsureRedis => return Some(ensure_redis()),
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
            Step::ClippyRunByXtask => command.args([
                "clippy",
                "--workspace",
                "--locked",
                "--test",
                "conformance",
                "--test",
                "suite_catches_bugs",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Test => command.args(["test", "--workspace", "--locked"]),
            Step::FaultMatrix | Step::Conformance(_) | Step::OutOfTree => return None,
            // For every check, a bug only that check catches: proves the suite can fail.
            Step::PlantedBugs => command.args([
                "test",
                "--workspace",
                "--locked",
                "--test",
                "suite_catches_bugs",
            ]),
            Step::Doc => command
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
            Step::Package => {
                // --allow-dirty: packaging checks the tree as it is, committed or not.
                command.args(["package", "--workspace", "--locked", "--allow-dirty"]);
                for name in unpublished() {
                    command.args(["--exclude", &name]);
                }
                &mut command
            }
            Step::BuildEmulator => command.args([
                "build",
                "--release",
                "--locked",
                "--package",
                "buildkite-emulator",
                "--package",
                "github-actions-emulator",
                "--package",
                "gitlab-emulator",
                "--package",
                "buildrunner-replicas",
            ]),
            Step::Bench(args) => command
                .args([
                    "bench",
                    "--locked",
                    "--package",
                    "buildrunner-bench",
                    "--bench",
                    "throughput",
                    "--",
                ])
                .args(args)
                .env(
                    "BUILDRUNNER_BENCH_BUILDKITE_EMULATOR",
                    target_dir().join("release").join("buildkite-emulator"),
                )
                .env(
                    "BUILDRUNNER_BENCH_GITHUB_EMULATOR",
                    target_dir().join("release").join("github-actions-emulator"),
                )
                .env(
                    "BUILDRUNNER_BENCH_GITLAB_EMULATOR",
                    target_dir().join("release").join("gitlab-emulator"),
                )
                .env(
                    "BUILDRUNNER_BENCH_REPLICA",
                    target_dir().join("release").join("buildrunner-replica"),
                ),
        };
        Some(command)
    }
}

/// Installs Debian's `redis-server` when it is not on `$PATH` (sudo only when not root): the
/// replica tests and figures start a real one, and a fresh CI machine has none.
fn ensure_redis() -> Command {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "command -v redis-server >/dev/null 2>&1 && exit 0; \
         echo 'xtask: redis-server is missing; installing the Debian package' >&2; \
         SUDO=; [ \"$(id -u)\" = 0 ] || SUDO=sudo; \
         $SUDO apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null && \
         command -v redis-server",
    ]);
    command
}

fn run_steps(steps: &[Step]) -> Result<(), String> {
    let started = Instant::now();
    for step in steps {
        let step_started = Instant::now();
        eprintln!("xtask: ==> {}", step.name());
        if let Step::Package = step {
            forget_unpacked_packages()?;
        }
        match step {
            Step::Conformance(args) => conformance_matrix(Matrix::Checks, args)?,
            Step::FaultMatrix => conformance_matrix(Matrix::Faults, &ConformanceArgs::default())?,
            Step::OutOfTree => out_of_tree()?,
            step => {
                let Some(mut command) = step.command() else {
                    return Err(format!("step {} has no command", step.name()));
                };
                command.current_dir(project_root());
                let status = command
                    .status()
                    .map_err(|e| format!("step {} could not start: {e}", step.name()))?;
                if !status.success() {
                    return Err(format!("step {} failed ({status})", step.name()));
                }
            }
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

/// `cargo package` unpacks the packages it verifies the others against into
/// `$CARGO_HOME/registry/src/-<hash of the target dir>/` and reuses a copy of the same name
/// and version from an earlier run, even when the crate has changed since (a new module then
/// "does not exist"). Removing our crates' copies first makes each run verify the tree as it is.
fn forget_unpacked_packages() -> Result<(), String> {
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(()); // nothing unpacked yet
    };
    for registry in registries.flatten() {
        // Local registries are named `-<hash>`; crates.io's copies are left alone.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let unpacked = std::fs::read_dir(registry.path()).into_iter().flatten();
        for copy in unpacked.flatten() {
            if copy
                .file_name()
                .to_string_lossy()
                .starts_with("buildrunner-")
            {
                std::fs::remove_dir_all(copy.path()).map_err(|e| {
                    format!(
                        "cannot remove the stale copy {}: {e}",
                        copy.path().display()
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// The cargo that runs this xtask, so the pinned toolchain is used throughout.
/// The cargo that runs the xtask. On CI (`$CI` set) without incremental compilation unless
/// `$CARGO_INCREMENTAL` says otherwise: a run from a clean clone never reuses the incremental
/// cache, which was a fifth of its target directory.
fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    if env::var_os("CI").is_some() && env::var_os("CARGO_INCREMENTAL").is_none() {
        command.env("CARGO_INCREMENTAL", "0");
    }
    command
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR`, else `target/` in the project.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                project_root().join(dir)
            }
        })
        .unwrap_or_else(|| project_root().join("target"))
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What a run of the backends' `conformance` targets is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matrix {
    /// Every check of the suite (the fault-matrix trials skipped).
    Checks,
    /// Only the fault-matrix trials.
    Faults,
}

/// The workspace packages that have a test target named `conformance`, from `cargo metadata`:
/// a backend joins the matrix by having one, and nothing here names a backend.
fn conformance_packages() -> Result<Vec<String>, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(project_root())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed what is not JSON: {e}"))?;
    let packages = metadata["packages"].as_array().into_iter().flatten();
    let mut found: Vec<String> = packages
        .filter(|package| {
            let targets = package["targets"].as_array().into_iter().flatten();
            targets
                .into_iter()
                .any(|t| t["name"] == "conformance" && t["kind"][0] == "test")
        })
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err("no workspace package has a `conformance` test target".into());
    }
    Ok(found)
}

/// Runs every workspace package's `conformance` target (each prints its own columns and
/// writes a report), then prints one summary over all of them.
fn conformance_matrix(matrix: Matrix, args: &ConformanceArgs) -> Result<(), String> {
    let packages = conformance_packages()?;
    eprintln!("xtask: conformance targets in {}", packages.join(", "));
    let reports = target_dir().join("conformance-reports");
    if reports.exists() {
        std::fs::remove_dir_all(&reports)
            .map_err(|e| format!("cannot clear {}: {e}", reports.display()))?;
    }
    // `--workspace` like the test step, so cargo reuses its build (same features); every
    // binary runs even when one fails, so the matrix is whole.
    let mut command = cargo();
    command
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .args(["--test", "conformance", "--"])
        .current_dir(project_root())
        .env("BUILDRUNNER_CONFORMANCE_REPORT_DIR", &reports)
        .env(
            "BUILDRUNNER_CONFORMANCE_BACKEND",
            args.backend.as_deref().unwrap_or(""),
        )
        .env(
            "BUILDRUNNER_CONFORMANCE_LIVE",
            if args.live { "1" } else { "0" },
        );
    match matrix {
        Matrix::Checks => command.args(["--skip", "fault_matrix"]),
        Matrix::Faults => command.arg("fault_matrix"),
    };
    command.args(&args.passthrough);
    let tests = command
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;

    let mut summary = cargo();
    summary
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "buildrunner-conformance",
        ])
        .args(["--example", "conformance_summary", "--"])
        .arg(match matrix {
            Matrix::Checks => "checks",
            Matrix::Faults => "faults",
        })
        .arg(&reports)
        .args(&packages)
        .current_dir(project_root());
    if let Some(backend) = &args.backend {
        summary.args(["--backend", backend]);
    }
    let summarized = summary
        .status()
        .map_err(|e| format!("cannot run the conformance summary: {e}"))?;
    match (tests.success(), summarized.success()) {
        (true, true) => Ok(()),
        (false, _) => Err(format!("a conformance target failed ({tests})")),
        (true, false) => Err("the conformance summary found problems (above)".into()),
    }
}

/// Where the out-of-tree example lives in this repository.
const OUT_OF_TREE_EXAMPLE: &str = "examples/out-of-tree-backend";

/// Builds `examples/out-of-tree-backend` as a repository of its own would, against the
/// crates `cargo package` just made: a scratch copy of it gets a `[patch.crates-io]` that
/// points at those packages (never committed), then its tests, conformance suite and fault
/// matrix run, and its `buildrunner` binary must list its backend.
fn out_of_tree() -> Result<(), String> {
    let scratch = target_dir().join("out-of-tree");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(|e| format!("cannot clear {}: {e}", scratch.display()))?;
    }
    let unpacked = scratch.join("crates");
    let repo = scratch.join("repo");
    std::fs::create_dir_all(&unpacked)
        .map_err(|e| format!("cannot create {}: {e}", unpacked.display()))?;
    let patches = unpack_packages(&unpacked)?;
    copy_tree(&project_root().join(OUT_OF_TREE_EXAMPLE), &repo)?;
    let manifest = repo.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    text.push_str(
        "\n# Written by `cargo xtask out-of-tree`: the crates just packaged.\n[patch.crates-io]\n",
    );
    for (name, path) in &patches {
        text.push_str(&format!(
            "{name} = {{ path = {:?} }}\n",
            path.display().to_string()
        ));
    }
    std::fs::write(&manifest, text)
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    // The versions this workspace was tested with, so the example resolves (and, sharing the
    // target directory, compiles) the same third-party crates.
    std::fs::copy(project_root().join("Cargo.lock"), repo.join("Cargo.lock"))
        .map_err(|e| format!("cannot seed the example's Cargo.lock: {e}"))?;

    let in_example = |args: &[&str]| {
        let mut command = cargo();
        command
            .args(args)
            .arg("--manifest-path")
            .arg(&manifest)
            .current_dir(&repo)
            .env("CARGO_TARGET_DIR", target_dir())
            .env_remove("BUILDRUNNER_CONFORMANCE_REPORT_DIR")
            .env_remove("BUILDRUNNER_CONFORMANCE_BACKEND")
            .env_remove("BUILDRUNNER_CONFORMANCE_LIVE");
        command
    };
    let status = in_example(&["test", "--workspace"])
        .status()
        .map_err(|e| format!("cannot run cargo test in the example: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the example's tests, suite or fault matrix failed ({status})"
        ));
    }
    let output = in_example(&["run", "--quiet", "--bin", "buildrunner"])
        .args(["--", "--output", "json", "backends"])
        .output()
        .map_err(|e| format!("cannot run the example's buildrunner: {e}"))?;
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "the example's `buildrunner backends` printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let names: Vec<&str> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|backend| backend["name"].as_str())
        .collect();
    if names != ["woodpecker"] {
        return Err(format!(
            "the example's `buildrunner backends` lists {names:?}, expected [\"woodpecker\"]"
        ));
    }
    eprintln!("xtask: the example's buildrunner lists {names:?}");
    Ok(())
}

/// Unpacks every `buildrunner-*.crate` that `cargo package` left in `target/package` into
/// `into`; returns each crate's name and unpacked directory.
fn unpack_packages(into: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let packaged = target_dir().join("package");
    let entries = std::fs::read_dir(&packaged).map_err(|e| {
        format!(
            "no packages in {} ({e}): run `cargo xtask package` first",
            packaged.display()
        )
    })?;
    let mut patches = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".crate") else {
            continue;
        };
        let Some((name, _version)) = stem.rsplit_once('-') else {
            continue;
        };
        if !name.starts_with("buildrunner-") {
            continue;
        }
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(entry.path())
            .arg("-C")
            .arg(into)
            .status()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        if !status.success() {
            return Err(format!("tar could not unpack {file} ({status})"));
        }
        patches.push((name.to_owned(), into.join(stem)));
    }
    if patches.is_empty() {
        return Err(format!(
            "no buildrunner packages in {}: run `cargo xtask package` first",
            packaged.display()
        ));
    }
    patches.sort();
    Ok(patches)
}

/// Copies a directory tree, leaving out build output and lock files.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_tree(&source, &destination)?;
        } else {
            std::fs::copy(&source, &destination)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
    }
    Ok(())
}
