//! Azure DevOps' rate limits: 200 TSTUs per user (and per pipeline) in a sliding 5-minute
//! window. Near the limit Azure first *delays* requests, answering them (200) with
//! `Retry-After`, and only then blocks them (429, "TF400733"). Both waits are honoured: a
//! 2xx's `Retry-After` holds the next requests (the budget's delay), a 429's is the refusal's
//! wait. `X-RateLimit-Remaining` / `X-RateLimit-Reset` (epoch seconds) per
//! `X-RateLimit-Resource` are read when Azure sends them, before delays start.

use buildrunner_http::rate::{
    DelaysOnSuccess, HeaderScheme, HeaderWindow, ResetClock, too_many_requests,
};

const WINDOW: HeaderWindow = HeaderWindow {
    scope: "global",
    scope_header: Some("x-ratelimit-resource"),
    remaining: "x-ratelimit-remaining",
    reset: "x-ratelimit-reset",
    clock: ResetClock::EpochSeconds,
};

/// See the module docs. Public for fuzzers and tools as [`RATE_SCHEME`](crate::RATE_SCHEME).
pub const AZURE_RATE_SCHEME: DelaysOnSuccess = DelaysOnSuccess(HeaderScheme {
    windows: &[WINDOW],
    refusal: too_many_requests,
    not_modified_is_free: false,
});

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_http::rate::{RateObservation, observe_parts};
    use std::time::{Duration, UNIX_EPOCH};

    fn observe(status: u16, headers: &[(&str, &str)]) -> RateObservation {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        observe_parts(&AZURE_RATE_SCHEME, status, headers, b"", now)
    }

    #[test]
    fn a_delayed_answer_serves_and_holds_the_next_request_a_blocked_one_is_refused() {
        let delayed = observe(200, &[("retry-after", "3"), ("x-ratelimit-delay", "2.5")]);
        assert_eq!(delayed.refused, None);
        assert_eq!(delayed.delay, Some(Duration::from_secs(3)));
        let blocked = observe(429, &[("retry-after", "30")]);
        assert_eq!(blocked.refusal_wait(), Some(Duration::from_secs(30)));
        assert_eq!(blocked.delay, None);
        let near = observe(
            200,
            &[
                ("x-ratelimit-resource", "ATCPU"),
                ("x-ratelimit-remaining", "12"),
                ("x-ratelimit-reset", "1000060"),
            ],
        );
        assert_eq!(near.windows[0].scope, "ATCPU");
        assert_eq!(near.windows[0].remaining, 12);
        assert_eq!(near.delay, None);
        assert_eq!(observe(503, &[("retry-after", "3")]).delay, None);
    }
}
