//! The configuration every emulator takes: the engine's common settings and the platform's
//! own options, built with the same setters everywhere.

use crate::{RateLimit, Timings};

/// How an emulator behaves: the settings every platform has, and `platform`, its own.
///
/// ```
/// use std::time::Duration;
/// use buildrunner_emulator_engine::{EmulatorConfig, RateLimit, Timings};
///
/// let config: EmulatorConfig<()> = EmulatorConfig::new("test-token")
///     .with_timings(Timings::new(Duration::ZERO, Duration::from_millis(50), Duration::ZERO))
///     .with_rate_limit(RateLimit { limit: 100, window: Duration::from_secs(60) });
/// assert_eq!(config.rate_limit.map(|r| r.limit), Some(100));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig<X> {
    /// The only token accepted.
    pub token: String,
    /// How long each step of a build takes.
    pub timings: Timings,
    /// The API's rate limit, off when `None`.
    pub rate_limit: Option<RateLimit>,
    /// How many requests the log keeps; older ones are dropped first.
    pub request_log_capacity: usize,
    /// What only this platform has.
    pub platform: X,
}

impl<X: Default> EmulatorConfig<X> {
    /// Defaults sized for tests: builds finish within about a tenth of a second, no rate
    /// limit, the platform's default options.
    pub fn new(token: impl Into<String>) -> Self {
        EmulatorConfig {
            token: token.into(),
            timings: Timings::default(),
            rate_limit: None,
            request_log_capacity: 100_000,
            platform: X::default(),
        }
    }
}

impl<X> EmulatorConfig<X> {
    /// Sets the step durations.
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// Turns on the API's rate limit.
    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Sets how many requests the log keeps.
    pub fn with_request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }

    /// Changes the platform's own options.
    pub fn with_platform(mut self, change: impl FnOnce(&mut X)) -> Self {
        change(&mut self.platform);
        self
    }
}
