//! The `noop` backend: builds that run nowhere and end as their outcome markers say.
//!
//! It serves tests, demos and the embedded default configuration, and it is the reference
//! the conformance suite is checked against. It talks to no CI and keeps no state that
//! matters across restarts: everything [`status`](BuildRunner::status) needs is in the id.
//!
//! # Build ids
//!
//! `noop:<outcome>:<nonce>:<check>`, for example
//! `noop:pass:5f0c2d9e8b7a61430e9d7c2b1a0f3e4d:9a3c01fe`:
//!
//! - `<outcome>` is `pass`, `fail`, `hang`, `block`, `flaky` or `status-error` (a `trigger-error` creates no build);
//! - `<nonce>` is 32 lowercase hex digits: random, or derived from the idempotency key, so
//!   the same key gives the same id and ids never collide across instances;
//! - `<check>` is 8 hex digits of a checksum over the rest. An id that has this shape but a
//!   wrong checksum was never minted by a noop backend and is reported as
//!   [`Error::NotFound`]; an id of any other shape is [`Error::InvalidBuildId`].
//!
//! # Lifecycle
//!
//! A build is terminal from its first status: `pass` is `Succeeded`, `fail` is `Failed`.
//! `hang` and `block` (waiting for a person) stay `Running` until cancelled. `status-error`
//! makes every `status` fail with a
//! retryable [`Error::Unavailable`]. `flaky` is `Failed`: its retry would need state the id
//! cannot carry, so noop does not declare `retry_failed`.
//!
//! # Jobs
//!
//! [`jobs`](BuildRunner::jobs) lists what the id says: a `build` job that succeeded, a `test`
//! job that ends as the build does (failed for `fail` and `flaky`), and for `block` an
//! `approval` job waiting for a person. They have no url: noop builds run nowhere.
//!
//! # Cancel
//!
//! Cancelling a terminal build is a no-op. Cancelling a `hang` or `block` build is remembered by the
//! runner that accepted it, which reports the build `Cancelled` from then on; a fresh runner
//! (another process, a restart) has no record of it and still reports `Running`. The
//! capabilities declare `cancel_observable` for that reason, and `status_survives_restart`
//! because every other answer comes from the id alone.
//!
//! ```
//! use buildrunner_api::{BuildRunner, BuildStatus, Change, TriggerRequest};
//! use buildrunner_noop::NoopRunner;
//!
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let runner = NoopRunner::new();
//! let request = TriggerRequest::new(vec![Change::new(["https://x/pull/1?buildrunner-outcome=fail"])])?;
//! let id = runner.trigger(&request).await?;
//! assert_eq!(runner.status(&id).await?.status, BuildStatus::Failed);
//! # Ok::<(), buildrunner_api::Error>(())
//! # }).unwrap();
//! # }
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use buildrunner_api::outcome::Outcome;
use buildrunner_api::registry::BackendRegistration;
use buildrunner_api::{
    BuildId, BuildMetadata, BuildReport, BuildRunner, BuildStatus, Capabilities, Error, JobReport,
    QueueConfig, Result, TriggerRequest,
};
use serde::Deserialize;

/// The name the noop backend is registered under.
pub const NAME: &str = "noop";

/// What the noop backend can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    idempotent_trigger: true,
    status_survives_restart: true,
    cancel_observable: true,
    outcome_markers: true,
    job_reports: true,
    ..Capabilities::NONE
};

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration = BackendRegistration::new(
    NAME,
    "runs nothing; builds end as their buildrunner-outcome markers say (tests and demos)",
    create,
);

buildrunner_api::inventory::submit! { REGISTRATION }

/// The noop backend takes no options; any key is a configuration error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {}

fn create(config: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
    let Options {} = config.options(NAME)?;
    Ok(Arc::new(NoopRunner::new()))
}

/// A runner whose builds run nowhere; see the [crate docs](crate).
#[derive(Debug, Default)]
pub struct NoopRunner {
    cancelled: Mutex<HashSet<u128>>,
}

impl NoopRunner {
    /// A runner with no cancelled builds.
    pub fn new() -> Self {
        NoopRunner::default()
    }

    fn is_cancelled(&self, nonce: u128) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&nonce)
    }
}

/// An id of the right shape that no noop runner mints, because its checksum does not match:
/// what a corrupted or forged id looks like. `status` answers it with `NotFound`.
pub fn unminted_build_id() -> BuildId {
    let minted = NoopId {
        outcome: Outcome::Pass,
        nonce: 0x00c0_ffee,
    }
    .format();
    let (body, check) = minted.as_str().rsplit_once(':').unwrap_or_default();
    let wrong = if check == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    BuildId::new(format!("{body}:{wrong}"))
}

/// The first field of every noop build id.
const ID_PREFIX: &str = "noop";

/// A parsed noop build id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoopId {
    outcome: Outcome,
    nonce: u128,
}

impl NoopId {
    fn format(self) -> BuildId {
        let body = format!("{ID_PREFIX}:{}:{:032x}", self.outcome.token(), self.nonce);
        BuildId::new(format!("{body}:{:08x}", checksum(&body)))
    }

