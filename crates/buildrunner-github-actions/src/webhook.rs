//! GitHub's `workflow_run` webhooks: `X-Hub-Signature-256: sha256=<hex HMAC of the body>`
//! (no timestamp is signed, so replays are caught by remembering `X-GitHub-Delivery`, which
//! a redelivery repeats).

use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver};
use buildrunner_http::webhook::{
    ReceiverSteps, WebhookFormat, Webhooks, hmac_sha256_matches, unauthenticated,
};
use buildrunner_http::{NumberedIds, Token};

use crate::GitHubActionsConfig;
use serde_json::Value;

use crate::map_run;

/// Reads the `workflow_run` webhooks of one repository.
#[derive(Debug)]
pub struct GitHubWebhooks {
    secret: Token,
    repository: String,
    ids: NumberedIds,
    steps: ReceiverSteps,
}

impl GitHubWebhooks {
    fn new(secret: Token, config: &GitHubActionsConfig) -> Self {
        GitHubWebhooks {
            secret,
            repository: format!("{}/{}", config.owner, config.repo),
            ids: config.ids(),
            steps: ReceiverSteps::new("X-GitHub-Event", Some("X-GitHub-Delivery")),
        }
    }
}

impl WebhookFormat for GitHubWebhooks {
    fn steps(&self) -> &ReceiverSteps {
        &self.steps
    }

    fn authenticate(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError> {
        let header = delivery
            .header("X-Hub-Signature-256")
            .ok_or_else(|| unauthenticated("no X-Hub-Signature-256 header"))?;
        let signature = header
            .strip_prefix("sha256=")
            .ok_or_else(|| unauthenticated("X-Hub-Signature-256 does not start with sha256="))?;
        if !hmac_sha256_matches(&self.secret, &[delivery.body()], signature) {
            return Err(unauthenticated("wrong X-Hub-Signature-256"));
        }
        Ok(())
    }

    fn read(&self, event: &str, body: &[u8]) -> WebhookEvent {
        if event != "workflow_run" {
            return WebhookEvent::ignored(format!("event {event}"));
        }
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return WebhookEvent::ignored("the body is not JSON");
        };
        let run = &payload["workflow_run"];
        let (Some(run_id), Some(status)) = (run["id"].as_u64(), run["status"].as_str()) else {
            return WebhookEvent::ignored("no run id or status");
        };
        let repository = payload["repository"]["full_name"].as_str();
        if !repository.is_some_and(|name| name.eq_ignore_ascii_case(&self.repository)) {
            return WebhookEvent::ignored("another repository");
        }
        WebhookEvent::Build {
            id: self.ids.format(run_id),
            status: map_run(status, run["conclusion"].as_str()),
        }
    }
}

/// The receiver `config` asks for: `None` without a webhook secret.
pub(crate) fn receiver(config: &GitHubActionsConfig) -> Option<Box<dyn WebhookReceiver>> {
    let secret = config.webhook_secret.clone()?;
    Some(Box::new(Webhooks(GitHubWebhooks::new(secret, config))))
}

#[cfg(test)]
mod tests {
    use buildrunner_api::{BuildId, BuildStatus};
    use buildrunner_emulator_engine::hmac_sha256_hex;

    use buildrunner_api::WebhookReceiver;

    use super::*;

    fn receiver() -> Webhooks<GitHubWebhooks> {
        let config = GitHubActionsConfig::new("Octo-Org", "app", "ci.yml").unwrap();
        let secret = Token::multiline("It's a Secret to Everybody").unwrap();
        Webhooks(GitHubWebhooks::new(secret, &config))
    }

    #[test]
    fn a_queue_reads_webhooks_only_with_a_secret() {
        let mut config = GitHubActionsConfig::new("octo", "app", "ci.yml").unwrap();
        assert!(super::receiver(&config).is_none());
        config.webhook_secret = Some(Token::multiline("s").unwrap());
        assert!(super::receiver(&config).is_some());
    }

