//! The parts of GitHub's JSON the backend reads, decoded leniently, and the status mapping.

use buildrunner_api::{BuildMetadata, BuildReport, BuildStatus, JobReport};
use buildrunner_http::{Fields, decode_with};
use serde_json::{Map, Value};

/// The dispatch input with the JSON array of every base URI.
pub const INPUT_BASE_URIS: &str = "sq_base_uris";
/// The dispatch input with the JSON array of every head URI.
pub const INPUT_HEAD_URIS: &str = "sq_head_uris";
/// The dispatch input with the queue name.
pub const INPUT_QUEUE: &str = "sq_queue";
/// The dispatch input with the caller metadata (a JSON object), omitted when empty.
pub const INPUT_METADATA: &str = "sq_metadata";

/// A workflow run as GitHub returns it; only what the backend needs is kept, every other
/// field is ignored, and fields of the wrong type read as absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorkflowRun {
    pub id: u64,
    status: Option<String>,
    conclusion: Option<String>,
    run_attempt: Option<u64>,
    html_url: Option<String>,
    pub display_title: String,
    head_branch: Option<String>,
    created_at: Option<String>,
}

impl WorkflowRun {
    /// Reads a run from a JSON object; `None` unless it is an object with a numeric `id`.
    pub fn from_json(value: &Value) -> Option<WorkflowRun> {
        let run = Fields::of(value)?;
        Some(WorkflowRun {
            id: run.number("id")?,
            status: run.text("status"),
            conclusion: run.text("conclusion"),
            run_attempt: run.number("run_attempt"),
            html_url: run.text("html_url"),
            display_title: run.text("display_title").unwrap_or_default(),
            head_branch: run.text("head_branch"),
            created_at: run.text("created_at"),
        })
    }

    pub fn status(&self) -> BuildStatus {
        map_run(
            self.status.as_deref().unwrap_or(""),
            self.conclusion.as_deref(),
        )
    }

    /// The report `status` returns: the Go implementation's metadata keys.
    pub fn report(&self) -> BuildReport {
        let mut metadata = BuildMetadata::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                metadata.insert(key.to_owned(), value);
            }
        };
        put("url", self.html_url.clone());
        put("github_run_id", Some(self.id.to_string()));
        put(
            "github_run_attempt",
            self.run_attempt.map(|a| a.to_string()),
        );
        put(
            buildrunner_api::ATTEMPT_KEY,
            self.run_attempt.map(|a| a.to_string()),
        );
        put("github_status", self.status.clone());
        put("github_conclusion", self.conclusion.clone());
        put("github_display_title", Some(self.display_title.clone()));
        put("github_head_branch", self.head_branch.clone());
        put("github_created_at", self.created_at.clone());
        BuildReport::new(self.status()).with_metadata(metadata)
    }
}

/// One job of `GET …/runs/{id}/jobs`, in buildrunner's words, with GitHub's `conclusion`
/// as its detail; `None` unless it is an object with a name.
pub fn job_report(value: &Value) -> Option<JobReport> {
    let job = Fields::of(value)?;
    let status = job.text("status");
    let conclusion = job.text("conclusion");
    let mapped = map_run(status.as_deref().unwrap_or(""), conclusion.as_deref());
    let mut report = JobReport::new(job.text("name")?, mapped);
    report.url = job.text("html_url");
    report.detail = conclusion.or(status);
    Some(report)
}

/// Decodes a jobs page, `{"total_count", "jobs": [...]}`.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when it is not such an object.
pub fn decode_jobs_response(body: &[u8]) -> buildrunner_api::Result<Vec<JobReport>> {
    decode_with(
        body,
        "the run's jobs",
        "an object with a jobs array",
        |value| {
            value
                .get("jobs")?
                .as_array()?
                .iter()
                .map(job_report)
                .collect()
        },
    )
}

/// Decodes a run as `GET /repos/{o}/{r}/actions/runs/{id}` returns it into its id and the
/// report `status` gives, exactly as the backend does. Public for fuzzers and property tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `id`.
pub fn decode_run_response(body: &[u8]) -> buildrunner_api::Result<(u64, BuildReport)> {
    let run = decode_with(
        body,
        "the workflow run",
        "an object with a numeric id",
        WorkflowRun::from_json,
    )?;
    Ok((run.id, run.report()))
}

/// The runs of a `GET .../runs` page; `None` unless the body is an object whose
/// `workflow_runs` is an array. Entries that are not runs are skipped.
pub(crate) fn runs_page(value: &Value) -> Option<Vec<WorkflowRun>> {
    let runs = value.as_object()?.get("workflow_runs")?.as_array()?;
    Some(runs.iter().filter_map(WorkflowRun::from_json).collect())
}

/// The run id of a `200` dispatch answer (`workflow_run_id`); `None` for anything else.
pub(crate) fn dispatched_run_id(value: &Value) -> Option<u64> {
    value.as_object()?.get("workflow_run_id")?.as_u64()
}

/// Maps a run's `status` and `conclusion` to a [`BuildStatus`], as the Go implementation:
/// a run waiting for an approval is accepted, never green; a completed run without a
/// conclusion, or a status GitHub has not invented yet, is `Unknown`.
pub fn map_run(status: &str, conclusion: Option<&str>) -> BuildStatus {
    match (status, conclusion) {
        ("queued" | "requested" | "waiting" | "pending", _) => BuildStatus::Accepted,
        ("in_progress", _) => BuildStatus::Running,
        ("completed", Some("success")) => BuildStatus::Succeeded,
        ("completed", Some("cancelled")) => BuildStatus::Cancelled,
        ("completed", Some(_)) => BuildStatus::Failed,
        _ => BuildStatus::Unknown,
    }
}

