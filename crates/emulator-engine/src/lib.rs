//! The engine every CI emulator shares, so each platform's emulator only speaks its wire
//! format: build [lifecycles](Lifecycle) driven by outcome markers, injected [faults](Fault),
//! [rate windows](RateWindows), the [request log](RequestLog), and [`serve`], the accept
//! loop and gate every request passes.
//!
//! It depends on no buildrunner crate: the emulators fake the CI, not us.

mod faults;
mod lifecycle;
mod log;
mod query;
mod rate;
mod server;
mod time;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use faults::{Fault, FaultQueue, FaultTarget};
pub use lifecycle::{Lifecycle, MARKER, Outcome, Phase, Requested, Timings};
pub use log::{LoggedRequest, RequestLog};
pub use query::Query;
pub use rate::{RateLimit, RateWindows, WindowCount};
pub use server::{Answer, Platform, RateVerdict, serve};
pub use time::{iso8601, parse_iso8601};

/// The state every emulator keeps besides its builds: faults, rate windows, request log.
#[derive(Debug)]
pub struct Engine {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    faults: FaultQueue,
    windows: RateWindows,
    log: RequestLog,
}

impl Engine {
    /// An engine with this rate limit and request-log capacity.
    pub fn new(rate_limit: Option<RateLimit>, log_capacity: usize) -> Engine {
        Engine {
            inner: Mutex::new(Inner {
                faults: FaultQueue::default(),
                windows: RateWindows::new(rate_limit),
                log: RequestLog::new(log_capacity),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next `count` requests of `target` fail with `fault`.
    pub fn inject(&self, target: FaultTarget, count: usize, fault: Fault) {
        self.lock().faults.inject(target, count, fault);
    }

    /// Forgets every fault not yet used.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The next fault for a request with this method.
    pub fn take_fault(&self, method: &str) -> Option<Fault> {
        self.lock().faults.take(method)
    }

    /// Sets the rate limit, with fresh windows.
    pub fn set_rate_limit(&self, rate_limit: Option<RateLimit>) {
        self.lock().windows.set_limit(rate_limit);
    }

    /// Counts a request against `key`'s window; `None` without a limit.
    pub fn count_request(&self, key: &str) -> Option<WindowCount> {
        self.lock().windows.count(key, Instant::now())
    }

    /// Records a request.
    pub fn log(&self, request: LoggedRequest) {
        self.lock().log.push(request);
    }

    /// The requests received, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.all()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }
}

/// A random RFC 4122 version-4 UUID in text.
pub fn uuid() -> String {
    let hex = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
