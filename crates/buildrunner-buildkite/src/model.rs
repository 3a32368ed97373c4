//! The parts of Buildkite's JSON the backend reads, decoded leniently, and the state mapping.

use buildrunner_api::{BuildMetadata, BuildStatus, JobReport};
use buildrunner_http::{Fields, decode_with};
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
#[derive(Debug)]
pub(crate) struct Build {
    pub number: u64,
    state: Value,
    blocked: Value,
    web_url: Value,
    env: Value,
}

/// Written by hand because a derived `Deserialize` also accepts a JSON array as a struct
/// (`[5]` would be build 5); a build is only ever an object.
impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BuildVisitor;

        impl<'de> serde::de::Visitor<'de> for BuildVisitor {
            type Value = Build;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Buildkite build object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Build, A::Error> {
                let mut number = None;
                let (mut state, mut blocked, mut web_url, mut env) =
                    (Value::Null, Value::Null, Value::Null, Value::Null);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "number" => number = Some(map.next_value::<u64>()?),
                        "state" => state = map.next_value()?,
                        "blocked" => blocked = map.next_value()?,
                        "web_url" => web_url = map.next_value()?,
                        "env" => env = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let number = number.ok_or_else(|| serde::de::Error::missing_field("number"))?;
                Ok(Build {
                    number,
                    state,
                    blocked,
                    web_url,
                    env,
                })
            }
        }

        deserializer.deserialize_map(BuildVisitor)
    }
}

