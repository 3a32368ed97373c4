//! Buildkite's pipeline webhooks: `X-Buildkite-Token` (the token in clear text) or
//! `X-Buildkite-Signature: timestamp=..,signature=..` (HMAC-SHA256 of `"{timestamp}.{body}"`
//! keyed with the token, refused outside a 5-minute window), and the `build.*` events.

use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver};
use buildrunner_http::webhook::{
    ReceiverSteps, WebhookFormat, Webhooks, check_token, hmac_sha256_matches, unauthenticated,
    within_window,
};
use buildrunner_http::{NumberedIds, Token};

use crate::BuildkiteConfig;
use serde_json::Value;

use crate::map_state;

/// Reads the webhooks of one Buildkite pipeline.
#[derive(Debug)]
pub struct BuildkiteWebhooks {
    token: Token,
    organization: String,
    pipeline: String,
    ids: NumberedIds,
    steps: ReceiverSteps,
}

impl BuildkiteWebhooks {
    fn new(token: Token, config: &BuildkiteConfig) -> Self {
        BuildkiteWebhooks {
            token,
            organization: config.organization.clone(),
            pipeline: config.pipeline.clone(),
            ids: config.ids(),
            // Buildkite numbers no delivery; a repeat only costs a poll.
            steps: ReceiverSteps::new("X-Buildkite-Event", None),
        }
    }
}

impl WebhookFormat for BuildkiteWebhooks {
    fn steps(&self) -> &ReceiverSteps {
        &self.steps
    }

    fn authenticate(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError> {
        if let Some(header) = delivery.header("X-Buildkite-Signature") {
            let (timestamp, signature) = signature_parts(header)
                .ok_or_else(|| unauthenticated("malformed X-Buildkite-Signature header"))?;
            let signed = [timestamp.as_bytes(), b".", delivery.body()];
            if !hmac_sha256_matches(&self.token, &signed, signature) {
                return Err(unauthenticated("wrong X-Buildkite-Signature"));
            }
            let fresh = timestamp
                .parse()
                .is_ok_and(|secs| within_window(secs, delivery.arrival()));
            if !fresh {
                return Err(unauthenticated(
                    "X-Buildkite-Signature timestamp outside the 5-minute window",
                ));
            }
            return Ok(());
        }
        check_token(&self.token, delivery, "X-Buildkite-Token")
    }

    fn read(&self, event: &str, body: &[u8]) -> WebhookEvent {
        if !event.starts_with("build.") {
            return WebhookEvent::ignored(format!("event {event}"));
        }
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return WebhookEvent::ignored("the body is not JSON");
        };
        let build = &payload["build"];
        let (Some(number), Some(state)) = (build["number"].as_u64(), build["state"].as_str())
        else {
            return WebhookEvent::ignored("no build number or state");
        };
        if payload["pipeline"]["slug"].as_str() != Some(self.pipeline.as_str()) {
            return WebhookEvent::ignored("another pipeline");
        }
        // Build events carry no organization; the build's API url names it.
        if build_organization(build).is_some_and(|org| org != self.organization) {
            return WebhookEvent::ignored("another organization");
        }
        let blocked = build["blocked"].as_bool().unwrap_or(false);
        WebhookEvent::Build {
            id: self.ids.format(number),
            status: map_state(state, blocked),
        }
    }
}

/// `timestamp=1619071700,signature=ab12..` in any order, spaces tolerated.
fn signature_parts(header: &str) -> Option<(&str, &str)> {
    let (mut timestamp, mut signature) = (None, None);
    for pair in header.split(',') {
        match pair.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("timestamp", value)) => timestamp = Some(value),
            Some(("signature", value)) => signature = Some(value),
            _ => {}
        }
    }
    Some((timestamp?, signature?))
}

/// `acme` from `https://api.buildkite.com/v2/organizations/acme/pipelines/app/builds/42`.
fn build_organization(build: &Value) -> Option<&str> {
    let url = build["url"].as_str()?;
    let mut segments = url.split('/');
    segments.find(|segment| *segment == "organizations")?;
    segments.next()
}

