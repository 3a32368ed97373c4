//! Fixed rate-limit windows, counted per key (an organization, a token).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// `limit` requests per `window`, counted per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window; Buildkite's is one minute, GitHub's one hour.
    pub window: Duration,
}

/// What counting one request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// The limit of the window.
    pub limit: u32,
    /// Requests used in the window, this one included.
    pub used: u32,
    /// Requests left.
    pub remaining: u32,
    /// Time until the window resets.
    pub reset_in: Duration,
    /// Whether this request is over the limit.
    pub exceeded: bool,
}

impl WindowCount {
    /// [`WindowCount::reset_in`] rounded up to whole seconds, as headers carry it.
    pub fn reset_secs(&self) -> u64 {
        self.reset_in.as_secs() + u64::from(self.reset_in.subsec_nanos() > 0)
    }

    /// When the window resets, as epoch seconds rounded up (GitHub's and GitLab's form): a
    /// client that waits until then never arrives before the reset.
    pub fn reset_epoch_secs(&self) -> u64 {
        let at = std::time::SystemTime::now() + self.reset_in;
        let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        since.as_secs() + u64::from(since.subsec_nanos() > 0)
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
}

/// The windows of every key; off while no limit is set.
#[derive(Debug, Default)]
pub struct RateWindows {
    limit: Option<RateLimit>,
    windows: HashMap<String, Window>,
}

impl RateWindows {
    /// Windows with this limit (`None`: no limit).
    pub fn new(limit: Option<RateLimit>) -> Self {
        RateWindows {
            limit,
            windows: HashMap::new(),
        }
    }

    /// Sets the limit and starts fresh windows.
    pub fn set_limit(&mut self, limit: Option<RateLimit>) {
        self.limit = limit;
        self.windows.clear();
    }

    /// Counts one request against `key`'s window; `None` while there is no limit.
    pub fn count(&mut self, key: &str, now: Instant) -> Option<WindowCount> {
        self.look(key, now, 1)
    }

    /// Counts `units` against `key`'s window at once (GraphQL complexity points, say).
    pub fn spend(&mut self, key: &str, now: Instant, units: u32) -> Option<WindowCount> {
        self.look(key, now, units)
    }

    /// `key`'s window as it stands, without counting a request (for answers the platform
    /// does not count, such as GitHub's 304).
    pub fn peek(&mut self, key: &str, now: Instant) -> Option<WindowCount> {
        self.look(key, now, 0)
    }

    fn look(&mut self, key: &str, now: Instant, requests: u32) -> Option<WindowCount> {
        let limit = self.limit?;
        let window = self.windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            used: 0,
        });
        if now.duration_since(window.started) >= limit.window {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        window.used = window.used.saturating_add(requests);
        Some(WindowCount {
            limit: limit.limit,
            used: window.used,
            remaining: limit.limit.saturating_sub(window.used),
            reset_in: limit
                .window
                .saturating_sub(now.duration_since(window.started)),
            exceeded: window.used > limit.limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_key_and_reset() {
        let mut windows = RateWindows::new(Some(RateLimit {
            limit: 2,
            window: Duration::from_secs(10),
        }));
        let now = Instant::now();
        assert!(!windows.count("a", now).unwrap().exceeded);
        assert!(!windows.count("a", now).unwrap().exceeded);
        let third = windows.count("a", now).unwrap();
        assert!(third.exceeded && third.remaining == 0 && third.reset_secs() == 10);
        assert!(!windows.count("b", now).unwrap().exceeded);
        assert!(
            !windows
                .count("a", now + Duration::from_secs(10))
                .unwrap()
                .exceeded
        );
        let peeked = windows.peek("b", now).unwrap();
        assert_eq!((peeked.used, peeked.exceeded), (1, false));
        assert_eq!(
            windows.peek("b", now).unwrap().used,
            1,
            "peeking counts nothing"
        );
        windows.set_limit(None);
        assert_eq!(windows.count("a", now), None);
    }
}
