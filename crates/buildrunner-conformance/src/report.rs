//! What a conformance run found, as lines a person reads (one backend's column) and as a
//! file `cargo xtask` reads to print one matrix over every backend.
//!
//! The file holds one record a line, fields separated by tabs (tabs and line breaks inside a
//! field become spaces):
//!
//! ```text
//! column  <label>  <backend>  run|filtered
//! check   <label>  <check>    pass|fail|skip  <why>
//! fault   <label>  <fault>    <verb>/<mode>   <expected>  pass|fail  <why>
//! ```

use std::io::Write;
use std::path::Path;

use crate::CHECKS;
use crate::faults;

/// What one check concluded in one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// It passed.
    Pass,
    /// It failed, and why.
    Fail(String),
    /// It did not apply, and why (the capability that is not declared).
    Skip(String),
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A column the test binary knows, and whether it ran.
    Column {
        /// Its label, e.g. `acme-ci graphql`.
        label: String,
        /// The registered backend it tests.
        backend: String,
        /// Whether it ran (`false`: filtered out by backend or liveness).
        run: bool,
    },
    /// A check's outcome in a column.
    Check {
        /// The column's label.
        column: String,
        /// The check's name.
        check: String,
        /// What it concluded.
        cell: Cell,
    },
    /// A cell of a column's fault matrix.
    Fault {
        /// The column's label.
        column: String,
        /// The fault's name.
        fault: String,
        /// `Status/Once` and the like.
        call: String,
        /// What the cell had to end with.
        expected: String,
        /// What went wrong, if anything.
        problem: Option<String>,
    },
}

impl Record {
    pub(crate) fn fault(column: &str, cell: &faults::Cell) -> Record {
        Record::Fault {
            column: column.to_owned(),
            fault: cell.fault.to_owned(),
            call: format!("{:?}/{:?}", cell.verb, cell.mode),
            expected: cell.expected.to_string(),
            problem: cell.problem.clone(),
        }
    }

    /// The record as one line of the report file, without the line break.
    pub fn to_line(&self) -> String {
        let fields: Vec<&str> = match self {
            Record::Column {
                label,
                backend,
                run,
            } => vec![
                "column",
                label,
                backend,
                if *run { "run" } else { "filtered" },
            ],
            Record::Check {
                column,
                check,
                cell,
            } => {
                let (word, why) = match cell {
                    Cell::Pass => ("pass", ""),
                    Cell::Fail(why) => ("fail", why.as_str()),
                    Cell::Skip(why) => ("skip", why.as_str()),
                };
                vec!["check", column, check, word, why]
            }
            Record::Fault {
                column,
                fault,
                call,
                expected,
                problem,
            } => vec![
                "fault",
                column,
                fault,
                call,
                expected,
                if problem.is_some() { "fail" } else { "pass" },
                problem.as_deref().unwrap_or(""),
            ],
        };
        fields
            .iter()
            .map(|field| field.replace(['\t', '\n', '\r'], " "))
            .collect::<Vec<_>>()
            .join("\t")
    }
}

/// Reads one line of a report file; `None` for a line of no known shape.
pub fn parse_line(line: &str) -> Option<Record> {
    let fields: Vec<&str> = line.split('\t').collect();
    let owned = |i: usize| fields.get(i).map(|f| (*f).to_owned());
    let why = |i: usize| owned(i).unwrap_or_default();
    match *fields.first()? {
        "column" => Some(Record::Column {
            label: owned(1)?,
            backend: owned(2)?,
            run: fields.get(3)? == &"run",
        }),
        "check" => Some(Record::Check {
            column: owned(1)?,
            check: owned(2)?,
            cell: match *fields.get(3)? {
                "pass" => Cell::Pass,
                "fail" => Cell::Fail(why(4)),
                "skip" => Cell::Skip(why(4)),
                _ => return None,
            },
        }),
        "fault" => Some(Record::Fault {
            column: owned(1)?,
            fault: owned(2)?,
            call: owned(3)?,
            expected: owned(4)?,
            problem: match *fields.get(5)? {
                "pass" => None,
                "fail" => Some(why(6)),
                _ => return None,
            },
        }),
        _ => None,
    }
}

