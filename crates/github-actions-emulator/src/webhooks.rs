//! GitHub's `workflow_run` webhooks: `requested`, `in_progress` and `completed` with the run
//! and the repository, signed with `X-Hub-Signature-256` and numbered by `X-GitHub-Delivery`.

use std::time::Instant;

use buildrunner_emulator_engine::{Delivery, Phase, WebhookSource, hmac_sha256_hex, uuid};
use serde_json::json;

use crate::state::State;

fn action(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued => "requested",
        Phase::Running | Phase::Failing | Phase::Canceling | Phase::Blocked => "in_progress",
        Phase::Passed | Phase::Failed | Phase::Canceled => "completed",
    }
}

impl WebhookSource for State {
    fn phase_changes(&self, now: Instant) -> Vec<Delivery> {
        let mut inner = self.common.lock();
        let mut watch = std::mem::take(&mut inner.watch);
        let timings = self.common.config.timings;
        let changes = watch.changes(|id| Some(inner.runs.get(id)?.phase(&timings, now)));
        inner.watch = watch;
        changes
            .into_iter()
            .filter_map(|(id, phase)| {
                let run = inner.runs.get(&id)?;
                let body = json!({
                    "action": action(phase),
                    "workflow_run": self.run_json(run, now),
                    "repository": {"full_name": run.repository()},
                    "sender": {"login": "github-actions-emulator"},
                });
                Some(Delivery {
                    headers: vec![
                        ("X-GitHub-Event".to_owned(), "workflow_run".to_owned()),
                        ("X-GitHub-Delivery".to_owned(), uuid()),
                        (
                            "User-Agent".to_owned(),
                            "GitHub-Hookshot/emulator".to_owned(),
                        ),
                    ],
                    body: body.to_string().into_bytes(),
                })
            })
            .collect()
    }

    fn credentials(&self, body: &[u8], secret: &str, _signed: bool) -> Vec<(String, String)> {
        let signature = hmac_sha256_hex(secret, body);
        vec![(
            "X-Hub-Signature-256".to_owned(),
            format!("sha256={signature}"),
        )]
    }
}
