//! The part of a platform emulator's state that every platform holds alike.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{EmulatorConfig, Engine};

/// What every emulated platform holds besides its own settings: its configuration, the URL it
/// is served at, the gate's [`Engine`], and its records (builds, runs, pipelines) behind one
/// lock. A platform's state embeds it and adds what is its own.
#[derive(Debug)]
pub struct PlatformState<X, R> {
    /// The emulator's settings: the engine's and the platform's (`config.platform`).
    pub config: EmulatorConfig<X>,
    /// The URL it is served at, without a trailing `/`: the root of the links it answers with.
    pub base_url: String,
    /// The gate's state: faults, the request log, rate windows, webhooks.
    pub engine: Engine,
    records: Mutex<R>,
}

impl<X, R> PlatformState<X, R> {
    /// The state of a platform served at `base_url` with `config`, starting with `records`.
    pub fn new(config: EmulatorConfig<X>, base_url: &str, records: R) -> Self {
        PlatformState {
            engine: Engine::new(config.rate_limit, config.request_log_capacity),
            base_url: base_url.trim_end_matches('/').to_owned(),
            config,
            records: Mutex::new(records),
        }
    }

    /// The records, locked. A handler that panicked while holding them does not poison them
    /// for the requests after it: an emulator keeps answering.
    pub fn lock(&self) -> MutexGuard<'_, R> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_loses_its_slash_and_a_panic_does_not_poison_the_records() {
        let config: EmulatorConfig<()> = EmulatorConfig::new("t");
        let state = PlatformState::new(config, "http://127.0.0.1:1/", 0_u32);
        assert_eq!(state.base_url, "http://127.0.0.1:1");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut records = state.lock();
            *records = 7;
            panic!("a handler fails");
        }));
        assert!(panicked.is_err());
        assert_eq!(*state.lock(), 7);
    }
}
