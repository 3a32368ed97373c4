//! Webhooks the emulators send on every build state change, with faults a real CI's delivery
//! has: drops, delays, duplicates, reordering and bad signatures. A platform says what changed
//! and how a body is authenticated ([`WebhookSource`]); the engine watches, misbehaves and sends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Emulation, Emulator, Phase, Platform};

/// How often the engine looks for state changes to announce.
pub const WEBHOOK_TICK: Duration = Duration::from_millis(10);

/// The odds of each delivery fault, each from 0 (never) to 1 (always).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WebhookFaults {
    /// The delivery is never sent.
    pub drop: f64,
    /// The delivery is sent twice.
    pub duplicate: f64,
    /// The delivery is sent `delay_by` late.
    pub delay: f64,
    /// How late a delayed delivery is.
    pub delay_by: Duration,
    /// The delivery is held back and sent after the next one.
    pub reorder: f64,
    /// The delivery is authenticated with the wrong secret.
    pub bad_signature: f64,
}

/// Where and how an emulator sends its webhooks.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    /// The URL every delivery is POSTed to.
    pub url: String,
    /// The webhook token or secret.
    pub secret: String,
    /// Buildkite only: sign (`X-Buildkite-Signature`) instead of sending the token.
    pub signed: bool,
    /// What goes wrong, and how often.
    pub faults: WebhookFaults,
}

impl WebhookTarget {
    /// Deliveries to `url` authenticated with `secret`, token mode, without faults.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        WebhookTarget {
            url: url.into(),
            secret: secret.into(),
            signed: false,
            faults: WebhookFaults::default(),
        }
    }
}

/// One delivery before it is authenticated.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event headers (not the credentials).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// What the sender did so far.
#[derive(Debug, Default)]
pub struct WebhookCounts {
    /// State changes announced (before faults).
    pub changes: AtomicU64,
    /// POSTs answered with a 2xx.
    pub delivered: AtomicU64,
    /// POSTs answered otherwise, or not at all.
    pub failed: AtomicU64,
    /// Deliveries dropped on purpose.
    pub dropped: AtomicU64,
    /// Deliveries sent twice on purpose.
    pub duplicated: AtomicU64,
    /// Deliveries sent late on purpose.
    pub delayed: AtomicU64,
    /// Deliveries held back behind the next one.
    pub reordered: AtomicU64,
    /// Deliveries signed with the wrong secret.
    pub bad_signatures: AtomicU64,
}

