//! Runs in GitHub's words, installation tokens, and the API's answers computed from them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use buildrunner_emulator_engine::PlatformState;
use buildrunner_emulator_engine::{
    Answer, Lifecycle, Outcome, Phase, PhaseWatch, Query, RateWindows, Requested, iso8601,
    parse_iso8601,
};
use serde_json::{Map, Value, json};

use crate::{DispatchMode, EmulatorConfig};

const DOCS: &str = "https://docs.github.com/rest";
/// GitHub's limit on dispatch inputs.
const MAX_INPUTS: usize = 25;

/// A run as the API would report it when the snapshot was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSnapshot {
    /// The run id.
    pub id: u64,
    /// The repository owner.
    pub owner: String,
    /// The repository name.
    pub repo: String,
    /// The workflow as the dispatch named it (file name or id).
    pub workflow: String,
    /// The raw status.
    pub status: String,
    /// The raw conclusion.
    pub conclusion: Option<String>,
    /// 1, plus one per re-run.
    pub run_attempt: u32,
    /// The title the `run-name` rule gave it.
    pub display_title: String,
    /// The ref it was dispatched on.
    pub head_branch: String,
    /// The dispatch inputs.
    pub inputs: Map<String, Value>,
    /// The outcome marker it was dispatched with (`pass` when none).
    pub outcome: &'static str,
    /// Whether a cancel was accepted, and whether it was a force-cancel.
    pub cancel_requested: bool,
    /// Whether the accepted cancel was a force-cancel.
    pub force_cancelled: bool,
}

#[derive(Debug)]
pub(crate) struct Run {
    id: u64,
    owner: String,
    repo: String,
    workflow: String,
    run_number: u64,
    life: Lifecycle,
    created_wall: SystemTime,
    head_branch: String,
    inputs: Map<String, Value>,
    display_title: String,
    forced: Option<(String, Option<String>)>,
    force_cancelled: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub runs: BTreeMap<u64, Run>,
    /// The runs whose changes are announced by webhook.
    pub watch: PhaseWatch<u64>,
    run_numbers: HashMap<(String, String, String), u64>,
    /// Installation tokens issued, and when each expires.
    tokens: HashMap<String, SystemTime>,
    exchanges: usize,
    secondary: RateWindows,
}

/// The fake GitHub Actions: its repositories' workflow runs, behind the engine's gate. The
/// [`Emulator`](crate::Emulator) handle dereferences to it.
#[derive(Debug)]
pub struct State {
    /// The configuration, URL, engine and records every platform holds.
    pub(crate) common: PlatformState<crate::GitHubOptions, Inner>,
}

/// GitHub allows at most 50 re-runs of a workflow run.
const MAX_RERUNS: u32 = 50;

