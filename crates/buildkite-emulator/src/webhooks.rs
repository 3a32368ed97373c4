//! Buildkite's pipeline webhooks: `build.scheduled`, `build.running`, `build.failing` and
//! `build.finished` with the build (without jobs) and the pipeline slug, authenticated by
//! `X-Buildkite-Token` or, in signature mode, `X-Buildkite-Signature`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use buildrunner_emulator_engine::{Delivery, Phase, WebhookSource, hmac_sha256_hex};
use serde_json::json;

use crate::state::State;

fn event(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Queued => Some("build.scheduled"),
        Phase::Running => Some("build.running"),
        Phase::Failing => Some("build.failing"),
        // Buildkite has no event for a build that is being cancelled.
        Phase::Canceling => None,
        Phase::Passed | Phase::Failed | Phase::Canceled | Phase::Blocked => Some("build.finished"),
    }
}

impl WebhookSource for State {
    fn phase_changes(&self, now: Instant) -> Vec<Delivery> {
        let mut inner = self.common.lock();
        let mut watch = std::mem::take(&mut inner.watch);
        let changes = watch.changes(|key| Some(inner.build(key)?.phase(&self.timings, now)));
        inner.watch = watch;
        changes
            .into_iter()
            .filter_map(|(key, phase)| {
                let event = event(phase)?;
                let build = inner.build(&key)?;
                let (organization, pipeline, _) = &key;
                let body = json!({
                    "event": event,
                    "build": self.build_json(organization, pipeline, build, now, false, false),
                    "pipeline": {"slug": pipeline, "name": pipeline},
                    "sender": {"id": "0189c2d6-7d2f-4f54-b0f5-6d1b2b1f0a11", "name": "buildkite-emulator"},
                });
                Some(Delivery {
                    headers: vec![("X-Buildkite-Event".to_owned(), event.to_owned())],
                    body: body.to_string().into_bytes(),
                })
            })
            .collect()
    }

    fn credentials(&self, body: &[u8], secret: &str, signed: bool) -> Vec<(String, String)> {
        if !signed {
            return vec![("X-Buildkite-Token".to_owned(), secret.to_owned())];
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(body);
        let signature = hmac_sha256_hex(secret, &message);
        vec![(
            "X-Buildkite-Signature".to_owned(),
            format!("timestamp={timestamp},signature={signature}"),
        )]
    }
}
