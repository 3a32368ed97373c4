//! The parts of Buildkite's JSON the backend reads, decoded leniently, and the state mapping.

use buildrunner_api::{BuildMetadata, BuildStatus};
use serde::Deserialize;
use serde_json::Value;

/// The env var that carries the caller's metadata into the build, and back out of it.
pub const ENV_METADATA: &str = "SQ_METADATA";
/// The env var with the JSON array of every base URI.
pub const ENV_BASE_URIS: &str = "SQ_BASE_URIS";
/// The env var with the JSON array of every head URI.
pub const ENV_HEAD_URIS: &str = "SQ_HEAD_URIS";
/// The env var with the queue name.
pub const ENV_QUEUE: &str = "SQ_QUEUE";
/// The `meta_data` key an idempotency key is stamped into.
pub const IDEMPOTENCY_META_KEY: &str = "buildrunner_idempotency_key";

/// A build object as Buildkite returns it. Only what the backend needs is read; every other
/// field is skipped unparsed, so unknown fields, `author` as a string or an object, and nulls
/// in any other place are all fine.
#[derive(Debug, Deserialize)]
pub(crate) struct Build {
    pub number: u64,
    #[serde(default)]
    state: Value,
    #[serde(default)]
    blocked: Value,
    #[serde(default)]
    web_url: Value,
    #[serde(default)]
    env: Value,
}

impl Build {
    /// The raw state string, or `""` when it is missing or not a string.
    pub fn state(&self) -> &str {
        self.state.as_str().unwrap_or("")
    }

    /// Whether the build waits at a block step; only a JSON `true` counts.
    pub fn blocked(&self) -> bool {
        self.blocked.as_bool().unwrap_or(false)
    }

    pub fn status(&self) -> BuildStatus {
        map_state(self.state(), self.blocked())
    }

    /// Caller metadata from `SQ_METADATA` plus the runner's keys, which win on collision.
    pub fn metadata(&self) -> BuildMetadata {
        let mut metadata = match self.env.get(ENV_METADATA) {
            None | Some(Value::Null) => BuildMetadata::new(),
            Some(value) => decode_caller_metadata(value).unwrap_or_else(|| {
                tracing::warn!(
                    build = self.number,
                    "{ENV_METADATA} of build {} is not a JSON object of strings; reporting no caller metadata",
                    self.number
                );
                BuildMetadata::new()
            }),
        };
        if let Some(url) = self.web_url.as_str() {
            metadata.insert("url".to_owned(), url.to_owned());
        }
        metadata.insert("buildkite_state".to_owned(), self.state().to_owned());
        metadata.insert("number".to_owned(), self.number.to_string());
        if self.state() == "failing" {
            metadata.insert("failing".to_owned(), "true".to_owned());
        } else {
            metadata.remove("failing");
        }
        metadata
    }
}

/// Decodes `SQ_METADATA`: a string holding a JSON object whose values are all strings.
pub(crate) fn decode_caller_metadata(value: &Value) -> Option<BuildMetadata> {
    serde_json::from_str(value.as_str()?).ok()
}

/// Maps a Buildkite build state to a [`BuildStatus`].
///
/// `blocked` is the build's `blocked` flag: a build waiting at a block step keeps its last
/// state (often `passed`), so `passed` + blocked is still running, never a success.
pub fn map_state(state: &str, blocked: bool) -> BuildStatus {
    match state {
        "creating" | "scheduled" => BuildStatus::Accepted,
        "running" | "failing" | "blocked" => BuildStatus::Running,
        "passed" if blocked => BuildStatus::Running,
        "passed" => BuildStatus::Succeeded,
        "failed" | "not_run" | "skipped" => BuildStatus::Failed,
        "canceling" | "canceled" => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

/// Buildkite's error body: `{"message": "..."}`, sometimes with more fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    /// On a 429: `rest` (organization limit) or `rest_user` (per-user limit).
    #[serde(default)]
    pub scope: Option<String>,
    /// On a 429: seconds until the limit resets.
    #[serde(default)]
    pub reset: Option<f64>,
}

impl ErrorBody {
    /// Decodes an error body; anything that is not such a JSON object (an HTML error page,
    /// nothing at all) gives an empty one.
    pub fn parse(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// Buildkite's message, shortened and stripped of control characters, for error text.
    pub fn message_for_humans(&self) -> Option<String> {
        let message = self.message.as_deref()?.trim();
        if message.is_empty() {
            return None;
        }
        let mut cleaned: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect();
        if message.chars().count() > 300 {
            cleaned.push('…');
        }
        Some(cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table() {
        let table = [
            ("creating", false, BuildStatus::Accepted),
            ("scheduled", false, BuildStatus::Accepted),
            ("running", false, BuildStatus::Running),
            ("failing", false, BuildStatus::Running),
            ("blocked", false, BuildStatus::Running),
            ("blocked", true, BuildStatus::Running),
            ("passed", false, BuildStatus::Succeeded),
            ("passed", true, BuildStatus::Running),
            ("failed", false, BuildStatus::Failed),
            ("failed", true, BuildStatus::Failed),
            ("not_run", false, BuildStatus::Failed),
            ("skipped", false, BuildStatus::Failed),
            ("canceling", false, BuildStatus::Cancelled),
            ("canceled", false, BuildStatus::Cancelled),
            ("waiting", false, BuildStatus::Unknown),
            ("waiting_failed", false, BuildStatus::Unknown),
            ("finished", false, BuildStatus::Unknown),
            ("PASSED", false, BuildStatus::Unknown),
            ("", false, BuildStatus::Unknown),
            ("teleported", false, BuildStatus::Unknown),
        ];
        for (state, blocked, status) in table {
            assert_eq!(
                map_state(state, blocked),
                status,
                "{state} blocked={blocked}"
            );
        }
    }

    #[test]
    fn caller_metadata_needs_an_object_of_strings() {
        let ok = decode_caller_metadata(&Value::from(r#"{"b":"2","a":"1"}"#)).unwrap();
        assert_eq!(
            ok.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        for bad in [r#"{"a":1}"#, "[]", "{", "", "null"] {
            assert_eq!(decode_caller_metadata(&Value::from(bad)), None, "{bad}");
        }
        assert_eq!(decode_caller_metadata(&serde_json::json!({"a": "1"})), None);
    }
}
