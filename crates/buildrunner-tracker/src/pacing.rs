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

    /// The most of `wanted` builds whose poll costs (by `cost`) no more than the requests
    /// available now, and spends them; or how long until one build can be polled.
    pub fn take(
        &mut self,
        wanted: usize,
        cost: impl Fn(usize) -> usize,
        now: Instant,
    ) -> Result<usize, Duration> {
        self.refill(now);
        let affordable = |n: usize| cost(n) as f64 <= self.tokens + 1e-9;
        if wanted == 0 || !affordable(1) {
            let missing = (cost(1).max(1) as f64 - self.tokens).max(0.0);
            return Err(
                Duration::from_secs_f64(missing / self.per_sec).max(Duration::from_millis(1))
            );
        }
        // cost is monotone in n: the largest affordable n by bisection.
        let (mut low, mut high) = (1, wanted);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            if affordable(middle) {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        self.tokens -= cost(low) as f64;
        Ok(low)
    }
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
            pacer.take(10, one_each, now),
            Ok(4),
            "the burst is one second's worth"
        );
        assert_eq!(
            pacer.take(10, one_each, now),
            Err(Duration::from_millis(250))
        );
        let later = now + Duration::from_millis(500);
        assert_eq!(pacer.take(10, one_each, later), Ok(2));
        // A batched backend: 100 builds a request.
        let batched = |n: usize| n.div_ceil(100);
        let much_later = later + Duration::from_secs(10);
        assert_eq!(pacer.take(1000, batched, much_later), Ok(400));
    }
}
