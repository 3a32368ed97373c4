//! The Buildkite side of the emulator: pipelines and their builds in Buildkite's words, and
//! the API's answers computed from them. Lifecycles, faults, rate windows and the request
//! log come from the shared [`buildrunner_emulator_engine`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use buildrunner_emulator_engine::PlatformState;
use buildrunner_emulator_engine::{
    Answer, Lifecycle, Outcome, Phase, PhaseWatch, Query, RateVerdict, Requested, Timings, iso8601,
    uuid,
};
use serde_json::{Map, Value, json};

use crate::EmulatorConfig;

/// A build as the API would report it at the moment the snapshot was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSnapshot {
    /// The build number.
    pub number: u64,
    /// The raw state.
    pub state: String,
    /// The `blocked` flag.
    pub blocked: bool,
    /// The outcome marker the build was created with (`pass` when none).
    pub outcome: &'static str,
    /// Whether a cancel was accepted for it.
    pub cancel_requested: bool,
    /// The `env` the build was created with.
    pub env: Map<String, Value>,
    /// The `meta_data` the build was created with.
    pub meta_data: Map<String, Value>,
    /// The branch.
    pub branch: String,
    /// The commit.
    pub commit: String,
    /// The message.
    pub message: String,
}

fn message(status: u16, message: &str) -> Answer {
    Answer::json(status, json!({ "message": message }))
}

#[derive(Debug)]
pub(crate) struct Build {
    number: u64,
    uuid: String,
    life: Lifecycle,
    branch: String,
    commit: String,
    message: String,
    env: Map<String, Value>,
    meta_data: Map<String, Value>,
    forced: Option<(String, bool)>,
}

#[derive(Debug, Default)]
struct Pipeline {
    last_number: u64,
    builds: BTreeMap<u64, Build>,
}

/// A build's key: organization, pipeline, number.
pub(crate) type BuildKey = (String, String, u64);

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pipelines: HashMap<(String, String), Pipeline>,
    /// The builds whose changes are announced by webhook.
    pub watch: PhaseWatch<BuildKey>,
}

/// The fake Buildkite: its pipelines and builds, behind the engine's gate. The
/// [`Emulator`](crate::Emulator) handle dereferences to it.
#[derive(Debug)]
pub struct State {
    /// The configuration, URL, engine and records every platform holds.
    pub(crate) common: PlatformState<crate::BuildkiteOptions, Inner>,
    pub(crate) timings: Timings,
    /// GraphQL's complexity points, per organization.
    pub(crate) graphql_points: Mutex<buildrunner_emulator_engine::RateWindows>,
}

const TERMINAL: [&str; 5] = ["passed", "failed", "canceled", "skipped", "not_run"];

