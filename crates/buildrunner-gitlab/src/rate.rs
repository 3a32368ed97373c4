//! GitLab's rate-limit headers: `RateLimit-Remaining` / `RateLimit-Reset` (epoch seconds) per
//! `RateLimit-Name` on every answer; a 429 waits `Retry-After` seconds, else until the reset
//! when none remain. Application limits (pipeline creation: 25 a minute per project on
//! gitlab.com) are not in the headers: their 429 is waited out like any other.

use buildrunner_http::rate::{HeaderScheme, HeaderWindow, ResetClock};

const API: HeaderWindow = HeaderWindow {
    scope: "api",
    scope_header: Some("ratelimit-name"),
    remaining: "ratelimit-remaining",
    reset: "ratelimit-reset",
    clock: ResetClock::EpochSeconds,
};

/// See the module docs.
pub(crate) const GITLAB_RATE_SCHEME: HeaderScheme = HeaderScheme::refusing_with_429(&[API]);

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_http::RateObservation;
    use buildrunner_http::rate::observe_parts;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    fn observe(status: u16, headers: &[(&str, &str)]) -> RateObservation {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        observe_parts(&GITLAB_RATE_SCHEME, status, headers, b"Retry later", now)
    }

    #[test]
    fn retry_after_wins_then_the_epoch_reset_of_a_spent_window() {
        let spent = [
            ("ratelimit-name", "throttle_authenticated_api"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1000030"),
        ];
        let mut with_retry = spent.to_vec();
        with_retry.push(("retry-after", "5"));
        assert_eq!(
            observe(429, &with_retry).refusal_wait(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            observe(429, &spent).refusal_wait(),
            Some(Duration::from_secs(30))
        );
        // An application limit: no figures, no wait named, still a refusal (backoff).
        assert_eq!(observe(429, &[]).refused, Some(None));
        let ok = observe(200, &spent);
        assert_eq!(ok.refused, None);
        assert_eq!(ok.windows[0].scope, "throttle_authenticated_api");
    }
}
