//! A rate-limit budget shared by every runner that talks to one Buildkite organization with
//! one token, so many queues slow down together before Buildkite answers 429.
//!
//! Buildkite sends `RateLimit-Remaining` / `RateLimit-Reset` (organization scope) and
//! `RateLimit-User-Remaining` / `RateLimit-User-Reset` (token scope) on every answer. The
//! budget counts requests down from the last figures it saw and, when a scope is spent, holds
//! new requests until that scope's window resets. Until the first answer arrives, and again
//! after a window ends, one request goes out alone to learn the figures; answers without
//! rate-limit headers turn the budget off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a request waits for the probe of an unknown window before looking again.
const PROBE_WAIT: Duration = Duration::from_millis(50);

/// Which budget a runner shares: the same API, organization and token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BudgetKey {
    pub api_url: String,
    pub organization: String,
    /// A fingerprint of the token, so two tokens (two users) do not share a user budget
    /// without the token itself being kept here.
    pub token_fingerprint: u64,
}

/// The budget for `key`, shared with every live runner that has the same key.
pub(crate) fn shared(key: BudgetKey) -> Arc<RateBudget> {
    static BUDGETS: OnceLock<Mutex<HashMap<BudgetKey, Weak<RateBudget>>>> = OnceLock::new();
    let mut budgets = BUDGETS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    budgets.retain(|_, budget| budget.strong_count() > 0);
    if let Some(budget) = budgets.get(&key).and_then(Weak::upgrade) {
        return budget;
    }
    let budget = Arc::new(RateBudget::default());
    budgets.insert(key, Arc::downgrade(&budget));
    budget
}

#[derive(Debug, Default, Clone, Copy)]
struct Scope {
    /// Whether Buildkite ever sent figures for this scope; one it never sent does not bind.
    seen: bool,
    /// Requests left in the current window, counting down from what Buildkite last said.
    remaining: i64,
    /// When the current window ends; `None` when unknown.
    reset_at: Option<Instant>,
}

/// What the budget knows about the API's limits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No answer yet: one request at a time, so a burst cannot overrun a limit not yet seen.
    #[default]
    Probing,
    /// Answers carry no rate-limit headers (an emulator without limits, say): no holding back.
    Unlimited,
    /// Answers carry rate-limit headers: count down and hold back.
    Limited,
}

#[derive(Debug, Default)]
struct State {
    mode: Mode,
    organization: Scope,
    user: Scope,
    in_flight: u32,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct RateBudget {
    state: Mutex<State>,
    changed: Notify,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    budget: &'a RateBudget,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.budget.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.budget.changed.notify_waiters();
    }
}

impl RateBudget {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request may go out. Gives up, returning how long it would still have
    /// to wait, when that is longer than `patience`.
    pub async fn acquire(&self, patience: Duration) -> Result<Permit<'_>, Duration> {
        let give_up_at = Instant::now() + patience;
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match admit(&mut state, now) {
                    None => {
                        state.in_flight += 1;
                        return Ok(Permit { budget: self });
                    }
                    Some(until) => until.saturating_duration_since(now),
                }
            };
            if Instant::now() + wait > give_up_at {
                return Err(wait);
            }
            let notified = self.changed.notified();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = notified => {}
            }
        }
    }

    /// Learns from an answer's headers (and a 429's body `reset`, when headers lack it).
    pub fn update(&self, status: StatusCode, headers: &HeaderMap, body_reset: Option<Duration>) {
        let read =
            |name: &str| -> Option<f64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let org = (read("ratelimit-remaining"), read("ratelimit-reset"));
        let user = (
            read("ratelimit-user-remaining"),
            read("ratelimit-user-reset"),
        );
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let others = i64::from(state.in_flight.saturating_sub(1));
        let mut learned = false;
        for (scope, (remaining, reset)) in [(&mut state.organization, org), (&mut state.user, user)]
        {
            if let (Some(remaining), Some(reset)) = (remaining, reset) {
                learn(scope, remaining as i64, seconds(reset), now, others);
                learned = true;
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS && !learned {
            let reset = body_reset.unwrap_or(Duration::from_secs(1));
            learn(&mut state.organization, 0, reset, now, others);
            learned = true;
        }
        if learned {
            state.mode = Mode::Limited;
        } else if state.mode == Mode::Probing {
            state.mode = Mode::Unlimited;
        }
        drop(guard);
        self.changed.notify_waiters();
    }
}

fn seconds(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(3600.0))
    } else {
        Duration::ZERO
    }
}

fn learn(scope: &mut Scope, remaining: i64, reset: Duration, now: Instant, others_in_flight: i64) {
    let reset_at = now + reset;
    scope.seen = true;
    match scope.reset_at {
        // A window we know: never believe more is left than we counted down to, since
        // answers arrive out of order.
        Some(known) if known > now => {
            scope.remaining = scope.remaining.min(remaining);
            scope.reset_at = Some(known.max(reset_at));
        }
        // A new window: what Buildkite says, less what is still in flight from before.
        _ => {
            scope.remaining = remaining - others_in_flight;
            scope.reset_at = Some(reset_at);
        }
    }
}