impl State {
    pub(crate) fn new(config: EmulatorConfig, base_url: String) -> State {
        State {
            timings: config.timings,
            graphql_points: Mutex::new(buildrunner_emulator_engine::RateWindows::new(
                config.platform.graphql_rate_limit,
            )),
            common: PlatformState::new(config, &base_url, Inner::default()),
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.common.config.token
    }

    /// Counts a request against its organization's window, with Buildkite's headers.
    pub(crate) fn rate_limit(&self, organization: &str) -> RateVerdict {
        let Some(count) = self.common.engine.count_request(organization) else {
            return RateVerdict::default();
        };
        let reset = count.reset_secs();
        let mut headers = vec![
            ("RateLimit-Scope", "rest".to_owned()),
            ("RateLimit-Limit", count.limit.to_string()),
            ("RateLimit-Remaining", count.remaining.to_string()),
            ("RateLimit-Reset", reset.to_string()),
        ];
        let exceeded = count.exceeded.then(|| {
            headers.push((
                "RateLimit-Warning",
                "You have exceeded your API rate limit.".to_owned(),
            ));
            let mut answer = rate_limited(count.limit, count.used, reset);
            answer.headers = headers.clone();
            answer
        });
        RateVerdict { headers, exceeded }
    }

    /// The page a person opens to see a build.
    pub(crate) fn web_url(&self, organization: &str, pipeline: &str, number: u64) -> String {
        format!(
            "{}/{organization}/{pipeline}/builds/{number}",
            self.common.base_url
        )
    }

    pub(crate) fn raw_state(&self, build: &Build, now: Instant) -> (String, bool) {
        let phase = build.life.phase(&self.timings, now);
        if let (Some((state, blocked)), false) = (&build.forced, build.life.cancelled_at.is_some())
        {
            return (state.clone(), *blocked);
        }
        let (state, blocked) = match phase {
            Phase::Queued => ("scheduled", false),
            Phase::Running => ("running", false),
            Phase::Failing => ("failing", false),
            Phase::Passed => ("passed", false),
            Phase::Failed => ("failed", false),
            // A build waiting at a block step: Buildkite keeps it `passed` with `blocked`.
            Phase::Blocked => ("passed", true),
            Phase::Canceling => ("canceling", false),
            Phase::Canceled => ("canceled", false),
        };
        (state.to_owned(), blocked)
    }

    fn is_terminal(state: &str, blocked: bool) -> bool {
        TERMINAL.contains(&state) && !(state == "passed" && blocked)
    }

    pub(crate) fn build_json(
        &self,
        organization: &str,
        pipeline: &str,
        build: &Build,
        now: Instant,
        include_jobs: bool,
        include_pipeline: bool,
    ) -> Value {
        let (state, blocked) = self.raw_state(build, now);
        let at = |offset: Duration| iso8601(build.life.started_wall + offset);
        let age = build.life.age(now);
        let started = (age >= self.timings.queued).then(|| at(self.timings.queued));
        let finished = Self::is_terminal(&state, blocked).then(|| at(age));
        let web_url = self.web_url(organization, pipeline, build.number);
        let api_url = format!(
            "{}/v2/organizations/{organization}/pipelines/{pipeline}/builds/{}",
            self.common.base_url, build.number
        );
        let mut object = json!({
            "id": build.uuid,
            "graphql_id": format!("QnVpbGQtLS0{}", build.uuid.replace('-', "")),
            "url": api_url,
            "web_url": web_url,
            "number": build.number,
            "state": state,
            "blocked": blocked,
            "blocked_state": "",
            "cancel_reason": if build.life.cancelled_at.is_some() { json!("canceled via API") } else { Value::Null },
            "message": build.message,
            "commit": build.commit,
            "branch": build.branch,
            "tag": null,
            "env": build.env,
            "source": "api",
            "author": {},
            "creator": {
                "id": "0189c2d6-7d2f-4f54-b0f5-6d1b2b1f0a11",
                "graphql_id": "VXNlci0tLTAxODljMmQ2",
                "name": "buildkite-emulator",
                "email": "emulator@example.com",
                "avatar_url": null,
                "created_at": "2015-05-09T21:05:59.874Z"
            },
            "created_at": at(Duration::ZERO),
            "scheduled_at": at(Duration::ZERO),
            "started_at": started,
            "finished_at": finished,
            "meta_data": build.meta_data,
            "pull_request": null,
            "rebuilt_from": null,
        });
        if include_jobs {
            object["jobs"] = Value::Array(self.jobs_json(&web_url, build, now));
        }
        if include_pipeline {
            object["pipeline"] = pipeline_json(&self.common.base_url, organization, pipeline);
        }
        object
    }

    pub(crate) fn create(&self, organization: &str, pipeline: &str, body: &[u8]) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return message(400, "Problems parsing JSON");
        };
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let mut errors = Vec::new();
        for field in ["commit", "branch"] {
            if text(field).is_none() {
                errors.push(json!({"resource": "Build", "field": field, "code": "missing_field"}));
            }
        }
        if !errors.is_empty() {
            return Answer::json(
                422,
                json!({"message": "Validation Failed", "errors": errors}),
            );
        }
        let object = |key: &str| match body.get(key) {
            Some(Value::Object(map)) => Ok(map.clone()),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(Answer::json(
                422,
                json!({"message": "Validation Failed", "errors": [{"resource": "Build", "field": key, "code": "invalid"}]}),
            )),
        };
        let env = match object("env") {
            Ok(env) => env,
            Err(answer) => return answer,
        };
        let meta_data = match object("meta_data") {
            Ok(meta_data) => meta_data,
            Err(answer) => return answer,
        };
        let outcome = match Requested::from_value(env.get("SQ_HEAD_URIS")) {
            Requested::Build(outcome) => outcome,
            Requested::TriggerError => {
                return message(
                    422,
                    "Build could not be created: refused by the trigger-error outcome marker",
                );
            }
            Requested::Unknown(token) => {
                return message(
                    422,
                    &format!("Build could not be created: unknown outcome marker {token:?}"),
                );
            }
        };
        let mut inner = self.common.lock();
        let pipeline_state = inner
            .pipelines
            .entry((organization.to_owned(), pipeline.to_owned()))
            .or_default();
        pipeline_state.last_number += 1;
        let number = pipeline_state.last_number;
        let build = Build {
            number,
            uuid: uuid(),
            life: Lifecycle::new(outcome),
            branch: text("branch").unwrap_or_default().to_owned(),
            commit: text("commit").unwrap_or_default().to_owned(),
            message: body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            env,
            meta_data,
            forced: None,
        };
        let json = self.build_json(
            organization,
            pipeline,
            &build,
            build.life.started,
            true,
            true,
        );
        pipeline_state.builds.insert(number, build);
        if self.common.engine.webhooks_on() {
            let key = (organization.to_owned(), pipeline.to_owned(), number);
            inner.watch.watch(key);
        }
        Answer::json(201, json)
    }

    pub(crate) fn get(
        &self,
        organization: &str,
        pipeline: &str,
        number: &str,
        query: &Query,
    ) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let Some(build) = find(&inner, organization, pipeline, number) else {
            return message(404, "No build found");
        };
        if build.life.outcome == Outcome::StatusError {
            return message(
                500,
                "Internal Server Error (the status-error outcome marker)",
            );
        }
        Answer::json(
            200,
            self.build_json(
                organization,
                pipeline,
                build,
                now,
                !query.flag("exclude_jobs"),
                !query.flag("exclude_pipeline"),
            ),
        )
    }

    /// A build's jobs: `build`, a waiter, `test` (each earlier attempt of it `retried`, the
    /// latest with its `retries_count`), the block step of a `block` build, and passing
    /// `lint` shards until there are `jobs_per_build` jobs.
    fn jobs_json(&self, web_url: &str, build: &Build, now: Instant) -> Vec<Value> {
        let phases = build.life.jobs(&self.timings, now);
        let attempt = build.life.attempt_at(now);
        let mut jobs = Vec::new();
        let script = |index: usize, name: &'static str, phase: Phase| JobSpec {
            id: job_id(build, index, 1),
            kind: "script",
            name,
            state: job_state(phase),
            retried_in: None,
            retries: 0,
        };
        if let Some(first) = phases.first() {
            jobs.push(job_json(web_url, build, script(0, first.name, first.phase)));
        }
        jobs.push(job_json(
            web_url,
            build,
            JobSpec {
                id: job_id(build, 1, 1),
                kind: "waiter",
                name: "wait",
                state: "passed",
                retried_in: None,
                retries: 0,
            },
        ));
        if let Some(test) = phases.get(1) {
            for earlier in 1..attempt {
                jobs.push(job_json(
                    web_url,
                    build,
                    JobSpec {
                        id: job_id(build, 2, earlier),
                        kind: "script",
                        name: test.name,
                        state: "failed",
                        retried_in: Some(job_id(build, 2, earlier + 1)),
                        retries: earlier - 1,
                    },
                ));
            }
            jobs.push(job_json(
                web_url,
                build,
                JobSpec {
                    id: job_id(build, 2, attempt),
                    kind: "script",
                    name: test.name,
                    state: job_state(test.phase),
                    retried_in: None,
                    retries: attempt - 1,
                },
            ));
        }
        if let Some(approval) = phases.get(2) {
            let state = job_state(approval.phase);
            jobs.push(job_json(
                web_url,
                build,
                JobSpec {
                    id: job_id(build, 3, 1),
                    kind: "manual",
                    name: approval.name,
                    state,
                    retried_in: None,
                    retries: 0,
                },
            ));
        }
        let build_phase = phases.first().map_or(Phase::Queued, |j| j.phase);
        let listed = jobs.len();
        for shard in listed..self.common.config.platform.jobs_per_build {
            jobs.push(job_json(
                web_url,
                build,
                script(4 + shard, "lint", build_phase),
            ));
        }
        jobs
    }

    /// `PUT …/builds/{number}/jobs/{job}/retry`: the latest attempt of a failed `test` job
    /// runs again (a `flaky` one passes) under a new job id, and the build is running again;
    /// each job id is retried once (422 after that), and only failed jobs (422 otherwise).
    pub(crate) fn retry_job(
        &self,
        organization: &str,
        pipeline: &str,
        number: &str,
        job: &str,
    ) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(build) = find_mut(&mut inner, organization, pipeline, number) else {
            return message(404, "No build found");
        };
        let attempt = build.life.attempt_at(now);
        let current = job_id(build, 2, attempt);
        if (1..attempt).any(|earlier| job_id(build, 2, earlier) == job) {
            return message(422, "Job has already been retried");
        }
        let failed = build
            .life
            .jobs(&self.timings, now)
            .get(1)
            .is_some_and(|test| test.phase == Phase::Failed);
        if job != current || !failed {
            return message(
                422,
                "Only failed, timed out or canceled jobs can be retried",
            );
        }
        build.forced = None;
        build.life.retry_failed(now, Duration::ZERO);
        let build = &*build;
        let web_url = self.web_url(organization, pipeline, build.number);
        let retried = self
            .jobs_json(&web_url, build, now)
            .into_iter()
            .find(|j| j["id"] == job_id(build, 2, attempt + 1).as_str());
        Answer::json(200, retried.unwrap_or(Value::Null))
    }

    pub(crate) fn cancel(&self, organization: &str, pipeline: &str, number: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(build) = find_mut(&mut inner, organization, pipeline, number) else {
            return message(404, "No build found");
        };
        let (state, blocked) = self.raw_state(build, now);
        if Self::is_terminal(&state, blocked) {
            return message(
                422,
                "Build can't be canceled because it's already finished.",
            );
        }
        // Buildkite's REST cancel only takes scheduled, running and failing builds.
        if blocked || state == "blocked" {
            return message(422, "Build can't be canceled because it's blocked.");
        }
        build.life.cancel(now);
        let build = &*build;
        Answer::json(
            200,
            self.build_json(organization, pipeline, build, now, true, true),
        )
    }

    pub(crate) fn list(
        &self,
        organization: &str,
        pipeline: &str,
        query: &Query,
        path: &str,
    ) -> Answer {
        let mut states: Vec<String> = query
            .all("state")
            .chain(query.all("state[]"))
            .map(str::to_owned)
            .collect();
        if states.iter().any(|s| s == "finished") {
            states.extend(["passed", "failed", "blocked", "canceled"].map(str::to_owned));
        }
        let meta_filters: Vec<(&str, &str)> = query
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("meta_data[")?.strip_suffix(']')?;
                Some((key, v.as_str()))
            })
            .collect();
        let branches: Vec<&str> = query.all("branch").chain(query.all("branch[]")).collect();
        let include_jobs = !query.flag("exclude_jobs");
        let include_pipeline = !query.flag("exclude_pipeline");

        let now = Instant::now();
        let inner = self.common.lock();
        let matching: Vec<&Build> = inner
            .pipelines
            .get(&(organization.to_owned(), pipeline.to_owned()))
            .map(|p| p.builds.values().rev().collect())
            .unwrap_or_default();
        let matching: Vec<&Build> = matching
            .into_iter()
            .filter(|b| {
                meta_filters
                    .iter()
                    .all(|(k, v)| b.meta_data.get(*k).and_then(Value::as_str) == Some(*v))
            })
            .filter(|b| branches.is_empty() || branches.contains(&b.branch.as_str()))
            .filter(|b| states.is_empty() || states.contains(&self.raw_state(b, now).0))
            .collect();
        let (page, link) = query.paginate(matching, &self.common.base_url, path);
        let body: Vec<Value> = page
            .iter()
            .map(|b| {
                self.build_json(
                    organization,
                    pipeline,
                    b,
                    now,
                    include_jobs,
                    include_pipeline,
                )
            })
            .collect();
        let mut answer = Answer::json(200, Value::Array(body));
        if let Some(link) = link {
            answer.headers.push(("Link", link));
        }
        answer
    }

    /// Forces a build into a raw state (any string, including ones Buildkite has not
    /// invented) with the given `blocked` flag; it stays there until cancelled or forced again.
    ///
    /// Returns `false` when there is no such build.
    pub fn force_state(
        &self,
        organization: &str,
        pipeline: &str,
        number: u64,
        state: &str,
        blocked: bool,
    ) -> bool {
        let mut inner = self.common.lock();
        match find_mut(&mut inner, organization, pipeline, &number.to_string()) {
            Some(build) => {
                build.forced = Some((state.to_owned(), blocked));
                build.life.cancelled_at = None;
                true
            }
            None => false,
        }
    }

    fn snapshot_of(&self, build: &Build, now: Instant) -> BuildSnapshot {
        let (state, blocked) = self.raw_state(build, now);
        BuildSnapshot {
            number: build.number,
            state,
            blocked,
            outcome: build.life.outcome.token(),
            cancel_requested: build.life.cancelled_at.is_some(),
            env: build.env.clone(),
            meta_data: build.meta_data.clone(),
            branch: build.branch.clone(),
            commit: build.commit.clone(),
            message: build.message.clone(),
        }
    }

    /// A snapshot of one build, as the API would report it now.
    pub fn build(&self, organization: &str, pipeline: &str, number: u64) -> Option<BuildSnapshot> {
        let inner = self.common.lock();
        let build = find(&inner, organization, pipeline, &number.to_string())?;
        Some(self.snapshot_of(build, Instant::now()))
    }

    /// Snapshots of every build of a pipeline, oldest first.
    pub fn builds(&self, organization: &str, pipeline: &str) -> Vec<BuildSnapshot> {
        let now = Instant::now();
        let inner = self.common.lock();
        inner
            .pipelines
            .get(&(organization.to_owned(), pipeline.to_owned()))
            .map(|p| {
                p.builds
                    .values()
                    .map(|b| self.snapshot_of(b, now))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many builds exist across every pipeline.
    pub fn build_count(&self) -> usize {
        self.common
            .lock()
            .pipelines
            .values()
            .map(|p| p.builds.len())
            .sum()
    }
}

fn parse_number(number: &str) -> Option<u64> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

impl Inner {
    /// The build a key names.
    pub(crate) fn build(&self, (organization, pipeline, number): &BuildKey) -> Option<&Build> {
        self.pipelines
            .get(&(organization.clone(), pipeline.clone()))?
            .builds
            .get(number)
    }
}

impl Build {
    /// Its number.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// The `env` it was created with.
    pub(crate) fn env(&self) -> &Map<String, Value> {
        &self.env
    }

    /// Its phase at `now`.
    pub(crate) fn phase(&self, timings: &Timings, now: Instant) -> Phase {
        self.life.phase(timings, now)
    }
}

fn find<'a>(
    inner: &'a Inner,
    organization: &str,
    pipeline: &str,
    number: &str,
) -> Option<&'a Build> {
    inner
        .pipelines
        .get(&(organization.to_owned(), pipeline.to_owned()))?
        .builds
        .get(&parse_number(number)?)
}

