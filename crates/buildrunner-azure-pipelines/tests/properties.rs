//! Property tests of everything in the Azure Pipelines backend that parses outside input:
//! build ids, the state table, the build and timeline decoders, keys in build numbers and
//! the rate scheme.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::{Duration, UNIX_EPOCH};

use buildrunner_api::{BuildId, BuildStatus, Error};
use buildrunner_azure_pipelines::{
    AzurePipelinesConfig, CountsAs, RATE_SCHEME, build_number, decode_build_response,
    decode_timeline_response, key_fits_a_build_number, map_status,
};
use buildrunner_http::rate::observe_parts;
use proptest::prelude::*;
use serde_json::{Value, json};

const STATUSES: [&str; 7] = [
    "notStarted",
    "postponed",
    "inProgress",
    "cancelling",
    "completed",
    "none",
    "all",
];
const RESULTS: [&str; 6] = [
    "succeeded",
    "partiallySucceeded",
    "failed",
    "canceled",
    "none",
    "",
];

fn build_object() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => (1u64..1_000_000).prop_map(Value::from), 1 => ".{0,4}".prop_map(Value::from)],
        prop_oneof![4 => prop::sample::select(STATUSES.to_vec()).prop_map(Value::from), 1 => any::<i32>().prop_map(Value::from)],
        prop_oneof![3 => prop::sample::select(RESULTS.to_vec()).prop_map(Value::from), 1 => Just(Value::Null)],
        prop_oneof![Just(json!({"sq_metadata": "{\"pr\":\"7\"}"})), Just(json!({"sq_metadata": "{bad"})), Just(Value::Null)],
    )
        .prop_map(|(id, status, result, parameters)| json!({"id": id, "status": status, "result": result, "templateParameters": parameters}))
}

/// Azure delays (a 2xx with `Retry-After`) before it blocks (429); both waits are read, and the
/// windows of `X-RateLimit-*` per resource.
#[test]
fn a_delayed_answer_serves_and_holds_the_next_request_a_blocked_one_is_refused() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let observe = |status: u16, headers: &[(&str, &str)]| {
        observe_parts(&RATE_SCHEME, status, headers, b"", now)
    };
    let delayed = observe(200, &[("retry-after", "3"), ("x-ratelimit-delay", "2.5")]);
    assert_eq!(
        (delayed.refused, delayed.delay),
        (None, Some(Duration::from_secs(3)))
    );
    let blocked = observe(429, &[("retry-after", "30")]);
    assert_eq!(
        (blocked.refusal_wait(), blocked.delay),
        (Some(Duration::from_secs(30)), None)
    );
    let near = observe(
        200,
        &[
            ("x-ratelimit-resource", "ATCPU"),
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1000060"),
        ],
    );
    assert_eq!(
        (
            near.windows[0].scope.as_str(),
            near.windows[0].remaining,
            near.delay
        ),
        ("ATCPU", 12, None)
    );
    assert_eq!(observe(503, &[("retry-after", "3")]).delay, None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn minted_ids_parse_back(run in 1u64.., spaced in any::<bool>()) {
        let project = if spaced { "Platform Team" } else { "app" };
        let ids = AzurePipelinesConfig::new("acme", project, 4).unwrap().ids();
        prop_assert_eq!(ids.parse(&ids.format(run)).unwrap(), run);
    }

    #[test]
    fn any_text_is_a_run_of_this_pipeline_or_an_invalid_build_id(text in "(acme/app/(4/)?)?.{0,24}") {
        let ids = AzurePipelinesConfig::new("acme", "app", 4).unwrap().ids();
        match ids.parse(&BuildId::new(text.as_str())) {
            Ok(run) => prop_assert_eq!(ids.format(run).as_str().to_owned(), text),
            Err(Error::InvalidBuildId { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn only_a_completed_build_is_terminal(status in prop::sample::select(STATUSES.to_vec()), result in prop::option::of(prop::sample::select(RESULTS.to_vec()))) {
        let mapped = map_status(status, result, CountsAs::Failed);
        if status != "completed" && status != "cancelling" {
            prop_assert!(!mapped.is_terminal() || mapped == BuildStatus::Unknown);
        }
        if mapped == BuildStatus::Succeeded {
            prop_assert_eq!((status, result), ("completed", Some("succeeded")));
        }
    }

    #[test]
    fn builds_decode_to_the_table_or_a_protocol_error(value in build_object()) {
        let body = serde_json::to_vec(&value).unwrap();
        match decode_build_response(&body, CountsAs::Failed) {
            Ok((id, report)) => {
                prop_assert_eq!(Some(id), value["id"].as_u64());
                let want = map_status(value["status"].as_str().unwrap_or(""), value["result"].as_str(), CountsAs::Failed);
                prop_assert_eq!(report.status, want);
            }
            Err(error) => {
                prop_assert!(value["id"].as_u64().is_none());
                prop_assert!(matches!(error, Error::Protocol { .. }), "{:?}", error);
            }
        }
    }

    #[test]
    fn keys_that_fit_make_build_numbers_azure_accepts(key in "[ -~]{0,260}") {
        if key_fits_a_build_number(&key) {
            let number = build_number(&key);
            prop_assert!(number.chars().count() <= 255);
            prop_assert!(!number.contains(['"', '/', ':', '<', '>', '\\', '|', '?', '@', '*']));
            prop_assert!(!number.ends_with('.'));
        }
    }

    #[test]
    fn any_bytes_decode_or_are_a_protocol_error(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for result in [
            decode_build_response(&bytes, CountsAs::Failed).map(drop),
            decode_timeline_response(&bytes, CountsAs::Failed).map(drop),
        ] {
            if let Err(error) = result {
                prop_assert!(matches!(error, Error::Protocol { .. }), "{:?}", error);
            }
        }
    }

    #[test]
    fn rate_waits_stay_within_the_cap(status in 100u16..600, retry_after in "[0-9]{0,8}|-1|x") {
        let observed = observe_parts(&RATE_SCHEME, status, &[("retry-after", &retry_after)], b"", UNIX_EPOCH);
        let cap = Duration::from_secs(3600);
        prop_assert!(observed.delay.is_none_or(|d| d <= cap));
        prop_assert!(observed.refusal_wait().is_none_or(|d| d <= cap));
        prop_assert!(observed.delay.is_none() || observed.refused.is_none());
    }
}
