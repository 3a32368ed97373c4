use serde::Serialize;

/// What a backend can do beyond the three verbs every backend has.
///
/// A plain struct of flags that a backend fills in with a struct literal and
/// `..Capabilities::default()`: every flag defaults to `false`, so a new flag never claims
/// behaviour an existing backend does not have. The conformance suite reports a check whose
/// flag is `false` as skipped with the flag's name, never as passed.
///
/// ```
/// use buildrunner_api::Capabilities;
///
/// const CAPABILITIES: Capabilities = Capabilities {
///     metadata_round_trip: true,
///     ..Capabilities::NONE
/// };
/// assert!(!CAPABILITIES.idempotent_trigger);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The metadata of a [`TriggerRequest`](crate::TriggerRequest) comes back in every
    /// [`BuildReport`](crate::BuildReport) of that build.
    pub metadata_round_trip: bool,
    /// Reports carry a `url` metadata key that a person can open to see the build.
    pub web_url: bool,
    /// Two triggers with the same idempotency key return the same build id and create one build.
    pub idempotent_trigger: bool,
    /// A fresh runner (say, after a restart) answers `status` and `cancel` for an id an
    /// earlier runner minted.
    pub status_survives_restart: bool,
    /// After `cancel` of a running build, `status` eventually reports `Cancelled`.
    pub cancel_observable: bool,
    /// Outcome markers (`buildrunner-outcome=...` in a head URI) decide how a build ends, so
    /// the suite can drive success, failure, hangs and injected errors.
    pub outcome_markers: bool,
    /// [`BuildRunner::jobs`](crate::BuildRunner::jobs) lists a build's jobs, so a failed build
    /// can say which job failed.
    pub job_reports: bool,
    /// [`BuildRunner::retry_failed`](crate::BuildRunner::retry_failed) re-runs only the failed
    /// jobs of a failed build, in the same build, so its id stays the same.
    pub retry_failed: bool,
}

impl Capabilities {
    /// No capability at all; the same as [`Capabilities::default`], usable in `const` items.
    pub const NONE: Capabilities = Capabilities {
        metadata_round_trip: false,
        web_url: false,
        idempotent_trigger: false,
        status_survives_restart: false,
        cancel_observable: false,
        outcome_markers: false,
        job_reports: false,
        retry_failed: false,
    };
}
