//! The parts of Azure DevOps' JSON the backend reads, decoded leniently, and the state table.

use buildrunner_api::{BuildMetadata, BuildReport, BuildStatus, JobReport};
use buildrunner_http::{Fields, decode_with, put_metadata};
use serde_json::Value;

use buildrunner_http::CountsAs;

/// The runtime parameter with the JSON array of every base URI.
pub const PARAM_BASE_URIS: &str = "sq_base_uris";
/// The runtime parameter with the JSON array of every head URI.
pub const PARAM_HEAD_URIS: &str = "sq_head_uris";
/// The runtime parameter with the queue name.
pub const PARAM_QUEUE: &str = "sq_queue";
/// The runtime parameter with the caller metadata (a JSON object), omitted when empty.
pub const PARAM_METADATA: &str = "sq_metadata";
/// The `sq_*` parameters a trigger sends.
pub const SQ_PARAMETERS: [&str; 4] = [
    PARAM_BASE_URIS,
    PARAM_HEAD_URIS,
    PARAM_QUEUE,
    PARAM_METADATA,
];

/// The build number the sample `azure-pipelines.yml` gives a run whose key is `key`
/// (`name: buildrunner ${{ parameters.buildrunner_key }}`).
pub fn build_number(key: &str) -> String {
    format!("buildrunner {key}")
}

/// Whether `key` can stand in a build number: Azure refuses `"`, `/`, `:`, `<`, `>`, `\`,
/// `|`, `?`, `@`, `*` and a trailing `.`, and at most 255 characters in all.
pub fn key_fits_a_build_number(key: &str) -> bool {
    !key.is_empty()
        && build_number(key).chars().count() <= 255
        && !key.contains(['"', '/', ':', '<', '>', '\\', '|', '?', '@', '*'])
        && !key.chars().any(char::is_control)
        && !key.ends_with('.')
}

/// A build as `GET …/_apis/build/builds/{id}` gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Build {
    pub id: u64,
    pub status: Option<String>,
    pub result: Option<String>,
    build_number: Option<String>,
    web_url: Option<String>,
    template_parameters: Value,
}