fn find_mut<'a>(
    inner: &'a mut Inner,
    organization: &str,
    pipeline: &str,
    number: &str,
) -> Option<&'a mut Build> {
    inner
        .pipelines
        .get_mut(&(organization.to_owned(), pipeline.to_owned()))?
        .builds
        .get_mut(&parse_number(number)?)
}

/// A job's state in Buildkite's words.
fn job_state(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued => "scheduled",
        Phase::Running | Phase::Failing => "running",
        Phase::Passed => "passed",
        Phase::Failed => "failed",
        Phase::Blocked => "blocked",
        Phase::Canceling => "canceling",
        Phase::Canceled => "canceled",
    }
}

/// The id of a build's job: its place, and the attempt for the job a retry re-runs.
fn job_id(build: &Build, index: usize, attempt: u32) -> String {
    format!("{}-{attempt:04}{index:04}", &build.uuid[..27])
}

fn job_json(web_url: &str, build: &Build, spec: JobSpec<'_>) -> Value {
    let JobSpec {
        id,
        kind,
        name,
        state,
        retried_in,
        retries,
    } = spec;
    json!({
        "id": id,
        "graphql_id": format!("Sm9iLS0t{id}"),
        "type": kind,
        "name": name,
        "step_key": name,
        "priority": {"number": 0},
        "agent_query_rules": ["queue=default"],
        "state": state,
        "build_url": web_url,
        "web_url": format!("{web_url}#{id}"),
        "log_url": format!("{web_url}/jobs/{id}/log"),
        "raw_log_url": format!("{web_url}/jobs/{id}/log.txt"),
        "artifacts_url": format!("{web_url}/jobs/{id}/artifacts"),
        "command": (kind == "script").then(|| format!(".buildkite/apply-changes.sh && ci/{name}.sh")),
        "soft_failed": false,
        "exit_status": match state { "failed" => json!(1), "passed" => json!(0), _ => Value::Null },
        "artifact_paths": "reports/**/*",
        "agent": null,
        "created_at": iso8601(build.life.started_wall),
        "scheduled_at": iso8601(build.life.started_wall),
        "runnable_at": iso8601(build.life.started_wall),
        "started_at": null,
        "finished_at": null,
        "retried": retried_in.is_some(),
        "retried_in_job_id": retried_in,
        "retries_count": (retries > 0).then_some(retries),
        "retry_type": (retries > 0).then_some("manual"),
        "parallel_group_index": null,
        "parallel_group_total": null,
        "matrix": null,
        "cluster_id": null,
        "cluster_queue_id": null,
    })
}

