//! The state mapping against the one state table (`STATE_TABLE`): a state it lists maps as it
//! says; anything else is `Unknown`, so only known states are terminal and only an unblocked
//! `passed` succeeds.
#![no_main]

use buildrunner_api::BuildStatus;
use buildrunner_buildkite::{STATE_TABLE, map_state};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let (blocked, state) = input;
    let status = map_state(state, blocked);
    match STATE_TABLE.iter().find(|(s, b, _)| *s == state && *b == blocked) {
        Some((_, _, expected)) => assert_eq!(status, *expected),
        None if STATE_TABLE.iter().all(|(s, _, _)| *s != state) => {
            assert_eq!(status, BuildStatus::Unknown)
        }
        None => assert_eq!(status == BuildStatus::Succeeded, state == "passed" && !blocked),
    }
});