impl Build {
    /// A build as GraphQL's `build(slug:) { number state blockedState url env }` gives it, in
    /// REST's words so it reports exactly what `status` reports: `BLOCKED` is REST's
    /// `passed` (or the `blockedState`) with `blocked: true`, and `env` is `KEY=value` lines.
    /// `None` unless it is an object with a numeric `number`.
    pub fn from_graphql(node: &Value) -> Option<Build> {
        let number = node.get("number")?.as_u64()?;
        let state = node["state"].as_str().map(str::to_ascii_lowercase);
        let (state, blocked) = match state.as_deref() {
            Some("blocked") => {
                let before = node["blockedState"]
                    .as_str()
                    .map_or_else(|| "passed".to_owned(), str::to_ascii_lowercase);
                (Value::String(before), true)
            }
            Some(state) => (Value::String(state.to_owned()), false),
            None => (Value::Null, false),
        };
        let env: serde_json::Map<String, Value> = node["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_owned(), Value::String(value.to_owned())))
            .collect();
        Some(Build {
            number,
            state,
            blocked: Value::Bool(blocked),
            web_url: node["url"].clone(),
            env: Value::Object(env),
        })
    }

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

    /// The report `status` returns for this build.
    pub fn report(&self) -> buildrunner_api::BuildReport {
        buildrunner_api::BuildReport::new(self.status()).with_metadata(self.metadata())
    }

    /// Caller metadata from `SQ_METADATA` plus the runner's keys, which win on collision.
    pub fn metadata(&self) -> BuildMetadata {
        let mut metadata = match self.env.get(ENV_METADATA) {
            None | Some(Value::Null) => BuildMetadata::new(),
            Some(value) => decode_caller_metadata_value(value).unwrap_or_else(|| {
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
fn decode_caller_metadata_value(value: &Value) -> Option<BuildMetadata> {
    decode_caller_metadata(value.as_str()?)
}

/// Decodes the caller metadata a build carries in its `SQ_METADATA` env var: a JSON object
/// whose values are all strings. Anything else is `None`; it never panics.
///
/// ```
/// use buildrunner_buildkite::decode_caller_metadata;
///
/// let metadata = decode_caller_metadata(r#"{"pr":"7"}"#).unwrap();
/// assert_eq!(metadata["pr"], "7");
/// assert_eq!(decode_caller_metadata(r#"{"pr":7}"#), None);
/// ```
pub fn decode_caller_metadata(text: &str) -> Option<BuildMetadata> {
    serde_json::from_str(text).ok()
}

/// Decodes a build object as `GET .../builds/{number}` returns it into its number and the
/// report `status` gives, exactly as the backend does.
///
/// Public so fuzzers and property tests reach the decoder without a server.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a JSON object
/// with a numeric `number`.
pub fn decode_build_response(
    body: &[u8],
) -> buildrunner_api::Result<(u64, buildrunner_api::BuildReport)> {
    let build: Build =
        serde_json::from_slice(body).map_err(|e| buildrunner_api::Error::Protocol {
            message: format!("the build object cannot be decoded: {e}"),
            source: Some(Box::new(e)),
        })?;
    Ok((build.number, build.report()))
}

/// What [`map_state`] must give, by state and `blocked` flag: Buildkite's states as
/// `docs/backends/buildkite.md` maps them, and strings it does not know. The one table the unit,
/// property and fuzz tests check the mapping against (the mapping itself is a `match`, so the
/// table is an independent statement of it).
pub const STATE_TABLE: [(&str, bool, BuildStatus); 21] = [
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
    ("rebooting", false, BuildStatus::Unknown),
];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_a_build_object_says_what_was_expected() {
        for body in [&b"[5]"[..], b"\"build\"", b"7"] {
            let error = decode_build_response(body).unwrap_err().to_string();
            assert!(error.contains("a Buildkite build object"), "{error}");
        }
    }

    #[test]
    fn a_graphql_node_reports_what_rest_reports() {
        let rest = serde_json::json!({
            "number": 7, "state": "passed", "blocked": true, "web_url": "https://buildkite.com/a/b/builds/7",
            "env": {"SQ_METADATA": "{\"pr\":\"7\"}", "SQ_QUEUE": "main"}
        });
        let graphql = serde_json::json!({
            "number": 7, "state": "BLOCKED", "blockedState": "PASSED", "url": "https://buildkite.com/a/b/builds/7",
            "env": ["SQ_METADATA={\"pr\":\"7\"}", "SQ_QUEUE=main", "not a pair"]
        });
        let rest: Build = serde_json::from_value(rest).unwrap();
        let graphql = Build::from_graphql(&graphql).unwrap();
        assert_eq!(graphql.report(), rest.report());
        assert_eq!(graphql.status(), BuildStatus::Running);
        let failed =
            Build::from_graphql(&serde_json::json!({"number": 8, "state": "FAILED"})).unwrap();
        assert_eq!(failed.status(), BuildStatus::Failed);
        for bad in [
            serde_json::json!(null),
            serde_json::json!({"state": "PASSED"}),
            serde_json::json!([8]),
        ] {
            assert!(Build::from_graphql(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn state_table() {
        for (state, blocked, status) in STATE_TABLE {
            assert_eq!(
                map_state(state, blocked),
                status,
                "{state} blocked={blocked}"
            );
        }
    }

    #[test]
    fn a_build_is_an_object_with_a_number() {
        let decode = |text: &str| serde_json::from_str::<Build>(text).map(|b| b.number).ok();
        assert_eq!(
            decode(r#"{"number": 5, "state": "passed", "x": [1, {"y": null}]}"#),
            Some(5)
        );
        assert_eq!(decode("[5]"), None);
        assert_eq!(decode(r#"[{"number": 5}]"#), None);
        assert_eq!(decode(r#"{"state": "passed"}"#), None);
        assert_eq!(decode(r#"{"number": "5"}"#), None);
        assert_eq!(decode(r#"{"number": -5}"#), None);
        let builds: Result<Vec<Build>, _> = serde_json::from_str("[[5]]");
        assert!(builds.is_err(), "list elements are objects too");
    }

    #[test]
    fn caller_metadata_needs_an_object_of_strings() {
        let ok = decode_caller_metadata(r#"{"b":"2","a":"1"}"#).unwrap();
        assert_eq!(
            ok.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        for bad in [r#"{"a":1}"#, "[]", "{", "", "null"] {
            assert_eq!(decode_caller_metadata(bad), None, "{bad}");
        }
        assert_eq!(
            decode_caller_metadata_value(&serde_json::json!({"a": "1"})),
            None
        );
    }
}

/// A Buildkite job as `GET …/builds/{number}` lists it, read leniently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id (a retry gives the job a new one).
    pub id: String,
    /// `script`, `trigger`, `waiter`, `manual` (a block step), …
    pub kind: String,
    /// What the job says of itself, as its report.
    pub report: JobReport,
    /// Whether a later job replaced it (it was retried).
    pub retried: bool,
}

impl Job {
    /// The job in `value`; `None` unless it is an object with an id and a type.
    pub fn from_json(value: &Value) -> Option<Job> {
        let job = Fields::of(value)?;
        let state = job.text("state").unwrap_or_default();
        let soft_failed = job.flag("soft_failed");
        let (status, detail) = match job_status(&state) {
            // A soft-failed job is allowed to fail: it does not fail the build.
            BuildStatus::Failed if soft_failed => {
                (BuildStatus::Succeeded, "soft failed".to_owned())
            }
            status => (status, state.clone()),
        };
        let name = job
            .text("name")
            .or_else(|| job.text("step_key"))
            .unwrap_or_default();
        let mut report = JobReport::new(name, status).with_detail(detail);
        report.url = job.text("web_url");
        Some(Job {
            id: job.text("id")?,
            kind: job.text("type")?,
            report,
            retried: job.flag("retried"),
        })
    }

    /// Whether buildrunner reports it: script and trigger jobs in their latest attempt
    /// (waiters and block steps are not work that can fail, and a retried job was replaced).
    pub fn reported(&self) -> bool {
        matches!(self.kind.as_str(), "script" | "trigger") && !self.retried
    }
}

/// A job state in buildrunner's words: a job that never ran (`broken`, `skipped`) is not a
/// failure of its own.
pub fn job_status(state: &str) -> BuildStatus {
    match state {
        "pending" | "waiting" | "limiting" | "limited" | "scheduled" | "assigned" | "accepted" => {
            BuildStatus::Accepted
        }
        "running" | "timing_out" | "blocked" | "unblocked" | "canceling" => BuildStatus::Running,
        "passed" => BuildStatus::Succeeded,
        "failed" | "timed_out" | "expired" | "waiting_failed" | "blocked_failed"
        | "unblocked_failed" => BuildStatus::Failed,
        "canceled" | "skipped" | "broken" => BuildStatus::Cancelled,
        _ => BuildStatus::Unknown,
    }
}

/// Decodes the `jobs` of a build object as `GET …/builds/{number}` returns it (without
/// `exclude_jobs`). Public for fuzzers and property tests.
///
/// # Errors
///
/// [`Error::Protocol`](buildrunner_api::Error::Protocol) when the body is not a build with
/// a `jobs` array of jobs.
pub fn decode_jobs_response(body: &[u8]) -> buildrunner_api::Result<Vec<Job>> {
    decode_with(
        body,
        "the build's jobs",
        "a build with a jobs array",
        |value| {
            value
                .get("jobs")?
                .as_array()?
                .iter()
                .map(Job::from_json)
                .collect()
        },
    )
}
