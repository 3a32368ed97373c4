//! GitHub's rate-limit headers and refusal bodies: any status, headers and body give an
//! observation whose waits stay within the cap, never a panic.
#![no_main]

use std::time::SystemTime;

use buildrunner_github_actions::RATE_SCHEME;
use buildrunner_http::rate::{MAX_RATE_WAIT, observe_parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (u16, Vec<(String, String)>, Vec<u8>)| {
    let (status, headers, body) = data;
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let seen = observe_parts(&RATE_SCHEME, status, &pairs, &body, SystemTime::now());
    for window in &seen.windows {
        assert!(window.reset_in <= MAX_RATE_WAIT);
    }
    if let Some(wait) = seen.refusal_wait() {
        assert!(wait <= MAX_RATE_WAIT);
    }
});
