//! The suite is only worth something if it fails broken backends: each bug planted here in a
//! wrapper around the noop backend must turn its check red, and the unbroken wrapper must
//! pass everything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;

use async_trait::async_trait;
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, BuildStatus, Capabilities, Error, Result, TriggerRequest,
};
use buildrunner_conformance::{CHECKS, Environment, Harness};
use buildrunner_noop::NoopRunner;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    FailedReportedAsSucceeded,
    EveryTriggerGetsTheSameId,
    UnknownIdsAreInvalid,
    CancelOfTerminalBuildFails,
    TerminalStatusFlapsBack,
    IdempotencyKeyIgnored,
    TriggerErrorSwallowed,
}

#[derive(Debug)]
struct Broken {
    inner: NoopRunner,
    bug: Bug,
    statuses: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl BuildRunner for Broken {
    fn backend_name(&self) -> &'static str {
        "broken"
    }

    fn capabilities(&self) -> Capabilities {
        buildrunner_noop::CAPABILITIES
    }

    async fn trigger(&self, request: &TriggerRequest) -> Result<BuildId> {
        match self.bug {
            Bug::EveryTriggerGetsTheSameId => {
                self.inner.trigger(request).await?;
                let fixed = TriggerRequest::builder()
                    .head(request.head()[0].clone())
                    .idempotency_key("always-the-same")
                    .build()?;
                self.inner.trigger(&fixed).await
            }
            Bug::IdempotencyKeyIgnored => {
                let mut builder = TriggerRequest::builder();
                for change in request.head() {
                    builder = builder.head(change.clone());
                }
                self.inner.trigger(&builder.build()?).await
            }
            Bug::TriggerErrorSwallowed => match self.inner.trigger(request).await {
                Err(_) => Ok(BuildId::new(
                    "noop:pass:00000000000000000000000000000000:6bcd2004",
                )),
                ok => ok,
            },
            _ => self.inner.trigger(request).await,
        }
    }

    async fn status(&self, id: &BuildId) -> Result<BuildReport> {
        let mut report = self
            .inner
            .status(id)
            .await
            .map_err(|e| match (self.bug, e) {
                (Bug::UnknownIdsAreInvalid, Error::NotFound { id }) => Error::InvalidBuildId {
                    id,
                    reason: "bug".into(),
                },
                (_, e) => e,
            })?;
        match (self.bug, report.status) {
            (Bug::FailedReportedAsSucceeded, BuildStatus::Failed) => {
                report.status = BuildStatus::Succeeded
            }
            (Bug::TerminalStatusFlapsBack, status) if status.is_terminal() => {
                let n = self
                    .statuses
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n % 2 == 1 {
                    report.status = BuildStatus::Running;
                }
            }
            _ => {}
        }
        Ok(report)
    }

    async fn cancel(&self, id: &BuildId) -> Result<()> {
        if self.bug == Bug::CancelOfTerminalBuildFails
            && self
                .inner
                .status(id)
                .await
                .is_ok_and(|r| r.status.is_terminal())
        {
            return Err(Error::Rejected {
                message: "already finished".into(),
            });
        }
        self.inner.cancel(id).await
    }
}

struct BrokenHarness(Bug);

struct BrokenEnvironment(Arc<Broken>, Bug);

fn broken(bug: Bug) -> Arc<Broken> {
    Arc::new(Broken {
        inner: NoopRunner::new(),
        bug,
        statuses: Default::default(),
    })
}

#[async_trait]
impl Harness for BrokenHarness {
    fn backend(&self) -> &'static str {
        "broken"
    }
    fn describe(&self) -> String {
        format!("noop with {:?}", self.0)
    }
    fn capabilities(&self) -> Capabilities {
        buildrunner_noop::CAPABILITIES
    }
    async fn environment(&self) -> std::result::Result<Box<dyn Environment>, String> {
        Ok(Box::new(BrokenEnvironment(broken(self.0), self.0)))
    }
}

#[async_trait]
impl Environment for BrokenEnvironment {
    fn runner(&self) -> Arc<dyn BuildRunner> {
        self.0.clone()
    }
    async fn fresh_runner(&self) -> std::result::Result<Arc<dyn BuildRunner>, String> {
        Ok(broken(self.1))
    }
    fn unknown_build_id(&self) -> BuildId {
        BuildId::new("noop:pass:00000000000000000000000000000000:00000000")
    }
    fn malformed_build_ids(&self) -> Vec<BuildId> {
        vec![BuildId::new("not-an-id")]
    }
}

async fn failing_checks(bug: Bug) -> Vec<&'static str> {
    let harness = BrokenHarness(bug);
    let mut failing = Vec::new();
    for check in CHECKS {
        if check.skip_reason(&harness).is_none() && check.run_against(&harness).await.is_err() {
            failing.push(check.name);
        }
    }
    failing
}

#[tokio::test]
async fn an_unbroken_wrapper_passes_every_check() {
    assert_eq!(failing_checks(Bug::None).await, Vec::<&str>::new());
}

#[tokio::test]
async fn each_planted_bug_turns_its_check_red() {
    let table = [
        (Bug::FailedReportedAsSucceeded, "fail_marker_fails"),
        (
            Bug::EveryTriggerGetsTheSameId,
            "distinct_ids_under_concurrent_triggers",
        ),
        (Bug::UnknownIdsAreInvalid, "unknown_build_is_not_found"),
        (
            Bug::CancelOfTerminalBuildFails,
            "cancel_of_terminal_build_is_a_no_op",
        ),
        (Bug::TerminalStatusFlapsBack, "default_outcome_succeeds"),
        (
            Bug::IdempotencyKeyIgnored,
            "same_idempotency_key_same_build",
        ),
        (
            Bug::TriggerErrorSwallowed,
            "trigger_error_marker_fails_trigger",
        ),
    ];
    for (bug, check) in table {
        let failing = failing_checks(bug).await;
        assert!(
            failing.contains(&check),
            "{bug:?} should fail {check}, failing: {failing:?}"
        );
    }
}

#[test]
fn skipped_checks_name_the_missing_capability() {
    struct Bare;
    #[async_trait]
    impl Harness for Bare {
        fn backend(&self) -> &'static str {
            "bare"
        }
        fn describe(&self) -> String {
            "nothing declared".into()
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::NONE
        }
        fn error_markers(&self) -> bool {
            false
        }
        async fn environment(&self) -> std::result::Result<Box<dyn Environment>, String> {
            Err("never prepared".into())
        }
    }
    let reasons: Vec<_> = CHECKS
        .iter()
        .filter_map(|c| c.skip_reason(&Bare).map(|r| (c.name, r)))
        .collect();
    let reason = |name: &str| {
        reasons
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.as_str())
    };
    assert_eq!(
        reason("metadata_round_trips"),
        Some("capability metadata_round_trip is not declared")
    );
    assert!(
        reason("trigger_error_marker_fails_trigger")
            .unwrap()
            .contains("cannot inject")
    );
    assert_eq!(
        reason("unknown_build_is_not_found"),
        None,
        "checks without needs always run"
    );
    assert_eq!(reason("concurrent_mixed_operations"), None);
}
