//! Buildkite's rate-limit headers: `RateLimit-Remaining` / `RateLimit-Reset` for the
//! organization and `RateLimit-User-Remaining` / `RateLimit-User-Reset` for the token, resets
//! in seconds from now; a 429's body names the scope that was hit and its `reset`.

use std::time::Duration;

use buildrunner_http::StatusCode;
use buildrunner_http::header::HeaderMap;
use buildrunner_http::rate::{
    Answered, HeaderScheme, HeaderWindow, ResetClock, capped_seconds, header_number,
};

use crate::error::ErrorBody;

const ORGANIZATION: HeaderWindow = HeaderWindow {
    scope: "organization",
    scope_header: None,
    remaining: "ratelimit-remaining",
    reset: "ratelimit-reset",
    clock: ResetClock::SecondsFromNow,
};

const USER: HeaderWindow = HeaderWindow {
    scope: "user",
    scope_header: None,
    remaining: "ratelimit-user-remaining",
    reset: "ratelimit-user-reset",
    clock: ResetClock::SecondsFromNow,
};

/// See the module docs.
pub(crate) const BUILDKITE_RATE_SCHEME: HeaderScheme = HeaderScheme {
    windows: &[ORGANIZATION, USER],
    refusal,
    not_modified_is_free: false,
};

/// Buildkite refuses with 429 only.
fn refusal(answer: &Answered<'_>) -> Option<Option<Duration>> {
    (answer.status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| refusal_wait(answer.headers, answer.body))
}

/// The reset of the scope the body names (`rest` → `RateLimit-Reset`, `rest_user` →
/// `RateLimit-User-Reset`), else either header, else the body's `reset`.
fn refusal_wait(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let body = ErrorBody::parse(body);
    let header = |window: HeaderWindow| header_number(headers, window.reset);
    let secs = match body.scope.as_deref() {
        Some("rest_user") => header(USER),
        Some("rest") => header(ORGANIZATION),
        _ => None,
    }
    .or_else(|| header(ORGANIZATION))
    .or_else(|| header(USER))
    .or(body.reset)?;
    capped_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_http::RateObservation;
    use buildrunner_http::rate::observe_parts;
    use std::time::SystemTime;

    fn observe(status: u16, headers: &[(&str, &str)], body: &str) -> RateObservation {
        observe_parts(
            &BUILDKITE_RATE_SCHEME,
            status,
            headers,
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn a_429_waits_for_the_scope_its_body_names() {
        let both = [("ratelimit-reset", "30"), ("ratelimit-user-reset", "5")];
        let secs = |o: RateObservation| o.refusal_wait().map(|d| d.as_secs());
        assert_eq!(secs(observe(429, &both, r#"{"scope":"rest"}"#)), Some(30));
        assert_eq!(
            secs(observe(429, &both, r#"{"scope":"rest_user"}"#)),
            Some(5)
        );
        assert_eq!(secs(observe(429, &both, "")), Some(30));
        assert_eq!(
            secs(observe(429, &both[1..], r#"{"scope":"rest"}"#)),
            Some(5)
        );
        assert_eq!(secs(observe(429, &[], r#"{"reset": 7}"#)), Some(7));
        assert_eq!(
            secs(observe(429, &[("ratelimit-reset", "soon")], "<html>")),
            None
        );
        assert!(observe(429, &[], "").refused.is_some());
        assert_eq!(observe(503, &both, "").refused, None);
    }

    #[test]
    fn both_windows_are_read_in_seconds_from_now() {
        let seen = observe(
            200,
            &[
                ("ratelimit-remaining", "150"),
                ("ratelimit-reset", "42"),
                ("ratelimit-user-remaining", "3"),
                ("ratelimit-user-reset", "9"),
            ],
            "",
        );
        let figures: Vec<_> = seen
            .windows
            .iter()
            .map(|w| (w.scope.as_str(), w.remaining, w.reset_in))
            .collect();
        assert_eq!(
            figures,
            [
                ("organization", 150, Duration::from_secs(42)),
                ("user", 3, Duration::from_secs(9))
            ]
        );
    }
}
