//! Property tests of everything in the Buildkite backend that parses outside input: build
//! ids, `SQ_METADATA`, the state mapping and the build decoder. Arbitrary input must give a
//! value or a typed error, never a panic, and what is accepted must round-trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildrunner_api::{BuildId, BuildMetadata, BuildStatus, Error};
use buildrunner_buildkite::{
    BuildkiteConfig, STATE_TABLE, decode_build_response, decode_caller_metadata, map_state,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> BuildkiteConfig {
    BuildkiteConfig::new("acme", "monorepo").unwrap()
}

/// Arbitrary JSON, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The states of the one state table, for generated build objects.
fn states() -> Vec<&'static str> {
    STATE_TABLE.iter().map(|(state, _, _)| *state).collect()
}

/// Build objects close to real ones, with every field free to be odd.
fn build_object() -> impl Strategy<Value = Value> {
    (
        prop_oneof![any::<u64>().prop_map(Value::from), json_value()],
        prop_oneof![prop::sample::select(states()).prop_map(Value::from), json_value()],
        json_value(),
        prop_oneof![json_value(), prop::collection::btree_map("[A-Z_]{1,12}", json_value(), 0..4).prop_map(|m| json!(m))],
        json_value(),
    )
        .prop_map(|(number, state, blocked, env, extra)| {
            json!({"number": number, "state": state, "blocked": blocked, "env": env, "web_url": extra.clone(), "author": extra})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn minted_ids_parse_back(number in 1u64..) {
        let config = config();
        prop_assert_eq!(config.parse_build_id(&config.build_id(number)).unwrap(), number);
    }

    #[test]
    fn any_text_parses_to_a_number_or_an_invalid_build_id(text in ".{0,40}") {
        let config = config();
        match config.parse_build_id(&BuildId::new(text.clone())) {
            Ok(number) => prop_assert_eq!(config.build_id(number).to_string(), text, "only canonical ids parse"),
            Err(Error::InvalidBuildId { id, .. }) => prop_assert_eq!(id, text),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn near_miss_ids_are_rejected_or_canonical(
        org in "(acme|acm|ACME|acme2|)",
        pipeline in "(monorepo|mono|monorepo-x|)",
        number in "[-+0-9a-z ]{0,22}",
        extra in "(|/|/x)",
    ) {
        let text = format!("{org}/{pipeline}/{number}{extra}");
        let config = config();
        if let Ok(parsed) = config.parse_build_id(&BuildId::new(text.clone())) {
            prop_assert_eq!(config.build_id(parsed).to_string(), text);
        }
    }

    #[test]
    fn caller_metadata_decodes_or_is_none(text in ".{0,64}") {
        if let Some(metadata) = decode_caller_metadata(&text) {
            let again = decode_caller_metadata(&serde_json::to_string(&metadata).unwrap());
            prop_assert_eq!(again, Some(metadata));
        }
    }

    #[test]
    fn caller_metadata_round_trips(metadata in prop::collection::btree_map(".{0,16}", ".{0,32}", 0..8)) {
        let metadata: BuildMetadata = metadata;
        let text = serde_json::to_string(&metadata).unwrap();
        prop_assert_eq!(decode_caller_metadata(&text), Some(metadata));
    }

    #[test]
    fn the_state_mapping_follows_the_table_and_never_invents_a_verdict(
        state in prop_oneof![prop::sample::select(states()).prop_map(str::to_owned), ".{0,16}"],
        blocked in any::<bool>(),
    ) {
        let status = map_state(&state, blocked);
        match STATE_TABLE.iter().find(|(s, b, _)| *s == state && *b == blocked) {
            Some((_, _, expected)) => prop_assert_eq!(status, *expected),
            None if !states().contains(&state.as_str()) => prop_assert_eq!(status, BuildStatus::Unknown),
            // A known state with the other flag: only `passed` depends on it.
            None => prop_assert_eq!(status == BuildStatus::Succeeded, state == "passed" && !blocked),
        }
    }

    #[test]
    fn arbitrary_json_jobs_pages_decode_or_are_protocol_errors(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match buildrunner_buildkite::decode_jobs_response(&bytes) {
            Ok(jobs) => {
                let listed = value.get("jobs").and_then(Value::as_array).map_or(0, Vec::len);
                prop_assert_eq!(jobs.len(), listed);
                for job in jobs.iter().filter(|j| j.report.failed()) {
                    prop_assert_eq!(buildrunner_buildkite::job_status(job.report.detail.as_deref().unwrap_or("")), BuildStatus::Failed);
                }
            }
            Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_decode_or_are_protocol_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match decode_build_response(&bytes) {
            Ok(_) => {}
            Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn arbitrary_json_decodes_or_is_a_protocol_error(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match decode_build_response(&bytes) {
            Ok((number, _)) => prop_assert_eq!(value.get("number").and_then(Value::as_u64), Some(number)),
            Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn build_like_objects_map_as_the_state_table_says(value in build_object()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match decode_build_response(&bytes) {
            Ok((number, report)) => {
                prop_assert_eq!(value["number"].as_u64(), Some(number));
                let state = value["state"].as_str().unwrap_or("");
                let blocked = value["blocked"].as_bool().unwrap_or(false);
                prop_assert_eq!(report.status, map_state(state, blocked));
                prop_assert_eq!(report.metadata.get("number"), Some(&number.to_string()));
                prop_assert_eq!(report.metadata.get("buildkite_state").map(String::as_str), Some(state));
            }
            Err(Error::Protocol { .. }) => prop_assert!(value["number"].as_u64().is_none()),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
