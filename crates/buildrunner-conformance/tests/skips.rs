//! A check a backend does not declare the capability for is skipped with a reason that
//! names the capability, never passed.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use async_trait::async_trait;
use buildrunner_api::Capabilities;
use buildrunner_conformance::{CHECKS, Environment, Harness};

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
    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        Err("never prepared".into())
    }
}

#[test]
fn skipped_checks_name_the_missing_capability() {
    let reason = |name: &str| {
        CHECKS
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .skip_reason(&Bare)
    };
    assert_eq!(
        reason("metadata_round_trips").as_deref(),
        Some("capability metadata_round_trip is not declared")
    );
    assert!(
        reason("trigger_error_marker_fails_trigger")
            .unwrap()
            .contains("cannot inject")
    );
    assert!(
        reason("block_is_never_green_and_cancel_ends_it")
            .unwrap()
            .contains("outcome_markers")
    );
    assert_eq!(
        reason("unknown_build_is_not_found"),
        None,
        "checks without needs always run"
    );
    assert_eq!(reason("concurrent_mixed_operations"), None);
}

#[tokio::test]
async fn an_environment_that_cannot_be_prepared_fails_the_check_with_the_reason() {
    let error = CHECKS[0].run_against(&Bare).await.unwrap_err();
    assert!(error.contains("never prepared"), "{error}");
}
