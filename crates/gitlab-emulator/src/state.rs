//! Pipelines in GitLab's words and the API's answers computed from them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

use buildrunner_emulator_engine::PlatformState;
use buildrunner_emulator_engine::{
    Answer, Lifecycle, Outcome, Phase, PhaseWatch, Query, RateWindows, Requested, iso8601,
};
use serde_json::{Value, json};

use crate::EmulatorConfig;

/// A pipeline as the API would report it when the snapshot was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSnapshot {
    /// The pipeline id.
    pub id: u64,
    /// The project as the request named it (id or decoded path).
    pub project: String,
    /// The raw status.
    pub status: String,
    /// The ref.
    pub git_ref: String,
    /// The `workflow: name` the sample rule gave it.
    pub name: Option<String>,
    /// The variables it was created with, in order.
    pub variables: Vec<(String, String)>,
    /// The outcome marker it was created with (`pass` when none).
    pub outcome: &'static str,
    /// Whether a cancel took effect.
    pub cancel_requested: bool,
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    id: u64,
    iid: u64,
    project: String,
    git_ref: String,
    life: Lifecycle,
    variables: Vec<(String, String)>,
    forced: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub pipelines: BTreeMap<u64, Pipeline>,
    /// The pipelines whose changes are announced by webhook.
    pub watch: PhaseWatch<u64>,
    /// The last `iid` of each project.
    iids: HashMap<String, u64>,
    creations: RateWindows,
}

/// The fake GitLab: its projects' pipelines, behind the engine's gate. The
/// [`Emulator`](crate::Emulator) handle dereferences to it.
#[derive(Debug)]
pub struct State {
    /// The configuration, URL, engine and records every platform holds.
    pub(crate) common: PlatformState<crate::GitLabOptions, Inner>,
}

pub(crate) fn message(status: u16, message: &str) -> Answer {
    Answer::json(status, json!({ "message": message }))
}

/// The variable the sample `.gitlab-ci.yml` names its pipelines after.
const KEY_VARIABLE: &str = "BUILDRUNNER_KEY";

impl Pipeline {
    /// Its phase at `now`.
    pub(crate) fn phase(
        &self,
        timings: &buildrunner_emulator_engine::Timings,
        now: Instant,
    ) -> Phase {
        self.life.phase(timings, now)
    }

    /// The project as the API was asked for it: a numeric id or a path.
    pub(crate) fn project(&self) -> &str {
        &self.project
    }
}

impl State {
    pub(crate) fn new(config: EmulatorConfig, base_url: String) -> State {
        let inner = Inner {
            creations: RateWindows::new(config.platform.create_limit),
            ..Inner::default()
        };
        State {
            common: PlatformState::new(config, &base_url, inner),
        }
    }

    fn status(&self, pipeline: &Pipeline, now: Instant) -> String {
        if let (Some(forced), None) = (&pipeline.forced, pipeline.life.cancelled_at) {
            return forced.clone();
        }
        let status = match pipeline.life.phase(&self.common.config.timings, now) {
            Phase::Queued => "pending",
            Phase::Running | Phase::Failing => "running",
            Phase::Passed => "success",
            Phase::Failed => "failed",
            // Waits for a manual job: a person decides.
            Phase::Blocked => "manual",
            Phase::Canceling => "canceling",
            Phase::Canceled => "canceled",
        };
        status.to_owned()
    }

    fn name(pipeline: &Pipeline) -> Option<String> {
        pipeline
            .variables
            .iter()
            .find(|(k, _)| k == KEY_VARIABLE)
            .map(|(_, key)| format!("buildrunner {key}"))
    }

    pub(crate) fn pipeline_json(&self, pipeline: &Pipeline, now: Instant) -> Value {
        let status = self.status(pipeline, now);
        let created = iso8601(pipeline.life.started_wall);
        let finished = matches!(
            status.as_str(),
            "success" | "failed" | "canceled" | "skipped"
        )
        .then(|| iso8601(SystemTime::now()));
        json!({
            "id": pipeline.id,
            "iid": pipeline.iid,
            "project_id": 278964,
            "name": Self::name(pipeline),
            "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
            "ref": pipeline.git_ref,
            "status": status,
            "source": "api",
            "created_at": created,
            "updated_at": created,
            "started_at": created,
            "finished_at": finished,
            "web_url": format!("{}/{}/-/pipelines/{}", self.common.base_url, pipeline.project, pipeline.id),
            "before_sha": "0000000000000000000000000000000000000000",
            "tag": false,
            "yaml_errors": null,
            "user": {"id": 1, "username": "buildrunner", "name": "buildrunner", "state": "active"},
            "detailed_status": {"text": status, "label": status, "group": status},
            "duration": null,
            "queued_duration": null,
            "coverage": null,
        })
    }

