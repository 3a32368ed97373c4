//! GitLab's pipeline webhooks (`X-Gitlab-Event: Pipeline Hook`, `object_kind: pipeline`) with
//! the secret token in `X-Gitlab-Token` and an `Idempotency-Key` per delivery.

use std::time::Instant;

use buildrunner_emulator_engine::{Delivery, WebhookSource, uuid};
use serde_json::json;

use crate::state::State;

/// The emulator serves projects by whatever the client names them; a webhook names both the
/// numeric id and the path, so each is made up from the other.
fn project_json(project: &str) -> serde_json::Value {
    match project.parse::<u64>() {
        Ok(id) => json!({"id": id, "path_with_namespace": format!("group/project-{id}")}),
        Err(_) => json!({"id": 4242, "path_with_namespace": project}),
    }
}

impl WebhookSource for State {
    fn phase_changes(&self, now: Instant) -> Vec<Delivery> {
        let mut inner = self.common.lock();
        let mut watch = std::mem::take(&mut inner.watch);
        let timings = self.common.config.timings;
        let changes = watch.changes(|id| Some(inner.pipelines.get(id)?.phase(&timings, now)));
        inner.watch = watch;
        changes
            .into_iter()
            .filter_map(|(id, _)| {
                let pipeline = inner.pipelines.get(&id)?;
                let mut attributes = self.pipeline_json(pipeline, now);
                attributes["url"] = attributes["web_url"].clone();
                let body = json!({
                    "object_kind": "pipeline",
                    "object_attributes": attributes,
                    "project": project_json(pipeline.project()),
                });
                Some(Delivery {
                    headers: vec![
                        ("X-Gitlab-Event".to_owned(), "Pipeline Hook".to_owned()),
                        ("Idempotency-Key".to_owned(), uuid()),
                    ],
                    body: body.to_string().into_bytes(),
                })
            })
            .collect()
    }

    fn credentials(&self, _body: &[u8], secret: &str, _signed: bool) -> Vec<(String, String)> {
        vec![("X-Gitlab-Token".to_owned(), secret.to_owned())]
    }
}
