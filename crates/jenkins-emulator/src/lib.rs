//! A stateful fake of Jenkins' queue and remote access API, for tests, conformance runs,
//! benchmarks and demos without a Jenkins.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /job/{a}/job/{b}/buildWithParameters` (form body) | 201 + `Location: …/queue/item/N/`; 303 + the queued item's `Location` when a queued item of the job has the same parameter values; 302 to `.` for a `trigger-error` or unknown marker; 400 "is not parameterized" for a job that declares none; 404 for an unknown folder; 409 for a disabled job |
//! | `GET /job/{path}/api/json` | `property[parameterDefinitions]` and the last 100 started `builds` (`number`, `queueId`, `url`, parameters), newest first |
//! | `GET /queue/api/json` | the queued `items` (`id`, `task.url`, parameters, `why`) |
//! | `GET /queue/item/{N}/api/json` | a waiting item (`why`), or a `LeftItem` (`cancelled`, `executable{number,url}`) for a configurable time after it left the queue ([`JenkinsOptions::left_item_lifetime`], 5 minutes by default), then 404 |
//! | `GET /job/{path}/{n}/api/json` | `number`, `url`, `building`, `result` (`FAILURE` already while a `fail` build is still building), `queueId`, the parameters and an `InputAction` with `waitingForInput` for `block` |
//! | `GET /job/{path}/{n}/wfapi/describe` | the Pipeline's stages (`build`, `test`, and `approval` paused for input for `block`) with `status` and `error` |
//! | `POST /queue/cancelItem?id=N` | 204 for a queued item; 404 once it left the queue |
//! | `POST /job/{path}/{n}/stop` | 302 to `.` whatever happened; a building build (also one waiting for input) is aborted |
//!
//! Requests need `Authorization: Basic` with any user and the token as the password (401
//! with an HTML page otherwise). Every job exists, in any folder, and declares
//! [`JenkinsOptions::parameters`] unless told otherwise ([`Jenkins::declare_parameters`],
//! [`Jenkins::disable_job`]). Items wait the quiet period (`delay=0sec` skips it), then the
//! engine's queued time; outcome markers in `SQ_HEAD_URIS` decide the end (`fail` →
//! `FAILURE`, `hang` builds until stopped, `block` waits for input until stopped,
//! `status-error` → 500 on reads). Jenkins has no rate limits of its own: with a limit set
//! the emulator answers as a proxy in front of it would, 429 with `Retry-After`. Webhooks are
//! the Notification plugin's JSON, with the secret as the Basic password of the target.

mod server;
mod state;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use buildrunner_emulator_engine::Emulation;

pub use buildrunner_emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::{ItemSnapshot, State as Jenkins};

/// A running Jenkins emulator on a loopback port; dropping it stops the server.
pub type Emulator = buildrunner_emulator_engine::Emulator<Jenkins>;

/// How a Jenkins emulator behaves: the engine's settings and [`JenkinsOptions`].
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<JenkinsOptions>;

/// The parameters every job declares unless told otherwise: the `SQ_*` contract and the key.
pub const DEFAULT_PARAMETERS: [&str; 5] = [
    "SQ_BASE_URIS",
    "SQ_HEAD_URIS",
    "SQ_QUEUE",
    "SQ_METADATA",
    "BUILDRUNNER_KEY",
];

/// What only the Jenkins emulator has.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JenkinsOptions {
    /// How long a queue item stays readable after it left the queue (Jenkins: 5 minutes).
    pub left_item_lifetime: Duration,
    /// The quiet period of a trigger without `delay=0sec` (Jenkins: 5 s).
    pub quiet_period: Duration,
    /// The string parameters every job declares.
    pub parameters: Vec<String>,
}

impl Default for JenkinsOptions {
    fn default() -> Self {
        JenkinsOptions {
            left_item_lifetime: Duration::from_secs(300),
            quiet_period: Duration::from_secs(5),
            parameters: DEFAULT_PARAMETERS.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// The Jenkins emulator's own setters on its [`EmulatorConfig`].
pub trait JenkinsConfig {
    /// How long a queue item stays readable after it left the queue; tests shorten it to
    /// follow a build across the item's expiry.
    fn with_left_item_lifetime(self, lifetime: Duration) -> Self;
    /// The quiet period of a trigger without `delay=0sec`.
    fn with_quiet_period(self, quiet: Duration) -> Self;
}

impl JenkinsConfig for EmulatorConfig {
    fn with_left_item_lifetime(self, lifetime: Duration) -> Self {
        self.with_platform(|options| options.left_item_lifetime = lifetime)
    }

    fn with_quiet_period(self, quiet: Duration) -> Self {
        self.with_platform(|options| options.quiet_period = quiet)
    }
}

impl Emulation for Jenkins {
    type Options = JenkinsOptions;

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        Jenkins::new(config, base_url)
    }

    fn routes(platform: Arc<Self>) -> axum::Router {
        server::routes(platform)
    }

    fn builds_created(&self) -> usize {
        self.item_count()
    }
}
