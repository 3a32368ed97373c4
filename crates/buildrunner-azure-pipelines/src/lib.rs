//! The Azure Pipelines backend of buildrunner, registered as `azure-pipelines`.
//!
//! - **trigger**: `POST {api}/{organization}/{project}/_apis/pipelines/{pipeline_id}/runs`
//!   with the branch and the runtime parameters `sq_base_uris`, `sq_head_uris`, `sq_queue`,
//!   `sq_metadata` and the key parameter (the idempotency key, or a fresh dispatch id); the
//!   run id is also its build's, and the build id is `{organization}/{project}/{pipeline}/{run}`.
//!   The sample `azure-pipelines.yml` names each run `buildrunner <key>` (`name:`), so a
//!   keyed trigger finds an earlier run with `GET …/_apis/build/builds?buildNumber=…`, and a
//!   trigger whose outcome is unknown is settled by the same look-up, never by running
//!   blindly again.
//! - **status**: `GET …/_apis/build/builds/{run}`, mapped by [`map_status`]: a build waiting
//!   for an approval is `inProgress`, running and never green; `partiallySucceeded` is
//!   `Failed` unless the queue says otherwise. The caller's metadata comes back from the
//!   build's `templateParameters`.
//! - **cancel**: `PATCH …/_apis/build/builds/{run}` with `{"status": "cancelling"}`; a
//!   completed build is left alone.
//! - **jobs**: the `Job` records of `GET …/_apis/build/builds/{run}/timeline`;
//!   **retry_failed**: `PATCH …/_apis/build/builds/{run}?retry=true` with an empty body, the
//!   UI's "Rerun failed jobs", in the same run.
//!
//! Everything HTTP (Basic auth with the personal access token, retries, Azure's
//! `Retry-After` on 2xx answers as well as 429, a 203 sign-in page as unauthenticated,
//! capped reads) comes from [`buildrunner_http`].
//!
//! # Queue options
//!
//! ```toml
//! [queues.main]
//! backend = "azure-pipelines"
//! organization = "acme"
//! project = "Platform"
//! pipeline_id = 4
//! # ref = "refs/heads/main"
//! # api_url = "https://dev.azure.com"
//! # token_env = "AZURE_DEVOPS_TOKEN"
//! # key_parameter = "buildrunner_key"
//! # partially_succeeded = "failed"      # or "succeeded"
//! # extra_parameters = { deploy = "false" }
//! ```

mod backend;
mod config;
mod core;
mod error;
mod model;
mod rate;
#[cfg(feature = "webhooks")]
mod webhook;
#[cfg(not(feature = "webhooks"))]
mod webhook {
    pub(crate) fn receiver<C>(_: &C) -> Option<Box<dyn buildrunner_api::WebhookReceiver>> {
        None
    }
}

use buildrunner_api::registry::BackendRegistration;

pub use backend::{AzurePipelines, AzurePipelinesRunner, CAPABILITIES};
pub use buildrunner_http::CountsAs;
pub use buildrunner_http::Token;
pub use config::{AzurePipelinesConfig, DEFAULT_API_URL, DEFAULT_KEY_PARAMETER, DEFAULT_TOKEN_ENV};
pub use model::{
    PARAM_BASE_URIS, PARAM_HEAD_URIS, PARAM_METADATA, PARAM_QUEUE, SQ_PARAMETERS, build_number,
    caller_metadata, decode_build_response, decode_timeline_response, job_record,
    key_fits_a_build_number, map_status,
};
#[cfg(feature = "webhooks")]
pub use webhook::AzurePipelinesWebhooks;

/// How Azure DevOps' answers are read for the rate budget. Public for fuzzers and tools.
pub const RATE_SCHEME: buildrunner_http::rate::DelaysOnSuccess = rate::AZURE_RATE_SCHEME;

/// The name the Azure Pipelines backend is registered under.
pub const NAME: &str = "azure-pipelines";

/// The registration submitted to the [`buildrunner_api::registry`].
pub const REGISTRATION: BackendRegistration = BackendRegistration::new(
    NAME,
    "Azure Pipelines runs with runtime parameters over the Azure DevOps REST API 7.1",
    |config| {
        Ok(std::sync::Arc::new(AzurePipelinesRunner::from_queue(
            config,
        )?))
    },
);

buildrunner_api::inventory::submit! { REGISTRATION }
