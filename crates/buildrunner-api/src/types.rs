use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Caller metadata attached to a build: an ordered map, so output and tests are deterministic.
pub type BuildMetadata = BTreeMap<String, String>;

/// The longest idempotency key accepted, in bytes. Keys are stored by CI platforms as
/// metadata values and sent in query strings, so they are kept short.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// One change to apply, named by one or more URIs (a pull request, a patch, a commit).
///
/// What a URI means is up to the CI pipeline that receives it; buildrunner only carries
/// them, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The URIs that make up this change, in the order they are applied.
    pub uris: Vec<String>,
}

impl Change {
    /// A change made of the given URIs.
    ///
    /// ```
    /// let change = buildrunner_api::Change::new(["https://github.com/acme/app/pull/7"]);
    /// assert_eq!(change.uris.len(), 1);
    /// ```
    pub fn new<I, S>(uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Change {
            uris: uris.into_iter().map(Into::into).collect(),
        }
    }
}

/// What to build: the `base` changes already queued ahead (assumed good), then the `head`
/// changes under test, with caller metadata and an optional idempotency key.
///
/// A `TriggerRequest` is always valid: it can only be made through
/// [`TriggerRequest::new`], [`TriggerRequest::builder`] or deserialization, which all check
/// the same rules, so no backend checks them again:
///
/// - `head` has at least one change;
/// - every change has at least one URI and no URI is empty or contains a control character;
/// - metadata keys are not empty;
/// - an idempotency key is 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] bytes without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TriggerRequestBuilder")]
pub struct TriggerRequest {
    base: Vec<Change>,
    head: Vec<Change>,
    metadata: BuildMetadata,
    idempotency_key: Option<String>,
}

impl TriggerRequest {
    /// A request to build `head` on top of nothing, without metadata or idempotency key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when `head` is empty or a change is malformed.
    pub fn new(head: Vec<Change>) -> Result<Self> {
        TriggerRequestBuilder {
            head,
            ..TriggerRequestBuilder::default()
        }
        .build()
    }

    /// Starts a request to fill in piece by piece; [`TriggerRequestBuilder::build`] checks it.
    ///
    /// ```
    /// use buildrunner_api::{Change, TriggerRequest};
    ///
    /// let request = TriggerRequest::builder()
    ///     .base(Change::new(["https://github.com/acme/app/pull/6"]))
    ///     .head(Change::new(["https://github.com/acme/app/pull/7"]))
    ///     .metadata("batch", "12")
    ///     .idempotency_key("queue-main-batch-12")
    ///     .build()?;
    /// assert_eq!(request.idempotency_key(), Some("queue-main-batch-12"));
    /// # Ok::<(), buildrunner_api::Error>(())
    /// ```
    pub fn builder() -> TriggerRequestBuilder {
        TriggerRequestBuilder::default()
    }

    /// The changes already queued ahead, applied first.
    pub fn base(&self) -> &[Change] {
        &self.base
    }

    /// The changes under test, applied after `base`; never empty.
    pub fn head(&self) -> &[Change] {
        &self.head
    }

    /// The caller's metadata.
    pub fn metadata(&self) -> &BuildMetadata {
        &self.metadata
    }

    /// The idempotency key, if the caller gave one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// Every URI of every base change, in order.
    pub fn base_uris(&self) -> impl Iterator<Item = &str> {
        self.base
            .iter()
            .flat_map(|c| c.uris.iter().map(String::as_str))
    }

    /// Every URI of every head change, in order.
    pub fn head_uris(&self) -> impl Iterator<Item = &str> {
        self.head
            .iter()
            .flat_map(|c| c.uris.iter().map(String::as_str))
    }

    /// `SQ_BASE_URIS` of the build contract every backend hands its pipeline: a JSON array
    /// of every base URI in order, `[]` (never `null`) when there is none.
    ///
    /// ```
    /// use buildrunner_api::{Change, TriggerRequest};
    ///
    /// let request = TriggerRequest::builder()
    ///     .head(Change::new(["https://x/pull/2"]))
    ///     .metadata("pr", "2")
    ///     .build()?;
    /// assert_eq!(request.base_uris_json(), "[]");
    /// assert_eq!(request.head_uris_json(), r#"["https://x/pull/2"]"#);
    /// assert_eq!(request.metadata_json().as_deref(), Some(r#"{"pr":"2"}"#));
    /// # Ok::<(), buildrunner_api::Error>(())
    /// ```
    pub fn base_uris_json(&self) -> String {
        json_text(&self.base_uris().collect::<Vec<_>>())
    }

