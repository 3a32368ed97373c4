//! The configuration file: `[queues.<name>]` tables naming a backend and its options.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use buildrunner_api::{QueueConfig, registry};
use serde::Deserialize;

use crate::exit::{CliError, Exit};

/// The configuration used when neither `--config` nor `$BUILDRUNNER_CONFIG` names a file and
/// there is no `./buildrunner.toml`: the repository's own, with the `demo` queue on `noop`.
/// The crate's own copy, so the published crate carries it; the repository root keeps the same
/// file for newcomers (a test checks the two agree).
const EMBEDDED: &str = include_str!("../buildrunner.toml");

/// The file looked for in the current directory.
const DEFAULT_PATH: &str = "buildrunner.toml";

/// A loaded configuration.
#[derive(Debug)]
pub struct Config {
    /// Where it came from, for messages: a path or `<embedded default>`.
    source: String,
    queues: BTreeMap<String, Queue>,
}

/// The file as written: only `[queues.<name>]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    queues: BTreeMap<String, Queue>,
}

/// One `[queues.<name>]` table: the backend's name and, flattened, the backend's own options
/// (each backend reads and checks those itself when the queue is used).
#[derive(Debug, Deserialize)]
struct Queue {
    backend: String,
    #[serde(flatten)]
    options: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Loads the file `explicit` names (from `--config` or `$BUILDRUNNER_CONFIG`), else
    /// `./buildrunner.toml`, else the embedded default.
    pub fn load(explicit: Option<&Path>) -> Result<Config, CliError> {
        let (source, text) = match explicit {
            Some(path) => (path.display().to_string(), read(path)?),
            None if Path::new(DEFAULT_PATH).exists() => {
                (DEFAULT_PATH.to_owned(), read(Path::new(DEFAULT_PATH))?)
            }
            None => {
                tracing::debug!("no {DEFAULT_PATH}; using the embedded default configuration");
                ("<embedded default>".to_owned(), EMBEDDED.to_owned())
            }
        };
        Config::parse(source, &text)
    }

    /// Parses TOML text; `source` names it in messages, with the line and column of the
    /// mistake, the queue it is in and the key.
    pub fn parse(source: String, text: &str) -> Result<Config, CliError> {
        let located = |error: &toml::de::Error| match error.span() {
            Some(span) => format!("{source}{}", position(text, span.start)),
            None => source.clone(),
        };
        let document = toml::Deserializer::parse(text)
            .map_err(|e| usage(format!("{}: {}", located(&e), one_line(e.message()))))?;
        let file: ConfigFile = serde_path_to_error::deserialize(document).map_err(|e| {
            let inner = e.inner();
            usage(format!(
                "{}: {}{}",
                located(inner),
                where_in_file(e.path()),
                one_line(inner.message())
            ))
        })?;
        Ok(Config {
            source,
            queues: file.queues,
        })
    }

    /// Where the configuration came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The backend name and the backend configuration of a queue.
    pub fn queue(&self, name: &str) -> Result<(&str, QueueConfig), CliError> {
        let queue = self.queues.get(name).ok_or_else(|| {
            let defined: Vec<_> = self.queues.keys().map(String::as_str).collect();
            let closest = registry::closest_name(name, defined.iter().copied())
                .map(|queue| format!(" (did you mean `{queue}`?)"))
                .unwrap_or_default();
            let defined = if defined.is_empty() {
                "none".to_owned()
            } else {
                defined.join(", ")
            };
            usage(format!(
                "{}: queue `{name}` is not defined{closest}; defined queues: {defined}",
                self.source
            ))
        })?;
        Ok((
            &queue.backend,
            QueueConfig::new(name, serde_json::Value::Object(queue.options.clone())),
        ))
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_owned(),
            _ => e.to_string(),
        };
        usage(format!(
            "config file {}: {why}",
            PathBuf::from(path).display()
        ))
    })
}

/// `:line:column` of a byte offset, 1-based, for messages.
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(":{line}:{column}")
}

/// `queue `main`: key `backend`: ` for a path such as `queues.main.backend`; empty at the top.
fn where_in_file(path: &serde_path_to_error::Path) -> String {
    let keys: Vec<String> = path.iter().map(ToString::to_string).collect();
    match &keys[..] {
        [] => String::new(),
        [first] if first == "?" => String::new(),
        [queues, name, rest @ ..] if queues == "queues" => match rest {
            [] => format!("queue `{name}`: "),
            _ => format!("queue `{name}`: key `{}`: ", rest.join(".")),
        },
        _ => format!("key `{}`: ", keys.join(".")),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn usage(message: String) -> CliError {
    CliError::new(Exit::Usage, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_has_the_demo_queue_on_noop() {
        let config = Config::parse("<embedded default>".into(), EMBEDDED).unwrap();
        let (backend, queue) = config.queue("demo").unwrap();
        assert_eq!(backend, "noop");
        assert_eq!(queue.queue, "demo");
    }

    #[test]
    fn options_are_every_key_but_backend() {
        let config = Config::parse(
            "t.toml".into(),
            "[queues.main]\nbackend = \"buildkite\"\norganization = \"acme\"\nmax_retries = 3\n",
        )
        .unwrap();
        let (backend, queue) = config.queue("main").unwrap();
        assert_eq!(backend, "buildkite");
        assert_eq!(
            queue.options,
            serde_json::json!({"organization": "acme", "max_retries": 3})
        );
    }

    #[test]
    fn errors_name_the_file_the_queue_and_the_key() {
        let cases = [
            (
                "[queues.main]\nbackend = \n",
                "t.toml:2:11: string values must be quoted, expected literal string",
            ),
            (
                "[queues.main]\norganization = \"acme\"\n",
                "t.toml:1:1: queue `main`: missing field `backend`",
            ),
            (
                "[queues.main]\nbackend = 3\n",
                "t.toml:2:11: queue `main`: key `backend`: invalid type: integer `3`, expected a string",
            ),
            (
                "[queues]\nmain = \"noop\"\n",
                "t.toml:2:8: queue `main`: invalid type: string \"noop\", expected struct Queue",
            ),
            (
                "[queue.main]\nbackend = \"noop\"\n",
                "t.toml:1:2: key `queue`: unknown field `queue`, expected `queues`",
            ),
            (
                "queues = 3\n",
                "t.toml:1:10: key `queues`: invalid type: integer `3`, expected a map",
            ),
        ];
        for (text, expected) in cases {
            let error = Config::parse("t.toml".into(), text).unwrap_err();
            assert_eq!(error.exit, Exit::Usage);
            assert_eq!(error.message, expected, "{text:?}");
        }
        let config = Config::parse("t.toml".into(), "[queues.a]\nbackend = \"noop\"\n").unwrap();
        let error = config.queue("b").unwrap_err();
        assert!(
            error
                .message
                .contains("queue `b` is not defined; defined queues: a"),
            "{}",
            error.message
        );
    }
}
