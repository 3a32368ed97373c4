//! Property tests of everything in the Jenkins backend that parses outside input: build ids,
//! trigger `Location`s, the state table, queue items, builds and stages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildrunner_api::{BuildId, BuildStatus, Error};
use buildrunner_jenkins::{
    CountsAs, JenkinsConfig, QueueState, decode_build_response, decode_queue_item_response,
    decode_stages_response, map_build, queue_item_of_location,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const RESULTS: [&str; 7] = [
    "SUCCESS",
    "UNSTABLE",
    "FAILURE",
    "NOT_BUILT",
    "ABORTED",
    "CYCLE",
    "",
];

fn maybe_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(RESULTS.to_vec()).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i32>().prop_map(Value::from),
    ]
}

fn build_object() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => (1u64..10_000).prop_map(Value::from), 1 => ".{0,4}".prop_map(Value::from)],
        prop_oneof![any::<bool>().prop_map(Value::from), Just(Value::Null), ".{0,3}".prop_map(Value::from)],
        maybe_text(),
    )
        .prop_map(|(number, building, result)| json!({"number": number, "building": building, "result": result, "actions": [{}, {"parameters": [{"name": "SQ_METADATA", "value": "{}"}]}]}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn minted_ids_parse_back(queue_id in 1u64.., nested in any::<bool>()) {
        let job = if nested { "platform/sub/app" } else { "app" };
        let ids = JenkinsConfig::new("https://ci.example.com/", job, "bot").unwrap().ids();
        prop_assert_eq!(ids.parse(&ids.format(queue_id)).unwrap(), queue_id);
    }

    #[test]
    fn any_text_is_a_queue_item_of_this_job_or_an_invalid_build_id(text in "(platform/app/(queue/)?)?.{0,24}") {
        let ids = JenkinsConfig::new("https://ci.example.com/", "platform/app", "bot").unwrap().ids();
        match ids.parse(&BuildId::new(text.as_str())) {
            Ok(queue_id) => prop_assert_eq!(ids.format(queue_id).as_str().to_owned(), text),
            Err(Error::InvalidBuildId { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn a_location_names_its_queue_item_whatever_the_host(host in "[a-z0-9.:-]{1,20}", root in "(/[a-z]{1,6}){0,2}", n in 1u64.., slash in any::<bool>()) {
        let location = format!("http://{host}{root}/queue/item/{n}{}", if slash { "/" } else { "" });
        prop_assert_eq!(queue_item_of_location(&location), Some(n));
        prop_assert_eq!(queue_item_of_location(&format!("http://{host}{root}/job/app/{n}/")), None);
    }

    #[test]
    fn a_building_build_is_never_terminal(result in maybe_text(), unstable in any::<bool>()) {
        let unstable = if unstable { CountsAs::Succeeded } else { CountsAs::Failed };
        prop_assert_eq!(map_build(true, result.as_str(), unstable), BuildStatus::Running);
    }

    #[test]
    fn builds_decode_to_the_table_or_a_protocol_error(value in build_object()) {
        let body = serde_json::to_vec(&value).unwrap();
        match decode_build_response(&body, 42, CountsAs::Failed) {
            Ok((number, report)) => {
                prop_assert_eq!(Some(number), value["number"].as_u64());
                let building = value["building"].as_bool() == Some(true);
                prop_assert_eq!(report.status, map_build(building, value["result"].as_str(), CountsAs::Failed));
                prop_assert_eq!(&report.metadata["jenkins_queue_id"], "42");
            }
            Err(error) => {
                prop_assert!(value["number"].as_u64().is_none());
                prop_assert!(matches!(error, Error::Protocol { .. }), "{:?}", error);
            }
        }
    }

    #[test]
    fn queue_items_are_waiting_until_they_name_a_build(id in 1u64.., number in prop::option::of(1u64..100), cancelled in any::<bool>()) {
        let mut item = json!({"id": id, "cancelled": cancelled, "why": "Waiting for next available executor"});
        if let Some(number) = number {
            item["executable"] = json!({"number": number, "url": "http://internal/job/app/1/"});
        }
        let (state, report) = decode_queue_item_response(&serde_json::to_vec(&item).unwrap()).unwrap();
        match (number, cancelled) {
            (Some(number), _) => prop_assert_eq!(state, QueueState::Started { number }),
            (None, true) => prop_assert_eq!(report.status, BuildStatus::Cancelled),
            (None, false) => prop_assert_eq!(report.status, BuildStatus::Accepted),
        }
    }

    #[test]
    fn any_bytes_decode_or_are_a_protocol_error(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for result in [
            decode_queue_item_response(&bytes).map(drop),
            decode_build_response(&bytes, 1, CountsAs::Failed).map(drop),
            decode_stages_response(&bytes, None, CountsAs::Failed).map(drop),
        ] {
            if let Err(error) = result {
                prop_assert!(matches!(error, Error::Protocol { .. }), "{:?}", error);
            }
        }
    }
}