    /// Parses an id strictly; `Ok(None)` means well-formed but never minted (bad checksum).
    fn parse(id: &BuildId) -> Result<Option<NoopId>> {
        const FORMAT: &str = "expected noop:<pass|fail|hang|block|flaky|status-error>:<32 hex digits>:<8 hex digits>";
        let mut parts = id.as_str().split(':');
        let (Some(ID_PREFIX), Some(token), Some(nonce), Some(check), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(id.invalid(FORMAT));
        };
        let outcome = match Outcome::from_token(token) {
            Some(Outcome::TriggerError) | None => return Err(id.invalid(FORMAT)),
            Some(outcome) => outcome,
        };
        let nonce = parse_lower_hex(nonce, 32).ok_or_else(|| id.invalid(FORMAT))?;
        let check = parse_lower_hex(check, 8).ok_or_else(|| id.invalid(FORMAT))?;
        let minted = NoopId { outcome, nonce };
        let body = format!("{ID_PREFIX}:{token}:{:032x}", nonce);
        Ok((u128::from(checksum(&body)) == check).then_some(minted))
    }
}

/// Parses exactly `digits` lowercase hex digits.
fn parse_lower_hex(text: &str, digits: usize) -> Option<u128> {
    let well_formed =
        text.len() == digits && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
}

/// FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`, so ids stay
/// valid across upgrades. It detects corrupted or invented ids; it is not a signature.
fn fnv1a(bytes: &[u8], offset_basis: u64) -> u64 {
    bytes.iter().fold(offset_basis, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn checksum(body: &str) -> u32 {
    let hash = fnv1a(body.as_bytes(), FNV_OFFSET_BASIS);
    // Fold the high half in so every input bit reaches the 32 bits that are kept.
    ((hash >> 32) ^ hash) as u32
}

/// A nonce for an idempotency key: two FNV-1a hashes with different offset bases.
fn nonce_for_key(key: &str) -> u128 {
    let high = fnv1a(key.as_bytes(), FNV_OFFSET_BASIS);
    let low = fnv1a(key.as_bytes(), FNV_OFFSET_BASIS ^ 0x5555_5555_5555_5555);
    (u128::from(high) << 64) | u128::from(low)
}

#[async_trait]
impl BuildRunner for NoopRunner {
    fn backend_name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let outcome =
            Outcome::from_uris(request.head_uris()).map_err(|e| Error::InvalidRequest {
                reason: e.to_string(),
            })?;
        if outcome == Outcome::TriggerError {
            return Err(Error::Rejected {
                message: "noop: trigger refused by the trigger-error outcome marker".to_owned(),
            });
        }
        let nonce = match request.idempotency_key() {
            Some(key) => nonce_for_key(key),
            None => fastrand::u128(..),
        };
        Ok(NoopId { outcome, nonce }.format())
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let NoopId { outcome, nonce } = NoopId::parse(id)?.ok_or_else(|| id.not_found())?;
        let status = match outcome {
            Outcome::Pass => BuildStatus::Succeeded,
            Outcome::Fail | Outcome::Flaky => BuildStatus::Failed,
            Outcome::Hang | Outcome::Block if self.is_cancelled(nonce) => BuildStatus::Cancelled,
            // A build waiting for a person is still under way: never green.
            Outcome::Hang | Outcome::Block => BuildStatus::Running,
            Outcome::StatusError | Outcome::TriggerError => {
                return Err(Error::Unavailable {
                    message: format!(
                        "noop: status of {id} failed as its status-error outcome marker asks"
                    ),
                    source: None,
                });
            }
        };
        let metadata = BuildMetadata::from([("outcome".to_owned(), outcome.token().to_owned())]);
        Ok(BuildReport::new(status).with_metadata(metadata))
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let outcome = NoopId::parse(id)?.ok_or_else(|| id.not_found())?.outcome;
        let status = self.status(id).await?.status;
        let test = match outcome {
            Outcome::Block => BuildStatus::Succeeded,
            _ => status,
        };
        let mut jobs = vec![
            JobReport::new("build", BuildStatus::Succeeded),
            JobReport::new("test", test).with_detail(outcome.token()),
        ];
        if outcome == Outcome::Block {
            jobs.push(JobReport::new("approval", status).with_detail("waiting for a person"));
        }
        Ok(jobs)
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let NoopId { outcome, nonce } = NoopId::parse(id)?.ok_or_else(|| id.not_found())?;
        if matches!(outcome, Outcome::Hang | Outcome::Block) {
            self.cancelled
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(nonce);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_for_every_minted_outcome() {
        for outcome in [
            Outcome::Pass,
            Outcome::Fail,
            Outcome::Hang,
            Outcome::Block,
            Outcome::Flaky,
            Outcome::StatusError,
        ] {
            for nonce in [0, 1, u128::MAX, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef] {
                let minted = NoopId { outcome, nonce };
                assert_eq!(NoopId::parse(&minted.format()).unwrap(), Some(minted));
            }
        }
    }

    #[test]
    fn key_nonces_are_stable_and_distinct() {
        assert_eq!(nonce_for_key("batch-1"), nonce_for_key("batch-1"));
        assert_ne!(nonce_for_key("batch-1"), nonce_for_key("batch-2"));
        // The published FNV-1a 64 test vector, and a pinned checksum: a change of either would
        // orphan every id already stored by callers.
        assert_eq!(fnv1a(b"a", FNV_OFFSET_BASIS), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            checksum("noop:pass:00000000000000000000000000000000"),
            0x6bcd_2004
        );
    }
}
