//! What every backend's webhook receiver shares: constant-time token and HMAC checks, the
//! replay window, the body cap and a bounded memory of deliveries already seen. Each backend
//! keeps its own headers, payloads and rules (`webhook.rs` in its crate).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Token;

/// How far a signed timestamp may be from the arrival time, either way (Buildkite's advice:
/// "for example, 5 minutes").
pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

/// How many delivery ids a [`SeenDeliveries`] remembers by default: hours of deliveries for a
/// busy queue, a few hundred KiB.
pub const SEEN_DELIVERIES: usize = 10_000;

/// The order every receiver checks a delivery in, written once: the size cap, the
/// credentials, the memory of deliveries already seen (for a CI that numbers them), then the
/// event header. Only a verified delivery is remembered, so forged ids cannot crowd out real
/// ones; a repeat and a delivery without an event header are acknowledged and ignored.
#[derive(Debug)]
pub struct ReceiverSteps {
    /// The largest body accepted.
    pub body_limit: usize,
    event_header: Option<&'static str>,
    delivery_header: Option<&'static str>,
    seen: SeenDeliveries,
}

impl ReceiverSteps {
    /// Steps that read the event name from `event_header` and, with `delivery_header`,
    /// ignore a delivery id already seen.
    pub fn new(event_header: &'static str, delivery_header: Option<&'static str>) -> Self {
        ReceiverSteps {
            body_limit: buildrunner_api::webhook::DEFAULT_WEBHOOK_BODY_LIMIT,
            event_header: Some(event_header),
            delivery_header,
            seen: SeenDeliveries::default(),
        }
    }

    /// Steps for a sender that names its events in the body, not in a header (Jenkins'
    /// Notification plugin, Azure DevOps' service hooks): every verified delivery is read,
    /// with an empty event name.
    pub fn events_in_body() -> Self {
        ReceiverSteps {
            event_header: None,
            ..ReceiverSteps::new("", None)
        }
    }

    /// Runs the steps: `authenticate` checks the credentials, `read` turns the event name and
    /// body of a verified, first-seen delivery into an event.
    ///
    /// # Errors
    ///
    /// [`WebhookError::TooLarge`] over the cap, and whatever `authenticate` refuses.
    pub fn receive(
        &self,
        delivery: &WebhookDelivery,
        authenticate: impl FnOnce(&WebhookDelivery) -> Result<(), WebhookError>,
        read: impl FnOnce(&str, &[u8]) -> WebhookEvent,
    ) -> Result<WebhookEvent, WebhookError> {
        check_body_size(delivery, self.body_limit)?;
        authenticate(delivery)?;
        if let Some(id) = self.delivery_header.and_then(|name| delivery.header(name))
            && !self.seen.first_time(id)
        {
            return Ok(WebhookEvent::ignored("a delivery already received"));
        }
        let Some(name) = self.event_header else {
            return Ok(read("", delivery.body()));
        };
        Ok(match delivery.header(name) {
            Some(event) => read(event, delivery.body()),
            None => WebhookEvent::ignored(format!("no {name} header")),
        })
    }
}

/// One CI's webhook format: its steps, how its credentials are checked and how its payloads
/// read. [`Webhooks`] makes a [`WebhookReceiver`] of it.
pub trait WebhookFormat: std::fmt::Debug + Send + Sync {
    /// The steps and the cap.
    fn steps(&self) -> &ReceiverSteps;

    /// Checks the delivery's token or signature.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Unauthenticated`] when they are missing or wrong.
    fn authenticate(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError>;

    /// What a verified, first-seen delivery of event `event` says.
    fn read(&self, event: &str, body: &[u8]) -> WebhookEvent;
}

/// The [`WebhookReceiver`] of a [`WebhookFormat`].
#[derive(Debug)]
pub struct Webhooks<F>(pub F);

impl<F: WebhookFormat> WebhookReceiver for Webhooks<F> {
    fn max_body_bytes(&self) -> usize {
        self.0.steps().body_limit
    }

    fn receive(&self, delivery: &WebhookDelivery) -> Result<WebhookEvent, WebhookError> {
        let format = &self.0;
        format.steps().receive(
            delivery,
            |delivery| format.authenticate(delivery),
            |event, body| format.read(event, body),
        )
    }
}

/// What a sender that signs nothing and posts JSON says, read from its parsed body.
pub trait JsonEvents: std::fmt::Debug + Send + Sync {
    /// The event a verified delivery's JSON body means.
    fn event(&self, payload: &serde_json::Value) -> WebhookEvent;
}

/// The webhook format of a sender that signs nothing, whose only credential is the user info
/// of its target URL (Jenkins' Notification plugin, Azure DevOps' service hooks): the secret
/// must be the `Authorization: Basic` password, the body is JSON (anything else is ignored),
/// and the event is named in the body.
#[derive(Debug)]
pub struct BasicPasswordJson<E> {
    secret: Token,
    steps: ReceiverSteps,
    events: E,
}

impl<E: JsonEvents> BasicPasswordJson<E> {
    /// The receiver of `events`, authenticated by `secret`.
    pub fn new(secret: Token, events: E) -> Webhooks<Self> {
        Webhooks(BasicPasswordJson {
            secret,
            steps: ReceiverSteps::events_in_body(),
            events,
        })
    }
}

impl<E: JsonEvents> WebhookFormat for BasicPasswordJson<E> {
    fn steps(&self) -> &ReceiverSteps {
        &self.steps
    }

