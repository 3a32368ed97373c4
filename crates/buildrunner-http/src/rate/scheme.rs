//! How a platform's answers describe its rate limits: each backend supplies a [`RateScheme`]
//! built from the parts here (header windows, reset clocks, `Retry-After`).

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// The longest wait any rate-limit figure can ask for; larger or nonsensical figures are cut
/// to it, so a broken header cannot park a caller for a day.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(3600);

/// One rate-limit window an answer reported: how many requests are left in it and when it
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWindow {
    /// The scope the figures are for (`"organization"`, `"user"`, GitHub's `"core"`, ...);
    /// windows of different scopes bind independently.
    pub scope: String,
    /// Requests left in the window.
    pub remaining: i64,
    /// Time until the window resets.
    pub reset_in: Duration,
}

/// What one answer says about the rate budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateObservation {
    /// The windows the headers reported; empty when the answer carried none.
    pub windows: Vec<RateWindow>,
    /// `Some` when this answer refused the request because of a rate limit; it holds how
    /// long the platform asked to wait, when it said.
    pub refused: Option<Option<Duration>>,
    /// How long the next request should wait although this answer served its request: Azure
    /// DevOps delays a caller near its limit with `Retry-After` on a 2xx before it blocks.
    pub delay: Option<Duration>,
}

impl RateObservation {
    /// How long a refused request should wait before it is tried again, if the platform said.
    pub fn refusal_wait(&self) -> Option<Duration> {
        self.refused.flatten()
    }

    /// How long the budget holds every request after this answer: a refusal's wait (or a
    /// default when it named none), else a delay asked for on an answer that served.
    pub fn hold(&self, default_refusal_wait: Duration) -> Option<Duration> {
        match self.refused {
            Some(wait) => Some(wait.unwrap_or(default_refusal_wait)),
            None => self.delay,
        }
    }
}

/// Reads a platform's rate-limit figures from an answer. Called once per answer; the result
/// feeds both the shared budget and the error a refused call returns.
pub trait RateScheme: Debug + Send + Sync {
    /// Whether the platform leaves a conditional request answered 304 uncounted (GitHub).
    fn not_modified_is_free(&self) -> bool {
        false
    }

    /// The figures in an answer with this status, headers and body, read at `now`.
    fn observe(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> RateObservation;
}

/// Runs `scheme` on an answer given as plain parts: a status code, header pairs (invalid
/// ones skipped) and a body. For tests and tools that replay recorded answers.
pub fn observe_parts(
    scheme: &dyn RateScheme,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    now: SystemTime,
) -> RateObservation {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            map.insert(name, value);
        }
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    scheme.observe(status, &map, body, now)
}

/// How a reset header counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetClock {
    /// Seconds from now (Buildkite).
    SecondsFromNow,
    /// UTC epoch seconds (GitHub, GitLab).
    EpochSeconds,
}

impl ResetClock {
    /// The wait a reset value means at `now`, within [`MAX_RATE_WAIT`]; `None` when the
    /// value is not a number of seconds.
    pub fn wait(self, value: f64, now: SystemTime) -> Option<Duration> {
        let secs = match self {
            ResetClock::SecondsFromNow => value,
            ResetClock::EpochSeconds => {
                let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
                value - now.as_secs_f64()
            }
        };
        capped_seconds(secs)
    }
}

/// A pair of headers that report one window: remaining requests and its reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderWindow {
    /// The scope name this window reports.
    pub scope: &'static str,
    /// A header that names the scope instead, when present (GitHub's `x-ratelimit-resource`).
    pub scope_header: Option<&'static str>,
    /// The header with the requests left (lowercase).
    pub remaining: &'static str,
    /// The header with the reset (lowercase).
    pub reset: &'static str,
    /// How the reset counts.
    pub clock: ResetClock,
}

impl HeaderWindow {
    /// The window, when both headers are present and numeric.
    pub fn read(&self, headers: &HeaderMap, now: SystemTime) -> Option<RateWindow> {
        let remaining = header_number(headers, self.remaining)?;
        let reset_in = self.clock.wait(header_number(headers, self.reset)?, now)?;
        let scope = self
            .scope_header
            .and_then(|name| headers.get(name)?.to_str().ok())
            .unwrap_or(self.scope);
        Some(RateWindow {
            scope: scope.to_owned(),
            remaining: remaining as i64,
            reset_in,
        })
    }
}

/// An answer as a [`HeaderScheme`]'s refusal rule sees it.
#[derive(Debug)]
pub struct Answered<'a> {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
    /// The windows the scheme read from the headers.
    pub windows: &'a [RateWindow],
}

/// The [`RateScheme`] of a platform that reports its limits in header windows: the windows
/// are read the same way everywhere; what differs is which answers are refusals and how long
/// they ask to wait.
#[derive(Debug, Clone, Copy)]
pub struct HeaderScheme {
    /// The windows the headers report.
    pub windows: &'static [HeaderWindow],
    /// `Some(wait)` when an answer refused its request because of a rate limit (with the
    /// wait it asked for, if any); `None` otherwise.
    pub refusal: fn(&Answered<'_>) -> Option<Option<Duration>>,
    /// Whether a conditional request answered 304 is not counted.
    pub not_modified_is_free: bool,
}

impl HeaderScheme {
    /// The scheme of a platform that reports `windows` and refuses with 429 only
    /// ([`too_many_requests`]): GitLab, Azure DevOps.
    pub const fn refusing_with_429(windows: &'static [HeaderWindow]) -> HeaderScheme {
        HeaderScheme {
            windows,
            refusal: too_many_requests,
            not_modified_is_free: false,
        }
    }
}

impl RateScheme for HeaderScheme {
    fn not_modified_is_free(&self) -> bool {
        self.not_modified_is_free
    }

