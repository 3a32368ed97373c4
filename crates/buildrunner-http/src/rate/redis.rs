//! A budget and idempotency-key locks shared by every process through Redis (feature `redis`,
//! option `rate_budget_url = "redis://host:port/db"`).
//!
//! - **Budget.** One hash per [`BudgetKey`], named by a hash of the API URL, the account and
//!   the token's fingerprint (never the token). A take is one Lua script: it reads every
//!   scope's remaining count and reset time, waits out a spent scope, lets one process probe a
//!   window nobody knows yet, and counts the request down, all atomically and on Redis's
//!   clock. An answer's figures are written by a second script, with the same rules as the
//!   in-process budget (a known window never gains requests).
//! - **Locks.** `SET name token NX PX ttl` per (API, account, idempotency key), released by a
//!   compare-and-delete script, so two replicas never both look a key up, find nothing and
//!   create.
//! - **Redis down or slow.** Every Redis call has a short timeout. On a failure the store logs
//!   one warning and answers from the in-process budget (fed with every answer's figures all
//!   along) and without locks, and tries Redis again a few seconds later; it logs when Redis is
//!   back. A build is never failed because of Redis.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use super::budget::{InProcessStore, LocalBudget};
use super::{BudgetKey, BudgetStore, Cost, Permit, RateBudget, RateObservation};

/// The longest a Redis call may take before the store answers without Redis.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the store leaves Redis alone after a failure.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(3);
/// How long one process may probe an unknown window before another may.
const PROBE_LEASE_MS: u64 = 2_000;
/// How long a waiting take sleeps before it asks Redis again, at most.
const RECHECK: Duration = Duration::from_millis(50);
/// How long budget state lives in Redis without use.
const STATE_TTL_MS: u64 = 3_600_000;
/// How long an idempotency-key lock lives if its holder dies.
pub const KEY_LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a trigger waits for another replica's lock on the same key.
pub const KEY_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Counts a request against every known scope, or says how long to wait (in ms).
/// KEYS[1] the budget hash; ARGV: cost (1 counts, 0 waits only), probe lease ms, ttl ms.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local mode = redis.call('HGET', KEYS[1], 'mode')
if mode == 'unlimited' then return 0 end
local function probe()
  local lease = tonumber(redis.call('HGET', KEYS[1], 'probe') or '0')
  if lease > now then return math.min(lease - now, 50) end
  redis.call('HSET', KEYS[1], 'probe', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 0
end
if not mode then return probe() end
local fields = redis.call('HGETALL', KEYS[1])
local until_ = 0
local unknown = false
local scopes = {}
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 2) == 's:' then
    local remaining, reset = string.match(fields[i + 1], '^(-?%d+):(%d+)$')
    remaining = tonumber(remaining)
    reset = tonumber(reset)
    if reset <= now then
      if string.sub(name, 3) == 'refused' then
        redis.call('HDEL', KEYS[1], name)
      else
        unknown = true
      end
    elseif remaining <= 0 then
      if reset > until_ then until_ = reset end
    else
      scopes[#scopes + 1] = {name, remaining, reset}
    end
  end
end
if until_ > 0 then return until_ - now end
if unknown then return probe() end
if cost == 1 then
  for _, s in ipairs(scopes) do
    redis.call('HSET', KEYS[1], s[1], (s[2] - 1) .. ':' .. s[3])
  end
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 0
";

/// Learns an answer's figures. KEYS[1] the budget hash; ARGV: ttl ms, refusal wait ms (-1:
/// not refused), then name, remaining, reset-in ms for each window.
const OBSERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused = tonumber(ARGV[2])
local learned = false
local spent = false
for i = 3, #ARGV, 3 do
  local field = 's:' .. ARGV[i]
  local remaining = tonumber(ARGV[i + 1])
  local reset = now + tonumber(ARGV[i + 2])
  if remaining <= 0 then spent = true end
  local current = redis.call('HGET', KEYS[1], field)
  if current then
    local r, at = string.match(current, '^(-?%d+):(%d+)$')
    r = tonumber(r)
    at = tonumber(at)
    if at > now then
      if r < remaining then remaining = r end
      if at > reset then reset = at end
    end
  end
  redis.call('HSET', KEYS[1], field, remaining .. ':' .. reset)
  learned = true
end
if refused >= 0 then
  if not spent then
    redis.call('HSET', KEYS[1], 's:refused', '0:' .. (now + refused))
  end
  learned = true
end
if learned then
  redis.call('HSET', KEYS[1], 'mode', 'limited')
  redis.call('HDEL', KEYS[1], 'probe')
elseif not redis.call('HGET', KEYS[1], 'mode') then
  redis.call('HSET', KEYS[1], 'mode', 'unlimited')
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 0
";

/// Deletes a lock only if this holder still holds it. KEYS[1] the lock; ARGV[1] the token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The scripts, hashed once: Redis runs them by SHA (`EVALSHA`) after the first call.
struct Scripts {
    take: redis::Script,
    observe: redis::Script,
    unlock: redis::Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        take: redis::Script::new(TAKE),
        observe: redis::Script::new(OBSERVE),
        unlock: redis::Script::new(UNLOCK),
    })
}

