//! The [`HttpBackend`] implementation behind the runner: trigger, status and cancel over
//! Woodpecker's pipelines API.

use std::collections::BTreeMap;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildMetadata, BuildReport, BuildStatus, Capabilities, Error, QueueConfig, Result,
    TriggerRequest,
};
use buildrunner_http::{HttpBackend, HttpParts, HttpRunner, Token, dispatch_id};

use crate::core::{Core, CreatePipeline, Pipeline};
use crate::{KEY_VARIABLE, NAME, WoodpeckerConfig};

/// What the runners declare: every trigger carries a key that is looked up, the caller's
/// metadata comes back in the pipeline's variables, and markers drive the sample pipeline.
/// Reports carry no web URL: Woodpecker's answers have none.
pub const CAPABILITIES: Capabilities = {
    let mut capabilities = Capabilities::NONE;
    capabilities.idempotent_trigger = true;
    capabilities.metadata_round_trip = true;
    capabilities.status_survives_restart = true;
    capabilities.cancel_observable = true;
    capabilities.outcome_markers = true;
    capabilities
};

/// The runner of a Woodpecker queue.
pub type WoodpeckerRunner = HttpRunner<Woodpecker>;

/// Woodpecker's calls.
#[derive(Debug)]
pub struct Woodpecker {
    core: Core,
}

/// Woodpecker's pipeline statuses in buildrunner's words. `blocked` waits for an approval
/// before it runs: queued, never green.
fn map_status(status: &str) -> BuildStatus {
    match status {
        "created" | "pending" | "blocked" => BuildStatus::Accepted,
        "running" => BuildStatus::Running,
        "success" => BuildStatus::Succeeded,
        "failure" | "error" | "declined" | "skipped" => BuildStatus::Failed,
        "killed" | "canceled" => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

fn report(pipeline: &Pipeline) -> BuildReport {
    // A corrupt SQ_METADATA degrades to no caller metadata, never to a failed status.
    let mut metadata: BuildMetadata = pipeline
        .variables
        .get("SQ_METADATA")
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    metadata.insert("woodpecker_status".into(), pipeline.status.clone());
    metadata.insert("number".into(), pipeline.number.to_string());
    BuildReport::new(map_status(&pipeline.status)).with_metadata(metadata)
}

#[async_trait]
impl HttpBackend for Woodpecker {
    const NAME: &'static str = NAME;
    type Config = WoodpeckerConfig;
    type Credential = Token;

    fn new(config: WoodpeckerConfig, token: Token) -> Result<Self> {
        Ok(Woodpecker {
            core: Core::new(config, &token)?,
        })
    }

    fn read_queue(queue: &QueueConfig) -> Result<(WoodpeckerConfig, Token)> {
        WoodpeckerConfig::from_queue(queue)
    }

    fn parts(&self) -> &HttpParts<WoodpeckerConfig> {
        &self.core.parts
    }

    async fn trigger(&self, queue: &str, request: &TriggerRequest) -> Result<BuildId> {
        let key = match request.idempotency_key() {
            Some(key) => {
                if let Some(number) = self.core.find_by_key(key).await? {
                    return Ok(self.core.ids.format(number));
                }
                key.to_owned()
            }
            None => dispatch_id(),
        };
        let mut variables = BTreeMap::from([
            ("SQ_BASE_URIS", request.base_uris_json()),
            ("SQ_HEAD_URIS", request.head_uris_json()),
            ("SQ_QUEUE", queue.to_owned()),
            (KEY_VARIABLE, key.clone()),
        ]);
        if let Some(metadata) = request.metadata_json() {
            variables.insert("SQ_METADATA", metadata);
        }
        let body = CreatePipeline {
            branch: &self.core.parts.config.branch,
            variables,
        };
        let number = self.core.create(&body, &key).await?;
        Ok(self.core.ids.format(number))
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let number = self.core.ids.parse(id)?;
        Ok(report(&self.core.get(id, number).await?))
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        let number = self.core.ids.parse(id)?;
        if self.core.cancel(id, number).await? {
            return Ok(());
        }
        // Refused: a no-op only when the pipeline has already finished.
        let status = report(&self.core.get(id, number).await?).status;
        if status.is_terminal() {
            Ok(())
        } else {
            Err(Error::Rejected {
                message: format!("Woodpecker refused to cancel {id}, which is {status:?}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_and_an_unknown_one_keeps_polling() {
        let cases = [
            ("pending", BuildStatus::Accepted),
            ("blocked", BuildStatus::Accepted),
            ("running", BuildStatus::Running),
            ("success", BuildStatus::Succeeded),
            ("failure", BuildStatus::Failed),
            ("declined", BuildStatus::Failed),
            ("killed", BuildStatus::Cancelled),
            ("waiting_on_a_new_state", BuildStatus::Unknown),
        ];
        for (status, expected) in cases {
            assert_eq!(map_status(status), expected, "{status}");
        }
    }
}