pub(crate) fn error(status: u16, message: &str) -> Answer {
    Answer::json(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn epoch_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl Run {
    /// Its phase at `now`.
    pub(crate) fn phase(
        &self,
        timings: &buildrunner_emulator_engine::Timings,
        now: Instant,
    ) -> Phase {
        self.life.phase(timings, now)
    }

    /// `owner/repo`.
    pub(crate) fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

impl State {
    pub(crate) fn new(config: EmulatorConfig, base_url: String) -> State {
        let inner = Inner {
            secondary: RateWindows::new(config.platform.secondary_limit),
            ..Inner::default()
        };
        State {
            common: PlatformState::new(config, &base_url, inner),
        }
    }

    /// Whether `token` is the configured token or a live installation token.
    pub(crate) fn token_is_valid(&self, token: &str) -> bool {
        if token == self.common.config.token {
            return true;
        }
        self.common
            .lock()
            .tokens
            .get(token)
            .is_some_and(|expires| *expires > SystemTime::now())
    }

    /// Counts a dispatch against the secondary limit; the refusal when it is spent.
    pub(crate) fn secondary_limit(&self, key: &str) -> Option<Answer> {
        let count = self.common.lock().secondary.count(key, Instant::now())?;
        count.exceeded.then(|| {
            error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .with_header("retry-after", count.reset_secs().to_string())
        })
    }

    fn raw_state(&self, run: &Run, now: Instant) -> (String, Option<String>) {
        if let (Some((status, conclusion)), None) = (&run.forced, run.life.cancelled_at) {
            return (status.clone(), conclusion.clone());
        }
        let (status, conclusion) = match run.life.phase(&self.common.config.timings, now) {
            Phase::Queued => ("queued", None),
            Phase::Running | Phase::Failing | Phase::Canceling => ("in_progress", None),
            Phase::Passed => ("completed", Some("success")),
            Phase::Failed => ("completed", Some("failure")),
            // Waiting for an approval of a protected environment.
            Phase::Blocked => ("waiting", None),
            Phase::Canceled => ("completed", Some("cancelled")),
        };
        (status.to_owned(), conclusion.map(str::to_owned))
    }

    pub(crate) fn run_json(&self, run: &Run, now: Instant) -> Value {
        let (status, conclusion) = self.raw_state(run, now);
        let repo_api = format!("{}/repos/{}/{}", self.common.base_url, run.owner, run.repo);
        let run_api = format!("{repo_api}/actions/runs/{}", run.id);
        let html_url = format!(
            "{}/{}/{}/actions/runs/{}",
            self.common.base_url, run.owner, run.repo, run.id
        );
        let started = iso8601(run.life.started_wall);
        json!({
            "id": run.id,
            "name": "buildrunner",
            "node_id": format!("WFR_kwLO{:x}", run.id),
            "check_suite_id": run.id * 3,
            "head_branch": run.head_branch,
            "head_sha": "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d",
            "path": format!(".github/workflows/{}", run.workflow),
            "display_title": run.display_title,
            "run_number": run.run_number,
            "event": "workflow_dispatch",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": 161_335,
            "url": run_api,
            "html_url": html_url,
            "pull_requests": [],
            "created_at": iso8601(run.created_wall),
            "updated_at": started,
            "actor": {"login": "octocat", "id": 1, "type": "User"},
            "triggering_actor": {"login": "octocat", "id": 1, "type": "User"},
            "run_attempt": run.life.attempt_at(now),
            "run_started_at": started,
            "jobs_url": format!("{run_api}/jobs"),
            "logs_url": format!("{run_api}/logs"),
            "check_suite_url": format!("{repo_api}/check-suites/{}", run.id * 3),
            "artifacts_url": format!("{run_api}/artifacts"),
            "cancel_url": format!("{run_api}/cancel"),
            "rerun_url": format!("{run_api}/rerun"),
            "previous_attempt_url": (run.life.attempt_at(now) > 1).then(|| format!("{run_api}/attempts/{}", run.life.attempt_at(now) - 1)),
            "workflow_url": format!("{repo_api}/actions/workflows/161335"),
            "head_commit": {"id": "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d", "message": "buildrunner", "author": {"name": "Mona", "email": "mona@example.com"}},
            "repository": {"id": 1_296_269, "name": run.repo, "full_name": format!("{}/{}", run.owner, run.repo), "private": true},
            "head_repository": {"id": 1_296_269, "name": run.repo, "full_name": format!("{}/{}", run.owner, run.repo)},
        })
    }

    pub(crate) fn dispatch(&self, owner: &str, repo: &str, workflow: &str, body: &[u8]) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "Problems parsing JSON");
        };
        let Some(git_ref) = body
            .get("ref")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        else {
            return error(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
        };
        let wants_details = body.get("return_run_details").and_then(Value::as_bool);
        if wants_details.is_some()
            && self.common.config.platform.dispatch == DispatchMode::RejectsRunDetails
        {
            return error(
                422,
                "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
            );
        }
        let inputs = match body.get("inputs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(inputs)) => inputs.clone(),
            Some(_) => {
                return error(
                    422,
                    "Invalid request.\n\nFor 'properties/inputs', it is not an object.",
                );
            }
        };
        if inputs.len() > MAX_INPUTS {
            return error(
                422,
                &format!(
                    "Invalid request.\n\nNo more than {MAX_INPUTS} properties are allowed; {} were supplied.",
                    inputs.len()
                ),
            );
        }
        let unexpected: Vec<&String> = inputs
            .keys()
            .filter(|k| !self.common.config.platform.workflow_inputs.contains(k))
            .collect();
        if !unexpected.is_empty() {
            return error(422, &format!("Unexpected inputs provided: {unexpected:?}"));
        }
        if inputs.values().any(|v| !v.is_string()) {
            return error(422, "Invalid request.\n\nInput values must be strings.");
        }
        let outcome = match Requested::from_value(inputs.get("sq_head_uris")) {
            Requested::Build(outcome) => outcome,
            Requested::TriggerError => {
                return error(
                    422,
                    "Workflow dispatch refused by the trigger-error outcome marker",
                );
            }
            Requested::Unknown(token) => {
                return error(422, &format!("Unknown outcome marker {token:?}"));
            }
        };
        let display_title = match inputs.get("buildrunner_key").and_then(Value::as_str) {
            Some(key) => format!("buildrunner {key}"),
            None => "buildrunner".to_owned(),
        };
        let mut inner = self.common.lock();
        let number = inner
            .run_numbers
            .entry((owner.to_owned(), repo.to_owned(), workflow.to_owned()))
            .or_insert(0);
        *number += 1;
        let run_number = *number;
        let id = 30_433_642 + inner.runs.len() as u64 * 7 + 1;
        let run = Run {
            id,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            workflow: workflow.to_owned(),
            run_number,
            life: Lifecycle::new(outcome),
            created_wall: SystemTime::now(),
            head_branch: git_ref.trim_start_matches("refs/heads/").to_owned(),
            inputs,
            display_title,
            forced: None,
            force_cancelled: false,
        };
        inner.runs.insert(id, run);
        if self.common.engine.webhooks_on() {
            inner.watch.watch(id);
        }
        match (wants_details, self.common.config.platform.dispatch) {
            (Some(true), DispatchMode::RunDetails) => Answer::json(
                200,
                json!({
                    "workflow_run_id": id,
                    "run_url": format!("{}/repos/{owner}/{repo}/actions/runs/{id}", self.common.base_url),
                    "html_url": format!("{}/{owner}/{repo}/actions/runs/{id}", self.common.base_url),
                }),
            ),
            _ => Answer::empty(204),
        }
    }

    /// The run's JSON and its entity tag, or the answer that refuses it.
    fn current(&self, owner: &str, repo: &str, id: &str) -> Result<(Value, String), Answer> {
        let now = Instant::now();
        let inner = self.common.lock();
        let Some(run) = find(&inner, owner, repo, id) else {
            return Err(error(404, "Not Found"));
        };
        if run.life.outcome == Outcome::StatusError {
            return Err(error(500, "Server Error (the status-error outcome marker)"));
        }
        let body = self.run_json(run, now);
        let tag = etag(&body);
        Ok((body, tag))
    }

    /// Whether a conditional GET of a run would be answered 304 (GitHub does not count those).
    pub(crate) fn not_modified(
        &self,
        owner: &str,
        repo: &str,
        id: &str,
        if_none_match: &str,
    ) -> bool {
        self.current(owner, repo, id)
            .is_ok_and(|(_, tag)| tag == if_none_match)
    }

    pub(crate) fn get(
        &self,
        owner: &str,
        repo: &str,
        id: &str,
        if_none_match: Option<&str>,
    ) -> Answer {
        match self.current(owner, repo, id) {
            Ok((_, tag)) if if_none_match == Some(tag.as_str()) => {
                Answer::empty(304).with_header("ETag", tag)
            }
            Ok((body, tag)) => Answer::json(200, body).with_header("ETag", tag),
            Err(answer) => answer,
        }
    }

    pub(crate) fn list(
        &self,
        owner: &str,
        repo: &str,
        workflow: &str,
        query: &Query,
        path: &str,
    ) -> Answer {
        let created_bound = match query.get("created") {
            None => None,
            Some(created) => match created.strip_prefix(">=").and_then(parse_iso8601) {
                Some(bound) => Some(bound),
                None => {
                    return error(
                        422,
                        "Invalid request.\n\nOnly created=>=YYYY-MM-DD[THH:MM:SSZ] is emulated.",
                    );
                }
            },
        };
        let now = Instant::now();
        let inner = self.common.lock();
        let matching: Vec<Value> = inner
            .runs
            .values()
            .rev()
            .filter(|r| r.owner == owner && r.repo == repo && r.workflow == workflow)
            .filter(|_| query.get("event").is_none_or(|e| e == "workflow_dispatch"))
            .filter(|r| created_bound.is_none_or(|bound| epoch_secs(r.created_wall) >= bound))
            .map(|r| self.run_json(r, now))
            .filter(|json| {
                query.get("status").is_none_or(|wanted| {
                    json["status"].as_str() == Some(wanted)
                        || json["conclusion"].as_str() == Some(wanted)
                })
            })
            .collect();
        let total = matching.len();
        let (page, link) = query.paginate(matching, &self.common.base_url, path);
        let mut answer = Answer::json(200, json!({"total_count": total, "workflow_runs": page}));
        if let Some(link) = link {
            answer.headers.push(("Link", link));
        }
        answer
    }

    pub(crate) fn cancel(&self, owner: &str, repo: &str, id: &str, force: bool) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(run) = find_mut(&mut inner, owner, repo, id) else {
            return error(404, "Not Found");
        };
        let (status, _) = self.raw_state(run, now);
        if status == "completed" {
            return error(409, "Cannot cancel a workflow run that is completed.");
        }
        run.life.cancel(now);
        run.force_cancelled |= force;
        Answer::json(202, json!({}))
    }

    pub(crate) fn rerun(&self, owner: &str, repo: &str, id: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(run) = find_mut(&mut inner, owner, repo, id) else {
            return error(404, "Not Found");
        };
        if self.raw_state(run, now).0 != "completed" {
            return error(403, "This workflow run is not completed");
        }
        run.life.restart();
        run.forced = None;
        run.force_cancelled = false;
        let run_id = run.id;
        if self.common.engine.webhooks_on() {
            inner.watch.watch(run_id);
        }
        Answer::json(201, json!({}))
    }

    /// `GET …/runs/{id}/jobs`: the jobs of the latest attempt (`filter=latest`, the default;
    /// the emulator keeps no others), `{total_count, jobs}`.
    pub(crate) fn jobs(&self, owner: &str, repo: &str, id: &str) -> Answer {
        let now = Instant::now();
        let inner = self.common.lock();
        let Some(run) = find(&inner, owner, repo, id) else {
            return error(404, "Not Found");
        };
        let jobs: Vec<Value> = run
            .life
            .jobs(&self.common.config.timings, now)
            .iter()
            .enumerate()
            .map(|(index, job)| {
                let (status, conclusion) = match job.phase {
                    Phase::Queued => ("queued", None),
                    Phase::Running | Phase::Failing | Phase::Canceling => ("in_progress", None),
                    Phase::Passed => ("completed", Some("success")),
                    Phase::Failed => ("completed", Some("failure")),
                    Phase::Blocked => ("waiting", None),
                    Phase::Canceled => ("completed", Some("cancelled")),
                };
                let job_id = run.id * 100 + u64::from(job.attempt) * 10 + index as u64;
                json!({
                    "id": job_id,
                    "run_id": run.id,
                    "run_attempt": run.life.attempt_at(now),
                    "name": job.name,
                    "status": status,
                    "conclusion": conclusion,
                    "html_url": format!("{}/{}/{}/actions/runs/{}/job/{job_id}", self.common.base_url, run.owner, run.repo, run.id),
                })
            })
            .collect();
        Answer::json(200, json!({"total_count": jobs.len(), "jobs": jobs}))
    }

    /// `POST …/runs/{id}/rerun-failed-jobs`: 201 `{}`, a new attempt that reads show only
    /// after the re-run lag; 403 while the run (or an earlier re-run) is still going, for a
    /// run with no failed job, and past GitHub's 50 re-runs.
    pub(crate) fn rerun_failed_jobs(&self, owner: &str, repo: &str, id: &str) -> Answer {
        let now = Instant::now();
        let mut inner = self.common.lock();
        let Some(run) = find_mut(&mut inner, owner, repo, id) else {
            return error(404, "Not Found");
        };
        let (status, conclusion) = self.raw_state(run, now);
        let rerun_pending = run.life.attempt_at(now) < run.life.attempt;
        if status != "completed" || rerun_pending {
            return error(403, "This workflow is already running");
        }
        if conclusion.as_deref() == Some("success") {
            return error(403, "There are no failed jobs to re-run");
        }
        if run.life.attempt > MAX_RERUNS {
            return error(
                403,
                "This workflow run cannot be re-run: it has reached the maximum of 50 re-runs",
            );
        }
        run.life
            .retry_failed(now, self.common.config.platform.rerun_lag);
        run.forced = None;
        let run_id = run.id;
        if self.common.engine.webhooks_on() {
            inner.watch.watch(run_id);
        }
        Answer::json(201, json!({}))
    }

    /// Issues an installation token; the caller checked the App's JWT.
    pub(crate) fn issue_token(&self, installation_id: u64, ttl: Duration) -> Answer {
        let token = format!("ghs_{:036x}", fastrand::u128(..));
        let expires = SystemTime::now() + ttl;
        let mut inner = self.common.lock();
        inner.tokens.insert(token.clone(), expires);
        inner.exchanges += 1;
        Answer::json(
            201,
            json!({
                "token": token,
                "expires_at": iso8601(expires).replace(".000Z", "Z"),
                "permissions": {"actions": "write", "metadata": "read"},
                "repository_selection": "all",
                "installation_id": installation_id,
            }),
        )
    }

    /// How many installation tokens were issued.
    pub fn token_exchanges(&self) -> usize {
        self.common.lock().exchanges
    }

    /// Makes every installation token issued so far invalid, as a revocation would.
    pub fn revoke_installation_tokens(&self) {
        self.common.lock().tokens.clear();
    }

    /// Forces a run into a raw `status` and `conclusion` (any strings, including ones GitHub
    /// has not invented); it stays there until cancelled, re-run or forced again.
    ///
    /// Returns `false` when there is no such run.
    pub fn force_state(&self, run_id: u64, status: &str, conclusion: Option<&str>) -> bool {
        let mut inner = self.common.lock();
        match inner.runs.get_mut(&run_id) {
            Some(run) => {
                run.forced = Some((status.to_owned(), conclusion.map(str::to_owned)));
                run.life.cancelled_at = None;
                true
            }
            None => false,
        }
    }

    fn snapshot_of(&self, run: &Run, now: Instant) -> RunSnapshot {
        let (status, conclusion) = self.raw_state(run, now);
        RunSnapshot {
            id: run.id,
            owner: run.owner.clone(),
            repo: run.repo.clone(),
            workflow: run.workflow.clone(),
            status,
            conclusion,
            run_attempt: run.life.attempt_at(Instant::now()),
            display_title: run.display_title.clone(),
            head_branch: run.head_branch.clone(),
            inputs: run.inputs.clone(),
            outcome: run.life.outcome.token(),
            cancel_requested: run.life.cancelled_at.is_some(),
            force_cancelled: run.force_cancelled,
        }
    }

    /// A snapshot of one run, as the API would report it now.
    pub fn run(&self, run_id: u64) -> Option<RunSnapshot> {
        let inner = self.common.lock();
        inner
            .runs
            .get(&run_id)
            .map(|r| self.snapshot_of(r, Instant::now()))
    }

    /// Snapshots of every run of a repository, oldest first.
    pub fn runs(&self, owner: &str, repo: &str) -> Vec<RunSnapshot> {
        let now = Instant::now();
        let inner = self.common.lock();
        inner
            .runs
            .values()
            .filter(|r| r.owner == owner && r.repo == repo)
            .map(|r| self.snapshot_of(r, now))
            .collect()
    }

    /// How many runs exist.
    pub fn run_count(&self) -> usize {
        self.common.lock().runs.len()
    }
}

/// A weak entity tag of a JSON body (FNV-1a of its text).
fn etag(body: &Value) -> String {
    let hash = body
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("W/\"{hash:016x}\"")
}

fn parse_id(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

fn find<'a>(inner: &'a Inner, owner: &str, repo: &str, id: &str) -> Option<&'a Run> {
    inner
        .runs
        .get(&parse_id(id)?)
        .filter(|r| r.owner == owner && r.repo == repo)
}

fn find_mut<'a>(inner: &'a mut Inner, owner: &str, repo: &str, id: &str) -> Option<&'a mut Run> {
    inner
        .runs
        .get_mut(&parse_id(id)?)
        .filter(|r| r.owner == owner && r.repo == repo)
}