impl Build {
    /// Reads a build; `None` unless it is an object with a numeric `id`.
    pub fn from_json(value: &Value) -> Option<Build> {
        let build = Fields::of(value)?;
        Some(Build {
            id: build.number("id")?,
            status: build.text("status"),
            result: build.text("result"),
            build_number: build.text("buildNumber"),
            web_url: value
                .pointer("/_links/web/href")
                .and_then(Value::as_str)
                .map(str::to_owned),
            template_parameters: value
                .get("templateParameters")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    pub fn is_completed(&self) -> bool {
        self.status.as_deref() == Some("completed")
    }

    /// The report `status` gives: the caller's metadata, then the backend's keys, which win.
    pub fn report(&self, partially: CountsAs) -> BuildReport {
        let status = map_status(
            self.status.as_deref().unwrap_or(""),
            self.result.as_deref(),
            partially,
        );
        let mut metadata = caller_metadata(&self.template_parameters);
        let result = self.result.clone().filter(|r| r != "none");
        for (key, value) in [
            ("url", self.web_url.clone()),
            ("azure_status", self.status.clone()),
            ("azure_result", result),
            ("azure_build_number", self.build_number.clone()),
            ("azure_run_id", Some(self.id.to_string())),
        ] {
            put_metadata(&mut metadata, key, value);
        }
        BuildReport::new(status).with_metadata(metadata)
    }
}

/// The caller metadata in a build's `templateParameters.sq_metadata`: a JSON object of
/// strings, or nothing (a corrupt value degrades to no metadata, never a failed status).
pub fn caller_metadata(template_parameters: &Value) -> BuildMetadata {
    template_parameters
        .get(PARAM_METADATA)
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// The state table. A build waiting for an approval or a check is `inProgress`: running,
/// never green. `cancelling` is as good as cancelled (a cancel was accepted); a status or
/// result Azure adds later is `Unknown`.
pub fn map_status(status: &str, result: Option<&str>, partially: CountsAs) -> BuildStatus {
    match (status, result) {
        ("notStarted" | "postponed", _) => BuildStatus::Accepted,
        ("inProgress", _) => BuildStatus::Running,
        ("cancelling", _) => BuildStatus::Cancelled,
        ("completed", Some("succeeded")) => BuildStatus::Succeeded,
        ("completed", Some("partiallySucceeded")) => partially.status(),
        ("completed", Some("failed")) => BuildStatus::Failed,
        ("completed", Some("canceled")) => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

/// Decodes a build into its id and the report `status` gives. Public for fuzzers and
/// property tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `id`.
pub fn decode_build_response(
    body: &[u8],
    partially: CountsAs,
) -> buildrunner_api::Result<(u64, BuildReport)> {
    let build = decode_with(
        body,
        "the build",
        "an object with a numeric id",
        Build::from_json,
    )?;
    Ok((build.id, build.report(partially)))
}

/// One `Job` record of a build's timeline, in buildrunner's words; `None` for records of
/// other types (stages, phases, tasks, checkpoints) and for records without a name.
pub fn job_record(value: &Value, partially: CountsAs) -> Option<JobReport> {
    let record = Fields::of(value)?;
    if record.text("type").as_deref() != Some("Job") {
        return None;
    }
    let state = record.text("state").unwrap_or_default();
    let result = record.text("result");
    let status = match (state.as_str(), result.as_deref()) {
        ("pending", _) => BuildStatus::Accepted,
        ("inProgress", _) => BuildStatus::Running,
        ("completed", Some("succeeded")) => BuildStatus::Succeeded,
        ("completed", Some("succeededWithIssues")) if partially == CountsAs::Succeeded => {
            BuildStatus::Succeeded
        }
        ("completed", Some("failed" | "succeededWithIssues" | "abandoned")) => BuildStatus::Failed,
        ("completed", Some("canceled" | "skipped")) => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    };
    let mut report = JobReport::new(record.text("name")?, status);
    report.url = value
        .pointer("/log/url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    report.detail = match status {
        BuildStatus::Succeeded | BuildStatus::Accepted | BuildStatus::Running => None,
        _ => {
            let issue = value
                .get("issues")
                .and_then(Value::as_array)
                .and_then(|issues| issues.iter().find_map(|i| i.get("message")?.as_str()));
            let result = result.unwrap_or(state);
            Some(match issue {
                Some(message) => format!("{result}: {message}"),
                None => result,
            })
        }
    };
    Some(report)
}

/// Decodes `GET …/builds/{id}/timeline` into its `Job` records.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not an object with
/// a `records` array.
pub fn decode_timeline_response(
    body: &[u8],
    partially: CountsAs,
) -> buildrunner_api::Result<Vec<JobReport>> {
    decode_with(
        body,
        "the build's timeline",
        "an object with a records array",
        |value| {
            let records = value.get("records")?.as_array()?;
            Some(
                records
                    .iter()
                    .filter_map(|r| job_record(r, partially))
                    .collect(),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_build_apis_status_and_result_map_to_a_status() {
        let table = [
            ("notStarted", None, BuildStatus::Accepted),
            ("postponed", None, BuildStatus::Accepted),
            ("inProgress", None, BuildStatus::Running),
            ("inProgress", Some("failed"), BuildStatus::Running),
            ("cancelling", None, BuildStatus::Cancelled),
            ("completed", Some("succeeded"), BuildStatus::Succeeded),
            ("completed", Some("partiallySucceeded"), BuildStatus::Failed),
            ("completed", Some("failed"), BuildStatus::Failed),
            ("completed", Some("canceled"), BuildStatus::Cancelled),
            ("completed", Some("none"), BuildStatus::Unknown),
            ("completed", None, BuildStatus::Unknown),
            ("none", None, BuildStatus::Unknown),
            ("Completed", Some("succeeded"), BuildStatus::Unknown),
        ];
        for (status, result, want) in table {
            assert_eq!(
                map_status(status, result, CountsAs::Failed),
                want,
                "{status} {result:?}"
            );
        }
        assert_eq!(
            map_status("completed", Some("partiallySucceeded"), CountsAs::Succeeded),
            BuildStatus::Succeeded
        );
    }

    #[test]
    fn keys_must_fit_a_build_number() {
        for ok in ["batch-17", "0123abcd", "a b"] {
            assert!(key_fits_a_build_number(ok), "{ok}");
        }
        for bad in ["", "a/b", "a:b", "end.", "x*", &"k".repeat(250)] {
            assert!(!key_fits_a_build_number(bad), "{bad}");
        }
    }

    #[test]
    fn only_job_records_are_jobs() {
        let records = json!({"records": [
            {"type": "Stage", "name": "Test", "state": "completed", "result": "failed"},
            {"type": "Job", "name": "test", "state": "completed", "result": "failed",
             "log": {"url": "https://dev.azure.com/acme/app/_apis/build/builds/11/logs/7"},
             "issues": [{"type": "error", "message": "Bash exited with code '1'."}]},
            {"type": "Job", "name": "build", "state": "completed", "result": "succeeded"},
            {"type": "Checkpoint.Approval", "name": "approval", "state": "inProgress"},
        ]});
        let jobs =
            decode_timeline_response(&serde_json::to_vec(&records).unwrap(), CountsAs::Failed)
                .unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].status, BuildStatus::Failed);
        assert_eq!(
            jobs[0].detail.as_deref(),
            Some("failed: Bash exited with code '1'.")
        );
        assert!(jobs[0].url.as_deref().unwrap().ends_with("/logs/7"));
    }
}
