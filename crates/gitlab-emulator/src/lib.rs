//! A stateful fake of the GitLab CI pipelines API (REST v4), for tests, conformance runs,
//! benchmarks and demos without a GitLab account.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /api/v4/projects/{project}/pipeline` | 201 + pipeline; 400 without `ref`, for `variables` that are not `[{key, value}]` strings, or a `trigger-error` marker |
//! | `GET /api/v4/projects/{project}/pipelines/{id}` | 200 + pipeline; 404; 500 for a `status-error` pipeline |
//! | `GET …/pipelines/{id}/variables` | 200 + `[{key, variable_type, value}]` |
//! | `GET …/pipelines` | newest first; `name`, `source`, `status`, `ref`; `page`, `per_page` (≤ 100) and `Link` |
//! | `POST …/pipelines/{id}/cancel` | 200 + the pipeline, whatever its state (GitLab's documented quirk): `canceling` for a running one, unchanged for a finished or `manual` one |
//! | `GET …/pipelines/{id}/jobs` | the latest attempt of each job (`build`, `test`, and `approval` as `manual` for `block`): `id`, `name`, `stage`, `status`, `allow_failure`, `failure_reason`, `web_url` |
//! | `POST …/pipelines/{id}/retry` | 201 + the pipeline; the failed and canceled jobs run again (a `flaky` test passes), at once; no effect on a pipeline with none |
//!
//! `{project}` is a numeric id or a URL-encoded path (`group%2Fsub%2Fproject`). Requests need
//! `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>` (401 `{"message": "401
//! Unauthorized"}` otherwise). The sample `.gitlab-ci.yml`'s `workflow: name:` rule is applied: a
//! pipeline with variable `BUILDRUNNER_KEY` is named `buildrunner <key>`.
//!
//! Pipelines go `pending` → `running` → `success`; outcome markers in `SQ_HEAD_URIS` decide the
//! end (`fail` → `failed`, `hang` runs until cancelled, `block` → `manual` until cancelled,
//! which GitLab refuses, `status-error` → 500 on reads). Every answer carries GitLab's
//! `RateLimit-*` headers (reset as epoch seconds) when a limit is set; past it, 429 with
//! `Retry-After` and the plain-text body `Retry later`. Pipeline creation has its own limit per
//! project ([`GitLabOptions::create_limit`]) that the headers do not show, as on gitlab.com.

mod server;
mod state;
mod webhooks;

use std::sync::Arc;

use buildrunner_emulator_engine::Emulation;

pub use buildrunner_emulator_engine::{
    Emulated, Fault, FaultTarget, LoggedRequest, RateLimit, Timings, WebhookCounts, WebhookFaults,
    WebhookTarget,
};
pub use state::{PipelineSnapshot, State as GitLab};

/// A running GitLab emulator on a loopback port; dropping it stops the server. Faults, rate
/// limits and the request log are [`Emulated`]'s methods; pipelines are [`GitLab`]'s.
pub type Emulator = buildrunner_emulator_engine::Emulator<GitLab>;

/// How a GitLab emulator behaves: the engine's settings and [`GitLabOptions`].
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<GitLabOptions>;

/// What only the GitLab emulator has.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GitLabOptions {
    /// The pipeline-creation limit per project (gitlab.com: 25 a minute), off when `None`;
    /// it is not reflected in the headers.
    pub create_limit: Option<RateLimit>,
}

/// The GitLab emulator's own setter on its [`EmulatorConfig`].
pub trait GitLabConfig {
    /// Turns on the pipeline-creation limit.
    fn with_create_limit(self, limit: RateLimit) -> Self;
}

impl GitLabConfig for EmulatorConfig {
    fn with_create_limit(self, limit: RateLimit) -> Self {
        self.with_platform(|options| options.create_limit = Some(limit))
    }
}

impl Emulation for GitLab {
    type Options = GitLabOptions;

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        GitLab::new(config, base_url)
    }

    fn routes(platform: Arc<Self>) -> axum::Router {
        server::routes(platform)
    }

    fn builds_created(&self) -> usize {
        self.pipeline_count()
    }
}
