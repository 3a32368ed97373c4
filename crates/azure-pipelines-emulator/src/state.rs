//! Runs and builds in Azure DevOps' words, and the API's answers computed from them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use buildrunner_emulator_engine::{
    Answer, JobPhase, Lifecycle, Outcome, Phase, PhaseWatch, Query, Requested, encode_segment,
    iso8601,
};
use buildrunner_emulator_engine::{PlatformState, parse_path_number};
use serde_json::{Map, Value, json};

use crate::EmulatorConfig;

/// A run as the API would report it when the snapshot was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSnapshot {
    /// The run id (also its build's).
    pub id: u64,
    /// The build number.
    pub build_number: String,
    /// The build's `status`.
    pub status: String,
    /// The build's `result`, once completed.
    pub result: Option<String>,
    /// The runtime parameters it was run with.
    pub parameters: BTreeMap<String, String>,
    /// The branch.
    pub git_ref: String,
    /// How many times its failed jobs were re-run.
    pub retries: u32,
    /// The outcome marker it was run with (`pass` when none).
    pub outcome: &'static str,
}

#[derive(Debug)]
pub(crate) struct Run {
    id: u64,
    organization: String,
    project: String,
    pipeline_id: u64,
    build_number: String,
    git_ref: String,
    parameters: BTreeMap<String, String>,
    life: Lifecycle,
}

/// Where a build's URLs and ids come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub organization: &'a str,
    pub project: &'a str,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub runs: BTreeMap<u64, Run>,
    /// The runs whose changes are announced by webhook.
    pub watch: PhaseWatch<u64>,
    numbered: u64,
}

/// The fake Azure DevOps: its pipelines' runs, behind the engine's gate. The
/// [`Emulator`](crate::Emulator) handle dereferences to it.
#[derive(Debug)]
pub struct State {
    /// The configuration, URL, engine and records every platform holds.
    pub(crate) common: PlatformState<crate::AzureOptions, Inner>,
}

/// Azure's error body.
pub(crate) fn error(status: u16, type_key: &str, message: &str) -> Answer {
    Answer::json(
        status,
        json!({"$id": "1", "innerException": null, "message": message, "typeName": format!("Microsoft.Azure.Pipelines.WebApi.{type_key}"), "typeKey": type_key, "errorCode": 0, "eventId": 3000}),
    )
}

/// The build's `status` and `result` at a phase.
fn status_of(phase: Phase) -> (&'static str, Option<&'static str>) {
    match phase {
        Phase::Queued => ("notStarted", None),
        Phase::Running | Phase::Failing | Phase::Blocked => ("inProgress", None),
        Phase::Canceling => ("cancelling", None),
        Phase::Passed => ("completed", Some("succeeded")),
        Phase::Failed => ("completed", Some("failed")),
        Phase::Canceled => ("completed", Some("canceled")),
    }
}

/// A run's `state` and `result` (the Pipelines API's words).
pub(crate) fn run_state_of(phase: Phase) -> (&'static str, Option<&'static str>) {
    match status_of(phase) {
        ("notStarted" | "inProgress", _) => ("inProgress", None),
        ("cancelling", _) => ("canceling", None),
        (_, result) => ("completed", result),
    }
}

impl Run {
    pub(crate) fn phase(&self, config: &EmulatorConfig, now: Instant) -> Phase {
        self.life.phase(&config.timings, now)
    }

