//! `Suite::run_with` as a backend's `tests/conformance.rs` calls it: checks the backend does
//! not declare are skipped with the capability's name, the usual filters apply (`--ignored`
//! runs only the skipped trials here, so nothing in this test fails a check), and a backend
//! that is not in the registry fails the run.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use async_trait::async_trait;
use buildrunner_api::Capabilities;
use buildrunner_conformance::report::{Cell, Record, parse_line};
use buildrunner_conformance::{CHECKS, Environment, Harness, Suite};

/// A backend nobody registered, whose environments cannot be prepared.
struct Unprepared;

#[async_trait]
impl Harness for Unprepared {
    fn backend(&self) -> &'static str {
        "unregistered"
    }
    fn describe(&self) -> String {
        "nothing".into()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        Err("no environment here".into())
    }
}

#[test]
fn skipped_checks_are_reported_with_the_capability_and_an_unregistered_backend_fails() {
    let dir = tempfile::tempdir().unwrap();
    let args = libtest_mimic::Arguments::from_iter(["suite_entry", "--ignored"]);
    let code = Suite::new()
        .harness(Unprepared)
        .report_to(dir.path())
        .run_with(args);
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::FAILURE)
    );

    let name = std::env::var("CARGO_PKG_NAME").unwrap();
    let text = std::fs::read_to_string(dir.path().join(format!("{name}.tsv"))).unwrap();
    let records: Vec<Record> = text.lines().map(|l| parse_line(l).unwrap()).collect();
    assert_eq!(
        records[0],
        Record::Column {
            label: "unregistered".into(),
            backend: "unregistered".into(),
            run: true,
        }
    );
    let cell = |name: &str| {
        records.iter().find_map(|r| match r {
            Record::Check { check, cell, .. } if check == name => Some(cell.clone()),
            _ => None,
        })
    };
    assert_eq!(
        cell("metadata_round_trips"),
        Some(Cell::Skip(
            "capability metadata_round_trip is not declared".into()
        ))
    );
    assert_eq!(
        cell("block_is_never_green_and_cancel_ends_it"),
        Some(Cell::Skip(
            "capability outcome_markers is not declared; capability cancel_observable is not declared"
                .into()
        ))
    );
    // Checks that need nothing were filtered out by `--ignored`: no cell, never a pass.
    assert_eq!(cell("unknown_build_is_not_found"), None);
    let skipped = CHECKS
        .iter()
        .filter(|c| c.skip_reason(&Unprepared).is_some())
        .count();
    let cells = records
        .iter()
        .filter(|r| matches!(r, Record::Check { .. }))
        .count();
    assert_eq!(cells, skipped, "one cell per skipped check");
}
