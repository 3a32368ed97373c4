//! Faults injected into upcoming requests, in the order they were injected.

use std::collections::VecDeque;
use std::time::Duration;

/// A fault to inject into upcoming requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a JSON error body, without processing the request.
    Status(u16),
    /// Answer with this status and an HTML error page, without processing the request.
    HtmlError(u16),
    /// Answer as the platform does when its rate limit is spent, resetting in this many seconds.
    RateLimited {
        /// Seconds until the limit resets.
        reset_secs: u64,
    },
    /// Process the request after this delay, as a request queued behind a slow server: a
    /// client with a shorter timeout gives up, and the request takes effect afterwards.
    Delay(Duration),
    /// Process the request at once, then hold the answer back this long: a client with a
    /// shorter timeout gives up on a request that already took effect.
    SlowResponse(Duration),
    /// Close the connection without an answer, without processing the request.
    DropConnection,
    /// Process the request, then close the connection without an answer: the client cannot
    /// tell whether it took effect.
    DropAfterProcessing,
    /// Process the request, then send only the first half of the body.
    TruncatedBody,
    /// Process the request, then answer 200 with JSON of the wrong shape.
    WrongShape,
    /// Process the request, then answer 200 with an empty body.
    EmptyOk,
    /// Process the request, then pad the answer to at least this many bytes.
    Oversized(usize),
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultTarget {
    /// Every request.
    #[default]
    Any,
    /// Only requests with this HTTP method (`"GET"`, `"POST"`, `"PUT"`).
    Method(&'static str),
    /// Every request that changes something: any method but `GET` (a retry, a cancel, a
    /// create), so the reads that settle an unknown outcome are spared.
    Writes,
}

#[derive(Debug)]
struct Pending {
    target: FaultTarget,
    remaining: usize,
    fault: Fault,
}

/// The queue of faults not yet used.
#[derive(Debug, Default)]
pub struct FaultQueue {
    pending: VecDeque<Pending>,
}

impl FaultQueue {
    /// Makes the next `count` requests of `target` fail with `fault`.
    pub fn inject(&mut self, target: FaultTarget, count: usize, fault: Fault) {
        if count > 0 {
            self.pending.push_back(Pending {
                target,
                remaining: count,
                fault,
            });
        }
    }

    /// Forgets every fault not yet used.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// The first pending fault that applies to a request with this method, used up by one.
    pub fn take(&mut self, method: &str) -> Option<Fault> {
        let index = self.pending.iter().position(|f| match f.target {
            FaultTarget::Any => true,
            FaultTarget::Method(m) => m.eq_ignore_ascii_case(method),
            FaultTarget::Writes => !method.eq_ignore_ascii_case("GET"),
        })?;
        let pending = &mut self.pending[index];
        let fault = pending.fault;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            self.pending.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_in_order_and_by_method() {
        let mut queue = FaultQueue::default();
        queue.inject(FaultTarget::Method("POST"), 1, Fault::EmptyOk);
        queue.inject(FaultTarget::Any, 2, Fault::Status(500));
        assert_eq!(queue.take("GET"), Some(Fault::Status(500)));
        assert_eq!(queue.take("post"), Some(Fault::EmptyOk));
        assert_eq!(queue.take("POST"), Some(Fault::Status(500)));
        assert_eq!(queue.take("GET"), None);
    }
}
