//! The tracker's share of the CI's rate budget: a token bucket in the CI's unit (requests, or
//! GraphQL points), so a round is charged what `status_many_cost` says it spends.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Pacer {
    per_sec: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl Pacer {
    /// `per_sec` requests a second, with a burst of one second's worth (at least one request).
    pub fn new(per_sec: f64) -> Self {
        let per_sec = if per_sec.is_finite() && per_sec > 0.0 {
            per_sec
        } else {
            1.0
        };
        let capacity = per_sec.max(1.0);
        Pacer {
            per_sec,
            capacity,
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.updated).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.updated = now;
    }

    /// How many of `wanted` builds to poll now, spending their cost (by `cost`); or how long
    /// to wait first. A round waits until it can be full (as many builds as a second of
    /// budget buys, at most `wanted`), so a batched backend's requests carry full batches;
    /// an `urgent` round (a hinted build) takes what is affordable at once.
    pub fn take(
        &mut self,
        wanted: usize,
        cost: impl Fn(usize) -> usize,
        now: Instant,
        urgent: bool,
    ) -> Result<usize, Duration> {
        self.refill(now);
        let within = |budget: f64| largest(wanted, |n| cost(n) as f64 <= budget + 1e-9);
        let full = within(self.capacity).unwrap_or(1);
        let take = if urgent {
            within(self.tokens)
        } else {
            Some(full).filter(|&n| cost(n) as f64 <= self.tokens + 1e-9)
        };
        match take {
            Some(n) => {
                self.tokens -= cost(n) as f64;
                Ok(n)
            }
            None => {
                let needed = if urgent { cost(1) } else { cost(full) };
                let missing = (needed.max(1) as f64 - self.tokens).max(0.0);
                Err(Duration::from_secs_f64(missing / self.per_sec).max(Duration::from_millis(1)))
            }
        }
    }
}

/// The largest `n` in `1..=wanted` that `fits` (a monotone test), by bisection.
fn largest(wanted: usize, fits: impl Fn(usize) -> bool) -> Option<usize> {
    if wanted == 0 || !fits(1) {
        return None;
    }
    let (mut low, mut high) = (1, wanted);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if fits(middle) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    Some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_second_buys_its_share_of_requests() {
        let mut pacer = Pacer::new(4.0);
        let now = Instant::now();
        let one_each = |n: usize| n;
        assert_eq!(
            pacer.take(10, one_each, now, false),
            Ok(4),
            "the burst is one second's worth"
        );
        assert_eq!(
            pacer.take(10, one_each, now, false),
            Err(Duration::from_secs(1)),
            "a round waits until it can be full"
        );
        let later = now + Duration::from_millis(500);
        assert_eq!(
            pacer.take(10, one_each, later, true),
            Ok(2),
            "a hinted round goes at once"
        );
        assert_eq!(
            pacer.take(3, one_each, later, true),
            Err(Duration::from_millis(250))
        );
        // A backend that answers 100 builds for one unit: full batches.
        let batched = |n: usize| n.div_ceil(100);
        let much_later = later + Duration::from_secs(10);
        assert_eq!(pacer.take(1000, batched, much_later, false), Ok(400));
        assert!(pacer.take(0, batched, much_later, false).is_err());
    }
}
