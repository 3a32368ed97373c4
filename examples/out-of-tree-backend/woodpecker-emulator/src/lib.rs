//! A stateful fake of Woodpecker CI's pipelines API, on the buildrunner emulator engine: the
//! engine serves it, injects faults, counts rate windows and logs requests; this crate is only
//! Woodpecker's routes, states and JSON.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /api/repos/{repo_id}/pipelines` `{"branch", "variables"}` | 200 + pipeline; 400 without a branch or for a `trigger-error` marker |
//! | `GET /api/repos/{repo_id}/pipelines` | newest first, `page` and `perPage` |
//! | `GET /api/repos/{repo_id}/pipelines/{number}` | 200 + pipeline; 404; 500 for a `status-error` pipeline |
//! | `POST /api/repos/{repo_id}/pipelines/{number}/cancel` | 200 + the pipeline; 400 for a pipeline that is no longer pending, running or blocked |
//!
//! Every request needs `Authorization: Bearer <token>`. Pipelines go `pending` → `running` →
//! `success`; the `buildrunner-outcome` marker in the `SQ_HEAD_URIS` variable decides the
//! end (`fail` → `failure`, `hang` runs until cancelled, `block` waits in `blocked` for an
//! approval, cancelled pipelines end `killed`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use buildrunner_emulator_engine::{
    Answer, Emulation, Engine, Lifecycle, Outcome, Phase, Platform, PlatformState, Query,
    RateVerdict, Requested, Timings,
};
use serde_json::{Map, Value, json};

pub use buildrunner_emulator_engine::{Emulated, Fault, FaultTarget, RateLimit};

/// A running Woodpecker emulator; dropping it stops the server.
pub type Emulator = buildrunner_emulator_engine::Emulator<Woodpecker>;

/// How a Woodpecker emulator behaves (Woodpecker has no options of its own here).
pub type EmulatorConfig = buildrunner_emulator_engine::EmulatorConfig<()>;

/// The fake Woodpecker server: its repositories' pipelines.
#[derive(Debug)]
pub struct Woodpecker {
    /// The configuration, URL and engine, and the pipelines by repository and number.
    common: PlatformState<(), BTreeMap<(u64, u64), Pipeline>>,
}

#[derive(Debug)]
struct Pipeline {
    life: Lifecycle,
    branch: String,
    variables: Map<String, Value>,
}

impl Woodpecker {
    /// How many pipelines exist across every repository.
    pub fn pipeline_count(&self) -> usize {
        self.common.lock().len()
    }