/// The inputs of one dispatch, in the Go implementation's contract.
pub(crate) fn dispatch_inputs(
    extra: &std::collections::BTreeMap<String, String>,
    queue: &str,
    request: &buildrunner_api::TriggerRequest,
    key: Option<(&str, &str)>,
) -> Map<String, Value> {
    let mut inputs: Map<String, Value> = extra
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    // The backend's own inputs win over extra_inputs of the same name.
    inputs.remove(INPUT_METADATA);
    let own = [
        (INPUT_BASE_URIS, Some(request.base_uris_json())),
        (INPUT_HEAD_URIS, Some(request.head_uris_json())),
        (INPUT_QUEUE, Some(queue.to_owned())),
        (INPUT_METADATA, request.metadata_json()),
    ];
    let key = key.map(|(name, key)| (name, Some(key.to_owned())));
    for (name, value) in own.into_iter().chain(key) {
        if let Some(value) = value {
            inputs.insert(name.to_owned(), Value::String(value));
        }
    }
    inputs
}

/// Whether `title` names `key` as a whole word: the characters around it are not ones a key
/// is made of, so key `a1` does not match a title naming `a12`.
pub(crate) fn title_names_key(title: &str, key: &str) -> bool {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    title.match_indices(key).any(|(start, _)| {
        let before = title[..start].chars().next_back();
        let after = title[start + key.len()..].chars().next();
        !before.is_some_and(is_key_char) && !after.is_some_and(is_key_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The mapping of the Go implementation, row by row.
    pub(crate) const RUN_TABLE: &[(&str, Option<&str>, BuildStatus)] = &[
        ("queued", None, BuildStatus::Accepted),
        ("requested", None, BuildStatus::Accepted),
        ("waiting", None, BuildStatus::Accepted),
        ("pending", None, BuildStatus::Accepted),
        ("in_progress", None, BuildStatus::Running),
        ("completed", Some("success"), BuildStatus::Succeeded),
        ("completed", Some("cancelled"), BuildStatus::Cancelled),
        ("completed", Some("failure"), BuildStatus::Failed),
        ("completed", Some("timed_out"), BuildStatus::Failed),
        ("completed", Some("startup_failure"), BuildStatus::Failed),
        ("completed", Some("action_required"), BuildStatus::Failed),
        ("completed", Some("neutral"), BuildStatus::Failed),
        ("completed", Some("skipped"), BuildStatus::Failed),
        ("completed", Some("stale"), BuildStatus::Failed),
        ("completed", Some("invented_later"), BuildStatus::Failed),
        ("completed", None, BuildStatus::Unknown),
        ("teleporting", None, BuildStatus::Unknown),
        ("COMPLETED", Some("success"), BuildStatus::Unknown),
        ("", None, BuildStatus::Unknown),
    ];

    #[test]
    fn run_table() {
        for (status, conclusion, want) in RUN_TABLE {
            assert_eq!(
                map_run(status, *conclusion),
                *want,
                "{status} {conclusion:?}"
            );
        }
    }

    #[test]
    fn runs_are_objects_with_a_numeric_id_and_report_the_go_keys() {
        let body = json!({
            "id": 7, "status": "completed", "conclusion": "success", "run_attempt": 2,
            "html_url": "https://github.com/acme/app/actions/runs/7", "display_title": "buildrunner k",
            "head_branch": "main", "created_at": "2026-11-27T10:00:00Z", "pull_requests": [1, {}],
            "actor": null
        });
        let (id, report) = decode_run_response(body.to_string().as_bytes()).unwrap();
        assert_eq!((id, report.status), (7, BuildStatus::Succeeded));
        let keys: Vec<&str> = report.metadata.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "attempt",
                "github_conclusion",
                "github_created_at",
                "github_display_title",
                "github_head_branch",
                "github_run_attempt",
                "github_run_id",
                "github_status",
                "url"
            ]
        );
        assert_eq!(report.metadata["github_run_attempt"], "2");
        assert_eq!(report.attempt(), Some(2));
        for bad in [
            "[7]",
            r#"{"id":"7"}"#,
            r#"{"status":"queued"}"#,
            "",
            "null",
            r#"{"id":-7}"#,
        ] {
            assert!(decode_run_response(bad.as_bytes()).is_err(), "{bad}");
        }
        let odd = json!({"id": 8, "status": 5, "conclusion": {"x": 1}});
        assert_eq!(
            decode_run_response(odd.to_string().as_bytes())
                .unwrap()
                .1
                .status,
            BuildStatus::Unknown
        );
    }

    #[test]
    fn titles_name_keys_as_whole_words() {
        assert!(title_names_key("buildrunner abc123", "abc123"));
        assert!(title_names_key("[abc123] merge queue", "abc123"));
        assert!(!title_names_key("buildrunner abc1234", "abc123"));
        assert!(!title_names_key("buildrunner xabc123", "abc123"));
        assert!(title_names_key("buildrunner xabc123 abc123", "abc123"));
        assert!(!title_names_key("", "abc123"));
        // `-` and `_` are key characters too: these name other keys.
        assert!(!title_names_key("buildrunner abc123_4", "abc123"));
        assert!(!title_names_key("buildrunner abc123-4", "abc123"));
        assert!(!title_names_key("buildrunner x-abc123", "abc123"));
    }
}