    /// `SQ_HEAD_URIS`: a JSON array of every head URI in order.
    pub fn head_uris_json(&self) -> String {
        json_text(&self.head_uris().collect::<Vec<_>>())
    }

    /// `SQ_METADATA`: the caller metadata as a JSON object, `None` when there is none (the
    /// variable is then omitted).
    pub fn metadata_json(&self) -> Option<String> {
        (!self.metadata.is_empty()).then(|| json_text(&self.metadata))
    }
}

/// Serializes string lists and string maps, which cannot fail.
fn json_text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Collects the parts of a [`TriggerRequest`]; [`build`](TriggerRequestBuilder::build) checks them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequestBuilder {
    #[serde(default)]
    base: Vec<Change>,
    #[serde(default)]
    head: Vec<Change>,
    #[serde(default)]
    metadata: BuildMetadata,
    #[serde(default)]
    idempotency_key: Option<String>,
}

impl TriggerRequestBuilder {
    /// Appends a base change.
    pub fn base(mut self, change: Change) -> Self {
        self.base.push(change);
        self
    }

    /// Appends a head change.
    pub fn head(mut self, change: Change) -> Self {
        self.head.push(change);
        self
    }

    /// Sets one metadata entry, replacing an earlier value of the same key.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Checks the parts and makes the request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] naming the first rule of [`TriggerRequest`] that is broken.
    pub fn build(self) -> Result<TriggerRequest> {
        if self.head.is_empty() {
            return Err(invalid("head must contain at least one change"));
        }
        for (side, changes) in [("base", &self.base), ("head", &self.head)] {
            for (index, change) in changes.iter().enumerate() {
                if change.uris.is_empty() {
                    return Err(invalid(format!("{side} change {index} has no URI")));
                }
                if let Some(uri) = change
                    .uris
                    .iter()
                    .find(|uri| uri.is_empty() || uri.chars().any(char::is_control))
                {
                    return Err(invalid(format!(
                        "{side} change {index} has an empty URI or one with a control character: {uri:?}"
                    )));
                }
            }
        }
        if self.metadata.keys().any(String::is_empty) {
            return Err(invalid("metadata keys must not be empty"));
        }
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(invalid(format!(
                    "idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes long, got {}",
                    key.len()
                )));
            }
            if key.chars().any(char::is_control) {
                return Err(invalid(
                    "idempotency key must not contain control characters",
                ));
            }
        }
        Ok(TriggerRequest {
            base: self.base,
            head: self.head,
            metadata: self.metadata,
            idempotency_key: self.idempotency_key,
        })
    }
}

impl TryFrom<TriggerRequestBuilder> for TriggerRequest {
    type Error = Error;

