//! What backends that send named string parameters share (Jenkins' job parameters, Azure
//! Pipelines' runtime parameters): the queue options that name the key parameter and add
//! more parameters, and what an in-between result counts as.

use std::collections::BTreeMap;
use std::future::Future;

use buildrunner_api::{Capabilities, Result, TriggerRequest};
use serde::Deserialize;

use crate::HttpOptionKeys;

/// The names of the change contract every backend sends (as env vars, variables or job
/// parameters): the base URIs, the head URIs (JSON arrays), the queue and the caller
/// metadata (a JSON object).
pub mod sq {
    /// The JSON array of every base URI.
    pub const BASE_URIS: &str = "SQ_BASE_URIS";
    /// The JSON array of every head URI.
    pub const HEAD_URIS: &str = "SQ_HEAD_URIS";
    /// The queue name.
    pub const QUEUE: &str = "SQ_QUEUE";
    /// The caller metadata, a JSON object.
    pub const METADATA: &str = "SQ_METADATA";
    /// All four, in the order they are sent.
    pub const NAMES: [&str; 4] = [BASE_URIS, HEAD_URIS, QUEUE, METADATA];
}

/// `key_parameter` and `extra_parameters` of a queue, and the shared options after them,
/// flattened into a backend's options as its last field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ParameterKeys {
    /// The parameter that carries the idempotency key; `""` turns keys off.
    #[serde(default)]
    pub key_parameter: Option<String>,
    /// More string parameters sent with every trigger.
    #[serde(default)]
    pub extra_parameters: BTreeMap<String, String>,
    /// The shared options; after the two keys above, so it refuses only what is left over.
    #[serde(flatten)]
    pub http: HttpOptionKeys,
}

/// `declared`, with `idempotent_trigger` only when `key` names the parameter a trigger stamps
/// its key into: a CI that keeps no key of its own finds a repeated trigger only through it.
pub fn keyed_capabilities(declared: Capabilities, key: Option<&str>) -> Capabilities {
    Capabilities {
        idempotent_trigger: key.is_some(),
        ..declared
    }
}

/// What a trigger sends as its key, or the build an earlier trigger with the same key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedTrigger<T> {
    /// An earlier trigger with this idempotency key made this build: send nothing.
    Found(T),
    /// Send the trigger with this key: the idempotency key, or a fresh [`dispatch_id`]
    /// (so its outcome can be looked up, and a CI that merges identical requests never
    /// merges two); `None` with keys off.
    ///
    /// [`dispatch_id`]: crate::dispatch_id
    Send(Option<String>),
}

/// The key step of a trigger, the same for every CI that stamps a key into its builds:
/// with keys off nothing; with an idempotency key, `find` it first (a repeat returns the
/// earlier build); without one, a fresh dispatch id.
///
/// # Errors
///
/// Whatever `find` fails with.
pub async fn keyed_trigger<T, F, Fut>(
    keys_on: bool,
    request: &TriggerRequest,
    find: F,
) -> Result<KeyedTrigger<T>>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    if !keys_on {
        return Ok(KeyedTrigger::Send(None));
    }
    let Some(key) = request.idempotency_key() else {
        return Ok(KeyedTrigger::Send(Some(crate::dispatch_id())));
    };
    Ok(match find(key.to_owned()).await? {
        Some(found) => {
            tracing::info!("idempotency key already used; returning its build");
            KeyedTrigger::Found(found)
        }
        None => KeyedTrigger::Send(Some(key.to_owned())),
    })
}

impl ParameterKeys {
    /// The key parameter: the configured one (`None` when set to `""`), else `default`.
    pub fn key_parameter_or(&self, default: &str) -> Option<String> {
        match &self.key_parameter {
            Some(name) => (!name.is_empty()).then(|| name.clone()),
            None => Some(default.to_owned()),
        }
    }

    /// The extra parameters, refused when one reuses a name the backend sends itself
    /// (`ours`) or is empty.
    ///
    /// # Errors
    ///
    /// A sentence naming the parameter.
    pub fn extra_parameters<'a>(
        &self,
        ours: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, String>, String> {
        let ours: Vec<&str> = ours.into_iter().collect();
        match self
            .extra_parameters
            .keys()
            .find(|k| k.is_empty() || ours.contains(&k.as_str()))
        {
            Some(clash) => Err(format!(
                "extra_parameters may not set {clash:?}: buildrunner sends it itself"
            )),
            None => Ok(self.extra_parameters.clone()),
        }
    }
}