/// `None` when a request may go now (and counts it), else when to look again.
fn admit(state: &mut State, now: Instant) -> Option<Instant> {
    let state = &mut *state;
    match state.mode {
        Mode::Unlimited => return None,
        Mode::Probing if state.in_flight > 0 => return Some(now + PROBE_WAIT),
        Mode::Probing => return None,
        Mode::Limited => {}
    }
    let mut until: Option<Instant> = None;
    let mut unknown = false;
    for scope in [&mut state.organization, &mut state.user] {
        match scope.reset_at {
            Some(reset_at) if reset_at <= now => {
                scope.reset_at = None;
                unknown = true;
            }
            Some(reset_at) if scope.remaining <= 0 => {
                until = Some(until.map_or(reset_at, |u| u.max(reset_at)))
            }
            Some(_) => {}
            None if scope.seen => unknown = true,
            None => {}
        }
    }
    if let Some(until) = until {
        return Some(until);
    }
    // A window whose figures are unknown: one probe at a time learns them.
    if unknown && state.in_flight > 0 {
        return Some(now + PROBE_WAIT);
    }
    for scope in [&mut state.organization, &mut state.user] {
        if scope.reset_at.is_some() {
            scope.remaining -= 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_probes_first_and_then_costs_nothing_without_limits() {
        let budget = RateBudget::default();
        let probe = budget.acquire(Duration::ZERO).await.unwrap();
        assert!(
            budget.acquire(Duration::ZERO).await.is_err(),
            "one request at a time until the first answer"
        );
        budget.update(StatusCode::OK, &HeaderMap::new(), None);
        drop(probe);
        assert_eq!(hold_many(&budget, 100).await, 100);
    }

    async fn hold_many(budget: &RateBudget, n: usize) -> usize {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(budget.acquire(Duration::ZERO).await.unwrap());
        }
        held.len()
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_window_holds_requests_until_it_resets() {
        let budget = RateBudget::default();
        let permit = budget.acquire(Duration::ZERO).await.unwrap();
        budget.update(
            StatusCode::OK,
            &headers(&[("ratelimit-remaining", "2"), ("ratelimit-reset", "10")]),
            None,
        );
        drop(permit);
        let a = budget.acquire(Duration::ZERO).await.unwrap();
        let b = budget.acquire(Duration::ZERO).await.unwrap();
        // Spent: a request now would have to wait about ten seconds.
        let wait = budget.acquire(Duration::from_secs(1)).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        drop((a, b));
        let started = Instant::now();
        let _c = budget.acquire(Duration::from_secs(60)).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(9),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_user_scope_binds_too_and_a_429_without_headers_uses_the_body() {
        let budget = RateBudget::default();
        budget.update(
            StatusCode::OK,
            &headers(&[
                ("ratelimit-remaining", "100"),
                ("ratelimit-reset", "60"),
                ("ratelimit-user-remaining", "0"),
                ("ratelimit-user-reset", "5"),
            ]),
            None,
        );
        let wait = budget.acquire(Duration::ZERO).await.unwrap_err();
        assert!(
            wait <= Duration::from_secs(5) && wait > Duration::from_secs(4),
            "{wait:?}"
        );

        let budget = RateBudget::default();
        budget.update(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            Some(Duration::from_secs(7)),
        );
        let wait = budget.acquire(Duration::ZERO).await.unwrap_err();
        assert!(wait > Duration::from_secs(6), "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_window_lets_one_probe_through_at_a_time() {
        let budget = RateBudget::default();
        budget.update(
            StatusCode::OK,
            &headers(&[("ratelimit-remaining", "5"), ("ratelimit-reset", "1")]),
            None,
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let probe = budget.acquire(Duration::ZERO).await.unwrap();
        assert!(
            budget.acquire(Duration::ZERO).await.is_err(),
            "a second request waits for the probe"
        );
        budget.update(
            StatusCode::OK,
            &headers(&[("ratelimit-remaining", "5"), ("ratelimit-reset", "60")]),
            None,
        );
        drop(probe);
        assert!(budget.acquire(Duration::ZERO).await.is_ok());
    }

    #[test]
    fn runners_of_one_org_and_token_share_a_budget() {
        let key = |org: &str, token| BudgetKey {
            api_url: "https://api.buildkite.com/".into(),
            organization: org.into(),
            token_fingerprint: token,
        };
        let a = shared(key("acme", 1));
        let b = shared(key("acme", 1));
        let c = shared(key("acme", 2));
        let d = shared(key("other", 1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c) && !Arc::ptr_eq(&a, &d));
    }
}
