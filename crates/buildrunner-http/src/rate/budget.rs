//! The in-process budget: counts requests down from the last figures the platform sent and,
//! when a scope is spent, holds new requests until that scope's window resets. Until the
//! first answer arrives, and again after a window ends, one request goes out alone to learn
//! the figures; answers without rate-limit figures turn the budget off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BudgetKey, BudgetStore, Cost, Permit, RateBudget, RateObservation};

/// How long a request waits for the probe of an unknown window before looking again.
const PROBE_WAIT: Duration = Duration::from_millis(50);
/// How long a refusal that named no wait holds the budget.
const DEFAULT_REFUSAL_WAIT: Duration = Duration::from_secs(1);
/// The scope a refusal without figures is counted in.
const REFUSAL_SCOPE: &str = "refused";

/// The default [`BudgetStore`]: one [`LocalBudget`] per key per process, kept while a runner
/// uses it.
#[derive(Debug, Default)]
pub struct InProcessStore {
    budgets: Mutex<HashMap<BudgetKey, Weak<Shared>>>,
}

impl InProcessStore {
    /// The process-wide store every runner uses unless it is given another.
    pub fn global() -> Arc<InProcessStore> {
        static GLOBAL: OnceLock<Arc<InProcessStore>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(Arc::default))
    }

    /// The budget for `key` as its concrete type.
    pub fn local(&self, key: &BudgetKey) -> LocalBudget {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        budgets.retain(|_, budget| budget.strong_count() > 0);
        if let Some(shared) = budgets.get(key).and_then(Weak::upgrade) {
            return LocalBudget(shared);
        }
        let budget = LocalBudget::default();
        budgets.insert(key.clone(), Arc::downgrade(&budget.0));
        budget
    }
}

impl BudgetStore for InProcessStore {
    fn budget(&self, key: &BudgetKey) -> Arc<dyn RateBudget> {
        Arc::new(self.local(key))
    }
}

#[derive(Debug, Clone, Copy)]
struct Scope {
    /// Requests left in the current window, counting down from what the platform last said.
    remaining: i64,
    /// When the current window ends; `None` when unknown.
    reset_at: Option<Instant>,
    /// A scope made by a refusal: forgotten once its window ends, since no header renews it.
    transient: bool,
}

/// What the budget knows about the API's limits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No answer yet: one request at a time, so a burst cannot overrun a limit not yet seen.
    #[default]
    Probing,
    /// Answers carry no rate-limit figures (an emulator without limits, say): no holding back.
    Unlimited,
    /// Answers carry figures: count down and hold back.
    Limited,
}

#[derive(Debug, Default)]
struct State {
    mode: Mode,
    scopes: Vec<(String, Scope)>,
    in_flight: u32,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.changed.notify_waiters();
    }
}

/// The in-process [`RateBudget`]; see the module docs. Clones share one budget.
#[derive(Debug, Default, Clone)]
pub struct LocalBudget(Arc<Shared>);

impl LocalBudget {
    /// Whether two handles share one budget.
    pub fn same_as(&self, other: &LocalBudget) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock()
    }

    /// Waits until a request may go out; see [`RateBudget::acquire`].
    ///
    /// # Errors
    ///
    /// The remaining wait, when it is longer than `patience`.
    pub async fn take(&self, patience: Duration, cost: Cost) -> Result<Permit, Duration> {
        let give_up_at = Instant::now() + patience;
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match admit(&mut state, now, cost) {
                    None => {
                        state.in_flight += 1;
                        let shared = Arc::clone(&self.0);
                        return Ok(Permit::with_release(move || shared.release()));
                    }
                    Some(until) => until.saturating_duration_since(now),
                }
            };
            if Instant::now() + wait > give_up_at {
                return Err(wait);
            }
            let notified = self.0.changed.notified();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = notified => {}
            }
        }
    }

    /// Learns from an answer; see [`RateBudget::observe`].
    pub fn learn_from(&self, observation: &RateObservation) {
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let others = i64::from(state.in_flight.saturating_sub(1));
        let mut learned = false;
        for window in &observation.windows {
            let scope = scope_mut(&mut state.scopes, &window.scope, false);
            learn(scope, window.remaining, window.reset_in, now, others);
            learned = true;
        }
        if let Some(wait) = observation.hold(DEFAULT_REFUSAL_WAIT) {
            let spent_scope_known = observation.windows.iter().any(|w| w.remaining <= 0);
            if !spent_scope_known {
                let scope = scope_mut(&mut state.scopes, REFUSAL_SCOPE, true);
                learn(scope, 0, wait, now, others);
            }
            learned = true;
        }
        if learned {
            state.mode = Mode::Limited;
        } else if state.mode == Mode::Probing {
            state.mode = Mode::Unlimited;
        }
        drop(guard);
        self.0.changed.notify_waiters();
    }
}

