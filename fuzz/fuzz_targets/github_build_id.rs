//! GitHub Actions build ids: any text parses to a run whose id prints back the same (up to
//! the case of owner and repo), or is an invalid build id.
#![no_main]

use buildrunner_api::{BuildId, Error};
use buildrunner_github_actions::GitHubActionsConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(config) = GitHubActionsConfig::new("acme", "app", "buildrunner.yml") else {
        return;
    };
    let ids = config.ids();
    match ids.parse(&BuildId::new(text)) {
        Ok(run) => assert!(text.eq_ignore_ascii_case(ids.format(run).as_str())),
        Err(Error::InvalidBuildId { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
