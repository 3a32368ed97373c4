//! Property tests of everything in the GitLab backend that parses outside input: pipeline
//! ids, the status mapping, the pipeline decoder and the variables' caller metadata.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use buildrunner_api::{BuildId, BuildMetadata, BuildStatus, Error};
use buildrunner_gitlab::{GitLabConfig, caller_metadata, decode_pipeline_response, map_status};
use proptest::prelude::*;
use serde_json::{Value, json};

const STATUSES: [&str; 14] = [
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "scheduled",
    "running",
    "manual",
    "success",
    "failed",
    "skipped",
    "canceled",
    "canceling",
    "waiting_for_callback",
    "",
];

fn pipeline_object() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => any::<u64>().prop_map(Value::from), 1 => ".{0,6}".prop_map(Value::from), 1 => Just(Value::Null)],
        prop_oneof![4 => prop::sample::select(STATUSES.to_vec()).prop_map(Value::from), 1 => any::<i32>().prop_map(Value::from), 1 => ".{0,8}".prop_map(Value::from)],
        prop_oneof![".{0,12}".prop_map(Value::from), Just(Value::Null), any::<bool>().prop_map(Value::from)],
    )
        .prop_map(|(id, status, web_url)| json!({"id": id, "status": status, "web_url": web_url, "ref": "main", "user": null}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn minted_ids_parse_back(pipeline in 1u64.., nested in any::<bool>()) {
        let project = if nested { "acme/platform/app" } else { "278964" };
        let config = GitLabConfig::new(project).unwrap();
        let ids = config.ids();
        prop_assert_eq!(ids.parse(&ids.format(pipeline)).unwrap(), pipeline);
    }

    #[test]
    fn any_text_parses_to_a_pipeline_of_this_project_or_an_invalid_build_id(text in "(acme/(platform/)?app/)?.{0,24}") {
        let ids = GitLabConfig::new("acme/platform/app").unwrap().ids();
        match ids.parse(&BuildId::new(text.clone())) {
            Ok(pipeline) => prop_assert_eq!(ids.format(pipeline).to_string(), text),
            Err(Error::InvalidBuildId { id, .. }) => prop_assert_eq!(id, text),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn the_mapping_never_invents_a_verdict(status in ".{0,24}") {
        let mapped = map_status(&status);
        if mapped == BuildStatus::Succeeded {
            prop_assert_eq!(status.as_str(), "success");
        }
        if mapped.is_terminal() {
            prop_assert!(["success", "failed", "skipped", "canceled", "canceling"].contains(&status.as_str()));
        }
        if !STATUSES[..12].contains(&status.as_str()) {
            prop_assert_eq!(mapped, BuildStatus::Unknown);
        }
    }

    #[test]
    fn arbitrary_bytes_jobs_pages_decode_or_are_protocol_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match buildrunner_gitlab::decode_jobs_response(&bytes) {
            Ok(_) | Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_decode_or_are_protocol_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match decode_pipeline_response(&bytes) {
            Ok(_) | Err(Error::Protocol { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn pipeline_like_objects_map_as_the_table_says(value in pipeline_object()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match decode_pipeline_response(&bytes) {
            Ok((id, report)) => {
                prop_assert_eq!(value["id"].as_u64(), Some(id));
                prop_assert_eq!(report.status, map_status(value["status"].as_str().unwrap_or("")));
                prop_assert_eq!(report.metadata.get("gitlab_pipeline_id"), Some(&id.to_string()));
                prop_assert_eq!(report.metadata.get("url").map(String::as_str), value["web_url"].as_str());
            }
            Err(Error::Protocol { .. }) => prop_assert!(value["id"].as_u64().is_none()),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn caller_metadata_round_trips_or_is_empty(metadata in prop::collection::btree_map(".{0,12}", ".{0,24}", 0..6), corrupt in ".{0,24}") {
        let metadata: BuildMetadata = metadata;
        let variables = json!([{"key": "SQ_METADATA", "value": serde_json::to_string(&metadata).unwrap()}]);
        prop_assert_eq!(caller_metadata(&variables), metadata);
        let corrupt = json!([{"key": "SQ_METADATA", "value": corrupt.clone()}]);
        let decoded = caller_metadata(&corrupt);
        prop_assert!(decoded.is_empty() || serde_json::from_str::<BuildMetadata>(&corrupt_value(&corrupt)).is_ok());
    }
}

fn corrupt_value(variables: &Value) -> String {
    variables[0]["value"].as_str().unwrap().to_owned()
}