#[async_trait]
impl RateBudget for LocalBudget {
    async fn acquire(&self, patience: Duration, cost: Cost) -> Result<Permit, Duration> {
        self.take(patience, cost).await
    }

    async fn observe(&self, observation: &RateObservation) {
        self.learn_from(observation);
    }
}

fn scope_mut<'a>(
    scopes: &'a mut Vec<(String, Scope)>,
    name: &str,
    transient: bool,
) -> &'a mut Scope {
    let index = match scopes.iter().position(|(n, _)| n == name) {
        Some(index) => index,
        None => {
            scopes.push((
                name.to_owned(),
                Scope {
                    remaining: 0,
                    reset_at: None,
                    transient,
                },
            ));
            scopes.len() - 1
        }
    };
    &mut scopes[index].1
}

fn learn(scope: &mut Scope, remaining: i64, reset: Duration, now: Instant, others_in_flight: i64) {
    let reset_at = now + reset;
    match scope.reset_at {
        // A window we know: never believe more is left than we counted down to, since
        // answers arrive out of order.
        Some(known) if known > now => {
            scope.remaining = scope.remaining.min(remaining);
            scope.reset_at = Some(known.max(reset_at));
        }
        // A new window: what the platform says, less what is still in flight from before.
        _ => {
            scope.remaining = remaining - others_in_flight;
            scope.reset_at = Some(reset_at);
        }
    }
}