    fn try_from(builder: TriggerRequestBuilder) -> Result<Self> {
        builder.build()
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidRequest {
        reason: reason.into(),
    }
}

/// An opaque build id, minted by a backend's [`trigger`](crate::BuildRunner::trigger).
///
/// Callers store and pass it back as a string; only the backend that minted it knows its
/// format, and it parses it strictly before sending any request, so a foreign or corrupted
/// id fails with [`Error::InvalidBuildId`] instead of reaching the wrong build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BuildId(String);

impl BuildId {
    /// Wraps a string as a build id; whether it is valid is up to the backend that reads it.
    pub fn new(id: impl Into<String>) -> Self {
        BuildId(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An [`Error::InvalidBuildId`] for this id with the given reason, for backend parsers.
    pub fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidBuildId {
            id: self.0.clone(),
            reason: reason.into(),
        }
    }

    /// An [`Error::NotFound`] for this id.
    pub fn not_found(&self) -> Error {
        Error::NotFound { id: self.0.clone() }
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BuildId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for BuildId {
    fn from(id: String) -> Self {
        BuildId(id)
    }
}

impl From<&str> for BuildId {
    fn from(id: &str) -> Self {
        BuildId(id.to_owned())
    }
}

/// Where a build stands, as narrow as every CI can report it.
///
/// `Unknown` is what a backend reports for a state it does not recognise. It is **not**
/// terminal: a caller keeps polling, so a new state invented by a CI never passes or fails
/// a batch by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    /// The backend could not classify the CI's state; keep polling.
    Unknown,
    /// Queued or scheduled, not started yet.
    Accepted,
    /// Started and not finished (including a build waiting at a manual step).
    Running,
    /// Finished, and everything passed. Terminal.
    Succeeded,
    /// Finished with a failure (or skipped without running). Terminal.
    Failed,
    /// Cancelled, or being cancelled. Terminal.
    Cancelled,
}

impl BuildStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [BuildStatus; 6] = [
        BuildStatus::Unknown,
        BuildStatus::Accepted,
        BuildStatus::Running,
        BuildStatus::Succeeded,
        BuildStatus::Failed,
        BuildStatus::Cancelled,
    ];

    /// Whether the build has finished and its status will not change any more.
    ///
    /// ```
    /// use buildrunner_api::BuildStatus;
    ///
    /// assert!(BuildStatus::Cancelled.is_terminal());
    /// assert!(!BuildStatus::Running.is_terminal());
    /// assert!(!BuildStatus::Unknown.is_terminal());
    /// ```
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            BuildStatus::Succeeded | BuildStatus::Failed | BuildStatus::Cancelled
        )
    }

    /// The lowercase name used in JSON and text output (`"running"`, `"succeeded"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Unknown => "unknown",
            BuildStatus::Accepted => "accepted",
            BuildStatus::Running => "running",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
            BuildStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`status`](crate::BuildRunner::status) returns: the status and the build's metadata.
///
/// The metadata holds the caller's metadata (for backends that declare
/// [`metadata_round_trip`](crate::Capabilities::metadata_round_trip)) plus keys the backend
/// adds, such as `url`; on a collision the backend's keys win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Where the build stands.
    pub status: BuildStatus,
    /// Caller metadata plus backend keys.
    pub metadata: BuildMetadata,
}

impl BuildReport {
    /// A report with the given status and no metadata.
    pub fn new(status: BuildStatus) -> Self {
        BuildReport {
            status,
            metadata: BuildMetadata::new(),
        }
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: BuildMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The build's web URL, when the backend reports one under the `url` key.
    pub fn url(&self) -> Option<&str> {
        self.metadata.get("url").map(String::as_str)
    }

    /// The attempt this report describes, where the CI counts attempts (metadata key
    /// [`ATTEMPT_KEY`], decimal text): 1 for the first run, one more for each
    /// [`retry_failed`](crate::BuildRunner::retry_failed).
    pub fn attempt(&self) -> Option<u32> {
        self.metadata.get(ATTEMPT_KEY)?.parse().ok()
    }
}

/// The metadata key of the attempt a report describes; see [`BuildReport::attempt`].
pub const ATTEMPT_KEY: &str = "attempt";

/// One job of a build, as [`BuildRunner::jobs`](crate::BuildRunner::jobs) lists them: what a
/// merge queue tells an author about a failed build.
///
/// A job the CI allows to fail (Buildkite's soft-failed, GitLab's `allow_failure`) that
/// failed is reported `Succeeded`, with the reason in `detail`: it does not fail the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    /// The job's name as the CI shows it.
    pub name: String,
    /// Where the job stands, in the build's words.
    pub status: BuildStatus,
    /// A page a person can open: the job and its log.
    pub url: Option<String>,
    /// The CI's own word for why (GitLab's `failure_reason`, GitHub's `conclusion`).
    pub detail: Option<String>,
}

impl JobReport {
    /// A job with no url and no detail.
    pub fn new(name: impl Into<String>, status: BuildStatus) -> Self {
        JobReport {
            name: name.into(),
            status,
            url: None,
            detail: None,
        }
    }

    /// Sets the url.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Whether this job failed the build.
    pub fn failed(&self) -> bool {
        self.status == BuildStatus::Failed
    }
}

/// Sorts jobs failed first, keeping the CI's order otherwise, as a person reads them.
pub fn failed_first(jobs: &mut [JobReport]) {
    jobs.sort_by_key(|job| !job.failed());
}
