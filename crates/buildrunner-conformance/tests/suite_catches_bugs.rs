//! The suite is only worth something if it fails broken backends. For every check there is
//! a bug, planted in a wrapper around a small in-memory CI of this test's own ([`Fake`]),
//! that turns exactly that check red and no other; the unbroken wrapper passes everything.
//! `cargo xtask conformance` runs this and prints `planted bugs: N/N checks caught`.
//!
//! The fake declares every capability, so every check of the suite applies to it. It is
//! this crate's own so the suite depends on no backend, not even to test itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use buildrunner_api::outcome::Outcome;
use buildrunner_api::{
    BuildId, BuildMetadata, BuildReport, BuildRunner, BuildStatus, Capabilities, Error, JobReport,
    Result, TriggerRequest,
};
use buildrunner_conformance::{CHECKS, Environment, Harness, RunnerEnvironment, Timing};

/// One planted bug per check, named by what goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Unkeyed triggers in the same 10 ms get the same id.
    IdsFromTheClock,
    /// The runner that triggered an unmarked build first reports it from a placeholder.
    FirstStatusIsAPlaceholder,
    /// An unmarked build ends Failed.
    PassReportedAsFailed,
    /// A `fail` build ends Succeeded.
    FailReportedAsSucceeded,
    /// A refused trigger is reported as a transport failure.
    TriggerRefusalIsUnavailable,
    /// A failing status is reported as a refusal, which a caller would not retry.
    StatusErrorIsRejected,
    /// A cancel of a running `hang` build is accepted and ignored.
    CancelOfHangIgnored,
    /// A build waiting for a person is reported Succeeded.
    BlockedReportedAsSucceeded,
    /// A cancel of a finished build turns it Cancelled.
    CancelOfTerminalChangesIt,
    /// Unknown ids are reported as malformed.
    UnknownIdsAreInvalid,
    /// Malformed ids are looked up and reported not found.
    MalformedIdsAreNotFound,
    /// A runner only answers for ids it minted itself.
    OnlyOwnIdsKnown,
    /// Caller metadata is dropped from reports.
    MetadataDropped,
    /// Reports carry no url.
    NoUrl,
    /// Idempotency keys are ignored.
    IdempotencyKeyIgnored,
    /// More than 25 calls in flight are refused instead of queued.
    RefusesWhenBusy,
    /// A request without base changes is refused.
    EmptyBaseRefused,
    /// More than 100 head changes are refused.
    LargeHeadRefused,
    /// `status_many` answers in another order than it was asked.
    StatusManyOutOfOrder,
    /// A failed job is listed as succeeded.
    FailedJobListedGreen,
    /// The retried job of a flaky build fails again.
    RetriedJobFailsAgain,
    /// A retry of a build that has not failed is accepted (and does nothing).
    RetryOfUnfailedAccepted,
    /// A read right after a retry that still shows the failed attempt is reported as is.
    StaleReadAfterRetryIsTheVerdict,
}

/// The bug that must turn each check red, and only it.
const PLANTED: &[(&str, Bug)] = &[
    (
        "distinct_ids_under_concurrent_triggers",
        Bug::IdsFromTheClock,
    ),
    (
        "status_right_after_trigger_is_known",
        Bug::FirstStatusIsAPlaceholder,
    ),
    ("default_outcome_succeeds", Bug::PassReportedAsFailed),
    ("fail_marker_fails", Bug::FailReportedAsSucceeded),
    (
        "trigger_error_marker_fails_trigger",
        Bug::TriggerRefusalIsUnavailable,
    ),
    (
        "status_error_marker_fails_status",
        Bug::StatusErrorIsRejected,
    ),
    ("cancel_of_hang_reaches_cancelled", Bug::CancelOfHangIgnored),
    (
        "block_is_never_green_and_cancel_ends_it",
        Bug::BlockedReportedAsSucceeded,
    ),
    (
        "cancel_of_terminal_build_is_a_no_op",
        Bug::CancelOfTerminalChangesIt,
    ),
    ("unknown_build_is_not_found", Bug::UnknownIdsAreInvalid),
    ("malformed_id_is_invalid", Bug::MalformedIdsAreNotFound),
    (
        "fresh_instance_answers_for_minted_ids",
        Bug::OnlyOwnIdsKnown,
    ),
    ("metadata_round_trips", Bug::MetadataDropped),
    ("reports_carry_a_url", Bug::NoUrl),
    (
        "same_idempotency_key_same_build",
        Bug::IdempotencyKeyIgnored,
    ),
    ("concurrent_mixed_operations", Bug::RefusesWhenBusy),
    ("empty_base_is_accepted", Bug::EmptyBaseRefused),
    ("head_of_1000_uris_is_accepted", Bug::LargeHeadRefused),
    ("status_many_agrees_with_status", Bug::StatusManyOutOfOrder),
    ("failed_build_names_a_failed_job", Bug::FailedJobListedGreen),
    (
        "flaky_build_retried_succeeds_under_the_same_id",
        Bug::RetriedJobFailsAgain,
    ),
    (
        "retry_of_an_unfailed_build_is_rejected",
        Bug::RetryOfUnfailedAccepted,
    ),
    (
        "retried_build_is_never_terminal_from_the_old_attempt",
        Bug::StaleReadAfterRetryIsTheVerdict,
    ),
];