    fn authenticate(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError> {
        check_basic_password(&self.secret, delivery)
    }

    fn read(&self, _event: &str, body: &[u8]) -> WebhookEvent {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(payload) => self.events.event(&payload),
            Err(_) => WebhookEvent::ignored("the body is not JSON"),
        }
    }
}

/// `Ok` when header `name` holds the secret itself (GitLab's `X-Gitlab-Token`, Buildkite's
/// `X-Buildkite-Token`), compared in constant time.
///
/// # Errors
///
/// [`WebhookError::Unauthenticated`] when the header is missing or wrong.
pub fn check_token(
    secret: &Token,
    delivery: &WebhookDelivery,
    name: &str,
) -> Result<(), WebhookError> {
    match delivery.header(name) {
        Some(sent) if token_matches(secret, sent) => Ok(()),
        Some(_) => Err(unauthenticated("wrong token")),
        None => Err(unauthenticated("no token header")),
    }
}

/// `Ok` when `Authorization: Basic` carries the secret as its password, compared in constant
/// time, whatever the user: what a sender that signs nothing but takes user info in its
/// target URL can send (Jenkins' Notification plugin, Azure DevOps' service hooks).
///
/// # Errors
///
/// [`WebhookError::Unauthenticated`] when the header is missing, not Basic, not base64 of
/// `user:password`, or the password is wrong.
pub fn check_basic_password(
    secret: &Token,
    delivery: &WebhookDelivery,
) -> Result<(), WebhookError> {
    use base64::Engine as _;
    let Some(sent) = delivery.header("Authorization") else {
        return Err(unauthenticated("no Authorization header"));
    };
    let encoded = sent
        .strip_prefix("Basic ")
        .or_else(|| sent.strip_prefix("basic "))
        .ok_or_else(|| unauthenticated("Authorization is not Basic"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthenticated("Basic credentials are not base64"))?;
    let password = decoded
        .iter()
        .position(|&b| b == b':')
        .map(|colon| &decoded[colon + 1..])
        .ok_or_else(|| unauthenticated("Basic credentials have no password"))?;
    if bool::from(secret.expose().as_bytes().ct_eq(password)) {
        Ok(())
    } else {
        Err(unauthenticated("wrong password"))
    }
}

/// A refusal for a missing or wrong credential.
pub fn unauthenticated(reason: &'static str) -> WebhookError {
    WebhookError::Unauthenticated { reason }
}

/// `Err(TooLarge)` when the body is over `limit`.
///
/// # Errors
///
/// [`WebhookError::TooLarge`].
pub fn check_body_size(delivery: &WebhookDelivery, limit: usize) -> Result<(), WebhookError> {
    let size = delivery.body().len();
    if size > limit {
        return Err(WebhookError::TooLarge { size, limit });
    }
    Ok(())
}

/// Whether a token sent in clear text (GitLab's `X-Gitlab-Token`, Buildkite's
/// `X-Buildkite-Token`) is the secret, compared in constant time.
pub fn token_matches(secret: &Token, sent: &str) -> bool {
    secret.expose().as_bytes().ct_eq(sent.as_bytes()).into()
}

/// Whether `hex_signature` is the HMAC-SHA256 of the concatenated `parts` keyed with the
/// secret, compared in constant time. Malformed hex is simply not a match.
pub fn hmac_sha256_matches(secret: &Token, parts: &[&[u8]], hex_signature: &str) -> bool {
    let Some(expected) = decode_hex(hex_signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

/// Whether a signed Unix timestamp lies within [`SIGNATURE_WINDOW`] of `arrival`.
pub fn within_window(signed_at_secs: u64, arrival: SystemTime) -> bool {
    let signed_at = UNIX_EPOCH + Duration::from_secs(signed_at_secs);
    let skew = match arrival.duration_since(signed_at) {
        Ok(late) => late,
        Err(early) => early.duration(),
    };
    skew <= SIGNATURE_WINDOW
}

/// A bounded memory of delivery ids (GitHub's `X-GitHub-Delivery`, GitLab's
/// `Idempotency-Key`), so a redelivery is acknowledged and ignored. The oldest id is
/// forgotten first.
#[derive(Debug)]
pub struct SeenDeliveries {
    capacity: usize,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl SeenDeliveries {
    /// Remembers up to `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        SeenDeliveries {
            capacity: capacity.max(1),
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// Records `id`; `false` when it was already seen.
    pub fn first_time(&self, id: &str) -> bool {
        let mut guard = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > self.capacity
            && let Some(oldest) = order.pop_front()
        {
            set.remove(&oldest);
        }
        true
    }
}

impl Default for SeenDeliveries {
    fn default() -> Self {
        SeenDeliveries::new(SEEN_DELIVERIES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Token {
        Token::multiline(text).unwrap()
    }

    #[test]
    fn basic_password_is_the_secret_whatever_the_user() {
        let key = secret("hook-secret");
        let with = |value: &str| {
            let delivery =
                WebhookDelivery::new(vec![("authorization".into(), value.into())], b"{}".to_vec());
            check_basic_password(&key, &delivery)
        };
        // base64("jenkins:hook-secret"), base64(":hook-secret")
        assert_eq!(with("Basic amVua2luczpob29rLXNlY3JldA=="), Ok(()));
        assert_eq!(with("Basic Omhvb2stc2VjcmV0"), Ok(()));
        // base64("jenkins:hook-secreT"), base64("hook-secret"), not base64, bearer
        for wrong in [
            "Basic amVua2luczpob29rLXNlY3JlVA==",
            "Basic aG9vay1zZWNyZXQ=",
            "Basic %%%",
            "Bearer hook-secret",
        ] {
            assert!(
                matches!(with(wrong), Err(WebhookError::Unauthenticated { .. })),
                "{wrong}"
            );
        }
        let none = WebhookDelivery::new(Vec::new(), b"{}".to_vec());
        assert!(check_basic_password(&key, &none).is_err());
    }

    #[test]
    fn github_published_test_vector() {
        // docs.github.com "Validating webhook deliveries": this secret and payload give this
        // signature.
        let key = secret("It's a Secret to Everybody");
        let signature = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(hmac_sha256_matches(
            &key,
            &[b"Hello, ", b"World!"],
            signature
        ));
        assert!(!hmac_sha256_matches(&key, &[b"Hello, World?"], signature));
        assert!(!hmac_sha256_matches(
            &secret("other"),
            &[b"Hello, World!"],
            signature
        ));
        for malformed in ["", "zz", "757", &signature[..62], "ü7"] {
            assert!(!hmac_sha256_matches(&key, &[b"Hello, World!"], malformed));
        }
    }

    #[test]
    fn tokens_compare_whole() {
        let key = secret("s3cret");
        assert!(token_matches(&key, "s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3CRET", "s3cret\0"] {
            assert!(!token_matches(&key, wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(within_window(1_700_000_000, now));
        assert!(within_window(1_700_000_000 - 300, now));
        assert!(within_window(1_700_000_000 + 300, now));
        assert!(!within_window(1_700_000_000 - 301, now));
        assert!(!within_window(1_700_000_000 + 301, now));
    }

    #[test]
    fn bodies_over_the_cap_are_refused() {
        let delivery = WebhookDelivery::new(vec![], vec![b'x'; 11]);
        assert_eq!(check_body_size(&delivery, 11), Ok(()));
        assert_eq!(
            check_body_size(&delivery, 10),
            Err(WebhookError::TooLarge {
                size: 11,
                limit: 10
            })
        );
    }

    #[test]
    fn the_steps_run_in_order_and_remember_only_verified_deliveries() {
        let steps = ReceiverSteps::new("X-Event", Some("X-Delivery"));
        let key = secret("k");
        let delivery = |token: &str, id: &str| {
            WebhookDelivery::new(
                vec![
                    ("X-Token".into(), token.into()),
                    ("X-Delivery".into(), id.into()),
                    ("X-Event".into(), "build".into()),
                ],
                b"{}".to_vec(),
            )
        };
        let read =
            |event: &str, body: &[u8]| WebhookEvent::ignored(format!("{event} {}", body.len()));
        let auth = |d: &WebhookDelivery| check_token(&key, d, "X-Token");
        assert_eq!(
            steps.receive(&delivery("bad", "1"), auth, read),
            Err(unauthenticated("wrong token"))
        );
        assert_eq!(
            steps.receive(&delivery("k", "1"), auth, read),
            Ok(WebhookEvent::ignored("build 2"))
        );
        assert_eq!(
            steps.receive(&delivery("k", "1"), auth, read),
            Ok(WebhookEvent::ignored("a delivery already received"))
        );
        let no_event = WebhookDelivery::new(vec![("X-Token".into(), "k".into())], b"{}".to_vec());
        assert_eq!(
            steps.receive(&no_event, auth, read),
            Ok(WebhookEvent::ignored("no X-Event header"))
        );
        assert_eq!(
            steps.receive(&WebhookDelivery::new(vec![], b"{}".to_vec()), auth, read),
            Err(unauthenticated("no token header"))
        );
    }

    #[test]
    fn seen_deliveries_forget_the_oldest() {
        let seen = SeenDeliveries::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"));
        assert!(seen.first_time("a"), "a was forgotten after two newer ids");
        assert!(!seen.first_time("c"));
    }
}