impl WebhookCounts {
    /// A count's current value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The builds whose state changes are announced, and the phase each was last announced in.
#[derive(Debug)]
pub struct PhaseWatch<K> {
    live: HashMap<K, Option<Phase>>,
}

impl<K> Default for PhaseWatch<K> {
    fn default() -> Self {
        PhaseWatch {
            live: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> PhaseWatch<K> {
    /// Watches a build (a new one, or one whose life started over).
    pub fn watch(&mut self, key: K) {
        self.live.insert(key, None);
    }

    /// The watched builds whose phase (by `phase_of`) differs from the last one announced,
    /// with the new phase; finished builds are announced once and then forgotten, as are
    /// builds `phase_of` no longer finds.
    pub fn changes(&mut self, mut phase_of: impl FnMut(&K) -> Option<Phase>) -> Vec<(K, Phase)> {
        let mut changed = Vec::new();
        self.live.retain(|key, announced| {
            let Some(phase) = phase_of(key) else {
                return false;
            };
            if *announced != Some(phase) {
                *announced = Some(phase);
                changed.push((key.clone(), phase));
            }
            !phase.is_finished()
        });
        changed
    }
}

/// A platform that can announce its builds' changes.
pub trait WebhookSource: Platform {
    /// Deliveries for the watched builds whose phase changed since the last call.
    fn phase_changes(&self, now: Instant) -> Vec<Delivery>;

    /// The headers that authenticate `body` with `secret` (`signed`: Buildkite's signature
    /// mode).
    fn credentials(&self, body: &[u8], secret: &str, signed: bool) -> Vec<(String, String)>;
}

/// The lowercase hex HMAC-SHA256 of `message` keyed with `secret`, as CIs sign webhooks.
/// Written here, not borrowed from the clients, so a client's verification is checked
/// against an independent signer.
pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl<S: WebhookSource + Emulation> Emulator<S> {
    /// Starts sending webhooks to `target` for every build created from now on, replacing any
    /// earlier target. Returns the sender's counts.
    pub fn send_webhooks(&self, target: WebhookTarget) -> Arc<WebhookCounts> {
        let counts = Arc::new(WebhookCounts::default());
        let task = tokio::spawn(send_loop(
            Arc::downgrade(self.shared_platform()),
            target,
            Arc::clone(&counts),
        ));
        Platform::engine(self.platform()).start_webhooks(task);
        counts
    }
}

fn roll(odds: f64) -> bool {
    odds > 0.0 && fastrand::f64() < odds
}

async fn send_loop<S: WebhookSource>(
    source: Weak<S>,
    target: WebhookTarget,
    counts: Arc<WebhookCounts>,
) {
    let client = reqwest::Client::new();
    let mut held_back: Option<Delivery> = None;
    loop {
        tokio::time::sleep(WEBHOOK_TICK).await;
        let Some(platform) = source.upgrade() else {
            return;
        };
        let mut batch = Vec::new();
        for delivery in platform.phase_changes(Instant::now()) {
            counts.changes.fetch_add(1, Ordering::Relaxed);
            let faults = &target.faults;
            if roll(faults.drop) {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let secret = if roll(faults.bad_signature) {
                counts.bad_signatures.fetch_add(1, Ordering::Relaxed);
                format!("not-{}", target.secret)
            } else {
                target.secret.clone()
            };
            let mut request = delivery;
            let credentials = platform.credentials(&request.body, &secret, target.signed);
            request.headers.extend(credentials);
            if roll(faults.delay) {
                counts.delayed.fetch_add(1, Ordering::Relaxed);
                let (client, url, counts) =
                    (client.clone(), target.url.clone(), Arc::clone(&counts));
                let delay = faults.delay_by;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    post(&client, &url, request, &counts).await;
                });
                continue;
            }
            if roll(faults.duplicate) {
                counts.duplicated.fetch_add(1, Ordering::Relaxed);
                batch.push(request.clone());
            }
            if held_back.is_none() && roll(faults.reorder) {
                counts.reordered.fetch_add(1, Ordering::Relaxed);
                held_back = Some(request);
                continue;
            }
            batch.push(request);
            batch.extend(held_back.take());
        }
        drop(platform);
        if !batch.is_empty() {
            // Sent in order on a task of their own, so a slow receiver does not stall the
            // watch.
            let (client, url, counts) = (client.clone(), target.url.clone(), Arc::clone(&counts));
            tokio::spawn(async move {
                for request in batch {
                    post(&client, &url, request, &counts).await;
                }
            });
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    Delivery { headers, body }: Delivery,
    counts: &WebhookCounts,
) {
    let mut request = client
        .post(url)
        .timeout(Duration::from_secs(10))
        .header("Content-Type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let delivered = request
        .send()
        .await
        .is_ok_and(|answer| answer.status().is_success());
    let counter = if delivered {
        &counts.delivered
    } else {
        &counts.failed
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_matches_githubs_published_vector() {
        assert_eq!(
            hmac_sha256_hex("It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn each_phase_is_announced_once_and_finished_builds_are_forgotten() {
        let mut watch = PhaseWatch::default();
        watch.watch(1);
        watch.watch(2);
        let mut phases = HashMap::from([(1, Phase::Queued), (2, Phase::Running)]);
        let mut changes = watch.changes(|key| phases.get(key).copied());
        changes.sort_by_key(|(key, _)| *key);
        assert_eq!(changes, vec![(1, Phase::Queued), (2, Phase::Running)]);
        assert!(watch.changes(|key| phases.get(key).copied()).is_empty());
        phases.insert(1, Phase::Passed);
        assert_eq!(
            watch.changes(|key| phases.get(key).copied()),
            vec![(1, Phase::Passed)]
        );
        phases.remove(&2);
        assert!(watch.changes(|key| phases.get(key).copied()).is_empty());
        assert!(
            watch.live.is_empty(),
            "finished and vanished builds are forgotten"
        );
    }
}
