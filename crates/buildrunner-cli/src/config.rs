//! The configuration file: `[queues.<name>]` tables naming a backend and its options.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use buildrunner_api::{QueueConfig, registry};

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

#[derive(Debug)]
struct Queue {
    backend: String,
    options: serde_json::Value,
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

    /// Parses TOML text; `source` names it in messages.
    pub fn parse(source: String, text: &str) -> Result<Config, CliError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{column}")
                })
                .unwrap_or_default();
            usage(format!(
                "{source}{at}: invalid TOML: {}",
                one_line(e.message())
            ))
        })?;
        let mut queues = BTreeMap::new();
        for (key, value) in table {
            if key != "queues" {
                return Err(usage(format!(
                    "{source}: unknown top-level key `{key}` (queues are `[queues.<name>]` tables)"
                )));
            }
            let toml::Value::Table(entries) = value else {
                return Err(usage(format!(
                    "{source}: `queues` must be a table of `[queues.<name>]` tables"
                )));
            };
            for (name, queue) in entries {
                let toml::Value::Table(mut queue) = queue else {
                    return Err(usage(format!("{source}: queue `{name}` must be a table")));
                };
                let backend = match queue.remove("backend") {
                    Some(toml::Value::String(backend)) => backend,
                    Some(_) => {
                        return Err(usage(format!(
                            "{source}: queue `{name}`: key `backend` must be a string"
                        )));
                    }
                    None => {
                        return Err(usage(format!(
                            "{source}: queue `{name}`: missing key `backend`"
                        )));
                    }
                };
                let options = serde_json::to_value(&queue).map_err(|e| {
                    usage(format!(
                        "{source}: queue `{name}`: options cannot be read: {e}"
                    ))
                })?;
                queues.insert(name, Queue { backend, options });
            }
        }
        Ok(Config { source, queues })
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
            QueueConfig::new(name, queue.options.clone()),
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
            ("[queues.main]\nbackend = \n", "t.toml:2:"),
            (
                "[queues.main]\norganization = \"acme\"\n",
                "queue `main`: missing key `backend`",
            ),
            (
                "[queues.main]\nbackend = 3\n",
                "key `backend` must be a string",
            ),
            (
                "[queue.main]\nbackend = \"noop\"\n",
                "unknown top-level key `queue`",
            ),
            ("queues = 3\n", "`queues` must be a table"),
        ];
        for (text, needle) in cases {
            let error = Config::parse("t.toml".into(), text).unwrap_err();
            assert_eq!(error.exit, Exit::Usage);
            assert!(
                error.message.contains(needle) && !error.message.contains('\n'),
                "{text:?}: {}",
                error.message
            );
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