    fn run_body(repository: &str, id: u64, status: &str, conclusion: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "action": "completed",
            "workflow_run": {"id": id, "run_attempt": 1, "status": status, "conclusion": conclusion},
            "repository": {"full_name": repository},
        }))
        .unwrap()
    }

    fn delivery(event: &str, guid: &str, signature: String, body: Vec<u8>) -> WebhookDelivery {
        WebhookDelivery::new(
            vec![
                ("X-GitHub-Event".into(), event.into()),
                ("X-GitHub-Delivery".into(), guid.into()),
                ("X-Hub-Signature-256".into(), signature),
            ],
            body,
        )
    }

    fn signed(event: &str, guid: &str, body: Vec<u8>) -> WebhookDelivery {
        let signature = format!(
            "sha256={}",
            hmac_sha256_hex("It's a Secret to Everybody", &body)
        );
        delivery(event, guid, signature, body)
    }

    #[test]
    fn the_published_test_vector_is_accepted() {
        // docs.github.com: this secret signs "Hello, World!" as below. Not a run payload, so it
        // is acknowledged and ignored, but it passes the signature check.
        let vector = delivery(
            "workflow_run",
            "guid-0",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".into(),
            b"Hello, World!".to_vec(),
        );
        assert_eq!(
            receiver().receive(&vector),
            Ok(WebhookEvent::ignored("the body is not JSON"))
        );
    }

    #[test]
    fn a_completed_run_is_a_hint_and_a_redelivery_is_ignored() {
        let receiver = receiver();
        let body = || run_body("octo-org/APP", 30433642, "completed", Some("cancelled"));
        let expected = WebhookEvent::Build {
            id: BuildId::new("Octo-Org/app/30433642"),
            status: BuildStatus::Cancelled,
        };
        assert_eq!(
            receiver.receive(&signed("workflow_run", "g1", body())),
            Ok(expected)
        );
        assert!(matches!(
            receiver.receive(&signed("workflow_run", "g1", body())),
            Ok(WebhookEvent::Ignored { .. })
        ));
        assert!(matches!(
            receiver.receive(&signed("workflow_run", "g2", body())),
            Ok(WebhookEvent::Build { .. })
        ));
    }

    #[test]
    fn bad_signatures_are_refused_and_remembered_nowhere() {
        let receiver = receiver();
        let body = || run_body("octo-org/app", 5, "completed", Some("success"));
        let good = signed("workflow_run", "g1", body());
        let signature = good.header("X-Hub-Signature-256").unwrap().to_owned();
        for (bad, why) in [
            (
                delivery("workflow_run", "g1", String::new(), body()),
                "empty",
            ),
            (
                delivery(
                    "workflow_run",
                    "g1",
                    signature.replace("sha256=", "sha1="),
                    body(),
                ),
                "wrong scheme",
            ),
            (
                delivery(
                    "workflow_run",
                    "g1",
                    signature.clone(),
                    run_body("octo-org/app", 6, "completed", Some("success")),
                ),
                "another body",
            ),
            (
                WebhookDelivery::new(
                    vec![("X-GitHub-Event".into(), "workflow_run".into())],
                    body(),
                ),
                "no header",
            ),
        ] {
            let refused = receiver.receive(&bad);
            assert!(
                matches!(refused, Err(WebhookError::Unauthenticated { .. })),
                "{why}: {refused:?}"
            );
        }
        // The forged "g1" deliveries did not use up the real one's id.
        assert!(matches!(
            receiver.receive(&good),
            Ok(WebhookEvent::Build { .. })
        ));
    }

    #[test]
    fn other_events_and_repositories_are_ignored() {
        for (event, body) in [
            ("ping", br#"{"zen": "x"}"#.to_vec()),
            (
                "workflow_job",
                run_body("octo-org/app", 1, "completed", Some("success")),
            ),
            (
                "workflow_run",
                run_body("octo-org/other", 1, "completed", Some("success")),
            ),
            ("workflow_run", br#"{"workflow_run": {"id": "1"}}"#.to_vec()),
        ] {
            let answer = receiver().receive(&signed(event, "g", body));
            assert!(
                matches!(answer, Ok(WebhookEvent::Ignored { .. })),
                "{event}: {answer:?}"
            );
        }
    }

    #[test]
    fn a_body_over_the_cap_is_refused() {
        let mut receiver = receiver();
        receiver.0.steps.body_limit = 16;
        let answer = receiver.receive(&signed("workflow_run", "g", vec![b' '; 17]));
        assert_eq!(
            answer,
            Err(WebhookError::TooLarge {
                size: 17,
                limit: 16
            })
        );
    }
}