/// What an in-between result counts as: Jenkins' `UNSTABLE` (tests failed, the build did
/// not), Azure Pipelines' `partiallySucceeded` (a step failed with `continueOnError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountsAs {
    /// `Failed`: something failed, so a merge queue does not merge (the default).
    #[default]
    Failed,
    /// `Succeeded`: for pipelines whose in-between results are advisory.
    Succeeded,
}

impl CountsAs {
    /// The status an in-between result has under this choice.
    pub fn status(self) -> buildrunner_api::BuildStatus {
        match self {
            CountsAs::Failed => buildrunner_api::BuildStatus::Failed,
            CountsAs::Succeeded => buildrunner_api::BuildStatus::Succeeded,
        }
    }
}

/// Sets `key` in a report's metadata, or removes it when `value` is `None` (so a backend's
/// own key never keeps a caller's value of the same name).
pub fn put_metadata(
    metadata: &mut buildrunner_api::BuildMetadata,
    key: &str,
    value: Option<String>,
) {
    match value {
        Some(value) => {
            metadata.insert(key.to_owned(), value);
        }
        None => {
            metadata.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_options_refuse_only_what_the_parameter_keys_left() {
        let keys: ParameterKeys = serde_json::from_value(serde_json::json!({
            "key_parameter": "K", "extra_parameters": {"A": "b"}, "max_retries": 2,
        }))
        .unwrap();
        assert!(keys.http.resolve().is_ok(), "{keys:?}");
        let unknown: ParameterKeys =
            serde_json::from_value(serde_json::json!({"key_parameter": "K", "colour": 1})).unwrap();
        let refused = unknown.http.resolve().unwrap_err();
        assert!(
            refused.contains("colour") && !refused.contains("key_parameter"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_keyed_trigger_finds_the_earlier_build_or_stamps_a_key() {
        let keyed = TriggerRequest::builder()
            .head(buildrunner_api::Change::new(["https://x/1"]))
            .idempotency_key("k-1")
            .build()
            .unwrap();
        let unkeyed =
            TriggerRequest::new(vec![buildrunner_api::Change::new(["https://x/1"])]).unwrap();
        let found = |answer: Option<u64>| {
            move |key: String| async move {
                assert_eq!(key, "k-1");
                Ok(answer)
            }
        };
        assert_eq!(
            keyed_trigger(true, &keyed, found(Some(7))).await.unwrap(),
            KeyedTrigger::Found(7)
        );
        assert_eq!(
            keyed_trigger(true, &keyed, found(None)).await.unwrap(),
            KeyedTrigger::Send(Some("k-1".to_owned()))
        );
        let never = |_: String| async { panic!("no look-up without a key") };
        match keyed_trigger::<u64, _, _>(true, &unkeyed, never)
            .await
            .unwrap()
        {
            KeyedTrigger::Send(Some(id)) => assert_eq!(id.len(), 32),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            keyed_trigger::<u64, _, _>(false, &keyed, never)
                .await
                .unwrap(),
            KeyedTrigger::Send(None)
        );
    }

    #[test]
    fn the_key_parameter_defaults_and_turns_off_and_extras_may_not_clash() {
        let keys = |json: serde_json::Value| serde_json::from_value::<ParameterKeys>(json).unwrap();
        assert_eq!(
            keys(serde_json::json!({})).key_parameter_or("K").as_deref(),
            Some("K")
        );
        assert_eq!(
            keys(serde_json::json!({"key_parameter": ""})).key_parameter_or("K"),
            None
        );
        let extras = keys(serde_json::json!({"extra_parameters": {"DEPLOY": "no"}}));
        assert_eq!(
            extras.extra_parameters(["SQ_QUEUE"]).unwrap()["DEPLOY"],
            "no"
        );
        let clash = keys(serde_json::json!({"extra_parameters": {"SQ_QUEUE": "x"}}));
        assert!(
            clash
                .extra_parameters(["SQ_QUEUE"])
                .unwrap_err()
                .contains("SQ_QUEUE")
        );
        let mut metadata = buildrunner_api::BuildMetadata::new();
        put_metadata(&mut metadata, "url", Some("u".into()));
        put_metadata(&mut metadata, "url", None);
        assert!(metadata.is_empty());
        assert_eq!(
            CountsAs::default().status(),
            buildrunner_api::BuildStatus::Failed
        );
    }
}