/// What one entry of a build's `jobs` says.
struct JobSpec<'a> {
    id: String,
    kind: &'a str,
    name: &'a str,
    state: &'a str,
    retried_in: Option<String>,
    retries: u32,
}

fn pipeline_json(base_url: &str, organization: &str, pipeline: &str) -> Value {
    json!({
        "id": "0189c2d6-0000-4000-a000-000000000001",
        "graphql_id": "UGlwZWxpbmUtLS0wMTg5",
        "url": format!("{base_url}/v2/organizations/{organization}/pipelines/{pipeline}"),
        "web_url": format!("{base_url}/{organization}/{pipeline}"),
        "name": pipeline,
        "description": "Emulated pipeline",
        "slug": pipeline,
        "repository": format!("git@github.com:{organization}/{pipeline}.git"),
        "cluster_id": null,
        "pipeline_template_uuid": null,
        "branch_configuration": null,
        "default_branch": "main",
        "skip_queued_branch_builds": false,
        "skip_queued_branch_builds_filter": null,
        "cancel_running_branch_builds": false,
        "cancel_running_branch_builds_filter": null,
        "allow_rebuilds": true,
        "provider": {"id": "github", "settings": {"trigger_mode": "code"}},
        "builds_url": format!("{base_url}/v2/organizations/{organization}/pipelines/{pipeline}/builds"),
        "badge_url": format!("{base_url}/badges/{pipeline}.svg"),
        "created_at": "2015-05-09T21:05:59.874Z",
        "env": null,
        "scheduled_builds_count": 0,
        "running_builds_count": 0,
        "scheduled_jobs_count": 0,
        "running_jobs_count": 0,
        "waiting_jobs_count": 0,
        "visibility": "private",
        "tags": null,
        "emoji": null,
        "color": null,
        "steps": [{"type": "script", "name": ":pipeline:", "command": "buildkite-agent pipeline upload"}],
    })
}

/// Buildkite's 429 answer.
pub(crate) fn rate_limited(limit: u32, current: u32, reset: u64) -> Answer {
    Answer::json(
        429,
        json!({
            "message": format!("You have exceeded your API rate limit. Please wait {reset} seconds before making more requests."),
            "scope": "rest",
            "limit": limit,
            "current": current,
            "reset": reset,
        }),
    )
}
