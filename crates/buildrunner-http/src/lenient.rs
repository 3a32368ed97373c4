//! Lenient reading of a CI's JSON objects: a field that is missing or of another type reads as
//! absent, so a platform that adds or retypes a field the backend does not rely on breaks
//! nothing. The fields a backend does rely on (a build's number) it checks itself.

use buildrunner_api::{Error, Result};
use serde_json::{Map, Value};

/// The fields of one JSON object, read leniently.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The fields of `value`; `None` when it is not a JSON object.
    pub fn of(value: &'a Value) -> Option<Self> {
        value.as_object().map(Fields)
    }

    /// The string at `key`; `None` when it is missing or not a string.
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    /// The non-negative integer at `key`; `None` when it is missing or not one.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }

    /// The boolean at `key`; `false` when it is missing or not a boolean.
    pub fn flag(&self, key: &str) -> bool {
        self.0.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Parses `body` as JSON and reads it with `read`: the shape of the public
/// `decode_*_response` functions that fuzzers and property tests drive.
///
/// # Errors
///
/// [`Error::Protocol`], saying `"{what} cannot be decoded: …"`, when the body is not JSON or
/// `read` finds no `expected` in it.
pub fn decode_with<T>(
    body: &[u8],
    what: &str,
    expected: &str,
    read: impl FnOnce(&Value) -> Option<T>,
) -> Result<T> {
    let protocol = |detail: String| Error::Protocol {
        message: format!("{what} cannot be decoded: {detail}"),
        source: None,
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| protocol(e.to_string()))?;
    read(&value).ok_or_else(|| protocol(format!("not {expected}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_the_wrong_type_read_as_absent() {
        let value = json!({"name": "x", "count": 3, "wrong": 4, "negative": -1});
        let fields = Fields::of(&value).unwrap();
        assert_eq!(fields.text("name").as_deref(), Some("x"));
        assert_eq!(fields.number("count"), Some(3));
        assert_eq!(fields.text("wrong"), None);
        assert_eq!(fields.number("name"), None);
        assert_eq!(fields.number("negative"), None);
        assert_eq!(fields.text("missing"), None);
        assert!(Fields::of(&json!([1])).is_none());
    }

    #[test]
    fn decode_errors_name_what_and_what_was_expected() {
        let read = |v: &Value| Fields::of(v)?.number("id");
        assert_eq!(
            decode_with(br#"{"id": 7}"#, "the run", "an id", read).unwrap(),
            7
        );
        for (body, detail) in [(&b"{"[..], "EOF"), (br#"{"id": "7"}"#, "not an id")] {
            let error = decode_with(body, "the run", "an id", read).unwrap_err();
            assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
            let message = error.to_string();
            assert!(
                message.contains("the run cannot be decoded") && message.contains(detail),
                "{message}"
            );
        }
    }
}
