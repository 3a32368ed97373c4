//! Service hooks' `ms.vss-pipelines.run-state-changed-event`: `resource.run` (`id`, `state`,
//! `result`) and `resource.pipeline.id`. Service hooks sign nothing; the subscription's
//! Basic credentials are its only proof, so the receiver requires the secret as the Basic
//! password (compared in constant time).

use buildrunner_api::BuildStatus;
use buildrunner_api::webhook::{WebhookEvent, WebhookReceiver};
use buildrunner_http::NumberedIds;
use buildrunner_http::webhook::{BasicPasswordJson, JsonEvents};
use serde_json::Value;

const RUN_STATE_CHANGED: &str = "ms.vss-pipelines.run-state-changed-event";

/// Reads the run-state events of one pipeline.
#[derive(Debug)]
pub struct AzurePipelinesWebhooks {
    pipeline_id: u64,
    ids: NumberedIds,
}

impl AzurePipelinesWebhooks {
    pub(crate) fn new(pipeline_id: u64, ids: NumberedIds) -> Self {
        AzurePipelinesWebhooks { pipeline_id, ids }
    }
}

/// A run's `state` and `result` (the Pipelines API's words, not the Build API's).
fn run_status(state: &str, result: Option<&str>) -> BuildStatus {
    match (state, result) {
        ("inProgress", _) => BuildStatus::Running,
        ("canceling", _) => BuildStatus::Cancelled,
        ("completed", Some("succeeded")) => BuildStatus::Succeeded,
        ("completed", Some("failed")) => BuildStatus::Failed,
        ("completed", Some("canceled")) => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

impl JsonEvents for AzurePipelinesWebhooks {
    fn event(&self, payload: &Value) -> WebhookEvent {
        let event = payload["eventType"].as_str().unwrap_or("");
        if event != RUN_STATE_CHANGED {
            return WebhookEvent::ignored(format!("event {event}"));
        }
        let resource = &payload["resource"];
        let run = &resource["run"];
        let (Some(run_id), Some(state)) = (run["id"].as_u64(), run["state"].as_str()) else {
            return WebhookEvent::ignored("no run id or state");
        };
        let pipeline = resource["pipeline"]["id"]
            .as_u64()
            .or_else(|| run["pipeline"]["id"].as_u64());
        if pipeline != Some(self.pipeline_id) {
            return WebhookEvent::ignored("another pipeline");
        }
        match run_status(state, run["result"].as_str()) {
            BuildStatus::Unknown => WebhookEvent::ignored("a run state without a known status"),
            status => WebhookEvent::Build {
                id: self.ids.format(run_id),
                status,
            },
        }
    }
}

/// The receiver `config` asks for: `None` without a webhook secret.
pub(crate) fn receiver(config: &crate::AzurePipelinesConfig) -> Option<Box<dyn WebhookReceiver>> {
    let secret = config.webhook_secret.clone()?;
    let events = AzurePipelinesWebhooks::new(config.pipeline_id, config.ids());
    Some(Box::new(BasicPasswordJson::new(secret, events)))
}

#[cfg(test)]
mod tests {
    use buildrunner_api::webhook::{WebhookDelivery, WebhookError};
    use buildrunner_api::{BuildId, WebhookReceiver};
    use buildrunner_http::Token;
    use buildrunner_http::webhook::Webhooks;

    use super::*;

    fn receiver() -> Webhooks<BasicPasswordJson<AzurePipelinesWebhooks>> {
        let events =
            AzurePipelinesWebhooks::new(4, NumberedIds::new("acme/app/4", "acme/app/4/11"));
        BasicPasswordJson::new(Token::multiline("hook-secret").unwrap(), events)
    }

    fn event(pipeline: u64, state: &str, result: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "subscriptionId": "4a2e7a4c", "notificationId": 3, "eventType": RUN_STATE_CHANGED,
            "resource": {"run": {"id": 11, "state": state, "result": result, "pipeline": {"id": pipeline}},
                         "pipeline": {"id": pipeline, "name": "app"}},
        }))
        .unwrap()
    }

    // base64(":hook-secret"): service hooks with an empty user name.
    const GOOD: &str = "Basic Omhvb2stc2VjcmV0";

    fn delivery(authorization: &str, body: Vec<u8>) -> WebhookDelivery {
        WebhookDelivery::new(vec![("Authorization".into(), authorization.into())], body)
    }

    #[test]
    fn run_states_name_the_run_of_this_pipeline() {
        for (state, result, want) in [
            ("inProgress", None, BuildStatus::Running),
            ("canceling", None, BuildStatus::Cancelled),
            ("completed", Some("succeeded"), BuildStatus::Succeeded),
            ("completed", Some("failed"), BuildStatus::Failed),
            ("completed", Some("canceled"), BuildStatus::Cancelled),
        ] {
            let answer = receiver().receive(&delivery(GOOD, event(4, state, result)));
            assert_eq!(
                answer,
                Ok(WebhookEvent::Build {
                    id: BuildId::new("acme/app/4/11"),
                    status: want
                }),
                "{state}"
            );
        }
    }

    #[test]
    fn the_secret_must_be_the_basic_password() {
        for authorization in ["", "Basic Om90aGVy", "Bearer hook-secret"] {
            let answer = receiver().receive(&delivery(authorization, event(4, "inProgress", None)));
            assert!(
                matches!(answer, Err(WebhookError::Unauthenticated { .. })),
                "{authorization:?}"
            );
        }
    }

    #[test]
    fn other_pipelines_events_and_garbage_are_ignored() {
        let other_event = br#"{"eventType": "build.complete", "resource": {}}"#.to_vec();
        for body in [
            event(5, "inProgress", None),
            event(4, "unknown", None),
            other_event,
            b"<x/>".to_vec(),
        ] {
            let answer = receiver().receive(&delivery(GOOD, body));
            assert!(
                matches!(answer, Ok(WebhookEvent::Ignored { .. })),
                "{answer:?}"
            );
        }
    }
}
