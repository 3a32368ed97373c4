//! Service hooks' `ms.vss-pipelines.run-state-changed-event`, sent with the secret as the
//! Basic password of the subscription (service hooks sign nothing).

use std::time::Instant;

use buildrunner_emulator_engine::{Delivery, WebhookSource, basic_authorization, uuid};
use serde_json::json;

use crate::state::{State, run_state_of};

impl WebhookSource for State {
    fn phase_changes(&self, now: Instant) -> Vec<Delivery> {
        let mut inner = self.common.lock();
        let mut watch = std::mem::take(&mut inner.watch);
        let changes = watch.changes(|id| Some(inner.runs.get(id)?.phase(&self.common.config, now)));
        inner.watch = watch;
        changes
            .into_iter()
            .filter_map(|(id, phase)| {
                let run = inner.runs.get(&id)?;
                let (state, result) = run_state_of(phase);
                let pipeline = json!({"id": run.pipeline_id(), "name": "app"});
                let body = json!({
                    "subscriptionId": uuid(),
                    "notificationId": id,
                    "id": uuid(),
                    "eventType": "ms.vss-pipelines.run-state-changed-event",
                    "publisherId": "pipelines",
                    "resource": {
                        "run": {"id": run.id(), "state": state, "result": result, "pipeline": pipeline},
                        "pipeline": pipeline,
                    },
                });
                Some(Delivery {
                    headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
                    body: body.to_string().into_bytes(),
                })
            })
            .collect()
    }

    fn credentials(&self, _body: &[u8], secret: &str, _signed: bool) -> Vec<(String, String)> {
        vec![("Authorization".to_owned(), basic_authorization("", secret))]
    }
}