    pub(crate) fn pipeline_id(&self) -> u64 {
        self.pipeline_id
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl State {
    pub(crate) fn new(config: EmulatorConfig, base_url: String) -> State {
        State {
            common: PlatformState::new(config, &base_url, Inner::default()),
        }
    }

    fn web_url(&self, run: &Run) -> String {
        format!(
            "{}/{}/{}/_build/results?buildId={}",
            self.common.base_url,
            encode_segment(&run.organization),
            encode_segment(&run.project),
            run.id
        )
    }

    fn api_url(&self, run: &Run, tail: &str) -> String {
        format!(
            "{}/{}/{}/_apis/build/builds/{}{tail}",
            self.common.base_url,
            encode_segment(&run.organization),
            encode_segment(&run.project),
            run.id
        )
    }

    pub(crate) fn build_json(&self, run: &Run, now: Instant) -> Value {
        let (status, result) = status_of(run.phase(&self.common.config, now));
        let mut build = json!({
            "_links": {
                "self": {"href": self.api_url(run, "")},
                "web": {"href": self.web_url(run)},
                "timeline": {"href": self.api_url(run, "/Timeline")},
            },
            "id": run.id,
            "buildNumber": run.build_number,
            "status": status,
            "queueTime": iso8601(run.life.started_wall),
            "url": self.api_url(run, ""),
            "definition": {"id": run.pipeline_id, "name": "app", "type": "build"},
            "project": {"name": run.project, "state": "wellFormed"},
            "sourceBranch": run.git_ref,
            "reason": "manual",
            "priority": "normal",
            "templateParameters": run.parameters,
        });
        if let Some(result) = result {
            build["result"] = json!(result);
            build["finishTime"] = json!(iso8601(SystemTime::now()));
        }
        build
    }

    fn find<'a>(inner: &'a Inner, scope: Scope<'_>, id: &str) -> Option<&'a Run> {
        let id = parse_path_number(id)?;
        inner
            .runs
            .get(&id)
            .filter(|r| r.organization == scope.organization && r.project == scope.project)
    }

    /// `POST …/_apis/pipelines/{id}/runs`.
    pub(crate) fn run(&self, scope: Scope<'_>, pipeline: &str, body: &[u8]) -> Answer {
        let Some(pipeline_id) = parse_path_number(pipeline) else {
            return error(
                404,
                "PipelineNotFoundException",
                &format!("Pipeline with id {pipeline} not found."),
            );
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return error(
                400,
                "InvalidArgumentValueException",
                "Value cannot be null. Parameter name: runParameters",
            );
        };
        let parameters = match body.get("templateParameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return error(
                    400,
                    "InvalidArgumentValueException",
                    "templateParameters must be an object",
                );
            }
        };
        let mut given = BTreeMap::new();
        for (name, value) in parameters {
            if !self.common.config.platform.parameters.contains(&name) {
                return error(
                    400,
                    "PipelineValidationException",
                    &format!("Unexpected parameter '{name}'"),
                );
            }
            let Value::String(value) = value else {
                return error(
                    400,
                    "PipelineValidationException",
                    &format!("The value of parameter '{name}' is not a string"),
                );
            };
            given.insert(name, value);
        }
        let git_ref = Value::Object(body.clone())
            .pointer("/resources/repositories/self/refName")
            .and_then(Value::as_str)
            .unwrap_or("refs/heads/main")
            .to_owned();
        let outcome =
            match Requested::from_head_uris_json(given.get("sq_head_uris").map(String::as_str)) {
                Requested::Build(outcome) => outcome,
                Requested::TriggerError => {
                    return error(
                        400,
                        "PipelineValidationException",
                        "Run refused by the trigger-error outcome marker",
                    );
                }
                Requested::Unknown(token) => {
                    return error(
                        400,
                        "PipelineValidationException",
                        &format!("Unknown outcome marker {token:?}"),
                    );
                }
            };
        let now = Instant::now();
        let mut inner = self.common.lock();
        inner.numbered += 1;
        let id = 300 + inner.runs.len() as u64 * 3 + 11;
        // The sample YAML's `name: buildrunner ${{ parameters.buildrunner_key }}`.
        let build_number = match given.get("buildrunner_key").filter(|k| !k.is_empty()) {
            Some(key) => format!("buildrunner {key}"),
            None => format!("20261201.{}", inner.numbered),
        };
        let run = Run {
            id,
            organization: scope.organization.to_owned(),
            project: scope.project.to_owned(),
            pipeline_id,
            build_number,
            git_ref,
            parameters: given,
            life: Lifecycle::new(outcome),
        };
        let (state, result) = run_state_of(run.phase(&self.common.config, now));
        let answer = json!({
            "_links": {"self": {"href": self.api_url(&run, "")}, "web": {"href": self.web_url(&run)}},
            "id": id,
            "name": run.build_number,
            "state": state,
            "result": result,
            "createdDate": iso8601(run.life.started_wall),
            "pipeline": {"id": pipeline_id, "name": "app", "folder": "\\"},
            "templateParameters": run.parameters,
            "resources": {"repositories": {"self": {"refName": run.git_ref}}},
            "url": format!("{}/{}/{}/_apis/pipelines/{pipeline_id}/runs/{id}", self.common.base_url, encode_segment(scope.organization), encode_segment(scope.project)),
        });
        inner.runs.insert(id, run);
        if self.common.engine.webhooks_on() {
            inner.watch.watch(id);
        }
        Answer::json(200, answer)
    }

    /// `GET …/_apis/build/builds/{id}`.
    pub(crate) fn get(&self, scope: Scope<'_>, id: &str) -> Answer {
        let inner = self.common.lock();
        match Self::find(&inner, scope, id) {
            None => error(
                404,
                "BuildNotFoundException",
                &format!("The requested build {id} could not be found."),
            ),
            Some(run) if run.life.outcome == Outcome::StatusError => error(
                500,
                "InternalServerException",
                "the status-error outcome marker",
            ),
            Some(run) => Answer::json(200, self.build_json(run, Instant::now())),
        }
    }