/// `None` when a request may go now (and counts it), else when to look again.
fn admit(state: &mut State, now: Instant, cost: Cost) -> Option<Instant> {
    match state.mode {
        Mode::Unlimited => return None,
        Mode::Probing if state.in_flight > 0 => return Some(now + PROBE_WAIT),
        Mode::Probing => return None,
        Mode::Limited => {}
    }
    state
        .scopes
        .retain(|(_, s)| !(s.transient && s.reset_at.is_none_or(|r| r <= now)));
    let mut until: Option<Instant> = None;
    let mut unknown = false;
    for (_, scope) in &mut state.scopes {
        match scope.reset_at {
            Some(reset_at) if reset_at <= now => {
                scope.reset_at = None;
                unknown = true;
            }
            Some(reset_at) if scope.remaining <= 0 => {
                until = Some(until.map_or(reset_at, |u| u.max(reset_at)))
            }
            Some(_) => {}
            None => unknown = true,
        }
    }
    if let Some(until) = until {
        return Some(until);
    }
    // A window whose figures are unknown: one probe at a time learns them.
    if unknown && state.in_flight > 0 {
        return Some(now + PROBE_WAIT);
    }
    if cost == Cost::One {
        for (_, scope) in &mut state.scopes {
            if scope.reset_at.is_some() {
                scope.remaining -= 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::RateWindow;

    fn window(scope: &str, remaining: i64, reset_secs: u64) -> RateWindow {
        RateWindow {
            scope: scope.to_owned(),
            remaining,
            reset_in: Duration::from_secs(reset_secs),
        }
    }

    fn seen(windows: Vec<RateWindow>) -> RateObservation {
        RateObservation {
            windows,
            refused: None,
            delay: None,
        }
    }

    async fn hold_many(budget: &LocalBudget, n: usize) -> usize {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(budget.take(Duration::ZERO, Cost::One).await.unwrap());
        }
        held.len()
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_probes_first_and_then_costs_nothing_without_limits() {
        let budget = LocalBudget::default();
        let probe = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        assert!(
            budget.take(Duration::ZERO, Cost::One).await.is_err(),
            "one request at a time until the first answer"
        );
        budget.learn_from(&RateObservation::default());
        drop(probe);
        assert_eq!(hold_many(&budget, 100).await, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_window_holds_requests_until_it_resets() {
        let budget = LocalBudget::default();
        let permit = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        budget.learn_from(&seen(vec![window("organization", 2, 10)]));
        drop(permit);
        let a = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        let b = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        let wait = budget
            .take(Duration::from_secs(1), Cost::One)
            .await
            .unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        drop((a, b));
        let started = Instant::now();
        let _c = budget
            .take(Duration::from_secs(60), Cost::One)
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(9),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_on_an_answer_that_served_holds_the_next_requests_then_is_forgotten() {
        let budget = LocalBudget::default();
        budget.learn_from(&RateObservation {
            windows: vec![window("global", 150, 300)],
            refused: None,
            delay: Some(Duration::from_secs(2)),
        });
        let wait = budget.take(Duration::ZERO, Cost::One).await.unwrap_err();
        assert!(wait > Duration::from_secs(1), "{wait:?}");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(hold_many(&budget, 3).await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn every_scope_binds_and_a_refusal_without_figures_holds_for_its_wait() {
        let budget = LocalBudget::default();
        budget.learn_from(&seen(vec![
            window("organization", 100, 60),
            window("user", 0, 5),
        ]));
        let wait = budget.take(Duration::ZERO, Cost::One).await.unwrap_err();
        assert!(
            wait <= Duration::from_secs(5) && wait > Duration::from_secs(4),
            "{wait:?}"
        );

        let budget = LocalBudget::default();
        budget.learn_from(&RateObservation {
            windows: vec![window("core", 4000, 3000)],
            refused: Some(Some(Duration::from_secs(7))),
            delay: None,
        });
        let wait = budget.take(Duration::ZERO, Cost::One).await.unwrap_err();
        assert!(wait > Duration::from_secs(6), "{wait:?}");
        // Once the refusal's window is over, the scope it made is forgotten, not probed.
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(hold_many(&budget, 3).await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn free_requests_wait_for_a_spent_window_but_do_not_spend_it() {
        let budget = LocalBudget::default();
        budget.learn_from(&seen(vec![window("core", 1, 10)]));
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(
                budget
                    .take(Duration::ZERO, Cost::FreeIfUnchanged)
                    .await
                    .unwrap(),
            );
        }
        let _one = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        assert!(
            budget
                .take(Duration::ZERO, Cost::FreeIfUnchanged)
                .await
                .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_window_lets_one_probe_through_at_a_time() {
        let budget = LocalBudget::default();
        budget.learn_from(&seen(vec![window("organization", 5, 1)]));
        tokio::time::advance(Duration::from_secs(2)).await;
        let probe = budget.take(Duration::ZERO, Cost::One).await.unwrap();
        assert!(
            budget.take(Duration::ZERO, Cost::One).await.is_err(),
            "a second request waits for the probe"
        );
        budget.learn_from(&seen(vec![window("organization", 5, 60)]));
        drop(probe);
        assert!(budget.take(Duration::ZERO, Cost::One).await.is_ok());
    }

    #[test]
    fn runners_of_one_account_and_token_share_a_budget() {
        let store = InProcessStore::default();
        let key = |account: &str, token| BudgetKey {
            api_url: "https://api.example.com/".into(),
            account: account.into(),
            token_fingerprint: token,
        };
        let a = store.local(&key("acme", 1));
        let b = store.local(&key("acme", 1));
        let c = store.local(&key("acme", 2));
        let d = store.local(&key("other", 1));
        assert!(a.same_as(&b));
        assert!(!a.same_as(&c) && !a.same_as(&d));
    }
}
