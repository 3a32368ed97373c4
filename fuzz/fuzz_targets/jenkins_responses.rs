//! The Jenkins backend's parsers of outside input: build ids, trigger `Location`s, queue
//! items, builds and `wfapi` stages. Any bytes give a value or a typed error, never a panic,
//! and nothing finished is reported from a build that is still building.
#![no_main]

use buildrunner_api::{BuildId, BuildStatus, Error};
use buildrunner_jenkins::{
    JenkinsConfig, CountsAs, decode_build_response, decode_queue_item_response,
    decode_stages_response, queue_item_of_location,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(config) = JenkinsConfig::new("https://ci.example.com/", "platform/app", "bot") {
        let ids = config.ids();
        match ids.parse(&BuildId::new(text.as_ref())) {
            Ok(queue_id) => assert_eq!(ids.format(queue_id).as_str(), text),
            Err(Error::InvalidBuildId { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    if let Some(queue_id) = queue_item_of_location(&text) {
        assert!(queue_id > 0);
    }
    if let Err(error) = decode_queue_item_response(bytes) {
        assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    }
    match decode_build_response(bytes, 1, CountsAs::Failed) {
        Ok((_, report)) if report.metadata.get("failing").is_some() => {
            assert_eq!(report.status, BuildStatus::Running)
        }
        Ok(_) => {}
        Err(error) => assert!(matches!(error, Error::Protocol { .. }), "{error:?}"),
    }
    if let Err(error) = decode_stages_response(bytes, Some("https://ci.example.com/job/a/1/"), CountsAs::Failed) {
        assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    }
});