/// One Redis server, shared by every runner of the process that names it.
#[derive(Debug)]
pub struct RedisStore {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    down_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
    local: InProcessStore,
}

/// `hash(parts)` in hex: Redis names that carry no URL, account or credential in clear.
fn hashed(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for part in parts {
        part.hash(&mut hasher);
    }
    format!("buildrunner:{prefix}:{:016x}", hasher.finish())
}

impl RedisStore {
    /// The store for `url` (`redis://host:port/db`), one per URL per process.
    ///
    /// # Errors
    ///
    /// A sentence when the URL is not a Redis URL; nothing is connected yet.
    pub fn shared(url: &str) -> Result<Arc<RedisStore>, String> {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<RedisStore>>>> = OnceLock::new();
        let mut stores = STORES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(url) {
            return Ok(Arc::clone(store));
        }
        let client = redis::Client::open(url)
            .map_err(|e| format!("rate_budget_url is not a Redis URL: {}", e.category()))?;
        let store = Arc::new(RedisStore {
            client,
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
            local: InProcessStore::default(),
        });
        stores.insert(url.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    fn resting(&self) -> bool {
        let down = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        down.is_some_and(|until| Instant::now() < until)
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_REDIS_AFTER);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "Redis {what} failed; using the in-process rate budget and no key locks until it answers again");
        }
    }

    fn succeeded(&self) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again; the rate budget is shared again");
        }
    }

    /// The shared connection (a multiplexed one: clones pipeline over one socket), made on
    /// first use and again after a failure.
    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs `call` on the connection within [`REDIS_TIMEOUT`]; `None` (and the store rests)
    /// on a failure.
    async fn call<T, F, Fut>(&self, what: &str, call: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self.resting() {
            return None;
        }
        let attempt = async { call(self.connection().await?).await };
        let failure = match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok(value)) => {
                self.succeeded();
                return Some(value);
            }
            Ok(Err(error)) => error.category().to_owned(),
            Err(_) => "timed out".to_owned(),
        };
        *self.connection.lock().await = None; // a fresh connection next time
        self.failed(what, &failure);
        None
    }

    /// Runs one script; see [`RedisStore::call`].
    async fn run(&self, what: &str, invocation: &redis::ScriptInvocation<'_>) -> Option<i64> {
        self.call(what, |mut connection| async move {
            invocation.invoke_async::<i64>(&mut connection).await
        })
        .await
    }

    /// Holds `key` (an idempotency key of one API and account) against other replicas, for
    /// at most [`KEY_LOCK_TTL`], waiting at most `wait` (and never more than
    /// [`KEY_LOCK_WAIT`]) for another holder; `None` when Redis cannot be asked or the wait
    /// ran out (then the caller goes on without a lock).
    pub async fn lock(
        self: &Arc<Self>,
        scope: &BudgetKey,
        key: &str,
        wait: Duration,
    ) -> Option<KeyLock> {
        let name = hashed("lock", &[&scope.api_url, &scope.account, key]);
        let token = format!("{:032x}", fastrand::u128(..));
        let give_up = Instant::now() + wait.min(KEY_LOCK_WAIT);
        loop {
            let taken = self
                .call("lock", |mut connection| {
                    let (name, token) = (name.clone(), token.clone());
                    async move {
                        let taken: Option<String> = redis::cmd("SET")
                            .arg(name)
                            .arg(token)
                            .arg("NX")
                            .arg("PX")
                            .arg(KEY_LOCK_TTL.as_millis() as u64)
                            .query_async(&mut connection)
                            .await?;
                        Ok(taken.is_some())
                    }
                })
                .await?;
            if taken {
                return Some(KeyLock {
                    store: Arc::clone(self),
                    name,
                    token,
                    released: false,
                });
            }
            if Instant::now() >= give_up {
                tracing::warn!(
                    "another replica held an idempotency key's lock for too long; going on without it"
                );
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A held idempotency-key lock. [`KeyLock::release`] frees it; dropped unreleased, it is
/// freed in the background (or expires).
#[derive(Debug)]
pub struct KeyLock {
    store: Arc<RedisStore>,
    name: String,
    token: String,
    released: bool,
}

impl KeyLock {
    /// Frees the lock if this holder still holds it.
    pub async fn release(mut self) {
        self.released = true;
        let script = &scripts().unlock;
        let mut invocation = script.key(&self.name);
        invocation.arg(&self.token);
        self.store.run("unlock", &invocation).await;
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (store, name, token) = (
            Arc::clone(&self.store),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.token),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let script = &scripts().unlock;
                let mut invocation = script.key(&name);
                invocation.arg(&token);
                store.run("unlock", &invocation).await;
            });
        }
    }
}

