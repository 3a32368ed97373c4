//! The Notification plugin's build events, sent with the secret as the Basic password of
//! the target URL (the plugin signs nothing).

use std::time::Instant;

use buildrunner_emulator_engine::{Delivery, WebhookSource, basic_authorization};

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
        vec![(
            "Authorization".to_owned(),
            basic_authorization("jenkins", secret),
        )]
    }
}
