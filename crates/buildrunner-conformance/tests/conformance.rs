//! Runs every conformance check against every registered backend and prints the matrix.
//!
//! Run it with `cargo xtask conformance [--backend NAME] [--live]`, which sets
//! `BUILDRUNNER_CONFORMANCE_BACKEND` and `BUILDRUNNER_CONFORMANCE_LIVE`. Trials are named
//! `[backend] check`, so the usual test filters work after `--`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use buildrunner_api::registry;
use buildrunner_conformance::{CHECKS, Harness, harnesses};
use libtest_mimic::{Arguments, Trial};

// The one place this binary links its backends: their registrations and harnesses are only
// collected from crates something references.
mod harnesses;

/// The backends this binary must see registered; a forgotten link line fails loudly.
const EXPECTED_BACKENDS: &[&str] = &["buildkite", "github-actions", "gitlab", "noop"];

#[derive(Debug, Clone)]
enum Cell {
    Pass,
    Fail(String),
    Skip(String),
}

type Results = Arc<Mutex<BTreeMap<(String, &'static str), Cell>>>;

fn record(results: &Results, column: &str, check: &'static str, cell: Cell) {
    results
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert((column.to_owned(), check), cell);
}

/// A backend's column of the matrix: its name and its harness, or why it has none.
type Column = (String, Result<Arc<dyn Harness>, String>);

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let only = std::env::var("BUILDRUNNER_CONFORMANCE_BACKEND")
        .ok()
        .filter(|v| !v.is_empty());
    let live = std::env::var("BUILDRUNNER_CONFORMANCE_LIVE").is_ok_and(|v| v == "1");

    let registered: Vec<&'static str> = match registry::backends() {
        Ok(backends) => backends.iter().map(|b| b.name).collect(),
        Err(e) => {
            eprintln!("conformance: the registry is inconsistent: {e}");
            return ExitCode::FAILURE;
        }
    };
    if registered != EXPECTED_BACKENDS {
        eprintln!(
            "conformance: registered backends are {registered:?}, expected {EXPECTED_BACKENDS:?}"
        );
        return ExitCode::FAILURE;
    }
    if let Some(only) = &only
        && !registered.contains(&only.as_str())
    {
        eprintln!(
            "conformance: no backend {only:?} is registered; registered: {}",
            registered.join(", ")
        );
        return ExitCode::FAILURE;
    }

    let mut problems = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    for backend in registered
        .iter()
        .filter(|b| only.as_deref().is_none_or(|o| o == **b))
    {
        let mine: Vec<_> = harnesses()
            .into_iter()
            .filter(|h| h.backend == *backend)
            .collect();
        if !mine.iter().any(|h| !h.live) {
            problems.push(format!(
                "backend {backend:?} is registered but ships no conformance harness"
            ));
        }
        for registration in mine.into_iter().filter(|h| live || !h.live) {
            let label = if registration.live {
                format!("{backend} live")
            } else {
                (*backend).to_owned()
            };
            columns.push((label, (registration.make)().map(Arc::from)));
        }
    }

    let results: Results = Arc::default();
    let mut trials = Vec::new();
    for (label, harness) in &columns {
        for check in CHECKS {
            let name = format!("[{label}] {}", check.name);
            let skip = match harness {
                Err(reason) => Some(format!("harness unavailable: {reason}")),
                Ok(harness) => check.skip_reason(harness.as_ref()),
            };
            match (skip, harness) {
                (Some(reason), _) => {
                    record(&results, label, check.name, Cell::Skip(reason));
                    trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                }
                (None, Ok(harness)) => {
                    let (harness, results, label) =
                        (Arc::clone(harness), Arc::clone(&results), label.clone());
                    trials.push(Trial::test(name, move || {
                        let outcome = tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(2)
                            .enable_all()
                            .build()
                            .map_err(|e| format!("could not start a runtime: {e}"))
                            .and_then(|runtime| {
                                runtime.block_on(check.run_against(harness.as_ref()))
                            });
                        let cell = match &outcome {
                            Ok(()) => Cell::Pass,
                            Err(e) => Cell::Fail(e.clone()),
                        };
                        record(&results, &label, check.name, cell);
                        outcome.map_err(Into::into)
                    }));
                }
                (None, Err(_)) => unreachable!("an unavailable harness always has a skip reason"),
            }
        }
    }

    let conclusion = libtest_mimic::run(&args, trials);
    let results = results
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    print_matrix(
        &columns
            .iter()
            .map(|(label, _)| label.as_str())
            .collect::<Vec<_>>(),
        &results,
    );
    for problem in &problems {
        eprintln!("conformance: {problem}");
    }
    if conclusion.has_failed() || !problems.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_matrix(columns: &[&str], results: &BTreeMap<(String, &'static str), Cell>) {
    let width = CHECKS.iter().map(|c| c.name.len()).max().unwrap_or(10) + 2;
    let column_width = columns.iter().map(|c| c.len()).max().unwrap_or(4).max(6) + 2;
    println!("\nconformance matrix (pass / FAIL / skip; - = filtered out)");
    print!("{:width$}", "check");
    for column in columns {
        print!("{column:column_width$}");
    }
    println!();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut notes = Vec::new();
    for check in CHECKS {
        print!("{:width$}", check.name);
        for column in columns {
            let text = match results.get(&((*column).to_owned(), check.name)) {
                Some(Cell::Pass) => {
                    passed += 1;
                    "pass"
                }
                Some(Cell::Fail(why)) => {
                    failed += 1;
                    notes.push(format!("FAIL [{column}] {}: {why}", check.name));
                    "FAIL"
                }
                Some(Cell::Skip(why)) => {
                    skipped += 1;
                    notes.push(format!("skip [{column}] {}: {why}", check.name));
                    "skip"
                }
                None => "-",
            };
            print!("{text:column_width$}");
        }
        println!();
    }
    for note in notes {
        println!("  {note}");
    }
    println!("conformance: {passed} passed, {failed} failed, {skipped} skipped");
}
