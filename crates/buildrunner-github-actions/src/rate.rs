//! GitHub's rate-limit headers: `x-ratelimit-remaining` / `x-ratelimit-reset` (epoch
//! seconds) per `x-ratelimit-resource`. A refusal is a 429, or a 403 that is a rate limit
//! only when no requests remain or the message names a secondary limit; it waits what
//! `retry-after` says, else until the reset when none remain, else at least a minute.

use std::time::Duration;

use buildrunner_http::StatusCode;
use buildrunner_http::human_message;
use buildrunner_http::rate::{Answered, HeaderScheme, HeaderWindow, ResetClock, retry_after};

const CORE: HeaderWindow = HeaderWindow {
    scope: "core",
    scope_header: Some("x-ratelimit-resource"),
    remaining: "x-ratelimit-remaining",
    reset: "x-ratelimit-reset",
    clock: ResetClock::EpochSeconds,
};

/// How long GitHub asks a client to back off a secondary limit that names no wait.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// See the module docs.
pub(crate) const GITHUB_RATE_SCHEME: HeaderScheme = HeaderScheme {
    windows: &[CORE],
    refusal,
    not_modified_is_free: true,
};

fn refusal(answer: &Answered<'_>) -> Option<Option<Duration>> {
    let spent = answer.windows.iter().any(|w| w.remaining <= 0);
    let secondary = || {
        human_message(answer.body)
            .is_some_and(|m| m.to_ascii_lowercase().contains("secondary rate limit"))
    };
    let refused = match answer.status {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::FORBIDDEN => spent || secondary() || retry_after(answer.headers).is_some(),
        _ => false,
    };
    let until_reset = answer
        .windows
        .iter()
        .find(|w| w.remaining <= 0)
        .map(|w| w.reset_in);
    let wait = retry_after(answer.headers)
        .or(until_reset)
        .unwrap_or(SECONDARY_WAIT);
    refused.then_some(Some(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_http::RateObservation;
    use buildrunner_http::rate::observe_parts;
    use std::time::UNIX_EPOCH;

    fn observe(status: u16, headers: &[(&str, &str)], body: &str) -> RateObservation {
        observe_parts(
            &GITHUB_RATE_SCHEME,
            status,
            headers,
            body.as_bytes(),
            UNIX_EPOCH + Duration::from_secs(1_000_000),
        )
    }

    const SPENT: [(&str, &str); 3] = [
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1000042"),
        ("x-ratelimit-resource", "core"),
    ];

    #[test]
    fn a_403_is_a_rate_limit_only_when_spent_or_secondary() {
        assert_eq!(
            observe(403, &SPENT, r#"{"message":"API rate limit exceeded"}"#).refusal_wait(),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            observe(
                403,
                &[
                    ("x-ratelimit-remaining", "4000"),
                    ("x-ratelimit-reset", "1000042")
                ],
                r#"{"message":"You have exceeded a secondary rate limit."}"#
            )
            .refusal_wait(),
            Some(SECONDARY_WAIT)
        );
        assert_eq!(
            observe(
                403,
                &[("retry-after", "17")],
                r#"{"message":"You have exceeded a secondary rate limit"}"#
            )
            .refusal_wait(),
            Some(Duration::from_secs(17))
        );
        let denied = observe(
            403,
            &[
                ("x-ratelimit-remaining", "4000"),
                ("x-ratelimit-reset", "1000042"),
            ],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert_eq!(denied.refused, None);
        assert_eq!(denied.windows[0].remaining, 4000);
    }

    #[test]
    fn retry_after_wins_and_a_bare_429_waits_a_minute() {
        let mut headers = SPENT.to_vec();
        headers.push(("retry-after", "3"));
        assert_eq!(
            observe(429, &headers, "").refusal_wait(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(observe(429, &[], "").refusal_wait(), Some(SECONDARY_WAIT));
        assert_eq!(observe(200, &SPENT, "").refused, None);
        assert_eq!(
            observe(200, &SPENT, "").windows[0].reset_in,
            Duration::from_secs(42)
        );
    }
}
