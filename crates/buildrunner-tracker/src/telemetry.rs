//! What a tracker records through the [`metrics`] facade.
//!
//! | Metric | Kind | Labels |
//! |---|---|---|
//! | [`BUILDS_FOLLOWED`] | gauge | `backend` |
//! | [`VERDICTS_TOTAL`] | counter | `backend`, `status` |
//! | [`VERDICT_SECONDS`] | histogram | `backend`, `status` |
//! | [`DROPPED_TOTAL`] | counter | `backend`, `reason` |
//! | [`POLL_LAG_SECONDS`] | histogram | `backend` |
//! | [`RETRIES_TOTAL`] | counter | `backend` |
//! | [`JOBS_READS_TOTAL`] | counter | `backend` |
//!
//! Webhooks are counted where they are read, by the runner's receiver
//! (`buildrunner_webhooks_total`, see `buildrunner_api::instrument`).

use std::time::Duration;

use buildrunner_api::{BuildStatus, Error};

/// Gauge: builds the tracker follows now.
pub const BUILDS_FOLLOWED: &str = "buildrunner_tracker_builds_followed";
/// Counter: verdicts emitted (a followed build reached a terminal status), by status.
pub const VERDICTS_TOTAL: &str = "buildrunner_tracker_verdicts_total";
/// Histogram: seconds from following a build to emitting its verdict: the build's run time
/// plus how late the tracker saw the end.
pub const VERDICT_SECONDS: &str = "buildrunner_tracker_verdict_seconds";
/// Counter: builds no longer followed because the runner answered with an error that trying
/// again cannot help, by the error's kind.
pub const DROPPED_TOTAL: &str = "buildrunner_tracker_dropped_total";
/// Histogram: seconds between when a build was due a poll and when it was polled; growing
/// lag means the budget (`max_cost_per_sec`) is too small for the builds followed.
pub const POLL_LAG_SECONDS: &str = "buildrunner_tracker_poll_lag_seconds";

/// Counter: retries of a failed build's failed jobs the tracker made.
pub const RETRIES_TOTAL: &str = "buildrunner_tracker_retries_total";
/// Counter: `jobs` reads the tracker made for failed verdicts (one a verdict).
pub const JOBS_READS_TOTAL: &str = "buildrunner_tracker_jobs_reads_total";

/// A retry of failed jobs was accepted.
pub(crate) fn retried(backend: &'static str) {
    metrics::counter!(RETRIES_TOTAL, "backend" => backend).increment(1);
}

/// The jobs of a failed verdict were read.
pub(crate) fn jobs_read(backend: &'static str) {
    metrics::counter!(JOBS_READS_TOTAL, "backend" => backend).increment(1);
}

/// How many builds are followed now.
pub(crate) fn followed(backend: &'static str, builds: usize) {
    metrics::gauge!(BUILDS_FOLLOWED, "backend" => backend).set(builds as f64);
}

/// A verdict emitted `after` following the build for that long.
pub(crate) fn verdict(backend: &'static str, status: BuildStatus, after: Duration) {
    let labels = [("backend", backend), ("status", status.as_str())];
    metrics::counter!(VERDICTS_TOTAL, &labels).increment(1);
    metrics::histogram!(VERDICT_SECONDS, &labels).record(after);
}

/// A build dropped because of `error`.
pub(crate) fn dropped(backend: &'static str, error: &Error) {
    metrics::counter!(DROPPED_TOTAL, "backend" => backend, "reason" => error.kind()).increment(1);
}

/// A build polled `lag` after it was due.
pub(crate) fn poll_lag(backend: &'static str, lag: Duration) {
    metrics::histogram!(POLL_LAG_SECONDS, "backend" => backend).record(lag);
}