    fn observe(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> RateObservation {
        let windows: Vec<RateWindow> = self
            .windows
            .iter()
            .filter_map(|window| window.read(headers, now))
            .collect();
        let refused = (self.refusal)(&Answered {
            status,
            headers,
            body,
            windows: &windows,
        });
        RateObservation {
            windows,
            refused,
            delay: None,
        }
    }
}

/// The refusal rule of a platform that refuses with 429 only (GitLab, Azure DevOps): the
/// wait is `Retry-After`, else the reset of a window the headers report spent; a 429 that
/// names neither is still a refusal (waited out with backoff).
pub fn too_many_requests(answer: &Answered<'_>) -> Option<Option<Duration>> {
    if answer.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let until_reset = answer
        .windows
        .iter()
        .find(|w| w.remaining <= 0)
        .map(|w| w.reset_in);
    Some(retry_after(answer.headers).or(until_reset))
}

/// A [`HeaderScheme`] whose 2xx answers may also ask the next request to wait, with
/// `Retry-After` (Azure DevOps delays a caller near its limit before it blocks it): the wait
/// becomes the observation's [`delay`](RateObservation::delay).
#[derive(Debug, Clone, Copy)]
pub struct DelaysOnSuccess(pub HeaderScheme);

impl RateScheme for DelaysOnSuccess {
    fn not_modified_is_free(&self) -> bool {
        self.0.not_modified_is_free
    }

    fn observe(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> RateObservation {
        let mut observation = self.0.observe(status, headers, body, now);
        if observation.refused.is_none() && status.is_success() {
            observation.delay = retry_after(headers).filter(|wait| !wait.is_zero());
        }
        observation
    }
}

/// The scheme of a platform with no rate limits of its own (Jenkins): no windows; a 429,
/// or a 503 that names a `Retry-After`, comes from a proxy or gateway in front of it and is
/// waited out as it asks. A 503 without `Retry-After` is an outage, retried with backoff.
pub const PROXY_LIMITS_ONLY: HeaderScheme = HeaderScheme {
    windows: &[],
    refusal: proxy_refusal,
    not_modified_is_free: false,
};

fn proxy_refusal(answer: &Answered<'_>) -> Option<Option<Duration>> {
    let wait = retry_after(answer.headers);
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => Some(wait),
        StatusCode::SERVICE_UNAVAILABLE => wait.map(Some),
        _ => None,
    }
}

/// A header's value as a number, `None` when absent or not numeric.
pub fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in its seconds form (the form GitHub and GitLab send), within
/// [`MAX_RATE_WAIT`]; an HTTP-date or garbage is `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    capped_seconds(header_number(headers, "retry-after")?)
}

/// Seconds as a wait: negative is zero, anything past [`MAX_RATE_WAIT`] is the cap, and a
/// value that is not a finite number is `None`.
pub fn capped_seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(
        secs.clamp(0.0, MAX_RATE_WAIT.as_secs_f64()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn proxy_limits_only_refuses_429_and_a_503_that_names_a_wait() {
        let now = UNIX_EPOCH;
        let observe = |status: u16, pairs: &[(&str, &str)]| {
            observe_parts(&PROXY_LIMITS_ONLY, status, pairs, b"", now).refused
        };
        let wait = [("retry-after", "7")];
        assert_eq!(observe(429, &wait), Some(Some(Duration::from_secs(7))));
        assert_eq!(observe(429, &[]), Some(None));
        assert_eq!(observe(503, &wait), Some(Some(Duration::from_secs(7))));
        assert_eq!(observe(503, &[]), None, "an outage, not a limit");
        assert_eq!(observe(200, &wait), None);
        assert_eq!(observe(502, &wait), None);
    }

    #[test]
    fn reset_clocks_and_caps() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            ResetClock::EpochSeconds.wait(1_000_030.0, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            ResetClock::EpochSeconds.wait(999_000.0, now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            ResetClock::SecondsFromNow.wait(5.0, now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            ResetClock::SecondsFromNow.wait(1e12, now),
            Some(MAX_RATE_WAIT)
        );
        assert_eq!(ResetClock::SecondsFromNow.wait(f64::NAN, now), None);
    }

    #[test]
    fn windows_need_both_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let window = HeaderWindow {
            scope: "core",
            scope_header: None,
            remaining: "x-ratelimit-remaining",
            reset: "x-ratelimit-reset",
            clock: ResetClock::EpochSeconds,
        };
        let both = headers(&[("x-ratelimit-remaining", "7"), ("x-ratelimit-reset", "160")]);
        assert_eq!(
            window.read(&both, now),
            Some(RateWindow {
                scope: "core".into(),
                remaining: 7,
                reset_in: Duration::from_secs(60)
            })
        );
        assert_eq!(
            window.read(&headers(&[("x-ratelimit-remaining", "7")]), now),
            None
        );
        assert_eq!(
            window.read(
                &headers(&[("x-ratelimit-remaining", "x"), ("x-ratelimit-reset", "1")]),
                now
            ),
            None
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "12")])),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
    }
}