// New capabilities stay off here until the fake can honour them.
#[allow(clippy::needless_update)]
const CAPABILITIES: Capabilities = Capabilities {
    metadata_round_trip: true,
    web_url: true,
    idempotent_trigger: true,
    status_survives_restart: true,
    cancel_observable: true,
    outcome_markers: true,
    job_reports: true,
    retry_failed: true,
    ..Capabilities::NONE
};

/// How long reads after a retry still show the failed attempt, then how long the retried
/// job runs.
const RETRY_LAG: Duration = Duration::from_millis(30);
const RETRY_RUN: Duration = Duration::from_millis(30);

/// A CI of this test's own: builds in memory, shared by every runner of one environment as
/// a CI's builds are, each ending as its outcome marker says from its first status (`hang`
/// and `block` run until cancelled). Ids are `fake/<n>`.
#[derive(Debug, Default)]
struct Fake {
    builds: Mutex<HashMap<u64, FakeBuild>>,
    keys: Mutex<HashMap<String, u64>>,
    next: AtomicU64,
}

#[derive(Debug, Clone)]
struct FakeBuild {
    outcome: Outcome,
    metadata: BuildMetadata,
    cancelled: bool,
    /// When its failed jobs were retried, and whether the retried job fails again.
    retried: Option<(Instant, bool)>,
}

