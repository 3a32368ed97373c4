//! The pipeline decoder and the variables' caller metadata: any bytes decode to a report or a
//! protocol error, never a verdict the mapping would not give; any variables give metadata or
//! none.
#![no_main]

use buildrunner_api::Error;
use buildrunner_gitlab::{caller_metadata, decode_pipeline_response, map_status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match decode_pipeline_response(bytes) {
        Ok((id, report)) => {
            assert_eq!(report.metadata.get("gitlab_pipeline_id"), Some(&id.to_string()));
            let status = report.metadata.get("gitlab_status").map(String::as_str).unwrap_or("");
            assert_eq!(report.status, map_status(status));
        }
        Err(Error::Protocol { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = caller_metadata(&value);
    }
});
