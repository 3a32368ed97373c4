//! What backends that send named string parameters share (Jenkins' job parameters, Azure
//! Pipelines' runtime parameters): the queue options that name the key parameter and add
//! more parameters, and what an in-between result counts as.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `key_parameter` and `extra_parameters` of a queue, flattened into a backend's options.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ParameterKeys {
    /// The parameter that carries the idempotency key; `""` turns keys off.
    #[serde(default)]
    pub key_parameter: Option<String>,
    /// More string parameters sent with every trigger.
    #[serde(default)]
    pub extra_parameters: BTreeMap<String, String>,
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
