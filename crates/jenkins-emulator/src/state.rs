//! Queue items and builds in Jenkins' words, and the API's answers computed from them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use buildrunner_emulator_engine::{
    Answer, Lifecycle, Outcome, Phase, PhaseWatch, Query, Requested, encode_segment,
};
use buildrunner_emulator_engine::{PlatformState, parse_path_number};
use serde_json::{Value, json};

use crate::EmulatorConfig;

/// A queue item, and its build once it started, as the API would report them.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSnapshot {
    /// The queue item id.
    pub id: u64,
    /// The job's path of names: `platform/app`.
    pub job: String,
    /// The declared parameters with the values the item got (defaults for those not sent).
    pub parameters: Vec<(String, String)>,
    /// The build number, once it left the queue as a build.
    pub number: Option<u64>,
    /// Whether it was cancelled while queued.
    pub cancelled_in_queue: bool,
    /// Whether a `stop` aborted its build.
    pub stopped: bool,
    /// The outcome marker it was triggered with (`pass` when none).
    pub outcome: &'static str,
    /// How many triggers were merged into it (0 for an item only triggered once).
    pub merged: usize,
}

#[derive(Debug)]
pub(crate) struct Item {
    id: u64,
    job: String,
    parameters: Vec<(String, String)>,
    /// When the quiet period ends.
    due: Instant,
    life: Lifecycle,
    cancelled_in_queue: Option<Instant>,
    number: Option<u64>,
    merged: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub items: BTreeMap<u64, Item>,
    /// The items whose changes are announced by webhook.
    pub watch: PhaseWatch<u64>,
    last_number: HashMap<String, u64>,
    disabled: HashSet<String>,
    declared: HashMap<String, Vec<String>>,
}

/// The fake Jenkins: every job's queue items and builds, behind the engine's gate. The
/// [`Emulator`](crate::Emulator) handle dereferences to it.
#[derive(Debug)]
pub struct State {
    /// The configuration, URL, engine and records every platform holds.
    pub(crate) common: PlatformState<crate::JenkinsOptions, Inner>,
}

