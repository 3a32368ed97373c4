//! The state mapping: only known states are terminal, only an unblocked `passed` succeeds.
#![no_main]

use buildrunner_api::BuildStatus;
use buildrunner_buildkite::map_state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let (blocked, state) = input;
    let status = map_state(state, blocked);
    if status.is_terminal() {
        assert!(["passed", "failed", "not_run", "skipped", "canceling", "canceled"].contains(&state));
    }
    if status == BuildStatus::Succeeded {
        assert!(state == "passed" && !blocked);
    }
});
