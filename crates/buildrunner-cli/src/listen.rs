//! `--listen ADDR`: receive the queue's webhooks while waiting, so a verdict arrives as soon
//! as the CI sends it. The webhook only wakes the poll; the verdict is still read from the CI.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use buildrunner_api::{BuildId, BuildRunner, BuildStatus};
use buildrunner_tracker::listener::{Hints, WebhookListener, WebhookRoute};
use tokio::sync::Notify;

use crate::exit::{CliError, Exit};

/// Wakes a one-build watch when a webhook names its build.
#[derive(Debug, Default)]
pub struct WakeOnHint {
    id: OnceLock<BuildId>,
    notify: Notify,
}

impl WakeOnHint {
    /// Wakes for `id` from now on (`run` knows its build only after the listener is up).
    pub fn watch(&self, id: BuildId) {
        let _ = self.id.set(id);
    }

    /// Resolves at the next hint for the build.
    pub async fn hinted(&self) {
        self.notify.notified().await;
    }
}

impl Hints for WakeOnHint {
    fn hint(&self, id: &BuildId, _claimed: BuildStatus) -> bool {
        let ours = self.id.get() == Some(id);
        if ours {
            self.notify.notify_one();
        }
        ours
    }
}

/// Serves `POST /webhook` and `POST /webhook/<queue>` on `addr` for `queue`'s runner.
///
/// # Errors
///
/// A usage error (exit 2) when the queue's backend reads no webhooks or has no
/// `webhook_secret_env`, or when `addr` cannot be bound.
pub async fn listen(
    addr: SocketAddr,
    queue: &str,
    runner: &Arc<dyn BuildRunner>,
    hints: Arc<dyn Hints>,
) -> Result<WebhookListener, CliError> {
    if runner.webhooks().is_none() {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "--listen: queue `{queue}` reads no webhooks: backend `{}` needs `webhook_secret_env` in the queue's table (and not every backend reads webhooks)",
                runner.backend_name()
            ),
        ));
    }
    let route = WebhookRoute {
        runner: Arc::clone(runner),
        hints,
    };
    let queues = HashMap::from([(queue.to_owned(), route)]);
    let listener = WebhookListener::bind(addr, queues, Some(queue.to_owned()))
        .await
        .map_err(|e| {
            CliError::new(
                Exit::Usage,
                format!("--listen: cannot listen on {addr}: {e}"),
            )
        })?;
    tracing::info!(addr = %listener.local_addr(), %queue, "listening for webhooks");
    Ok(listener)
}
