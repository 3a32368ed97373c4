//! The engine every CI emulator shares, so each platform's emulator only speaks its wire
//! format: build [lifecycles](Lifecycle) driven by outcome markers, injected [faults](Fault),
//! [rate windows](RateWindows), the [request log](RequestLog), and [`serve`], the accept
//! loop and gate every request passes.
//!
//! It also owns what every platform emulator would otherwise repeat: the [`Emulator`]
//! handle (start, URL, stop on drop), the [`EmulatorConfig`] builder and the binary's
//! [`serve_main`]. A platform emulator is its states, its routes and its wire bodies: it
//! implements [`Platform`] (the gate's hooks) and [`Emulation`] (state, routes), and
//! optionally [`WebhookSource`].
//!
//! Of buildrunner it depends on `buildrunner-api` alone, for the outcome markers ([`Outcome`],
//! [`MARKER`]): they are our contract, and the fakes read them as the noop backend does. It
//! knows no backend and no HTTP client: the emulators fake the CI, not us.

mod basic;
mod binary;
mod config;
mod emulator;
mod faults;
mod lifecycle;
mod log;
mod query;
mod rate;
mod segment;
mod server;
mod state;
mod time;
mod webhooks;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use basic::{basic_authorization, basic_password};
pub use binary::{Binary, serve_main};
pub use buildrunner_api::outcome::{MARKER, Outcome};
/// Re-exported so a platform's binary derives its own flags with the same clap.
pub use clap;
pub use config::EmulatorConfig;
pub use emulator::{Emulation, Emulator};
pub use faults::{Fault, FaultQueue, FaultTarget};
pub use lifecycle::{JobPhase, Lifecycle, Phase, Requested, Timings};
pub use log::{LoggedRequest, RequestLog};
pub use query::Query;
pub use rate::{RateLimit, RateWindows, WindowCount};
pub use segment::{decode_segment, encode_segment, parse_path_number};
pub use server::{Answer, Platform, RateVerdict, serve};
pub use state::PlatformState;
pub use time::{iso8601, parse_iso8601};
pub use webhooks::{
    Delivery, PhaseWatch, WEBHOOK_TICK, WebhookCounts, WebhookFaults, WebhookSource, WebhookTarget,
    hmac_sha256_hex,
};

/// The state every emulator keeps besides its builds: faults, rate windows, request log.
#[derive(Debug)]
pub struct Engine {
    inner: Mutex<Inner>,
    webhooks: Mutex<Option<tokio::task::JoinHandle<()>>>,
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
            webhooks: Mutex::new(None),
        }
    }

    /// Whether webhooks are being sent, so a platform watches the builds it creates.
    pub fn webhooks_on(&self) -> bool {
        self.webhooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn start_webhooks(&self, task: tokio::task::JoinHandle<()>) {
        let mut slot = self.webhooks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(earlier) = slot.replace(task) {
            earlier.abort();
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

    /// `key`'s window without counting a request; `None` without a limit.
    pub fn peek_requests(&self, key: &str) -> Option<WindowCount> {
        self.lock().windows.peek(key, Instant::now())
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

/// What every running emulator offers the tests that drive it.
pub trait Emulated: Send + Sync + 'static {
    /// The engine behind it.
    fn engine(&self) -> &Engine;

    /// How many builds (runs, pipelines) it has created so far.
    fn builds_created(&self) -> usize;

    /// The API root to point a client at.
    fn api_url(&self) -> String;

    /// Makes the next `count` requests (of `target`) fail with `fault`. Faults queue up in
    /// the order they were injected.
    fn inject(&self, target: FaultTarget, count: usize, fault: Fault) {
        self.engine().inject(target, count, fault);
    }

    /// Removes every fault not yet used.
    fn clear_faults(&self) {
        self.engine().clear_faults();
    }

    /// Turns rate limiting on (with fresh windows) or off.
    fn set_rate_limit(&self, rate_limit: Option<RateLimit>) {
        self.engine().set_rate_limit(rate_limit);
    }

    /// The requests received so far, oldest first.
    fn requests(&self) -> Vec<LoggedRequest> {
        self.engine().requests()
    }

    /// Forgets the request log.
    fn clear_requests(&self) {
        self.engine().clear_requests();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(task) = self
            .webhooks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// `127.0.0.1` with a port the OS picks.
pub const LOOPBACK: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
