//! Runs the fault matrix against every registered HTTP backend and prints it, one table per
//! backend. `cargo xtask faults` (and `cargo xtask ci`) run it.

use std::process::ExitCode;
use std::sync::Arc;

use buildrunner_conformance::faults::{FAULTS, VERBS, fault_harnesses, print_matrix, run_matrix};

// The one place this binary links its HTTP backends, so their fault harnesses are collected.
mod harnesses;

/// The backends whose fault harnesses must be registered; a forgotten link line fails loudly.
const EXPECTED: &[&str] = &["buildkite", "github-actions", "gitlab"];

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fault matrix: could not start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let harnesses = fault_harnesses();
    let backends: Vec<&str> = harnesses.iter().map(|h| h.backend()).collect();
    if backends != EXPECTED {
        eprintln!("fault matrix: harnesses registered for {backends:?}, expected {EXPECTED:?}");
        return ExitCode::FAILURE;
    }
    let mut failed = 0;
    for harness in harnesses {
        let backend = harness.backend();
        let cells = runtime.block_on(run_matrix(Arc::from(harness)));
        failed += print_matrix(backend, &cells);
    }
    let total = backends.len() * FAULTS.len() * VERBS.len() * 2;
    println!(
        "fault matrix: {total} cells over {} backends, {failed} failed",
        backends.len()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