impl BudgetStore for Arc<RedisStore> {
    fn budget(&self, key: &BudgetKey) -> Arc<dyn RateBudget> {
        let fingerprint = format!("{:016x}", key.token_fingerprint);
        Arc::new(RedisBudget {
            store: Arc::clone(self),
            name: hashed("budget", &[&key.api_url, &key.account, &fingerprint]),
            local: self.local.local(key),
        })
    }
}

/// One key's budget in Redis, with the in-process budget as its fallback.
#[derive(Debug)]
struct RedisBudget {
    store: Arc<RedisStore>,
    name: String,
    local: LocalBudget,
}

#[async_trait]
impl RateBudget for RedisBudget {
    async fn acquire(&self, patience: Duration, cost: Cost) -> Result<Permit, Duration> {
        let give_up_at = Instant::now() + patience;
        let script = &scripts().take;
        loop {
            let mut invocation = script.key(&self.name);
            invocation
                .arg(u8::from(cost == Cost::One))
                .arg(PROBE_LEASE_MS)
                .arg(STATE_TTL_MS);
            let Some(wait_ms) = self.store.run("rate budget", &invocation).await else {
                return self
                    .local
                    .take(give_up_at.saturating_duration_since(Instant::now()), cost)
                    .await;
            };
            if wait_ms <= 0 {
                return Ok(Permit::with_release(|| {}));
            }
            let wait = Duration::from_millis(wait_ms.unsigned_abs());
            if Instant::now() + wait > give_up_at {
                return Err(wait);
            }
            tokio::time::sleep(wait.min(RECHECK.max(wait / 2))).await;
        }
    }

    async fn observe(&self, observation: &RateObservation) {
        // The fallback keeps the latest figures, so it starts from them if Redis goes away.
        self.local.learn_from(observation);
        let script = &scripts().observe;
        let mut invocation = script.key(&self.name);
        // A delay asked for on a 2xx holds the shared budget as a refusal's wait does.
        let refused = match observation.hold(Duration::from_secs(1)) {
            None => -1,
            Some(wait) => wait.as_millis() as i64,
        };
        invocation.arg(STATE_TTL_MS).arg(refused);
        for window in &observation.windows {
            invocation
                .arg(&window.scope)
                .arg(window.remaining)
                .arg(window.reset_in.as_millis() as u64);
        }
        self.store.run("rate budget", &invocation).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_answers_from_the_process_at_once() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let store = RedisStore::shared("redis://127.0.0.1:1/0").unwrap();
        let key = BudgetKey {
            api_url: "https://api.example.com".into(),
            account: "acme".into(),
            token_fingerprint: 1,
        };
        let budget = store.budget(&key);
        let started = Instant::now();
        for _ in 0..3 {
            let permit = budget.acquire(Duration::from_secs(5), Cost::One).await;
            assert!(permit.is_ok());
        }
        assert!(
            store
                .lock(&key, "k", Duration::from_secs(5))
                .await
                .is_none(),
            "no lock without Redis"
        );
        assert!(
            started.elapsed() < REDIS_TIMEOUT * 2,
            "one failed try, then Redis is left alone: {:?}",
            started.elapsed()
        );
        assert!(RedisStore::shared("http://127.0.0.1:1").is_err());
    }
}
