//! Prints one summary over the reports that backends' conformance targets wrote, as
//! `cargo xtask conformance` and `cargo xtask faults` do after running them:
//!
//! ```text
//! conformance_summary checks|faults DIR PACKAGE... [--backend NAME]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use buildrunner_conformance::report::{Summary, summarize};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let summary = match args.next().as_deref() {
        Some("checks") => Summary::Checks,
        Some("faults") => Summary::Faults,
        _ => {
            eprintln!("usage: conformance_summary checks|faults DIR PACKAGE... [--backend NAME]");
            return ExitCode::from(2);
        }
    };
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("conformance_summary: no report directory given");
        return ExitCode::from(2);
    };
    let (mut packages, mut only) = (Vec::new(), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => only = args.next(),
            _ => packages.push(arg),
        }
    }
    match summarize(&dir, &packages, only.as_deref(), summary) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problems) => {
            for problem in problems {
                eprintln!("conformance: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}
