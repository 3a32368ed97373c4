//! Property tests of everything in the GitHub Actions backend that parses outside input:
//! run ids, the status mapping and the run decoder. Arbitrary input gives a value or a typed
//! error, never a panic; what is accepted round-trips; no input invents a green verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildrunner_api::{BuildId, BuildStatus, Error};
use buildrunner_github_actions::{GitHubActionsConfig, decode_run_response, map_run};
use proptest::prelude::*;
use serde_json::{Value, json};

const STATUSES: [&str; 8] = [
    "queued",
    "requested",
    "waiting",
    "pending",
    "in_progress",
    "completed",
    "",
    "invented",
];
const CONCLUSIONS: [&str; 10] = [
    "success",
    "failure",
    "cancelled",
    "timed_out",
    "startup_failure",
    "action_required",
    "neutral",
    "skipped",
    "stale",
    "invented",
];

fn config() -> GitHubActionsConfig {
    GitHubActionsConfig::new("acme", "app", "buildrunner.yml").unwrap()
}

/// A field as real runs have it, or anything else JSON can hold.
fn field(real: Vec<&'static str>) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(real).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => ".{0,10}".prop_map(Value::from),
        1 => prop::collection::vec(any::<bool>(), 0..3).prop_map(|v| json!(v)),
    ]
}

/// Run objects close to GitHub's, with every field free to be odd.
fn run_object() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => any::<u64>().prop_map(Value::from), 1 => ".{0,6}".prop_map(Value::from), 1 => Just(Value::Null)],
        field(STATUSES.to_vec()),
        field(CONCLUSIONS.to_vec()),
        prop_oneof![any::<u32>().prop_map(Value::from), ".{0,4}".prop_map(Value::from)],
        ".{0,30}",
    )
        .prop_map(|(id, status, conclusion, attempt, title)| {
            json!({"id": id, "status": status, "conclusion": conclusion, "run_attempt": attempt,
                   "display_title": title, "html_url": "https://github.com/acme/app/actions/runs/1",
                   "pull_requests": [], "actor": null})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn minted_ids_parse_back(run in 1u64..) {
        let ids = config().ids();
        prop_assert_eq!(ids.parse(&ids.format(run)).unwrap(), run);
    }

    #[test]
    fn any_text_parses_to_a_run_or_an_invalid_build_id(text in ".{0,40}") {
        let ids = config().ids();
        match ids.parse(&BuildId::new(text.clone())) {
            Ok(run) => prop_assert!(text.eq_ignore_ascii_case(ids.format(run).as_str())),
            Err(Error::InvalidBuildId { id, .. }) => prop_assert_eq!(id, text),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn near_miss_ids_are_rejected_or_canonical(
        owner in "(acme|acm|ACME|acme2|)",
        repo in "(app|ap|App|app-x|)",
        run in "[-+0-9a-z ]{0,22}",
        extra in "(|/|/x)",
    ) {
        let text = format!("{owner}/{repo}/{run}{extra}");
        let ids = config().ids();
        if let Ok(parsed) = ids.parse(&BuildId::new(text.clone())) {
            prop_assert!(text.eq_ignore_ascii_case(ids.format(parsed).as_str()));
        }
    }

    #[test]
    fn the_mapping_never_invents_a_verdict(status in ".{0,12}", conclusion in proptest::option::of(".{0,12}")) {
        let mapped = map_run(&status, conclusion.as_deref());
        if mapped.is_terminal() {
            prop_assert!(status == "completed" && conclusion.is_some());
        }
        if mapped == BuildStatus::Succeeded {
            prop_assert_eq!(conclusion.as_deref(), Some("success"));
        }
        if !STATUSES[..6].contains(&status.as_str()) {
            prop_assert_eq!(mapped, BuildStatus::Unknown);
        }
    }

    #[test]
    fn arbitrary_bytes_jobs_pages_decode_or_are_protocol_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match buildrunner_github_actions::decode_jobs_response(&bytes) {
            Ok(_) | Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_decode_or_are_protocol_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match decode_run_response(&bytes) {
            Ok(_) | Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn run_like_objects_map_as_the_table_says(value in run_object()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match decode_run_response(&bytes) {
            Ok((id, report)) => {
                prop_assert_eq!(value["id"].as_u64(), Some(id));
                let status = value["status"].as_str().unwrap_or("");
                prop_assert_eq!(report.status, map_run(status, value["conclusion"].as_str()));
                prop_assert_eq!(report.metadata.get("github_run_id"), Some(&id.to_string()));
                prop_assert_eq!(report.metadata.get("github_status").map(String::as_str), value["status"].as_str());
                prop_assert_eq!(
                    report.metadata.get("github_run_attempt").cloned(),
                    value["run_attempt"].as_u64().map(|a| a.to_string())
                );
            }
            Err(Error::Protocol { .. }) => prop_assert!(value["id"].as_u64().is_none()),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
