//! Buildkite build ids: any text parses to a number whose id is that text, or is rejected.
#![no_main]

use buildrunner_api::BuildId;
use buildrunner_buildkite::BuildkiteConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(config) = BuildkiteConfig::new("acme", "monorepo") else { return };
    if let Ok(number) = config.parse_build_id(&BuildId::new(text)) {
        assert_eq!(config.build_id(number).as_str(), text, "only canonical ids parse");
    }
});
