//! When each followed build is polled next: young builds often, old ones less, failing polls
//! with backoff, hinted builds at once.

use std::time::Duration;

use tokio::time::Instant;

/// How often builds are polled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals {
    /// The pause between polls of a build just followed.
    pub min: Duration,
    /// The longest pause between polls of a build, however old.
    pub max: Duration,
    /// How much of a build's age is added to its pause: with 0.1, a build followed ten
    /// minutes ago is polled about once a minute.
    pub age_factor: f64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            min: Duration::from_secs(5),
            max: Duration::from_secs(120),
            age_factor: 0.1,
        }
    }
}

impl Intervals {
    /// The pause after a successful poll of a build followed `age` ago.
    pub fn after_poll(&self, age: Duration) -> Duration {
        let grown = self.min + age.mul_f64(self.age_factor.clamp(0.0, 10.0));
        grown.clamp(self.min, self.max.max(self.min))
    }

    /// The pause after `errors` failed polls in a row, at least what the CI asked for.
    pub fn after_errors(&self, errors: u32, asked: Option<Duration>) -> Duration {
        let backoff = self
            .min
            .saturating_mul(1 << errors.min(10))
            .min(self.max.max(self.min));
        backoff.max(asked.unwrap_or_default())
    }
}

/// One followed build's schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub followed_at: Instant,
    pub due: Instant,
    pub errors: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_builds_are_polled_more_often_than_old_ones() {
        let intervals = Intervals::default();
        assert_eq!(intervals.after_poll(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(
            intervals.after_poll(Duration::from_secs(600)),
            Duration::from_secs(65)
        );
        assert_eq!(
            intervals.after_poll(Duration::from_secs(86_400)),
            Duration::from_secs(120)
        );
        let mut last = Duration::ZERO;
        for minutes in 0..30 {
            let pause = intervals.after_poll(Duration::from_secs(60 * minutes));
            assert!(pause >= last, "pauses never shrink with age");
            last = pause;
        }
    }

    #[test]
    fn errors_back_off_and_honour_what_the_ci_asked() {
        let intervals = Intervals::default();
        assert_eq!(intervals.after_errors(1, None), Duration::from_secs(10));
        assert_eq!(intervals.after_errors(3, None), Duration::from_secs(40));
        assert_eq!(intervals.after_errors(30, None), Duration::from_secs(120));
        assert_eq!(
            intervals.after_errors(1, Some(Duration::from_secs(300))),
            Duration::from_secs(300)
        );
    }
}
