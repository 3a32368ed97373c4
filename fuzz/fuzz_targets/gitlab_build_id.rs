//! GitLab build ids of a nested project: any text parses to a pipeline whose id prints back
//! the same, or is an invalid build id.
#![no_main]

use buildrunner_api::{BuildId, Error};
use buildrunner_gitlab::GitLabConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(config) = GitLabConfig::new("acme/platform/app") else {
        return;
    };
    let ids = config.ids();
    match ids.parse(&BuildId::new(text)) {
        Ok(pipeline) => assert_eq!(ids.format(pipeline).as_str(), text),
        Err(Error::InvalidBuildId { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
