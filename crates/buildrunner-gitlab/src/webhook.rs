//! GitLab's pipeline webhooks: `X-Gitlab-Token` (the secret token in clear text, compared in
//! constant time), `X-Gitlab-Event: Pipeline Hook`, and `Idempotency-Key`, which GitLab keeps
//! across retries of one delivery, to acknowledge a repeat without acting on it twice.

use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent, WebhookReceiver};
use buildrunner_http::webhook::{ReceiverSteps, WebhookFormat, Webhooks, check_token};
use buildrunner_http::{NumberedIds, Token};
use serde_json::Value;

use crate::map_status;

/// Reads the pipeline webhooks of one project.
#[derive(Debug)]
pub struct GitLabWebhooks {
    token: Token,
    project: String,
    ids: NumberedIds,
    steps: ReceiverSteps,
}

impl GitLabWebhooks {
    pub(crate) fn new(token: Token, project: &str, ids: NumberedIds) -> Self {
        GitLabWebhooks {
            token,
            project: project.to_owned(),
            ids,
            steps: ReceiverSteps::new("X-Gitlab-Event", Some("Idempotency-Key")),
        }
    }

    /// The project as configured: a numeric id or a path.
    fn is_this_project(&self, project: &Value) -> bool {
        let id = project["id"].as_u64().map(|id| id.to_string());
        id.as_deref() == Some(self.project.as_str())
            || project["path_with_namespace"].as_str() == Some(self.project.as_str())
    }
}

impl WebhookFormat for GitLabWebhooks {
    fn steps(&self) -> &ReceiverSteps {
        &self.steps
    }

    fn authenticate(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError> {
        check_token(&self.token, delivery, "X-Gitlab-Token")
    }

    fn read(&self, event: &str, body: &[u8]) -> WebhookEvent {
        if event != "Pipeline Hook" {
            return WebhookEvent::ignored(format!("event {event}"));
        }
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return WebhookEvent::ignored("the body is not JSON");
        };
        if payload["object_kind"].as_str() != Some("pipeline") {
            return WebhookEvent::ignored("not a pipeline event");
        }
        let pipeline = &payload["object_attributes"];
        let (Some(id), Some(status)) = (pipeline["id"].as_u64(), pipeline["status"].as_str())
        else {
            return WebhookEvent::ignored("no pipeline id or status");
        };
        if !self.is_this_project(&payload["project"]) {
            return WebhookEvent::ignored("another project");
        }
        WebhookEvent::Build {
            id: self.ids.format(id),
            status: map_status(status),
        }
    }
}

/// The receiver `config` asks for: `None` without a webhook secret.
pub(crate) fn receiver(config: &crate::GitLabConfig) -> Option<Box<dyn WebhookReceiver>> {
    let secret = config.webhook_secret.clone()?;
    Some(Box::new(Webhooks(GitLabWebhooks::new(
        secret,
        &config.project,
        config.ids(),
    ))))
}

#[cfg(test)]
mod tests {
    use buildrunner_api::{BuildId, BuildStatus};

    use buildrunner_api::WebhookReceiver;

    use super::*;

    fn receiver(project: &str) -> Webhooks<GitLabWebhooks> {
        Webhooks(GitLabWebhooks::new(
            Token::multiline("gl-secret").unwrap(),
            project,
            NumberedIds::new(project, "group/app/1"),
        ))
    }

    fn pipeline(project_id: u64, path: &str, id: u64, status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "object_kind": "pipeline",
            "object_attributes": {"id": id, "status": status, "created_at": "2016-08-12 15:23:28 UTC"},
            "project": {"id": project_id, "path_with_namespace": path},
        }))
        .unwrap()
    }

    fn delivery(token: &str, key: &str, body: Vec<u8>) -> WebhookDelivery {
        WebhookDelivery::new(
            vec![
                ("X-Gitlab-Event".into(), "Pipeline Hook".into()),
                ("X-Gitlab-Token".into(), token.into()),
                ("Idempotency-Key".into(), key.into()),
            ],
            body,
        )
    }

    #[test]
    fn a_pipeline_event_names_the_pipeline_by_id_or_path() {
        for project in ["group/app", "42"] {
            let answer = receiver(project).receive(&delivery(
                "gl-secret",
                "k1",
                pipeline(42, "group/app", 7, "success"),
            ));
            assert_eq!(
                answer,
                Ok(WebhookEvent::Build {
                    id: BuildId::new(format!("{project}/7")),
                    status: BuildStatus::Succeeded
                }),
                "{project}"
            );
        }
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let body = || pipeline(42, "group/app", 7, "failed");
        for token in ["", "gl-secreT", "gl-secret2"] {
            let refused = receiver("group/app").receive(&delivery(token, "k", body()));
            assert!(
                matches!(refused, Err(WebhookError::Unauthenticated { .. })),
                "{token:?}"
            );
        }
        let no_token = WebhookDelivery::new(
            vec![("X-Gitlab-Event".into(), "Pipeline Hook".into())],
            body(),
        );
        assert!(matches!(
            receiver("group/app").receive(&no_token),
            Err(WebhookError::Unauthenticated { .. })
        ));
    }

    #[test]
    fn retries_other_events_and_projects_are_ignored() {
        let receiver = receiver("group/app");
        assert!(matches!(
            receiver.receive(&delivery(
                "gl-secret",
                "k1",
                pipeline(42, "group/app", 7, "running")
            )),
            Ok(WebhookEvent::Build { .. })
        ));
        for (delivery, why) in [
            (
                delivery("gl-secret", "k1", pipeline(42, "group/app", 7, "success")),
                "retry",
            ),
            (
                delivery("gl-secret", "k2", pipeline(43, "group/other", 7, "success")),
                "other project",
            ),
            (
                delivery("gl-secret", "k3", br#"{"object_kind": "push"}"#.to_vec()),
                "push",
            ),
            (delivery("gl-secret", "k4", b"[".to_vec()), "garbage"),
        ] {
            let answer = receiver.receive(&delivery);
            assert!(
                matches!(answer, Ok(WebhookEvent::Ignored { .. })),
                "{why}: {answer:?}"
            );
        }
        let job = WebhookDelivery::new(
            vec![
                ("X-Gitlab-Event".into(), "Job Hook".into()),
                ("X-Gitlab-Token".into(), "gl-secret".into()),
            ],
            b"{}".to_vec(),
        );
        assert!(matches!(
            receiver.receive(&job),
            Ok(WebhookEvent::Ignored { .. })
        ));
    }

    #[test]
    fn a_body_over_the_cap_is_refused() {
        let mut receiver = receiver("group/app");
        receiver.0.steps.body_limit = 8;
        let answer = receiver.receive(&delivery("gl-secret", "k", vec![b' '; 9]));
        assert_eq!(answer, Err(WebhookError::TooLarge { size: 9, limit: 8 }));
    }
}
