//! A stateful fake of the Azure Pipelines runs and builds API (REST 7.1), for tests,
//! conformance runs, benchmarks and demos without an Azure DevOps organization.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /{org}/{project}/_apis/pipelines/{id}/runs` | 200 + the run; 400 for a parameter the YAML does not declare, a value that is not a string, or a `trigger-error` or unknown marker |
//! | `GET /{org}/{project}/_apis/build/builds/{id}` | 200 + the build (`status`, `result`, `buildNumber`, `templateParameters`, `_links.web`); 404; 500 for a `status-error` build |
//! | `GET /{org}/{project}/_apis/build/builds?definitions=&buildNumber=` | `{count, value}`, newest first |
//! | `PATCH /{org}/{project}/_apis/build/builds/{id}` `{"status": "cancelling"}` | 200 + the build, `cancelling` for a live one, unchanged for a completed one |
//! | `PATCH …/builds/{id}?retry=true` (empty body) | 200 + the build: the failed jobs run again in the same run (a `flaky` test passes); 400 with a body, or for a build without failed jobs |
//! | `GET …/builds/{id}/timeline` | `records`: a `Job` for `build` and `test` (`state`, `result`, `attempt`, `log.url`, an error issue when failed) and a `Checkpoint.Approval` in progress for `block` |
//!
//! Every request needs `api-version=7.1` (400 otherwise) and `Authorization: Basic` with the
//! token as the password (any user); a missing or wrong one gets Azure's answer to an
//! unaccepted token, 203 with an HTML sign-in page. The sample YAML's `name:` is applied: a
//! run with `buildrunner_key` is numbered `buildrunner <key>`. Builds go `notStarted` →
//! `inProgress` → `completed`; markers in `sq_head_uris` decide the result (`fail` → `failed`,
//! `hang` runs until cancelled, `block` waits for an approval until cancelled,
//! `status-error` → 500 on reads). With a limit set, answers carry `X-RateLimit-*`; in the
//! last fifth of the window Azure's *delay*: 200 with `Retry-After`; past it, 429 TF400733
//! with `Retry-After`. Webhooks are service hooks' run-state events, with the secret as the
//! Basic password.

mod server;
mod state;
mod webhooks;

use std::sync::Arc;

use buildrunner_emulator_engine::Emulation;

pub use buildrunner_emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::{RunSnapshot, State as AzurePipelines};

/// A running Azure Pipelines emulator on a loopback port; dropping it stops the server.
pub type Emulator = buildrunner_emulator_engine::Emulator<AzurePipelines>;

/// How an Azure Pipelines emulator behaves: the engine's settings and [`AzureOptions`].
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<AzureOptions>;

/// The runtime parameters the sample `azure-pipelines.yml` declares.
pub const DEFAULT_PARAMETERS: [&str; 5] = [
    "sq_base_uris",
    "sq_head_uris",
    "sq_queue",
    "sq_metadata",
    "buildrunner_key",
];

/// What only the Azure Pipelines emulator has.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureOptions {
    /// The runtime parameters every pipeline declares; any other is refused.
    pub parameters: Vec<String>,
}

impl Default for AzureOptions {
    fn default() -> Self {
        AzureOptions {
            parameters: DEFAULT_PARAMETERS.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

impl Emulation for AzurePipelines {
    type Options = AzureOptions;

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        AzurePipelines::new(config, base_url)
    }

    fn routes(platform: Arc<Self>) -> axum::Router {
        server::routes(platform)
    }

    fn builds_created(&self) -> usize {
        self.run_count()
    }
}
