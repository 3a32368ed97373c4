//! The parts of GitLab's JSON the backend reads, decoded leniently, and the status mapping.

use buildrunner_api::{BuildMetadata, BuildReport, BuildStatus, JobReport};
use buildrunner_http::{Fields, decode_with, put_metadata};
use serde_json::Value;

// The CI/CD variables of the change contract: the shared `SQ_*` names (`SQ_METADATA` is left
// out when empty).
pub use buildrunner_http::sq::{
    BASE_URIS as VAR_BASE_URIS, HEAD_URIS as VAR_HEAD_URIS, METADATA as VAR_METADATA,
    QUEUE as VAR_QUEUE,
};

/// The name the sample `.gitlab-ci.yml` gives a pipeline whose key variable is `key`.
pub fn pipeline_name(key: &str) -> String {
    format!("buildrunner {key}")
}

/// A pipeline as GitLab returns it; only what the backend needs is kept, and fields of the
/// wrong type read as absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub id: u64,
    pub status: Option<String>,
    web_url: Option<String>,
    git_ref: Option<String>,
    sha: Option<String>,
}

impl Pipeline {
    /// Reads a pipeline from a JSON object; `None` unless it has a numeric `id`.
    pub fn from_json(value: &Value) -> Option<Pipeline> {
        let pipeline = Fields::of(value)?;
        Some(Pipeline {
            id: pipeline.number("id")?,
            status: pipeline.text("status"),
            web_url: pipeline.text("web_url"),
            git_ref: pipeline.text("ref"),
            sha: pipeline.text("sha"),
        })
    }

    pub fn status(&self) -> BuildStatus {
        map_status(self.status.as_deref().unwrap_or(""))
    }

    /// The report `status` returns: the caller's metadata (when read), then the backend's
    /// keys, which win on a collision.
    pub fn report(&self, caller: BuildMetadata) -> BuildReport {
        let mut metadata = caller;
        for (key, value) in [
            ("url", self.web_url.clone()),
            ("gitlab_status", self.status.clone()),
            ("gitlab_pipeline_id", Some(self.id.to_string())),
            ("gitlab_ref", self.git_ref.clone()),
            ("gitlab_sha", self.sha.clone()),
        ] {
            put_metadata(&mut metadata, key, value);
        }
        BuildReport::new(self.status()).with_metadata(metadata)
    }
}

/// Decodes a pipeline as `GET /projects/{id}/pipelines/{pipeline_id}` returns it into its id
/// and the report `status` gives (without caller metadata). Public for fuzzers and property
/// tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `id`.
pub fn decode_pipeline_response(body: &[u8]) -> buildrunner_api::Result<(u64, BuildReport)> {
    let pipeline = decode_with(
        body,
        "the pipeline",
        "an object with a numeric id",
        Pipeline::from_json,
    )?;
    Ok((pipeline.id, pipeline.report(BuildMetadata::new())))
}

/// The caller metadata in a pipeline's variables (`SQ_METADATA`): a JSON object of strings,
/// or nothing (a corrupt value degrades to no metadata, never a failed status).
pub fn caller_metadata(variables: &Value) -> BuildMetadata {
    let text = variables.as_array().and_then(|list| {
        list.iter()
            .find(|v| v.get("key").and_then(Value::as_str) == Some(VAR_METADATA))?
            .get("value")?
            .as_str()
    });
    text.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Maps a pipeline status to a [`BuildStatus`]. A pipeline waiting for a manual job is
/// running, never green; a status GitLab adds later is `Unknown`.
pub fn map_status(status: &str) -> BuildStatus {
    match status {
        "created" | "waiting_for_resource" | "preparing" | "pending" | "scheduled" => {
            BuildStatus::Accepted
        }
        "running" | "manual" => BuildStatus::Running,
        "success" => BuildStatus::Succeeded,
        "failed" | "skipped" => BuildStatus::Failed,
        "canceled" | "canceling" => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

/// One job of `GET …/pipelines/{id}/jobs`, in buildrunner's words; `None` unless it is an
/// object with a name. A failed job that is allowed to fail does not fail the pipeline: it
/// is reported `Succeeded`, its reason in the detail. A skipped job did not run.
pub fn job_report(value: &Value) -> Option<JobReport> {
    let job = Fields::of(value)?;
    let raw = job.text("status").unwrap_or_default();
    let reason = job.text("failure_reason");
    let (status, detail) = match raw.as_str() {
        "failed" if job.flag("allow_failure") => (
            BuildStatus::Succeeded,
            Some(format!(
                "allowed to fail: {}",
                reason.as_deref().unwrap_or("failed")
            )),
        ),
        "failed" => (BuildStatus::Failed, reason.or(Some(raw.clone()))),
        "skipped" => (BuildStatus::Cancelled, Some(raw.clone())),
        other => (map_status(other), None),
    };
    let mut report = JobReport::new(job.text("name")?, status);
    report.url = job.text("web_url");
    report.detail = detail;
    Some(report)
}

/// Decodes a jobs page: a JSON array of jobs.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not such an array.
pub fn decode_jobs_response(body: &[u8]) -> buildrunner_api::Result<Vec<JobReport>> {
    decode_with(
        body,
        "the pipeline's jobs",
        "an array of jobs with names",
        |value| value.as_array()?.iter().map(job_report).collect(),
    )
}

/// Whether a cancel answered with this status took effect or had nothing to do.
pub(crate) fn cancel_settled(status: &str) -> bool {
    map_status(status).is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_table() {
        let table = [
            ("created", BuildStatus::Accepted),
            ("waiting_for_resource", BuildStatus::Accepted),
            ("preparing", BuildStatus::Accepted),
            ("pending", BuildStatus::Accepted),
            ("scheduled", BuildStatus::Accepted),
            ("running", BuildStatus::Running),
            ("manual", BuildStatus::Running),
            ("success", BuildStatus::Succeeded),
            ("failed", BuildStatus::Failed),
            ("skipped", BuildStatus::Failed),
            ("canceled", BuildStatus::Cancelled),
            ("canceling", BuildStatus::Cancelled),
            ("waiting_for_callback", BuildStatus::Unknown),
            ("SUCCESS", BuildStatus::Unknown),
            ("", BuildStatus::Unknown),
        ];
        for (status, want) in table {
            assert_eq!(map_status(status), want, "{status}");
        }
    }

    #[test]
    fn caller_metadata_comes_from_sq_metadata_or_is_empty() {
        let variables = json!([
            {"key": "SQ_QUEUE", "value": "main"},
            {"key": "SQ_METADATA", "value": "{\"pr\":\"7\"}"},
        ]);
        assert_eq!(caller_metadata(&variables)["pr"], "7");
        for bad in [
            json!([{"key": "SQ_METADATA", "value": "{\"pr\":7}"}]),
            json!({}),
            json!(null),
            json!([{"key": "SQ_METADATA"}]),
        ] {
            assert!(caller_metadata(&bad).is_empty(), "{bad}");
        }
    }
}
