//! Rate budgets: every runner that talks to one API account with one token shares a budget,
//! so many queues slow down together before the platform answers 429.
//!
//! A [`RateScheme`] reads a platform's figures from each answer; a [`BudgetStore`] hands out
//! the [`RateBudget`] for a [`BudgetKey`]. The in-process store ([`InProcessStore`]) is the
//! default; a store shared between processes plugs in through the same trait.

mod budget;
#[cfg(feature = "redis")]
pub mod redis;
mod scheme;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use budget::{InProcessStore, LocalBudget};
pub use scheme::{
    Answered, DelaysOnSuccess, HeaderScheme, HeaderWindow, MAX_RATE_WAIT, PROXY_LIMITS_ONLY,
    RateObservation, RateScheme, RateWindow, ResetClock, capped_seconds, header_number,
    observe_parts, retry_after, too_many_requests,
};

/// Which budget a runner shares: the same API, account and token. The token is kept only as
/// a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    /// The API root.
    pub api_url: String,
    /// The account the platform counts requests against (organization, owner, project).
    pub account: String,
    /// [`Token::fingerprint`](crate::Token::fingerprint) of the credential.
    pub token_fingerprint: u64,
}

/// Held while a request is in flight; dropping it returns the slot.
pub struct Permit(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Permit {
    /// A permit that runs `release` when dropped.
    pub fn with_release(release: impl FnOnce() + Send + Sync + 'static) -> Permit {
        Permit(Some(Box::new(release)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

/// What a request costs the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One request.
    One,
    /// A conditional request the platform does not count when it answers 304 (GitHub). If
    /// it answers with a change instead, the answer's figures correct the count.
    FreeIfUnchanged,
}

/// One shared budget.
#[async_trait]
pub trait RateBudget: Debug + Send + Sync {
    /// Waits until a request may go out. Gives up, returning how long it would still have to
    /// wait, when that is longer than `patience`. A request whose `cost` is
    /// [`Cost::FreeIfUnchanged`] waits while a window is spent but is not counted against it.
    async fn acquire(&self, patience: Duration, cost: Cost) -> Result<Permit, Duration>;

    /// Learns from an answer.
    async fn observe(&self, observation: &RateObservation);
}

/// Hands out the budget for a key; every runner with the same key gets the same budget.
pub trait BudgetStore: Debug + Send + Sync {
    /// The budget for `key`.
    fn budget(&self, key: &BudgetKey) -> Arc<dyn RateBudget>;
}