    /// `GET …/_apis/build/builds?definitions=&buildNumber=`.
    pub(crate) fn list(&self, scope: Scope<'_>, query: &Query) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let definitions: Vec<u64> = query
            .get("definitions")
            .map(|d| d.split(',').filter_map(parse_path_number).collect())
            .unwrap_or_default();
        let builds: Vec<Value> = inner
            .runs
            .values()
            .rev()
            .filter(|r| r.organization == scope.organization && r.project == scope.project)
            .filter(|r| definitions.is_empty() || definitions.contains(&r.pipeline_id))
            .filter(|r| query.get("buildNumber").is_none_or(|n| n == r.build_number))
            .take(1000)
            .map(|r| self.build_json(r, now))
            .collect();
        Answer::json(200, json!({"count": builds.len(), "value": builds}))
    }

    /// `PATCH …/_apis/build/builds/{id}`: a cancel, or with `retry=true` a re-run of the
    /// failed jobs.
    pub(crate) fn update(&self, scope: Scope<'_>, id: &str, query: &Query, body: &[u8]) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(run_id) = Self::find(&inner, scope, id).map(|r| r.id) else {
            return error(
                404,
                "BuildNotFoundException",
                &format!("The requested build {id} could not be found."),
            );
        };
        let Some(run) = inner.runs.get_mut(&run_id) else {
            return error(404, "BuildNotFoundException", "gone");
        };
        let phase = run.phase(&self.common.config, now);
        if query.flag("retry") {
            if !body.is_empty() {
                return error(
                    400,
                    "RequestContentException",
                    "The request body must be empty when the retry parameter is specified.",
                );
            }
            if phase != Phase::Failed {
                return error(
                    400,
                    "InvalidBuildException",
                    &format!("Build {run_id} has no failed jobs to retry."),
                );
            }
            run.life.retry_failed(now, Duration::ZERO);
        } else {
            let wanted = serde_json::from_slice::<Value>(body).ok();
            let status = wanted
                .as_ref()
                .and_then(|v| v.get("status"))
                .and_then(Value::as_str);
            if status != Some("cancelling") {
                return error(
                    400,
                    "InvalidArgumentValueException",
                    "Only a status of cancelling is supported by this emulator.",
                );
            }
            if !phase.is_finished() {
                run.life.cancel(now);
            }
        }
        let run = &*run;
        Answer::json(200, self.build_json(run, now))
    }

    /// `GET …/_apis/build/builds/{id}/timeline`.
    pub(crate) fn timeline(&self, scope: Scope<'_>, id: &str) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let Some(run) = Self::find(&inner, scope, id) else {
            return error(
                404,
                "BuildNotFoundException",
                &format!("The requested build {id} could not be found."),
            );
        };
        let records: Vec<Value> = run
            .life
            .jobs(&self.common.config.timings, now)
            .iter()
            .enumerate()
            .map(|(index, job)| self.record(run, index, job))
            .collect();
        Answer::json(
            200,
            json!({"records": records, "lastChangedBy": "00000000-0000-0000-0000-000000000000", "id": format!("{:08x}-0000-4000-8000-000000000000", run.id)}),
        )
    }

    fn record(&self, run: &Run, index: usize, job: &JobPhase) -> Value {
        let (state, result) = match job.phase {
            Phase::Queued => ("pending", None),
            Phase::Running | Phase::Failing | Phase::Canceling | Phase::Blocked => {
                ("inProgress", None)
            }
            Phase::Passed => ("completed", Some("succeeded")),
            Phase::Failed => ("completed", Some("failed")),
            Phase::Canceled => ("completed", Some("canceled")),
        };
        let approval = job.name == "approval";
        let log = index * 4 + 3;
        let mut record = json!({
            "id": format!("{:08x}-{index:04x}-4000-8000-{:012x}", run.id, job.attempt),
            "parentId": null,
            "type": if approval { "Checkpoint.Approval" } else { "Job" },
            "name": job.name,
            "state": state,
            "result": result,
            "attempt": job.attempt,
            "order": index + 1,
            "log": if approval { Value::Null } else { json!({"id": log, "type": "Container", "url": self.api_url(run, &format!("/logs/{log}"))}) },
            "issues": [],
        });
        if job.phase == Phase::Failed {
            record["issues"] = json!([{"type": "error", "category": "General", "message": "Bash exited with code '1'."}]);
            record["errorCount"] = json!(1);
        }
        record
    }

    /// A snapshot of run `id`.
    pub fn run_snapshot(&self, id: u64) -> Option<RunSnapshot> {
        let inner = self.common.lock();
        let run = inner.runs.get(&id)?;
        let (status, result) = status_of(run.phase(&self.common.config, Instant::now()));
        Some(RunSnapshot {
            id,
            build_number: run.build_number.clone(),
            status: status.to_owned(),
            result: result.map(str::to_owned),
            parameters: run.parameters.clone(),
            git_ref: run.git_ref.clone(),
            retries: run.life.attempt - 1,
            outcome: run.life.outcome.token(),
        })
    }

    /// How many runs exist.
    pub fn run_count(&self) -> usize {
        self.common.lock().runs.len()
    }
}
