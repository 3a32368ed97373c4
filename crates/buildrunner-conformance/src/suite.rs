//! The entry point a backend's own test target calls: the columns it proves, run as
//! libtest-mimic trials named `[column] check`, then the column printed (or reported to
//! `cargo xtask`, which prints one matrix over every backend).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use buildrunner_api::registry;
use libtest_mimic::{Arguments, Trial};

use crate::faults::{self, FaultHarness};
use crate::report::{self, Cell, Record};
use crate::{CHECKS, EmulatedBackend, EmulatorHarness, Harness, LiveHarness};

/// The name of the one trial per HTTP backend that runs its whole fault matrix.
pub const FAULT_MATRIX_TRIAL: &str = "fault_matrix";

/// Environment variable: run only the columns of this backend (`cargo xtask conformance
/// --backend NAME` sets it).
pub const BACKEND_VAR: &str = "BUILDRUNNER_CONFORMANCE_BACKEND";
/// Environment variable: `1` adds the live columns (`--live`).
pub const LIVE_VAR: &str = "BUILDRUNNER_CONFORMANCE_LIVE";
/// Environment variable: a directory the results are written into, one file per test
/// binary, for `cargo xtask` to print as one matrix.
pub const REPORT_DIR_VAR: &str = "BUILDRUNNER_CONFORMANCE_REPORT_DIR";

enum Source {
    Harness(Arc<dyn Harness>),
    Emulated {
        backend: EmulatedBackend,
        faults: bool,
    },
    Live(fn() -> Result<LiveHarness, String>),
}

struct Column {
    label: String,
    backend: &'static str,
    source: Source,
}

/// The columns one backend's test target proves, and the call that runs them.
///
/// A backend crate's `tests/conformance.rs` (declared with `harness = false`) is a `main`
/// that names its columns and calls [`Suite::run`]:
///
/// ```no_run
/// use std::process::ExitCode;
/// use buildrunner_api::Capabilities;
/// use buildrunner_conformance::{EmulatedBackend, Suite};
///
/// const EMULATED: EmulatedBackend = EmulatedBackend {
///     backend: "acme-ci",
///     capabilities: Capabilities::NONE,
///     unkeyed_triggers_are_keyed: false,
///     cancel_reads_its_answer: false,
///     // Starts the backend's emulator in this process.
///     start_emulator: || Box::pin(async { Err("start your emulator here".to_owned()) }),
///     // Makes runners of the backend against the emulator's URL.
///     runners: |_api_url, _http| Err("make your runners here".to_owned()),
///     id_prefix: "acme/app",
/// };
///
/// fn main() -> ExitCode {
///     Suite::new().emulated(EMULATED).run()
/// }
/// ```
///
/// `cargo test --test conformance` then runs every check as a trial named
/// `[acme-ci] default_outcome_succeeds` (the usual filters work after `--`), the fault
/// matrix as `[acme-ci] fault_matrix`, and prints the backend's column and fault table.
/// Checks the backend does not declare the capability for are reported skipped with the
/// capability's name. The run fails when any trial fails, or when a column's backend is
/// not in the registry of the test binary (its `inventory::submit!` is missing).
#[derive(Default)]
pub struct Suite {
    columns: Vec<Column>,
    report_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.columns.iter().map(|c| &c.label))
            .finish()
    }
}

impl Suite {
    /// A suite with no columns yet.
    pub fn new() -> Self {
        Suite::default()
    }

    /// A column for a backend tested against its in-process emulator, labelled with the
    /// backend's name: the checks, and the fault matrix.
    pub fn emulated(mut self, backend: EmulatedBackend) -> Self {
        self.columns.push(Column {
            label: backend.backend.to_owned(),
            backend: backend.backend,
            source: Source::Emulated {
                backend,
                faults: true,
            },
        });
        self
    }