impl Fake {
    fn number(id: &BuildId) -> Result<u64> {
        id.as_str()
            .strip_prefix("fake/")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| id.invalid("expected fake/<number>"))
    }

    fn build(&self, id: &BuildId) -> Result<FakeBuild> {
        let number = Fake::number(id)?;
        self.builds
            .lock()
            .unwrap()
            .get(&number)
            .cloned()
            .ok_or_else(|| id.not_found())
    }

    fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        let outcome =
            Outcome::from_uris(request.head_uris()).map_err(|e| Error::InvalidRequest {
                reason: e.to_string(),
            })?;
        if outcome == Outcome::TriggerError {
            return Err(Error::Rejected {
                message: "refused by the trigger-error marker".into(),
            });
        }
        let mut keys = self.keys.lock().unwrap();
        if let Some(number) = request.idempotency_key().and_then(|key| keys.get(key)) {
            return Ok(BuildId::new(format!("fake/{number}")));
        }
        let number = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(key) = request.idempotency_key() {
            keys.insert(key.to_owned(), number);
        }
        self.builds.lock().unwrap().insert(
            number,
            FakeBuild {
                outcome,
                metadata: request.metadata().clone(),
                cancelled: false,
                retried: None,
            },
        );
        Ok(BuildId::new(format!("fake/{number}")))
    }

    fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let build = self.build(id)?;
        let status = match (build.outcome, build.retried) {
            // The retry is published late, then its job runs, then it ends.
            (_, Some((at, _))) if at.elapsed() < RETRY_LAG => BuildStatus::Failed,
            (_, Some((at, _))) if at.elapsed() < RETRY_LAG + RETRY_RUN => BuildStatus::Running,
            (Outcome::Flaky, Some((_, false))) => BuildStatus::Succeeded,
            (_, Some(_)) => BuildStatus::Failed,
            (Outcome::Pass, None) => BuildStatus::Succeeded,
            (Outcome::Fail | Outcome::Flaky, None) => BuildStatus::Failed,
            (Outcome::Hang | Outcome::Block, None) if build.cancelled => BuildStatus::Cancelled,
            (Outcome::Hang | Outcome::Block, None) => BuildStatus::Running,
            (Outcome::StatusError | Outcome::TriggerError, None) => {
                return Err(Error::Unavailable {
                    message: "failing as the status-error marker asks".into(),
                    source: None,
                });
            }
        };
        let mut metadata = build.metadata;
        metadata.insert("outcome".into(), build.outcome.token().into());
        metadata.insert("url".into(), format!("https://ci.example.com/{id}"));
        Ok(BuildReport::new(status).with_metadata(metadata))
    }

    fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let status = self.status(id)?.status;
        let url = |job: &str| format!("https://ci.example.com/{id}/{job}");
        Ok(vec![
            JobReport::new("build", BuildStatus::Succeeded).with_url(url("build")),
            JobReport::new("test", status).with_url(url("test")),
        ])
    }

    /// Re-runs the failed job of a failed build; `fails_again` decides how it ends.
    fn retry_failed(&self, id: &BuildId, fails_again: bool) -> Result<()> {
        let status = self.status(id)?.status;
        if status != BuildStatus::Failed {
            return Err(Error::Rejected {
                message: format!("{id} is {status:?}, not failed"),
            });
        }
        let number = Fake::number(id)?;
        let mut builds = self.builds.lock().unwrap();
        let build = builds.get_mut(&number).ok_or_else(|| id.not_found())?;
        build.retried = Some((Instant::now(), fails_again));
        Ok(())
    }

    fn cancel(&self, id: &BuildId) -> Result<()> {
        let number = Fake::number(id)?;
        let mut builds = self.builds.lock().unwrap();
        let build = builds.get_mut(&number).ok_or_else(|| id.not_found())?;
        if matches!(build.outcome, Outcome::Hang | Outcome::Block) {
            build.cancelled = true;
        }
        Ok(())
    }
}

/// What the runners of one environment share, as a CI would.
#[derive(Debug, Default)]
struct Shared {
    ci: Fake,
    cancelled_after_finish: Mutex<HashSet<BuildId>>,
}

#[derive(Debug)]
struct Broken {
    bug: Bug,
    shared: Arc<Shared>,
    minted: Mutex<HashSet<BuildId>>,
    placeholders: Mutex<HashSet<BuildId>>,
    /// Builds retried and not yet seen running again: their terminal reads are stale.
    retried: Mutex<HashSet<BuildId>>,
    in_flight: AtomicUsize,
}

fn marker(request: &TriggerRequest) -> bool {
    request
        .head_uris()
        .any(|u| u.contains("buildrunner-outcome="))
}

/// The same request with another idempotency key, or none.
fn rekeyed(request: &TriggerRequest, key: Option<String>) -> Result<TriggerRequest> {
    let mut builder = TriggerRequest::builder();
    for change in request.base() {
        builder = builder.base(change.clone());
    }
    for change in request.head() {
        builder = builder.head(change.clone());
    }
    for (k, v) in request.metadata() {
        builder = builder.metadata(k, v);
    }
    if let Some(key) = key {
        builder = builder.idempotency_key(key);
    }
    builder.build()
}