    /// Counts a creation against its project's application limit; the refusal when spent.
    fn creation_refused(&self, project: &str) -> Option<Answer> {
        let count = self
            .common
            .lock()
            .creations
            .count(project, Instant::now())?;
        count.exceeded.then(|| {
            Answer::plain(429, "Retry later")
                .with_header("Retry-After", count.reset_secs().to_string())
        })
    }

    pub(crate) fn create(&self, project: &str, body: &[u8]) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return message(400, "400 Bad request - body is not a JSON object");
        };
        let Some(git_ref) = body
            .get("ref")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        else {
            return Answer::json(400, json!({"error": "ref is missing"}));
        };
        let variables = match body.get("variables") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => {
                let parsed: Option<Vec<(String, String)>> = list
                    .iter()
                    .map(|v| {
                        Some((
                            v.get("key")?.as_str()?.to_owned(),
                            v.get("value")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect();
                match parsed {
                    Some(variables) => variables,
                    None => return Answer::json(400, json!({"error": "variables is invalid"})),
                }
            }
            Some(_) => return Answer::json(400, json!({"error": "variables is invalid"})),
        };
        let head = variables
            .iter()
            .find(|(k, _)| k == "SQ_HEAD_URIS")
            .map(|(_, v)| v.as_str());
        let outcome = match Requested::from_head_uris_json(head) {
            Requested::Build(outcome) => outcome,
            Requested::TriggerError => {
                return Answer::json(
                    400,
                    json!({"message": {"base": ["Pipeline refused by the trigger-error outcome marker"]}}),
                );
            }
            Requested::Unknown(token) => {
                return Answer::json(
                    400,
                    json!({"message": {"base": [format!("Unknown outcome marker {token:?}")]}}),
                );
            }
        };
        if let Some(refused) = self.creation_refused(project) {
            return refused;
        }
        let mut inner = self.common.lock();
        let id = 1_000_000 + inner.pipelines.len() as u64 * 3 + 1;
        let iid = inner.iids.entry(project.to_owned()).or_insert(0);
        *iid += 1;
        let iid = *iid;
        let pipeline = Pipeline {
            id,
            iid,
            project: project.to_owned(),
            git_ref: git_ref.to_owned(),
            life: Lifecycle::new(outcome),
            variables,
            forced: None,
        };
        let answer = Answer::json(201, self.pipeline_json(&pipeline, pipeline.life.started));
        inner.pipelines.insert(id, pipeline);
        if self.common.engine.webhooks_on() {
            inner.watch.watch(id);
        }
        answer
    }

    pub(crate) fn get(&self, project: &str, id: &str) -> Answer {
        let inner = self.common.lock();
        match find(&inner, project, id) {
            None => message(404, "404 Not found"),
            Some(p) if p.life.outcome == Outcome::StatusError => message(
                500,
                "500 Internal Server Error (the status-error outcome marker)",
            ),
            Some(p) => Answer::json(200, self.pipeline_json(p, Instant::now())),
        }
    }

    pub(crate) fn variables(&self, project: &str, id: &str) -> Answer {
        let inner = self.common.lock();
        let Some(pipeline) = find(&inner, project, id) else {
            return message(404, "404 Not found");
        };
        let list: Vec<Value> = pipeline
            .variables
            .iter()
            .map(|(key, value)| json!({"key": key, "variable_type": "env_var", "value": value}))
            .collect();
        Answer::json(200, Value::Array(list))
    }

    pub(crate) fn list(&self, project: &str, query: &Query, path: &str) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let matching: Vec<Value> = inner
            .pipelines
            .values()
            .rev()
            .filter(|p| p.project == project)
            .filter(|_| query.get("source").is_none_or(|s| s == "api"))
            .filter(|p| query.get("ref").is_none_or(|r| r == p.git_ref))
            .filter(|p| {
                query
                    .get("name")
                    .is_none_or(|n| Self::name(p).as_deref() == Some(n))
            })
            .filter(|p| query.get("status").is_none_or(|s| s == self.status(p, now)))
            .map(|p| self.pipeline_json(p, now))
            .collect();
        let total = matching.len();
        let (page, link) = query.paginate(matching, &self.common.base_url, path);
        let mut answer =
            Answer::json(200, Value::Array(page)).with_header("X-Total", total.to_string());
        if let Some(link) = link {
            answer.headers.push(("Link", link));
        }
        answer
    }

    /// `GET …/pipelines/{id}/jobs`: the latest attempt of each job (GitLab drops retried
    /// jobs from the list unless `include_retried=true`), with `failure_reason` on failed ones.
    pub(crate) fn jobs(&self, project: &str, id: &str) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let Some(pipeline) = find(&inner, project, id) else {
            return message(404, "404 Not found");
        };
        let jobs: Vec<Value> = pipeline
            .life
            .jobs(&self.common.config.timings, now)
            .iter()
            .enumerate()
            .map(|(index, job)| {
                let status = match job.phase {
                    Phase::Queued => "pending",
                    Phase::Running | Phase::Failing => "running",
                    Phase::Passed => "success",
                    Phase::Failed => "failed",
                    Phase::Blocked => "manual",
                    Phase::Canceling => "canceling",
                    Phase::Canceled => "canceled",
                };
                // A retried job is a new job with a new id.
                let job_id = pipeline.id * 100 + u64::from(job.attempt) * 10 + index as u64;
                json!({
                    "id": job_id,
                    "name": job.name,
                    "stage": job.name,
                    "status": status,
                    "allow_failure": false,
                    "failure_reason": (status == "failed").then_some("script_failure"),
                    "web_url": format!("{}/{}/-/jobs/{job_id}", self.common.base_url, pipeline.project),
                })
            })
            .collect();
        Answer::json(200, Value::Array(jobs))
    }

    /// `POST …/pipelines/{id}/retry`: retries the failed and canceled jobs and answers 201
    /// with the pipeline; "if there are no failed or canceled jobs in the pipeline, calling
    /// this endpoint has no effect".
    pub(crate) fn retry(&self, project: &str, id: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(pipeline) = find_mut(&mut inner, project, id) else {
            return message(404, "404 Not found");
        };
        if matches!(self.status(pipeline, now).as_str(), "failed" | "canceled") {
            pipeline.forced = None;
            pipeline.life.retry_failed(now, std::time::Duration::ZERO);
        }
        let pipeline = &*pipeline;
        Answer::json(201, self.pipeline_json(pipeline, now))
    }

    /// GitLab answers 200 with the pipeline whatever its state; only alive pipelines change.
    pub(crate) fn cancel(&self, project: &str, id: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(pipeline) = find_mut(&mut inner, project, id) else {
            return message(404, "404 Not found");
        };
        let cancelable = matches!(
            self.status(pipeline, now).as_str(),
            "created" | "waiting_for_resource" | "preparing" | "pending" | "running" | "scheduled"
        );
        if cancelable {
            pipeline.life.cancel(now);
        }
        let pipeline = &*pipeline;
        Answer::json(200, self.pipeline_json(pipeline, now))
    }

    /// Forces a pipeline into a raw status (any string); it stays there until forced again.
    ///
    /// Returns `false` when there is no such pipeline.
    pub fn force_status(&self, id: u64, status: &str) -> bool {
        let mut inner = self.common.lock();
        match inner.pipelines.get_mut(&id) {
            Some(pipeline) => {
                pipeline.forced = Some(status.to_owned());
                pipeline.life.cancelled_at = None;
                true
            }
            None => false,
        }
    }

    /// A snapshot of one pipeline, as the API would report it now.
    pub fn pipeline(&self, id: u64) -> Option<PipelineSnapshot> {
        let inner = self.common.lock();
        let pipeline = inner.pipelines.get(&id)?;
        Some(PipelineSnapshot {
            id,
            project: pipeline.project.clone(),
            status: self.status(pipeline, Instant::now()),
            git_ref: pipeline.git_ref.clone(),
            name: Self::name(pipeline),
            variables: pipeline.variables.clone(),
            outcome: pipeline.life.outcome.token(),
            cancel_requested: pipeline.life.cancelled_at.is_some(),
        })
    }

    /// How many pipelines exist.
    pub fn pipeline_count(&self) -> usize {
        self.common.lock().pipelines.len()
    }

    /// GitLab's `RateLimit-*` headers, the reset as epoch seconds.
    pub(crate) fn rate_headers(
        count: &buildrunner_emulator_engine::WindowCount,
    ) -> Vec<(&'static str, String)> {
        let reset = count.reset_epoch_secs();
        vec![
            ("RateLimit-Name", "throttle_authenticated_api".to_owned()),
            ("RateLimit-Limit", count.limit.to_string()),
            ("RateLimit-Observed", count.used.to_string()),
            ("RateLimit-Remaining", count.remaining.to_string()),
            ("RateLimit-Reset", reset.to_string()),
        ]
    }
}

fn parse_id(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

fn find<'a>(inner: &'a Inner, project: &str, id: &str) -> Option<&'a Pipeline> {
    inner
        .pipelines
        .get(&parse_id(id)?)
        .filter(|p| p.project == project)
}

fn find_mut<'a>(inner: &'a mut Inner, project: &str, id: &str) -> Option<&'a mut Pipeline> {
    inner
        .pipelines
        .get_mut(&parse_id(id)?)
        .filter(|p| p.project == project)
}