/// Jenkins' error pages are HTML.
pub(crate) fn page(status: u16, text: &str) -> Answer {
    Answer::html(
        status,
        &format!(
            "<html><head><title>Error {status}</title></head><body><h2>HTTP ERROR {status}</h2><p>{text}</p></body></html>"
        ),
    )
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn parameters_action(parameters: &[(String, String)]) -> Value {
    let list: Vec<Value> = parameters
        .iter()
        .map(|(name, value)| json!({"_class": "hudson.model.StringParameterValue", "name": name, "value": value}))
        .collect();
    json!({"_class": "hudson.model.ParametersAction", "parameters": list})
}

impl Item {
    fn phase(&self, config: &EmulatorConfig, now: Instant) -> Phase {
        if self.cancelled_in_queue.is_some() {
            return Phase::Canceled;
        }
        self.life.phase(&config.timings, now)
    }

    /// When it left the queue: its start, or its cancel in the queue.
    fn left_at(&self, config: &EmulatorConfig) -> Instant {
        self.cancelled_in_queue
            .unwrap_or(self.life.started + config.timings.queued)
    }

    fn queued(&self, config: &EmulatorConfig, now: Instant) -> bool {
        self.cancelled_in_queue.is_none() && now < self.left_at(config)
    }
}

impl State {
    pub(crate) fn new(config: EmulatorConfig, base_url: String) -> State {
        State {
            common: PlatformState::new(config, &base_url, Inner::default()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.common.lock();
        self.settle(&mut inner, Instant::now());
        inner
    }

    /// Gives each item that left the queue as a build its number, in the order they were
    /// queued: the next of its job.
    fn settle(&self, inner: &mut Inner, now: Instant) {
        let Inner {
            items, last_number, ..
        } = inner;
        for item in items.values_mut() {
            if item.number.is_none()
                && item.cancelled_in_queue.is_none()
                && !item.queued(&self.common.config, now)
            {
                let last = last_number.entry(item.job.clone()).or_insert(0);
                *last += 1;
                item.number = Some(*last);
            }
        }
    }

    /// `{base}/job/a/job/b/`
    fn job_url(&self, job: &str) -> String {
        let mut url = self.common.base_url.clone();
        for name in job.split('/') {
            url.push_str("/job/");
            url.push_str(&encode_segment(name));
        }
        url.push('/');
        url
    }

    fn declared(&self, inner: &Inner, job: &str) -> Vec<String> {
        inner
            .declared
            .get(job)
            .cloned()
            .unwrap_or_else(|| self.common.config.platform.parameters.clone())
    }

    pub(crate) fn phase_of(&self, inner: &Inner, id: u64, now: Instant) -> Option<Phase> {
        Some(inner.items.get(&id)?.phase(&self.common.config, now))
    }

    /// `POST /job/{path}/buildWithParameters`.
    pub(crate) fn build_with_parameters(&self, job: &str, form: &Query) -> Answer {
        let now = Instant::now();
        let mut inner = self.lock();
        let declared = self.declared(&inner, job);
        if declared.is_empty() {
            return page(400, &format!("{job} is not parameterized"));
        }
        if inner.disabled.contains(job) {
            return page(409, &format!("{job} is not buildable"));
        }
        // Only declared parameters count; one left out takes its default ("").
        let parameters: Vec<(String, String)> = declared
            .iter()
            .map(|name| (name.clone(), form.get(name).unwrap_or("").to_owned()))
            .collect();
        let head = parameters
            .iter()
            .find(|(n, _)| n == "SQ_HEAD_URIS")
            .map(|(_, v)| v.as_str());
        let outcome = match Requested::from_head_uris_json(head) {
            Requested::Build(outcome) => outcome,
            Requested::TriggerError | Requested::Unknown(_) => {
                return Answer::empty(302).with_header("Location", ".");
            }
        };
        let same = |item: &Item| {
            item.job == job
                && item.queued(&self.common.config, now)
                && item.parameters.iter().collect::<HashSet<_>>()
                    == parameters.iter().collect::<HashSet<_>>()
        };
        if let Some(existing) = inner.items.values_mut().find(|item| same(item)) {
            existing.merged += 1;
            let location = format!("{}/queue/item/{}/", self.common.base_url, existing.id);
            return Answer::empty(303).with_header("Location", location);
        }
        let quiet = match form.get("delay") {
            Some(delay) => delay
                .strip_suffix("sec")
                .and_then(|secs| secs.parse::<u64>().ok())
                .map_or(
                    self.common.config.platform.quiet_period,
                    Duration::from_secs,
                ),
            None => self.common.config.platform.quiet_period,
        };
        let id = 4300 + inner.items.len() as u64 * 7 + 1;
        let mut life = Lifecycle::new(outcome);
        life.started = now + quiet;
        life.started_wall = SystemTime::now() + quiet;
        inner.items.insert(
            id,
            Item {
                id,
                job: job.to_owned(),
                parameters,
                due: now + quiet,
                life,
                cancelled_in_queue: None,
                number: None,
                merged: 0,
            },
        );
        if self.common.engine.webhooks_on() {
            inner.watch.watch(id);
        }
        Answer::empty(201).with_header(
            "Location",
            format!("{}/queue/item/{id}/", self.common.base_url),
        )
    }

    fn why(&self, item: &Item, now: Instant) -> String {
        if now < item.due {
            let left = item.due.saturating_duration_since(now).as_secs();
            format!("In the quiet period. Expires in {left} sec")
        } else {
            "Waiting for next available executor".to_owned()
        }
    }

    fn queued_json(&self, item: &Item, now: Instant) -> Value {
        json!({
            "_class": if now < item.due { "hudson.model.Queue$WaitingItem" } else { "hudson.model.Queue$BuildableItem" },
            "id": item.id,
            "actions": [parameters_action(&item.parameters), {"_class": "hudson.model.CauseAction"}],
            "blocked": false,
            "buildable": now >= item.due,
            "stuck": false,
            "inQueueSince": millis(SystemTime::now()),
            "why": self.why(item, now),
            "task": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": item.job.rsplit('/').next(), "url": self.job_url(&item.job)},
            "url": format!("queue/item/{}/", item.id),
        })
    }

    /// `GET /queue/item/{N}/api/json`.
    pub(crate) fn queue_item(&self, id: &str) -> Answer {
        let now = Instant::now();
        let inner = self.lock();
        let Some(item) = parse_path_number(id).and_then(|id| inner.items.get(&id)) else {
            return page(404, "Not Found");
        };
        if item.life.outcome == Outcome::StatusError {
            return page(
                500,
                "Internal Server Error (the status-error outcome marker)",
            );
        }
        if item.queued(&self.common.config, now) {
            return Answer::json(200, self.queued_json(item, now));
        }
        if now >= item.left_at(&self.common.config) + self.common.config.platform.left_item_lifetime
        {
            return page(404, "Not Found");
        }
        let executable = item.number.map(|number| {
            json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": number, "url": format!("{}{number}/", self.job_url(&item.job))})
        });
        Answer::json(
            200,
            json!({
                "_class": "hudson.model.Queue$LeftItem",
                "id": item.id,
                "actions": [parameters_action(&item.parameters)],
                "blocked": false,
                "buildable": false,
                "stuck": false,
                "why": null,
                "cancelled": item.cancelled_in_queue.is_some(),
                "executable": executable,
                "task": {"name": item.job.rsplit('/').next(), "url": self.job_url(&item.job)},
                "url": format!("queue/item/{}/", item.id),
            }),
        )
    }

    /// `GET /queue/api/json`.
    pub(crate) fn queue(&self) -> Answer {
        let now = Instant::now();
        let inner = self.lock();
        let items: Vec<Value> = inner
            .items
            .values()
            .filter(|item| item.queued(&self.common.config, now))
            .map(|item| self.queued_json(item, now))
            .collect();
        Answer::json(200, json!({"_class": "hudson.model.Queue", "items": items}))
    }

    fn build_json(&self, item: &Item, number: u64, now: Instant) -> Value {
        let phase = item.phase(&self.common.config, now);
        let (building, result) = match phase {
            Phase::Queued | Phase::Running | Phase::Blocked => (true, None),
            Phase::Failing => (true, Some("FAILURE")),
            Phase::Canceling => (true, Some("ABORTED")),
            Phase::Passed => (false, Some("SUCCESS")),
            Phase::Failed => (false, Some("FAILURE")),
            Phase::Canceled => (false, Some("ABORTED")),
        };
        let mut actions = vec![parameters_action(&item.parameters), json!({})];
        if item.life.outcome == Outcome::Block && phase == Phase::Blocked {
            actions.push(json!({
                "_class": "org.jenkinsci.plugins.workflow.support.steps.input.InputAction",
                "waitingForInput": true,
            }));
        }
        json!({
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": number,
            "url": format!("{}{number}/", self.job_url(&item.job)),
            "building": building,
            "inProgress": building,
            "result": result,
            "queueId": item.id,
            "timestamp": millis(item.life.started_wall),
            "actions": actions,
        })
    }

    fn find_build<'a>(inner: &'a Inner, job: &str, number: &str) -> Option<&'a Item> {
        let number = parse_path_number(number)?;
        inner
            .items
            .values()
            .find(|i| i.job == job && i.number == Some(number))
    }

    /// `GET /job/{path}/api/json`: the parameter definitions and the last 100 builds.
    pub(crate) fn job(&self, job: &str) -> Answer {
        let now = Instant::now();
        let inner = self.lock();
        let definitions: Vec<Value> = self
            .declared(&inner, job)
            .iter()
            .map(|name| json!({"_class": "hudson.model.StringParameterDefinition", "name": name, "defaultParameterValue": {"name": name, "value": ""}}))
            .collect();
        let property = if definitions.is_empty() {
            json!([])
        } else {
            json!([{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": definitions}])
        };
        let mut builds: Vec<(u64, &Item)> = inner
            .items
            .values()
            .filter(|i| i.job == job)
            .filter_map(|i| Some((i.number?, i)))
            .collect();
        builds.sort_by_key(|b| std::cmp::Reverse(b.0));
        let builds: Vec<Value> = builds
            .into_iter()
            .take(100)
            .map(|(number, item)| self.build_json(item, number, now))
            .collect();
        Answer::json(
            200,
            json!({
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                "name": job.rsplit('/').next(),
                "url": self.job_url(job),
                "buildable": !inner.disabled.contains(job),
                "property": property,
                "builds": builds,
            }),
        )
    }

    /// `GET /job/{path}/{n}/api/json`.
    pub(crate) fn build(&self, job: &str, number: &str) -> Answer {
        let now = Instant::now();
        let inner = self.lock();
        match Self::find_build(&inner, job, number) {
            None => page(404, "Not Found"),
            Some(item) if item.life.outcome == Outcome::StatusError => page(
                500,
                "Internal Server Error (the status-error outcome marker)",
            ),
            Some(item) => {
                let number = item.number.unwrap_or_default();
                Answer::json(200, self.build_json(item, number, now))
            }
        }
    }

    /// `GET /job/{path}/{n}/wfapi/describe`: the stages that have started.
    pub(crate) fn describe(&self, job: &str, number: &str) -> Answer {
        let now = Instant::now();
        let inner = self.lock();
        let Some(item) = Self::find_build(&inner, job, number) else {
            return page(404, "Not Found");
        };
        let number = item.number.unwrap_or_default();
        let build_path = format!(
            "{}{number}/",
            self.job_url(&item.job)
                .trim_start_matches(&self.common.base_url)
        );
        let stages: Vec<Value> = item
            .life
            .jobs(&self.common.config.timings, now)
            .iter()
            .enumerate()
            .filter(|(_, job)| job.phase != Phase::Queued)
            .map(|(index, job)| {
                let status = match job.phase {
                    Phase::Queued => "NOT_EXECUTED",
                    Phase::Running | Phase::Failing => "IN_PROGRESS",
                    Phase::Passed => "SUCCESS",
                    Phase::Failed => "FAILED",
                    Phase::Blocked => "PAUSED_PENDING_INPUT",
                    Phase::Canceling | Phase::Canceled => "ABORTED",
                };
                let node = 6 + index * 7;
                let mut stage = json!({
                    "_links": {"self": {"href": format!("{build_path}execution/node/{node}/wfapi/describe")}},
                    "id": node.to_string(),
                    "name": job.name,
                    "execNode": "",
                    "status": status,
                    "startTimeMillis": millis(item.life.started_wall),
                    "durationMillis": 1000,
                    "pauseDurationMillis": 0,
                });
                if status == "FAILED" {
                    stage["error"] = json!({"message": "script returned exit code 1", "type": "hudson.AbortException"});
                }
                stage
            })
            .collect();
        Answer::json(
            200,
            json!({
                "_links": {"self": {"href": format!("{build_path}wfapi/describe")}},
                "id": number.to_string(),
                "name": format!("#{number}"),
                "status": "IN_PROGRESS",
                "stages": stages,
            }),
        )
    }

    /// `POST /queue/cancelItem?id=N`.
    pub(crate) fn cancel_item(&self, query: &Query) -> Answer {
        let now = Instant::now();
        let mut inner = self.lock();
        let id = query.get("id").and_then(parse_path_number);
        let Some(item) = id.and_then(|id| inner.items.get_mut(&id)) else {
            return page(
                404,
                &format!("Provided id ({}) not found", query.get("id").unwrap_or("")),
            );
        };
        if !item.queued(&self.common.config, now) {
            return page(404, &format!("Provided id ({}) not found", item.id));
        }
        item.cancelled_in_queue = Some(now);
        item.life.cancel(now);
        Answer::empty(204)
    }

    /// `POST /job/{path}/{n}/stop`: 302 whatever happened.
    pub(crate) fn stop(&self, job: &str, number: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(number) = parse_path_number(number) else {
            return page(404, "Not Found");
        };
        let Some(item) = inner
            .items
            .values_mut()
            .find(|i| i.job == job && i.number == Some(number))
        else {
            return page(404, "Not Found");
        };
        if !item.phase(&self.common.config, now).is_finished() {
            item.life.cancel(now);
        }
        Answer::empty(302).with_header("Location", ".")
    }

    /// Makes `job` declare exactly these string parameters (none: not parameterized).
    pub fn declare_parameters(&self, job: &str, parameters: &[&str]) {
        self.lock().declared.insert(
            job.to_owned(),
            parameters.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// Disables `job`: triggers answer 409.
    pub fn disable_job(&self, job: &str) {
        self.lock().disabled.insert(job.to_owned());
    }

    /// A snapshot of queue item `id`.
    pub fn item(&self, id: u64) -> Option<ItemSnapshot> {
        let inner = self.lock();
        let item = inner.items.get(&id)?;
        Some(ItemSnapshot {
            id,
            job: item.job.clone(),
            parameters: item.parameters.clone(),
            number: item.number,
            cancelled_in_queue: item.cancelled_in_queue.is_some(),
            stopped: item.cancelled_in_queue.is_none() && item.life.cancelled_at.is_some(),
            outcome: item.life.outcome.token(),
            merged: item.merged,
        })
    }

    /// How many queue items were made (merged triggers make none).
    pub fn item_count(&self) -> usize {
        self.lock().items.len()
    }

    /// The Notification plugin's JSON for item `id` at `now`, when it has something to say.
    pub(crate) fn notification(&self, inner: &Inner, id: u64, now: Instant) -> Option<Value> {
        let item = inner.items.get(&id)?;
        let phase = item.phase(&self.common.config, now);
        let (phase_name, status) = match phase {
            Phase::Queued => ("QUEUED", None),
            Phase::Running | Phase::Failing | Phase::Blocked | Phase::Canceling => {
                ("STARTED", None)
            }
            Phase::Passed => ("COMPLETED", Some("SUCCESS")),
            Phase::Failed => ("COMPLETED", Some("FAILURE")),
            Phase::Canceled => ("COMPLETED", Some("ABORTED")),
        };
        let job_url = self.job_url(&item.job);
        let relative = job_url
            .trim_start_matches(&self.common.base_url)
            .trim_start_matches('/')
            .to_owned();
        let parameters: serde_json::Map<String, Value> = item
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Some(json!({
            "name": item.job.rsplit('/').next(),
            "display_name": item.job.rsplit('/').next(),
            "url": relative,
            "build": {
                "full_url": item.number.map(|n| format!("{job_url}{n}/")),
                "number": item.number,
                "queue_id": item.id,
                "timestamp": millis(item.life.started_wall),
                "phase": phase_name,
                "status": status,
                "url": item.number.map(|n| format!("{relative}{n}/")),
                "parameters": parameters,
            },
        }))
    }
}
