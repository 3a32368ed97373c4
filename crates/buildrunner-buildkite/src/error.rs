//! Buildkite's error body, as far as the backend reads it: a 429 names the scope whose
//! limit was hit and the seconds until it resets.

use serde::Deserialize;

/// `{"message": "...", "scope": "rest", "reset": 42}`; other fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    /// On a 429: `rest` (organization limit) or `rest_user` (per-user limit).
    #[serde(default)]
    pub scope: Option<String>,
    /// On a 429: seconds until the limit resets.
    #[serde(default)]
    pub reset: Option<f64>,
}

impl ErrorBody {
    /// Decodes an error body; anything that is not such a JSON object (an HTML error page,
    /// nothing at all) gives an empty one.
    pub fn parse(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body).unwrap_or_default()
    }
}
