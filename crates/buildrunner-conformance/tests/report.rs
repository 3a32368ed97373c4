//! The report a test binary writes for `cargo xtask`, and the one summary made of them.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use buildrunner_conformance::report::{Cell, Record, Summary, parse_line, summarize};

fn check(column: &str, check: &str, cell: Cell) -> Record {
    Record::Check {
        column: column.into(),
        check: check.into(),
        cell,
    }
}

#[test]
fn every_record_survives_a_line_and_a_tab_in_a_reason_cannot_split_it() {
    let records = [
        Record::Column {
            label: "acme graphql".into(),
            backend: "acme".into(),
            run: true,
        },
        Record::Column {
            label: "acme live".into(),
            backend: "acme".into(),
            run: false,
        },
        check("acme", "fail_marker_fails", Cell::Pass),
        check(
            "acme",
            "metadata_round_trips",
            Cell::Skip("capability metadata_round_trip is not declared".into()),
        ),
        Record::Fault {
            column: "acme".into(),
            fault: "503".into(),
            call: "Status/Always".into(),
            expected: "unavailable".into(),
            problem: None,
        },
    ];
    for record in &records {
        assert_eq!(parse_line(&record.to_line()).as_ref(), Some(record));
    }
    let broken = check("acme", "x", Cell::Fail("one\ttwo\nthree".into()));
    assert_eq!(
        parse_line(&broken.to_line()),
        Some(check("acme", "x", Cell::Fail("one two three".into())))
    );
    assert_eq!(parse_line("check\tacme\tx\tmaybe\t"), None);
    assert_eq!(parse_line("nonsense"), None);
}

fn write(dir: &std::path::Path, package: &str, records: &[Record]) {
    let text: String = records.iter().map(|r| r.to_line() + "\n").collect();
    std::fs::write(dir.join(format!("{package}.tsv")), text).unwrap();
}

#[test]
fn the_summary_fails_on_a_failed_cell_a_missing_report_and_an_unknown_backend() {
    let dir = tempfile::tempdir().unwrap();
    let column = Record::Column {
        label: "acme".into(),
        backend: "acme".into(),
        run: true,
    };
    write(
        dir.path(),
        "acme-backend",
        &[
            column.clone(),
            check("acme", "fail_marker_fails", Cell::Pass),
        ],
    );
    let packages = vec!["acme-backend".to_owned()];
    assert_eq!(
        summarize(dir.path(), &packages, None, Summary::Checks),
        Ok(())
    );
    assert_eq!(
        summarize(dir.path(), &packages, Some("acme"), Summary::Checks),
        Ok(())
    );

    let unknown = summarize(dir.path(), &packages, Some("other"), Summary::Checks).unwrap_err();
    assert_eq!(
        unknown,
        ["no package tests a backend \"other\"; they test: acme"]
    );

    let missing = vec!["acme-backend".to_owned(), "silent-backend".to_owned()];
    let problems = summarize(dir.path(), &missing, None, Summary::Checks).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("package silent-backend wrote no report"));

    // No fault cells at all is a run that proved nothing.
    let nothing = summarize(dir.path(), &packages, None, Summary::Faults).unwrap_err();
    assert_eq!(nothing, ["nothing ran"]);

    write(
        dir.path(),
        "acme-backend",
        &[
            column,
            check(
                "acme",
                "fail_marker_fails",
                Cell::Fail("ended Succeeded".into()),
            ),
        ],
    );
    let failed = summarize(dir.path(), &packages, None, Summary::Checks).unwrap_err();
    assert_eq!(failed, ["1 cells failed"]);
}
