//! The Notification plugin's build events, sent with the secret as the Basic password of
//! the target URL (the plugin signs nothing).

use std::time::Instant;

use base64::Engine as _;
use buildrunner_emulator_engine::{Delivery, WebhookSource};

use crate::state::State;

impl WebhookSource for State {
    fn phase_changes(&self, now: Instant) -> Vec<Delivery> {
        let mut inner = self.lock();
        let mut watch = std::mem::take(&mut inner.watch);
        let changes = watch.changes(|id| self.phase_of(&inner, *id, now));
        inner.watch = watch;
        changes
            .into_iter()
            .filter_map(|(id, _)| {
                let body = self.notification(&inner, id, now)?;
                Some(Delivery {
                    headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
                    body: body.to_string().into_bytes(),
                })
            })
            .collect()
    }

    fn credentials(&self, _body: &[u8], secret: &str, _signed: bool) -> Vec<(String, String)> {
        let pair = format!("jenkins:{secret}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        vec![("Authorization".to_owned(), format!("Basic {encoded}"))]
    }
}