    /// Another configuration of an emulated backend (a batched status through another API, say),
    /// labelled `"{backend} {variant}"`: the checks only, since the fault matrix runs once a
    /// backend.
    pub fn variant(mut self, variant: &str, backend: EmulatedBackend) -> Self {
        self.columns.push(Column {
            label: format!("{} {variant}", backend.backend),
            backend: backend.backend,
            source: Source::Emulated {
                backend,
                faults: false,
            },
        });
        self
    }

    /// A column for a harness of the backend's own making (a backend without HTTP, say).
    pub fn harness(mut self, harness: impl Harness + 'static) -> Self {
        self.columns.push(Column {
            label: harness.backend().to_owned(),
            backend: harness.backend(),
            source: Source::Harness(Arc::new(harness)),
        });
        self
    }

    /// A column against the live CI, run only when asked (`--live`,
    /// [`LIVE_VAR`]` = 1`); `make` says which variables to set when it cannot run.
    pub fn live(
        mut self,
        backend: &'static str,
        make: fn() -> Result<LiveHarness, String>,
    ) -> Self {
        self.columns.push(Column {
            label: format!("{backend} live"),
            backend,
            source: Source::Live(make),
        });
        self
    }

    /// Writes the results into `dir` (one file, named after the package under test) instead
    /// of printing the column: what [`REPORT_DIR_VAR`] asks for, as `cargo xtask` sets it.
    pub fn report_to(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.report_dir = Some(dir.into());
        self
    }

    /// Runs the columns with this process's arguments (`cargo test`'s filters) and returns
    /// the exit code for `main`.
    pub fn run(self) -> ExitCode {
        self.run_with(Arguments::from_args())
    }

