//! The parts of Jenkins' JSON the backend reads, decoded leniently, and the state table.

use buildrunner_api::{BuildMetadata, BuildReport, BuildStatus, JobReport};
use buildrunner_http::{Fields, decode_with, put_metadata};
use serde_json::Value;

use buildrunner_http::CountsAs;

// The job parameters of the change contract: the shared `SQ_*` names (`SQ_METADATA` is
// always sent, `{}` when empty, since a parameter left out would take the job's default).
pub use buildrunner_http::sq::{
    BASE_URIS as PARAM_BASE_URIS, HEAD_URIS as PARAM_HEAD_URIS, METADATA as PARAM_METADATA,
    NAMES as SQ_PARAMETERS, QUEUE as PARAM_QUEUE,
};

/// The `_class` of the action a Pipeline `input` step adds.
const INPUT_ACTION: &str = "org.jenkinsci.plugins.workflow.support.steps.input.InputAction";

/// The `name`/`value` pairs of every `parameters` list in `actions` (a queue item's or a
/// build's `ParametersAction`); values that are not strings are skipped.
pub(crate) fn parameters(actions: &Value) -> Vec<(String, String)> {
    let Some(actions) = actions.as_array() else {
        return Vec::new();
    };
    actions
        .iter()
        .filter_map(|action| action.get("parameters")?.as_array())
        .flatten()
        .filter_map(|p| {
            let p = Fields::of(p)?;
            Some((p.text("name")?, p.text("value")?))
        })
        .collect()
}

/// The value of parameter `name` among `actions`.
pub(crate) fn parameter(actions: &Value, name: &str) -> Option<String> {
    parameters(actions)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The caller metadata in the `SQ_METADATA` parameter: a JSON object of strings, or nothing
/// (a corrupt value degrades to no metadata, never a failed status).
pub fn caller_metadata(actions: &Value) -> BuildMetadata {
    parameter(actions, PARAM_METADATA)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Where a queue item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueState {
    /// Still in the queue (waiting, blocked or buildable); `why` is Jenkins' reason.
    Waiting {
        /// Jenkins' words: "In the quiet period", "Waiting for next available executor".
        why: Option<String>,
    },
    /// Taken out of the queue without a build.
    Cancelled,
    /// Left the queue as build `number`.
    Started {
        /// The build number.
        number: u64,
    },
}

/// A queue item as `GET /queue/item/{N}/api/json` gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueItem {
    pub id: u64,
    pub state: QueueState,
    /// The job's page (`task.url`): where a person finds the item.
    pub task_url: Option<String>,
    pub actions: Value,
}

impl QueueItem {
    /// Reads a queue item; `None` unless it is an object with a numeric `id`. `executable`
    /// (with a number) and `cancelled` are only exported once the item left the queue.
    pub fn from_json(value: &Value) -> Option<QueueItem> {
        let item = Fields::of(value)?;
        let number = value
            .get("executable")
            .and_then(Fields::of)
            .and_then(|e| e.number("number"));
        let state = match number {
            Some(number) => QueueState::Started { number },
            None if item.flag("cancelled") => QueueState::Cancelled,
            None => QueueState::Waiting {
                why: item.text("why"),
            },
        };
        Some(QueueItem {
            id: item.number("id")?,
            state,
            task_url: value
                .get("task")
                .and_then(Fields::of)
                .and_then(|t| t.text("url")),
            actions: value.get("actions").cloned().unwrap_or(Value::Null),
        })
    }

    /// The report of an item that has not started (waiting, or cancelled in the queue).
    pub fn report(&self) -> BuildReport {
        let (status, why) = match &self.state {
            QueueState::Waiting { why } => (BuildStatus::Accepted, why.clone()),
            QueueState::Cancelled => (BuildStatus::Cancelled, None),
            QueueState::Started { .. } => (BuildStatus::Running, None),
        };
        let mut metadata = caller_metadata(&self.actions);
        put_metadata(&mut metadata, "url", self.task_url.clone());
        put_metadata(&mut metadata, "jenkins_queue_id", Some(self.id.to_string()));
        put_metadata(&mut metadata, "jenkins_why", why);
        BuildReport::new(status).with_metadata(metadata)
    }
}

/// A build as `GET /job/{path}/{n}/api/json` gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Build {
    pub number: u64,
    pub url: Option<String>,
    pub building: bool,
    pub result: Option<String>,
    pub queue_id: Option<u64>,
    pub waiting_for_input: bool,
    pub actions: Value,
}

impl Build {
    /// Reads a build; `None` unless it is an object with a numeric `number`.
    pub fn from_json(value: &Value) -> Option<Build> {
        let build = Fields::of(value)?;
        let actions = value.get("actions").cloned().unwrap_or(Value::Null);
        let waiting_for_input = actions.as_array().is_some_and(|list| {
            list.iter().any(|action| {
                action.get("_class").and_then(Value::as_str) == Some(INPUT_ACTION)
                    && action.get("waitingForInput").and_then(Value::as_bool) == Some(true)
            })
        });
        Some(Build {
            number: build.number("number")?,
            url: build.text("url"),
            building: build.flag("building"),
            result: build.text("result"),
            queue_id: build.number("queueId"),
            waiting_for_input,
            actions,
        })
    }