    fn status(&self, pipeline: &Pipeline, now: Instant) -> &'static str {
        match pipeline.life.phase(&self.common.config.timings, now) {
            Phase::Queued => "pending",
            Phase::Running | Phase::Failing | Phase::Canceling => "running",
            Phase::Passed => "success",
            Phase::Failed => "failure",
            Phase::Blocked => "blocked",
            Phase::Canceled => "killed",
        }
    }

    fn json(&self, number: u64, pipeline: &Pipeline, now: Instant) -> Value {
        let created = pipeline
            .life
            .started_wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "number": number,
            "status": self.status(pipeline, now),
            "event": "manual",
            "branch": pipeline.branch,
            "created": created,
            "variables": pipeline.variables,
        })
    }

    fn create(&self, repo: u64, body: &[u8]) -> Answer {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(branch) = body["branch"].as_str().filter(|b| !b.is_empty()) else {
            return self.error(400, "branch is required");
        };
        let variables = body["variables"].as_object().cloned().unwrap_or_default();
        let outcome = match Requested::from_value(variables.get("SQ_HEAD_URIS")) {
            Requested::Build(outcome) => outcome,
            Requested::TriggerError => {
                return self.error(400, "refused by the trigger-error outcome marker");
            }
            Requested::Unknown(token) => {
                return self.error(400, &format!("unknown outcome marker {token:?}"));
            }
        };
        let mut pipelines = self.common.lock();
        let number = pipelines
            .range((repo, 0)..=(repo, u64::MAX))
            .map(|((_, n), _)| *n)
            .max()
            .unwrap_or(0)
            + 1;
        let pipeline = Pipeline {
            life: Lifecycle::new(outcome),
            branch: branch.to_owned(),
            variables,
        };
        let answer = Answer::json(200, self.json(number, &pipeline, Instant::now()));
        pipelines.insert((repo, number), pipeline);
        answer
    }

    fn list(&self, repo: u64, query: &Query) -> Answer {
        let now = Instant::now();
        let per_page: usize = query
            .get("perPage")
            .and_then(|v| v.parse().ok())
            .unwrap_or(50);
        let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
        let pipelines = self.common.lock();
        let listed: Vec<Value> = pipelines
            .range((repo, 0)..=(repo, u64::MAX))
            .rev()
            .skip(page.saturating_sub(1) * per_page)
            .take(per_page)
            .map(|((_, number), p)| self.json(*number, p, now))
            .collect();
        Answer::json(200, Value::Array(listed))
    }

    fn get(&self, repo: u64, number: u64) -> Answer {
        let pipelines = self.common.lock();
        match pipelines.get(&(repo, number)) {
            None => self.error(404, "pipeline not found"),
            Some(p) if p.life.outcome == Outcome::StatusError => self.error(500, "internal error"),
            Some(p) => Answer::json(200, self.json(number, p, Instant::now())),
        }
    }

    fn cancel(&self, repo: u64, number: u64) -> Answer {
        let now = Instant::now();
        let mut pipelines = self.common.lock();
        let Some(pipeline) = pipelines.get_mut(&(repo, number)) else {
            return self.error(404, "pipeline not found");
        };
        if !matches!(
            self.status(pipeline, now),
            "pending" | "running" | "blocked"
        ) {
            return self.error(
                400,
                "Cannot cancel a non-running or non-pending or non-blocked pipeline",
            );
        }
        pipeline.life.cancel(now);
        Answer::json(200, self.json(number, pipeline, now))
    }
}

impl Platform for Woodpecker {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, _path: &str) -> Option<Answer> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        (token != Some(self.common.config.token.as_str())).then(|| self.error(401, "Unauthorized"))
    }

    fn rate_limit(&self, _headers: &HeaderMap, _method: &str, _path: &str) -> RateVerdict {
        // Woodpecker limits nothing itself; a proxy in front of it may (the 429 fault).
        RateVerdict::default()
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        self.error(429, "Too Many Requests")
            .with_header("Retry-After", reset_secs.to_string())
    }

    fn error(&self, status: u16, message: &str) -> Answer {
        Answer::json(status, json!({ "message": message }))
    }
}

impl Emulation for Woodpecker {
    type Options = ();

    fn new(config: EmulatorConfig, base_url: String) -> Self {
        Woodpecker {
            common: PlatformState::new(config, &base_url, BTreeMap::new()),
        }
    }

    fn routes(platform: Arc<Self>) -> Router {
        Router::new()
            .route("/api/repos/{repo}/pipelines", post(create).get(list))
            .route("/api/repos/{repo}/pipelines/{number}", get(pipeline))
            .route("/api/repos/{repo}/pipelines/{number}/cancel", post(cancel))
            .with_state(platform)
    }

    fn builds_created(&self) -> usize {
        self.pipeline_count()
    }
}

type App = State<Arc<Woodpecker>>;

async fn create(State(w): App, Path(repo): Path<u64>, body: Bytes) -> Answer {
    w.create(repo, &body)
}

async fn list(State(w): App, Path(repo): Path<u64>, RawQuery(query): RawQuery) -> Answer {
    w.list(repo, &Query::parse(query.as_deref()))
}

async fn pipeline(State(w): App, Path((repo, number)): Path<(u64, u64)>) -> Answer {
    w.get(repo, number)
}

async fn cancel(State(w): App, Path((repo, number)): Path<(u64, u64)>) -> Answer {
    w.cancel(repo, number)
}

/// Timings of a demo: pipelines wait a second and run five.
pub const DEMO_TIMINGS: Timings = Timings::new(
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(5),
    std::time::Duration::from_millis(500),
);