/// The receiver `config` asks for: `None` without a webhook secret.
pub(crate) fn receiver(config: &BuildkiteConfig) -> Option<Box<dyn WebhookReceiver>> {
    let token = config.webhook_secret.clone()?;
    Some(Box::new(Webhooks(BuildkiteWebhooks::new(token, config))))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use buildrunner_api::{BuildId, BuildStatus};
    use buildrunner_emulator_engine::hmac_sha256_hex;

    use buildrunner_api::WebhookReceiver;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn receiver() -> Webhooks<BuildkiteWebhooks> {
        let config = BuildkiteConfig::new("acme", "app").unwrap();
        Webhooks(BuildkiteWebhooks::new(
            Token::multiline("wh-token").unwrap(),
            &config,
        ))
    }

    #[test]
    fn a_queue_reads_webhooks_only_with_a_secret() {
        let mut config = BuildkiteConfig::new("acme", "app").unwrap();
        assert!(super::receiver(&config).is_none());
        config.webhook_secret = Some(Token::multiline("wh-token").unwrap());
        assert!(super::receiver(&config).is_some());
    }

    fn body(event: &str, pipeline: &str, number: u64, state: &str, blocked: bool) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "event": event,
            "build": {
                "id": "f1", "number": number, "state": state, "blocked": blocked,
                "url": format!("https://api.buildkite.com/v2/organizations/acme/pipelines/{pipeline}/builds/{number}"),
                "meta_data": {}
            },
            "pipeline": {"slug": pipeline},
            "sender": {"id": "s", "name": "n"}
        }))
        .unwrap()
    }

    fn delivery(event: &str, auth: (&str, String), body: Vec<u8>) -> WebhookDelivery {
        WebhookDelivery::new(
            vec![
                ("X-Buildkite-Event".into(), event.into()),
                (auth.0.into(), auth.1),
            ],
            body,
        )
        .received_at(UNIX_EPOCH + Duration::from_secs(NOW))
    }

    fn signed(event: &str, body: Vec<u8>, key: &str, at: u64) -> WebhookDelivery {
        let mut message = format!("{at}.").into_bytes();
        message.extend_from_slice(&body);
        let signature = hmac_sha256_hex(key, &message);
        let header = format!("timestamp={at}, signature={signature}");
        delivery(event, ("X-Buildkite-Signature", header), body)
    }

    #[test]
    fn a_token_delivery_names_the_build_and_its_claimed_status() {
        let body = body("build.finished", "app", 42, "failed", false);
        let event = receiver()
            .receive(&delivery(
                "build.finished",
                ("X-Buildkite-Token", "wh-token".into()),
                body,
            ))
            .unwrap();
        assert_eq!(
            event,
            WebhookEvent::Build {
                id: BuildId::new("acme/app/42"),
                status: BuildStatus::Failed
            }
        );
    }

    #[test]
    fn a_signed_delivery_is_checked_and_its_window_enforced() {
        let payload = || body("build.finished", "app", 7, "passed", true);
        let event = receiver()
            .receive(&signed("build.finished", payload(), "wh-token", NOW - 60))
            .unwrap();
        assert_eq!(
            event,
            WebhookEvent::Build {
                id: BuildId::new("acme/app/7"),
                status: BuildStatus::Running
            },
            "passed while blocked is not green"
        );
        for (delivery, why) in [
            (
                signed("build.finished", payload(), "other", NOW),
                "wrong key",
            ),
            (
                signed("build.finished", payload(), "wh-token", NOW - 301),
                "too old",
            ),
            (
                signed("build.finished", payload(), "wh-token", NOW + 301),
                "from the future",
            ),
            (
                delivery(
                    "build.finished",
                    ("X-Buildkite-Signature", "signature=00".into()),
                    payload(),
                ),
                "no timestamp",
            ),
            (
                delivery(
                    "build.finished",
                    ("X-Buildkite-Token", "wh-tokeN".into()),
                    payload(),
                ),
                "wrong token",
            ),
            (
                delivery("build.finished", ("X-Other", "wh-token".into()), payload()),
                "no credential",
            ),
        ] {
            let refused = receiver().receive(&delivery);
            assert!(
                matches!(refused, Err(WebhookError::Unauthenticated { .. })),
                "{why}: {refused:?}"
            );
        }
        // A body changed after signing fails even with the right timestamp.
        let mut tampered = signed("build.finished", payload(), "wh-token", NOW);
        tampered = WebhookDelivery::new(
            vec![
                ("X-Buildkite-Event".into(), "build.finished".into()),
                (
                    "X-Buildkite-Signature".into(),
                    tampered.header("X-Buildkite-Signature").unwrap().to_owned(),
                ),
            ],
            body("build.finished", "app", 8, "passed", false),
        )
        .received_at(UNIX_EPOCH + Duration::from_secs(NOW));
        assert!(receiver().receive(&tampered).is_err());
    }

    #[test]
    fn other_events_pipelines_and_garbage_are_acknowledged_and_ignored() {
        let token = || ("X-Buildkite-Token", "wh-token".to_owned());
        for (event, body) in [
            ("ping", b"{}".to_vec()),
            (
                "job.finished",
                body("job.finished", "app", 1, "passed", false),
            ),
            (
                "build.finished",
                body("build.finished", "other", 1, "passed", false),
            ),
            ("build.finished", b"not json".to_vec()),
            ("build.finished", br#"{"build": {"number": "x"}}"#.to_vec()),
        ] {
            let answer = receiver().receive(&delivery(event, token(), body)).unwrap();
            assert!(
                matches!(answer, WebhookEvent::Ignored { .. }),
                "{event}: {answer:?}"
            );
        }
        let no_event = WebhookDelivery::new(
            vec![token()]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            b"{}".to_vec(),
        );
        assert!(matches!(
            receiver().receive(&no_event),
            Ok(WebhookEvent::Ignored { .. })
        ));
    }

    #[test]
    fn a_body_over_the_cap_is_refused_before_anything_else() {
        let mut receiver = receiver();
        receiver.0.steps.body_limit = 10;
        let big = delivery("build.finished", ("X-Other", String::new()), vec![b' '; 11]);
        assert_eq!(
            receiver.receive(&big),
            Err(WebhookError::TooLarge {
                size: 11,
                limit: 10
            })
        );
    }
}
