//! The Notification plugin's build events: JSON with `build.phase` (QUEUED, STARTED,
//! COMPLETED, FINALIZED), `build.queue_id` and `build.status`. The plugin signs nothing; its
//! only credential is the user info of its target URL, sent as `Authorization: Basic`, so the
//! receiver requires the secret as that password (compared in constant time).

use buildrunner_api::BuildStatus;
use buildrunner_api::webhook::{WebhookEvent, WebhookReceiver};
use buildrunner_http::webhook::{BasicPasswordJson, JsonEvents};
use buildrunner_http::{CountsAs, NumberedIds};
use serde_json::Value;

use crate::model::{is_job_url, map_build};

/// Reads the notifications of one job.
#[derive(Debug)]
pub struct JenkinsWebhooks {
    job_path_segments: String,
    ids: NumberedIds,
    unstable: CountsAs,
}

impl JenkinsWebhooks {
    pub(crate) fn new(job_path_segments: String, ids: NumberedIds, unstable: CountsAs) -> Self {
        JenkinsWebhooks {
            job_path_segments,
            ids,
            unstable,
        }
    }
}

impl JsonEvents for JenkinsWebhooks {
    fn event(&self, payload: &Value) -> WebhookEvent {
        let build = &payload["build"];
        let (Some(phase), Some(queue_id)) = (build["phase"].as_str(), build["queue_id"].as_u64())
        else {
            return WebhookEvent::ignored("no build phase or queue id (configure the JSON format)");
        };
        let ours = payload["url"]
            .as_str()
            .is_some_and(|url| is_job_url(url, &self.job_path_segments));
        if !ours {
            return WebhookEvent::ignored("another job");
        }
        let status = match phase {
            "QUEUED" => BuildStatus::Accepted,
            "STARTED" => BuildStatus::Running,
            "COMPLETED" | "FINALIZED" => map_build(false, build["status"].as_str(), self.unstable),
            other => return WebhookEvent::ignored(format!("phase {other}")),
        };
        if status == BuildStatus::Unknown {
            return WebhookEvent::ignored("a finished build without a known status");
        }
        WebhookEvent::Build {
            id: self.ids.format(queue_id),
            status,
        }
    }
}

/// The receiver `config` asks for: `None` without a webhook secret.
pub(crate) fn receiver(config: &crate::JenkinsConfig) -> Option<Box<dyn WebhookReceiver>> {
    let secret = config.webhook_secret.clone()?;
    let events = JenkinsWebhooks::new(config.job_url_path(), config.ids(), config.unstable);
    Some(Box::new(BasicPasswordJson::new(secret, events)))
}

#[cfg(test)]
mod tests {
    use buildrunner_api::webhook::{WebhookDelivery, WebhookError};
    use buildrunner_api::{BuildId, WebhookReceiver};
    use buildrunner_http::Token;
    use buildrunner_http::webhook::Webhooks;

    use super::*;

    fn receiver() -> Webhooks<BasicPasswordJson<JenkinsWebhooks>> {
        let events = JenkinsWebhooks::new(
            "/job/platform/job/app".to_owned(),
            NumberedIds::new("platform/app/queue", "platform/app/queue/1"),
            CountsAs::Failed,
        );
        BasicPasswordJson::new(Token::multiline("hook-secret").unwrap(), events)
    }

    fn event(url: &str, phase: &str, status: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "name": "app", "display_name": "app", "url": url,
            "build": {"full_url": "http://ci/job/platform/job/app/7/", "number": 7, "queue_id": 4312,
                      "phase": phase, "status": status, "url": "job/platform/job/app/7/"},
        }))
        .unwrap()
    }

    // base64("jenkins:hook-secret")
    const GOOD: &str = "Basic amVua2luczpob29rLXNlY3JldA==";

    fn delivery(authorization: &str, body: Vec<u8>) -> WebhookDelivery {
        WebhookDelivery::new(vec![("Authorization".into(), authorization.into())], body)
    }

    #[test]
    fn phases_map_to_statuses_of_the_queue_item() {
        let id = BuildId::new("platform/app/queue/4312");
        for (phase, status, want) in [
            ("QUEUED", None, BuildStatus::Accepted),
            ("STARTED", None, BuildStatus::Running),
            ("COMPLETED", Some("FAILURE"), BuildStatus::Failed),
            ("FINALIZED", Some("SUCCESS"), BuildStatus::Succeeded),
            ("FINALIZED", Some("ABORTED"), BuildStatus::Cancelled),
            ("COMPLETED", Some("UNSTABLE"), BuildStatus::Failed),
        ] {
            let answer = receiver().receive(&delivery(
                GOOD,
                event("job/platform/job/app/", phase, status),
            ));
            assert_eq!(
                answer,
                Ok(WebhookEvent::Build {
                    id: id.clone(),
                    status: want
                }),
                "{phase}"
            );
        }
    }

    #[test]
    fn the_secret_must_be_the_basic_password() {
        for authorization in ["", "Basic amVua2luczpvdGhlcg==", "Bearer hook-secret"] {
            let answer = receiver().receive(&delivery(
                authorization,
                event("job/platform/job/app/", "STARTED", None),
            ));
            assert!(
                matches!(answer, Err(WebhookError::Unauthenticated { .. })),
                "{authorization:?}"
            );
        }
    }

    #[test]
    fn other_jobs_and_garbage_are_ignored() {
        for body in [
            event("job/platform/job/other/", "STARTED", None),
            event("job/platform/job/app/", "DELETED", None),
            event("job/platform/job/app/", "COMPLETED", None),
            b"<xml/>".to_vec(),
            br#"{"build": {"phase": "STARTED"}}"#.to_vec(),
        ] {
            let answer = receiver().receive(&delivery(GOOD, body));
            assert!(
                matches!(answer, Ok(WebhookEvent::Ignored { .. })),
                "{answer:?}"
            );
        }
    }
}