    /// The report `status` gives: the caller's metadata, then the backend's keys, which win.
    pub fn report(&self, queue_id: u64, unstable: CountsAs) -> BuildReport {
        let status = map_build(self.building, self.result.as_deref(), unstable);
        let mut metadata = caller_metadata(&self.actions);
        put_metadata(&mut metadata, "url", self.url.clone());
        put_metadata(
            &mut metadata,
            "jenkins_queue_id",
            Some(queue_id.to_string()),
        );
        put_metadata(
            &mut metadata,
            "jenkins_build_number",
            Some(self.number.to_string()),
        );
        put_metadata(&mut metadata, "jenkins_result", self.result.clone());
        let failing = self.building && self.result.as_deref() == Some("FAILURE");
        put_metadata(&mut metadata, "failing", failing.then(|| "true".to_owned()));
        let waiting = self.building && self.waiting_for_input;
        put_metadata(
            &mut metadata,
            "jenkins_waiting_for_input",
            waiting.then(|| "true".to_owned()),
        );
        BuildReport::new(status).with_metadata(metadata)
    }
}

/// The state table of a build that has left the queue. Finished is `building == false`:
/// `result` is set early (a failed stage marks it `FAILURE` while the build still runs,
/// post-build steps run with it set), and a Pipeline paused at an `input` step is building,
/// never green. `UNSTABLE` is `Failed` unless the queue says otherwise; a result Jenkins
/// adds later, or none on a finished build, is `Unknown`.
pub fn map_build(building: bool, result: Option<&str>, unstable: CountsAs) -> BuildStatus {
    if building {
        return BuildStatus::Running;
    }
    match result {
        Some("SUCCESS") => BuildStatus::Succeeded,
        Some("UNSTABLE") => unstable.status(),
        Some("FAILURE" | "NOT_BUILT") => BuildStatus::Failed,
        Some("ABORTED") => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

/// Decodes `GET /queue/item/{N}/api/json` into the item's state and the report of an item
/// that has not started. Public for fuzzers and property tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `id`.
pub fn decode_queue_item_response(
    body: &[u8],
) -> buildrunner_api::Result<(QueueState, BuildReport)> {
    let item = decode_with(
        body,
        "the queue item",
        "an object with a numeric id",
        QueueItem::from_json,
    )?;
    Ok((item.state.clone(), item.report()))
}

/// Decodes `GET /job/{path}/{n}/api/json` into the build's number and the report `status`
/// gives for queue item `queue_id`. Public for fuzzers and property tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `number`.
pub fn decode_build_response(
    body: &[u8],
    queue_id: u64,
    unstable: CountsAs,
) -> buildrunner_api::Result<(u64, BuildReport)> {
    let build = decode_with(
        body,
        "the build",
        "an object with a numeric number",
        Build::from_json,
    )?;
    Ok((build.number, build.report(queue_id, unstable)))
}

/// The queue item a trigger's `Location` names: Jenkins makes it absolute from the request's
/// host, which behind a proxy can be an internal one, so only the trailing `queue/item/N/` is
/// read (and the URL is never followed).
///
/// ```
/// use buildrunner_jenkins::queue_item_of_location;
///
/// assert_eq!(queue_item_of_location("http://10.0.0.7:8080/queue/item/4312/"), Some(4312));
/// assert_eq!(queue_item_of_location("https://ci.example.com/jenkins/queue/item/9"), Some(9));
/// assert_eq!(queue_item_of_location("https://ci.example.com/job/app/"), None);
/// ```
pub fn queue_item_of_location(location: &str) -> Option<u64> {
    let path = location.split(['?', '#']).next()?;
    let path = path.strip_suffix('/').unwrap_or(path);
    let (rest, number) = path.rsplit_once('/')?;
    if !(rest.ends_with("/queue/item") || rest == "queue/item") {
        return None;
    }
    let canonical = !number.is_empty()
        && number.len() <= 20
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    canonical.then(|| number.parse().ok()).flatten()
}

/// One Pipeline stage of `GET /job/{path}/{n}/wfapi/describe`, in buildrunner's words;
/// `None` unless it is an object with a name. `build_url` (the build's page) gives each stage
/// its flow-node page.
pub fn stage_report(
    value: &Value,
    build_url: Option<&str>,
    unstable: CountsAs,
) -> Option<JobReport> {
    let stage = Fields::of(value)?;
    let raw = stage.text("status").unwrap_or_default();
    let error = value
        .get("error")
        .and_then(Fields::of)
        .and_then(|e| e.text("message"));
    let status = match raw.as_str() {
        "SUCCESS" => BuildStatus::Succeeded,
        "UNSTABLE" => unstable.status(),
        "FAILED" => BuildStatus::Failed,
        "ABORTED" | "NOT_EXECUTED" => BuildStatus::Cancelled,
        "IN_PROGRESS" | "PAUSED_PENDING_INPUT" => BuildStatus::Running,
        _ => BuildStatus::Unknown,
    };
    let mut report = JobReport::new(stage.text("name")?, status);
    report.url = match (build_url, stage.text("id")) {
        (Some(build), Some(id)) if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            let build = build.strip_suffix('/').unwrap_or(build);
            Some(format!("{build}/execution/node/{id}/"))
        }
        _ => None,
    };
    report.detail = match status {
        BuildStatus::Succeeded | BuildStatus::Accepted => None,
        _ => Some(match error {
            Some(message) => format!("{raw}: {message}"),
            None => raw,
        }),
    };
    Some(report)
}

/// Decodes a `wfapi/describe` answer into its stages; `build_url` as for [`stage_report`].
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not an object with
/// a `stages` array of named stages.
pub fn decode_stages_response(
    body: &[u8],
    build_url: Option<&str>,
    unstable: CountsAs,
) -> buildrunner_api::Result<Vec<JobReport>> {
    decode_with(
        body,
        "the build's stages",
        "an object with an array of named stages",
        |value| {
            value
                .get("stages")?
                .as_array()?
                .iter()
                .map(|stage| stage_report(stage, build_url, unstable))
                .collect()
        },
    )
}

/// Whether a job url (`task.url` of a queue item, `url` of a notification) is this job's:
/// Jenkins builds absolute urls from its own root, which behind a proxy can differ from the
/// configured one, so the paths are compared, from the right.
pub(crate) fn is_job_url(url: &str, job_path_segments: &str) -> bool {
    let path = url.split_once("://").map_or(url, |(_, rest)| {
        rest.find('/').map_or("", |slash| &rest[slash..])
    });
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_suffix('/').unwrap_or(path);
    // The Notification plugin's `url` is relative to the root: `job/app/`.
    let rooted;
    let path = if path.starts_with('/') {
        path
    } else {
        rooted = format!("/{path}");
        &rooted
    };
    let Some(root) = path.strip_suffix(job_path_segments) else {
        return false;
    };
    // What is left is the root's own path (`/jenkins`), never a folder of another job.
    let mut above = root.rsplit('/');
    let _name = above.next();
    above.next() != Some("job")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_table() {
        let failed = CountsAs::Failed;
        let table = [
            (true, None, BuildStatus::Running),
            (true, Some("FAILURE"), BuildStatus::Running),
            (true, Some("SUCCESS"), BuildStatus::Running),
            (false, Some("SUCCESS"), BuildStatus::Succeeded),
            (false, Some("UNSTABLE"), BuildStatus::Failed),
            (false, Some("FAILURE"), BuildStatus::Failed),
            (false, Some("NOT_BUILT"), BuildStatus::Failed),
            (false, Some("ABORTED"), BuildStatus::Cancelled),
            (false, None, BuildStatus::Unknown),
            (false, Some("success"), BuildStatus::Unknown),
            (false, Some("CYCLE"), BuildStatus::Unknown),
        ];
        for (building, result, want) in table {
            assert_eq!(
                map_build(building, result, failed),
                want,
                "{building} {result:?}"
            );
        }
        assert_eq!(
            map_build(false, Some("UNSTABLE"), CountsAs::Succeeded),
            BuildStatus::Succeeded
        );
    }

    #[test]
    fn an_input_wait_is_running_and_says_so() {
        let build = Build::from_json(&json!({
            "number": 7, "building": true, "result": null, "queueId": 12,
            "actions": [{}, {"_class": INPUT_ACTION, "waitingForInput": true}],
        }))
        .unwrap();
        let report = build.report(12, CountsAs::Failed);
        assert_eq!(report.status, BuildStatus::Running);
        assert_eq!(report.metadata["jenkins_waiting_for_input"], "true");
    }

    #[test]
    fn locations_are_read_from_the_right() {
        for (location, want) in [
            ("http://jenkins:8080/queue/item/12/", Some(12)),
            ("https://ci.example.com/jenkins/queue/item/12", Some(12)),
            ("/queue/item/3/", Some(3)),
            ("https://ci.example.com/queue/item/012/", None),
            ("https://ci.example.com/queue/item//", None),
            ("https://ci.example.com/queue/item/x/", None),
            ("https://ci.example.com/job/app/12/", None),
            ("https://ci.example.com/", None),
            (".", None),
            ("", None),
        ] {
            assert_eq!(queue_item_of_location(location), want, "{location}");
        }
    }

    #[test]
    fn job_urls_are_compared_by_path() {
        let ours = "/job/platform/job/app";
        assert!(is_job_url(
            "http://10.0.0.7:8080/job/platform/job/app/",
            ours
        ));
        assert!(is_job_url(
            "https://ci.example.com/jenkins/job/platform/job/app/",
            ours
        ));
        assert!(!is_job_url(
            "https://ci.example.com/job/platform/job/app2/",
            ours
        ));
        assert!(!is_job_url(
            "https://ci.example.com/job/other/job/platform/",
            ours
        ));
        assert!(!is_job_url(
            "https://ci.example.com/job/x/job/platform/job/app/",
            ours
        ));
        assert!(is_job_url("job/platform/job/app/", ours));
    }
}
