//! Every public rate scheme (GitHub's, GitLab's) over any status, headers and body: an
//! observation whose waits stay within the cap, never a panic.
#![no_main]

use std::time::SystemTime;

use buildrunner_http::rate::{HeaderScheme, MAX_RATE_WAIT, observe_parts};
use libfuzzer_sys::fuzz_target;

const SCHEMES: [HeaderScheme; 2] = [
    buildrunner_github_actions::RATE_SCHEME,
    buildrunner_gitlab::RATE_SCHEME,
];

fuzz_target!(|data: (bool, u16, Vec<(String, String)>, Vec<u8>)| {
    let (gitlab, status, headers, body) = data;
    let scheme = &SCHEMES[usize::from(gitlab)];
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let seen = observe_parts(scheme, status, &pairs, &body, SystemTime::now());
    for window in &seen.windows {
        assert!(window.reset_in <= MAX_RATE_WAIT);
    }
    if let Some(wait) = seen.refusal_wait() {
        assert!(wait <= MAX_RATE_WAIT);
    }
});
