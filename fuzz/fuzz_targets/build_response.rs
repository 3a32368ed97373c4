//! The build decoder: any bytes decode to a report or a protocol error.
#![no_main]

use buildrunner_api::Error;
use buildrunner_buildkite::{decode_build_response, map_state};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match decode_build_response(bytes) {
        Ok((number, report)) => {
            assert_eq!(report.metadata.get("number"), Some(&number.to_string()));
            let state = report.metadata.get("buildkite_state").map(String::as_str).unwrap_or("");
            // Blocked or not, a state maps to one of two statuses, never to an invented one.
            assert!(report.status == map_state(state, false) || report.status == map_state(state, true));
        }
        Err(Error::Protocol { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