impl Broken {
    async fn busy<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::task::yield_now().await;
        let result = if self.bug == Bug::RefusesWhenBusy && now > 25 {
            Err(Error::Unavailable {
                message: "too many calls in flight".into(),
                source: None,
            })
        } else {
            call.await
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn trigger_inner(&self, request: &TriggerRequest) -> Result<BuildId> {
        let refused = |reason: &str| {
            Err(Error::Rejected {
                message: reason.to_owned(),
            })
        };
        match self.bug {
            Bug::EmptyBaseRefused if request.base().is_empty() => return refused("no base"),
            Bug::LargeHeadRefused if request.head().len() > 100 => return refused("too large"),
            _ => {}
        }
        let request = match (self.bug, request.idempotency_key()) {
            (Bug::IdsFromTheClock, None) => {
                let bucket = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    / 10;
                // Builds of different outcomes still differ, as an id that names its
                // outcome would; only look-alike triggers collide.
                let outcome = Outcome::from_uris(request.head_uris()).unwrap_or(Outcome::Pass);
                rekeyed(request, Some(format!("clock-{bucket}-{}", outcome.token())))?
            }
            (Bug::IdempotencyKeyIgnored, Some(_)) => rekeyed(request, None)?,
            _ => request.clone(),
        };
        let id = match self.shared.ci.trigger(&request) {
            Err(Error::Rejected { message }) if self.bug == Bug::TriggerRefusalIsUnavailable => {
                return Err(Error::Unavailable {
                    message,
                    source: None,
                });
            }
            other => other?,
        };
        self.minted.lock().unwrap().insert(id.clone());
        if self.bug == Bug::FirstStatusIsAPlaceholder && !marker(&request) {
            self.placeholders.lock().unwrap().insert(id.clone());
        }
        Ok(id)
    }

    async fn status_inner(&self, id: &BuildId) -> Result<BuildReport> {
        let mut report = match self.shared.ci.status(id) {
            Ok(_)
                if self.bug == Bug::OnlyOwnIdsKnown
                    && !self.minted.lock().unwrap().contains(id) =>
            {
                return Err(id.not_found());
            }
            Err(Error::NotFound { id }) if self.bug == Bug::UnknownIdsAreInvalid => {
                return Err(Error::InvalidBuildId {
                    id,
                    reason: "bug".into(),
                });
            }
            Err(Error::InvalidBuildId { id, .. }) if self.bug == Bug::MalformedIdsAreNotFound => {
                return Err(Error::NotFound { id });
            }
            Err(Error::Unavailable { message, .. }) if self.bug == Bug::StatusErrorIsRejected => {
                return Err(Error::Rejected { message });
            }
            other => other?,
        };
        let outcome = report.metadata.get("outcome").cloned().unwrap_or_default();
        match (self.bug, outcome.as_str(), report.status) {
            (Bug::PassReportedAsFailed, "pass", _) => report.status = BuildStatus::Failed,
            (Bug::FailReportedAsSucceeded, "fail", _) => report.status = BuildStatus::Succeeded,
            (Bug::BlockedReportedAsSucceeded, "block", BuildStatus::Running) => {
                report.status = BuildStatus::Succeeded
            }
            _ => {}
        }
        if self
            .shared
            .cancelled_after_finish
            .lock()
            .unwrap()
            .contains(id)
        {
            report.status = BuildStatus::Cancelled;
        }
        if self.placeholders.lock().unwrap().remove(id) {
            report.status = BuildStatus::Unknown;
        }
        if report.status.is_terminal() {
            if self.bug != Bug::StaleReadAfterRetryIsTheVerdict
                && self.retried.lock().unwrap().contains(id)
            {
                report.status = BuildStatus::Running;
            }
        } else {
            self.retried.lock().unwrap().remove(id);
        }
        if self.bug == Bug::MetadataDropped {
            report
                .metadata
                .retain(|key, _| key == "outcome" || key == "url");
        }
        if self.bug == Bug::NoUrl {
            report.metadata.remove("url");
        }
        Ok(report)
    }

    async fn cancel_inner(&self, id: &BuildId) -> Result<()> {
        let before = self.shared.ci.status(id).ok().map(|r| r.status);
        let outcome = self.shared.ci.build(id).ok().map(|b| b.outcome);
        if self.bug == Bug::CancelOfHangIgnored && outcome == Some(Outcome::Hang) {
            return Ok(());
        }
        self.shared.ci.cancel(id)?;
        if self.bug == Bug::CancelOfTerminalChangesIt && before.is_some_and(|s| s.is_terminal()) {
            self.shared
                .cancelled_after_finish
                .lock()
                .unwrap()
                .insert(id.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl BuildRunner for Broken {
    fn backend_name(&self) -> &'static str {
        "broken"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        self.busy(self.trigger_inner(request)).await
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        self.busy(self.status_inner(id)).await
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        self.busy(self.cancel_inner(id)).await
    }

    async fn jobs(&self, id: &BuildId) -> Result<Vec<JobReport>> {
        let mut jobs = self.shared.ci.jobs(id)?;
        if self.bug == Bug::FailedJobListedGreen {
            for job in &mut jobs {
                job.status = BuildStatus::Succeeded;
            }
        }
        Ok(jobs)
    }

    async fn retry_failed(&self, id: &BuildId) -> Result<()> {
        if self.bug == Bug::RetryOfUnfailedAccepted
            && self.shared.ci.status(id)?.status != BuildStatus::Failed
        {
            return Ok(());
        }
        let fails_again = self.bug == Bug::RetriedJobFailsAgain;
        self.shared.ci.retry_failed(id, fails_again)?;
        self.retried.lock().unwrap().insert(id.clone());
        Ok(())
    }

    async fn status_many(&self, ids: &[BuildId]) -> Vec<Result<BuildReport>> {
        let mut answers = Vec::with_capacity(ids.len());
        for id in ids {
            answers.push(self.status(id).await);
        }
        if self.bug == Bug::StatusManyOutOfOrder {
            answers.reverse();
        }
        answers
    }
}

struct BrokenHarness(Bug);

#[async_trait]
impl Harness for BrokenHarness {
    fn backend(&self) -> &'static str {
        "broken"
    }
    fn describe(&self) -> String {
        format!("the fake with {:?}", self.0)
    }
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }
    fn timing(&self) -> Timing {
        // The fake's builds are instant: a check that waits for them waits for a bug.
        Timing {
            lifecycle_timeout: Duration::from_secs(2),
            ..Timing::default()
        }
    }
    async fn environment(&self) -> std::result::Result<Box<dyn Environment>, String> {
        let (bug, shared) = (self.0, Arc::new(Shared::default()));
        let make = move || -> std::result::Result<Arc<dyn BuildRunner>, String> {
            Ok(Arc::new(Broken {
                bug,
                shared: Arc::clone(&shared),
                minted: Mutex::default(),
                placeholders: Mutex::default(),
                retried: Mutex::default(),
                in_flight: AtomicUsize::new(0),
            }))
        };
        let unknown = BuildId::new("fake/987654321");
        let malformed = vec![BuildId::new("not-an-id")];
        Ok(Box::new(RunnerEnvironment::new(
            make,
            unknown,
            malformed,
            (),
        )?))
    }
}

async fn failing_checks(bug: Bug) -> Vec<&'static str> {
    let harness = BrokenHarness(bug);
    let mut failing = Vec::new();
    for check in CHECKS {
        assert!(
            check.skip_reason(&harness).is_none(),
            "{} is skipped",
            check.name
        );
        if check.run_against(&harness).await.is_err() {
            failing.push(check.name);
        }
    }
    failing
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut problems = Vec::new();
    let clean = runtime.block_on(failing_checks(Bug::None));
    if !clean.is_empty() {
        problems.push(format!("the unbroken wrapper fails {clean:?}"));
    }
    let mut caught = 0;
    for check in CHECKS {
        let Some((_, bug)) = PLANTED.iter().find(|(name, _)| *name == check.name) else {
            problems.push(format!("no bug is planted for check {}", check.name));
            continue;
        };
        let started = std::time::Instant::now();
        let failing = runtime.block_on(failing_checks(*bug));
        let verdict = if failing == [check.name] {
            caught += 1;
            "caught by it alone"
        } else {
            problems.push(format!(
                "{bug:?} should fail only {}, fails {failing:?}",
                check.name
            ));
            "NOT CAUGHT AS PLANTED"
        };
        println!(
            "planted {:<28} -> {:<42} {verdict} ({:.1}s)",
            format!("{bug:?}"),
            check.name,
            started.elapsed().as_secs_f64()
        );
    }
    let planted: BTreeMap<_, _> = PLANTED.iter().copied().collect();
    for name in planted.keys() {
        if !CHECKS.iter().any(|c| c.name == *name) {
            problems.push(format!("a bug is planted for {name}, which is not a check"));
        }
    }
    println!("planted bugs: {caught}/{} checks caught", CHECKS.len());
    for problem in &problems {
        eprintln!("suite_catches_bugs: {problem}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
