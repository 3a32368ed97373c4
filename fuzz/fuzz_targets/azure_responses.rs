//! The Azure Pipelines backend's parsers of outside input: build ids, builds, timelines and
//! the rate scheme. Any bytes give a value or a typed error, never a panic; nothing is green
//! but a completed, succeeded build; no wait passes the cap.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use buildrunner_api::{BuildId, BuildStatus, Error};
use buildrunner_azure_pipelines::{
    AzurePipelinesConfig, CountsAs, RATE_SCHEME, decode_build_response,
    decode_timeline_response,
};
use buildrunner_http::rate::observe_parts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(config) = AzurePipelinesConfig::new("acme", "Platform Team", 4) {
        let ids = config.ids();
        match ids.parse(&BuildId::new(text.as_ref())) {
            Ok(run) => assert_eq!(ids.format(run).as_str(), text),
            Err(Error::InvalidBuildId { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    match decode_build_response(bytes, CountsAs::Failed) {
        Ok((_, report)) if report.status == BuildStatus::Succeeded => {
            assert_eq!(report.metadata.get("azure_status").map(String::as_str), Some("completed"));
            assert_eq!(report.metadata.get("azure_result").map(String::as_str), Some("succeeded"));
        }
        Ok(_) => {}
        Err(error) => assert!(matches!(error, Error::Protocol { .. }), "{error:?}"),
    }
    if let Err(error) = decode_timeline_response(bytes, CountsAs::Failed) {
        assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    }
    let status = bytes.first().map_or(200, |b| 100 + u16::from(*b) * 2);
    let observed = observe_parts(&RATE_SCHEME, status, &[("retry-after", &text)], b"", UNIX_EPOCH);
    let cap = Duration::from_secs(3600);
    assert!(observed.delay.is_none_or(|d| d <= cap));
    assert!(observed.refusal_wait().is_none_or(|d| d <= cap));
});
