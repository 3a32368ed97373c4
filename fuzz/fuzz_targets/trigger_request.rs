//! Trigger requests from JSON: any bytes are a valid request (head not empty) or an error.
#![no_main]

use buildrunner_api::TriggerRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<TriggerRequest>(bytes) {
        assert!(!request.head().is_empty());
        assert!(request.head_uris().chain(request.base_uris()).all(|uri| !uri.is_empty()));
    }
});