/// Writes `records` into `dir`, in a file named after the package under test (cargo sets
/// `CARGO_PKG_NAME` for the test binaries it runs).
pub(crate) fn write(dir: &Path, records: &[Record]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "conformance".to_owned());
    let mut file = std::fs::File::create(dir.join(format!("{name}.tsv")))?;
    for record in records {
        writeln!(file, "{}", record.to_line())?;
    }
    file.flush()
}

/// Prints the columns that ran as a matrix of checks, then why each cell failed or was
/// skipped, then the totals; returns how many cells failed.
pub fn print_matrix(records: &[Record]) -> usize {
    let columns: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Column {
                label, run: true, ..
            } => Some(label.as_str()),
            _ => None,
        })
        .collect();
    let cell = |column: &str, check: &str| {
        records.iter().find_map(|r| match r {
            Record::Check {
                column: c,
                check: k,
                cell,
            } if c == column && k == check => Some(cell),
            _ => None,
        })
    };
    let width = CHECKS.iter().map(|c| c.name.len()).max().unwrap_or(10) + 2;
    let column_width = columns.iter().map(|c| c.len()).max().unwrap_or(4).max(6) + 2;
    println!("\nconformance matrix (pass / FAIL / skip; - = filtered out)");
    print!("{:width$}", "check");
    for column in &columns {
        print!("{column:column_width$}");
    }
    println!();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut notes = Vec::new();
    for check in CHECKS {
        print!("{:width$}", check.name);
        for column in &columns {
            let text = match cell(column, check.name) {
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
    failed
}

/// What [`summarize`] sums up: the checks, or the fault matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// One matrix of every check over every column.
    Checks,
    /// The fault matrices' total (each test binary printed its own table).
    Faults,
}

/// Reads the report of every package in `packages` from `dir` (as [`REPORT_DIR_VAR`]
/// made them write it) and prints one summary over all of them. `only` is the backend the
/// run was limited to.
///
/// # Errors
///
/// A sentence for each thing that makes the run a failure: a package that wrote no report
/// (its test binary did not run to the end), a backend asked for that no package has, a
/// failed cell, or nothing run at all.
///
/// [`REPORT_DIR_VAR`]: crate::REPORT_DIR_VAR
pub fn summarize(
    dir: &Path,
    packages: &[String],
    only: Option<&str>,
    summary: Summary,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut records = Vec::new();
    for package in packages {
        let path = dir.join(format!("{package}.tsv"));
        match std::fs::read_to_string(&path) {
            Ok(text) => records.extend(text.lines().filter_map(parse_line)),
            Err(e) => problems.push(format!(
                "package {package} wrote no report to {} ({e}): its conformance target did not \
                 run to the end",
                path.display()
            )),
        }
    }
    let mut backends: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Column { backend, .. } => Some(backend.as_str()),
            _ => None,
        })
        .collect();
    backends.sort_unstable();
    backends.dedup();
    if let Some(only) = only
        && !backends.contains(&only)
    {
        problems.push(format!(
            "no package tests a backend {only:?}; they test: {}",
            backends.join(", ")
        ));
    }
    let failed = match summary {
        Summary::Checks => print_matrix(&records),
        Summary::Faults => print_fault_totals(&records),
    };
    if failed > 0 {
        problems.push(format!("{failed} cells failed"));
    }
    let ran = records.iter().any(|r| match summary {
        Summary::Checks => matches!(r, Record::Check { .. }),
        Summary::Faults => matches!(r, Record::Fault { .. }),
    });
    if !ran && problems.is_empty() {
        problems.push("nothing ran".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Prints the total of every fault matrix; returns how many cells failed.
fn print_fault_totals(records: &[Record]) -> usize {
    let mut columns: Vec<&str> = Vec::new();
    let (mut cells, mut failed) = (0, 0);
    for record in records {
        if let Record::Fault {
            column, problem, ..
        } = record
        {
            cells += 1;
            failed += usize::from(problem.is_some());
            if !columns.contains(&column.as_str()) {
                columns.push(column);
            }
        }
    }
    println!(
        "fault matrix: {cells} cells over {} backends ({}), {failed} failed",
        columns.len(),
        columns.join(", ")
    );
    failed
}