    /// Runs the columns with these arguments.
    pub fn run_with(self, args: Arguments) -> ExitCode {
        let only = std::env::var(BACKEND_VAR).ok().filter(|v| !v.is_empty());
        let live = std::env::var(LIVE_VAR).is_ok_and(|v| v == "1");
        let mut records = Vec::new();
        let mut problems = unregistered(&self.columns);
        let mut prepared = Vec::new();
        for column in self.columns {
            let chosen = only.as_deref().is_none_or(|o| o == column.backend);
            let wanted = chosen && (live || !matches!(column.source, Source::Live(_)));
            records.push(Record::Column {
                label: column.label.clone(),
                backend: column.backend.to_owned(),
                run: wanted,
            });
            if wanted {
                prepared.push(Prepared::new(column));
            }
        }
        let results = Results::default();
        let trials: Vec<Trial> = prepared.iter().flat_map(|p| p.trials(&results)).collect();
        let conclusion = libtest_mimic::run(&args, trials);
        let results = results.take();
        records.extend(
            results
                .checks
                .into_iter()
                .map(|((column, check), cell)| Record::Check {
                    column,
                    check: check.to_owned(),
                    cell,
                }),
        );
        for (column, cells) in &results.faults {
            faults::print_matrix(column, cells);
            records.extend(cells.iter().map(|cell| Record::fault(column, cell)));
        }
        let report_dir = self
            .report_dir
            .or_else(|| std::env::var_os(REPORT_DIR_VAR).map(Into::into));
        match report_dir {
            Some(dir) => {
                if let Err(e) = report::write(&dir, &records) {
                    problems.push(format!(
                        "could not write the report into {}: {e}",
                        dir.display()
                    ));
                }
            }
            None => {
                report::print_matrix(&records);
            }
        }
        for problem in &problems {
            eprintln!("conformance: {problem}");
        }
        if conclusion.has_failed() || !problems.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// A problem for every column whose backend the registry does not know: a backend that
/// forgot its `inventory::submit!` cannot be chosen by name from a configuration.
fn unregistered(columns: &[Column]) -> Vec<String> {
    let registered: Vec<&str> = match registry::backends() {
        Ok(backends) => backends.iter().map(|b| b.name).collect(),
        Err(e) => return vec![format!("the registry is inconsistent: {e}")],
    };
    let mut problems = Vec::new();
    for column in columns {
        if !registered.contains(&column.backend) {
            problems.push(format!(
                "backend {:?} (column {:?}) is not registered; registered: {}",
                column.backend,
                column.label,
                registered.join(", ")
            ));
        }
    }
    problems.dedup();
    problems
}

/// What the trials record, shared between their threads.
#[derive(Default, Clone)]
struct Results(Arc<Mutex<Collected>>);

#[derive(Default)]
struct Collected {
    checks: BTreeMap<(String, &'static str), Cell>,
    faults: BTreeMap<String, Vec<faults::Cell>>,
}

impl Results {
    fn check(&self, column: &str, check: &'static str, cell: Cell) {
        self.lock().checks.insert((column.to_owned(), check), cell);
    }

    fn faults(&self, column: &str, cells: Vec<faults::Cell>) {
        self.lock().faults.insert(column.to_owned(), cells);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Collected {
        std::mem::take(&mut *self.lock())
    }
}

/// A column's harness, or why it could not be made (a live harness without credentials).
type HarnessOrWhyNot = Result<Arc<dyn Harness>, String>;

/// A column with its harness made (or the reason it could not be).
struct Prepared {
    label: String,
    harness: HarnessOrWhyNot,
    faults: Option<Arc<dyn FaultHarness>>,
}

impl Prepared {
    fn new(column: Column) -> Prepared {
        let (harness, faults): (HarnessOrWhyNot, Option<Arc<dyn FaultHarness>>) =
            match column.source {
                Source::Harness(harness) => (Ok(harness), None),
                Source::Emulated { backend, faults } => (
                    Ok(Arc::new(EmulatorHarness(backend))),
                    faults.then(|| Arc::new(EmulatorHarness(backend)) as Arc<dyn FaultHarness>),
                ),
                Source::Live(make) => (make().map(|h| Arc::new(h) as Arc<dyn Harness>), None),
            };
        Prepared {
            label: column.label,
            harness,
            faults,
        }
    }

    fn trials(&self, results: &Results) -> Vec<Trial> {
        let mut trials: Vec<Trial> = CHECKS
            .iter()
            .map(|check| {
                let name = format!("[{}] {}", self.label, check.name);
                let skip = match &self.harness {
                    Err(reason) => Some(format!("harness unavailable: {reason}")),
                    Ok(harness) => check.skip_reason(harness.as_ref()),
                };
                match (skip, &self.harness) {
                    (None, Ok(harness)) => {
                        let (harness, results, label) =
                            (Arc::clone(harness), results.clone(), self.label.clone());
                        Trial::test(name, move || {
                            let outcome =
                                block_on(check.run_against(harness.as_ref())).and_then(|r| r);
                            let cell = match &outcome {
                                Ok(()) => Cell::Pass,
                                Err(e) => Cell::Fail(e.clone()),
                            };
                            results.check(&label, check.name, cell);
                            outcome.map_err(Into::into)
                        })
                    }
                    (skip, _) => {
                        let reason = skip.unwrap_or_default();
                        results.check(&self.label, check.name, Cell::Skip(reason));
                        Trial::test(name, || Ok(())).with_ignored_flag(true)
                    }
                }
            })
            .collect();
        if let Some(harness) = &self.faults {
            let (harness, results, label) =
                (Arc::clone(harness), results.clone(), self.label.clone());
            let name = format!("[{}] {FAULT_MATRIX_TRIAL}", self.label);
            trials.push(Trial::test(name, move || {
                let cells = block_on(faults::run_matrix(harness))?;
                let failed = cells.iter().filter(|c| c.problem.is_some()).count();
                let total = cells.len();
                results.faults(&label, cells);
                if failed == 0 {
                    Ok(())
                } else {
                    Err(format!("{failed} of {total} fault cells failed").into())
                }
            }));
        }
        trials
    }
}

/// Runs a future on a runtime of its own, as each trial runs on a thread of its own.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(future))
        .map_err(|e| format!("could not start a runtime: {e}"))
}
