//! The workflow-run decoder: any bytes decode to a report or a protocol error, and a report
//! never shows a verdict the mapping would not give.
#![no_main]

use buildrunner_api::Error;
use buildrunner_github_actions::{decode_run_response, map_run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match decode_run_response(bytes) {
        Ok((id, report)) => {
            assert_eq!(report.metadata.get("github_run_id"), Some(&id.to_string()));
            let status = report.metadata.get("github_status").map(String::as_str).unwrap_or("");
            let conclusion = report.metadata.get("github_conclusion").map(String::as_str);
            assert_eq!(report.status, map_run(status, conclusion));
        }
        Err(Error::Protocol { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
