//! `SQ_METADATA`: any text decodes to metadata that round-trips, or to nothing.
#![no_main]

use buildrunner_buildkite::decode_caller_metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Some(metadata) = decode_caller_metadata(text) {
        let again = serde_json::to_string(&metadata).ok().and_then(|t| decode_caller_metadata(&t));
        assert_eq!(again, Some(metadata));
    }
});
