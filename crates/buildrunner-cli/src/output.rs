//! What the program prints: results on stdout (text, or one JSON object), progress and
//! notices on stderr.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use buildrunner_api::registry::BackendRegistration;
use buildrunner_api::{BuildId, BuildReport, BuildStatus};
use serde_json::json;

/// How results are written on stdout (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON object (or array) for scripts.
    Json,
}

/// Prints results in the format it was made with.
#[derive(Debug)]
pub struct Printer {
    format: OutputFormat,
}

impl Printer {
    pub fn new(format: OutputFormat) -> Printer {
        Printer { format }
    }

    fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (a pipe whose reader left) is not worth a panic.
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// Writes generated text (a completion script, a manual page) as it is, whatever the
    /// output format. A closed stdout is not an error worth a panic, as everywhere here.
    pub fn raw(&self, bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(bytes);
        let _ = stdout.flush();
    }

    pub fn backends(&self, backends: &[&'static BackendRegistration]) {
        if self.json() {
            let list: Vec<_> = backends
                .iter()
                .map(|b| json!({"name": b.name, "summary": b.summary}))
                .collect();
            self.out(&serde_json::Value::Array(list).to_string());
        } else {
            let width = backends.iter().map(|b| b.name.len()).max().unwrap_or(0);
            for backend in backends {
                self.out(&format!("{:width$}  {}", backend.name, backend.summary));
            }
        }
    }

    pub fn triggered(&self, id: &BuildId) {
        if self.json() {
            self.out(&json!({"build_id": id}).to_string());
        } else {
            self.out(id.as_str());
        }
    }

    /// Notes on stderr that `run` started a build, so an interrupted run still says which.
    pub fn started(&self, id: &BuildId) {
        note!("buildrunner: triggered {id}");
    }

    /// Notes the build's web address on stderr as soon as it is known.
    pub fn url(&self, id: &BuildId, url: &str) {
        note!("buildrunner: {id}: {url}");
    }

    pub fn report(&self, id: &BuildId, report: &BuildReport) {
        if self.json() {
            self.out(
                &json!({
                    "build_id": id,
                    "status": report.status,
                    "terminal": report.status.is_terminal(),
                    "metadata": report.metadata,
                })
                .to_string(),
            );
        } else {
            self.out(&format!("{id}: {}", report.status));
            for (key, value) in &report.metadata {
                self.out(&format!("  {key}: {value}"));
            }
        }
    }

    /// The outcome of watching several builds: `{"builds": [...]}` with one status object
    /// per id (in the order given; `unknown` for a build whose status was never read).
    pub fn reports(&self, builds: &[(BuildId, Option<BuildReport>)]) {
        if self.json() {
            let list: Vec<_> = builds
                .iter()
                .map(|(id, report)| match report {
                    Some(report) => json!({
                        "build_id": id,
                        "status": report.status,
                        "terminal": report.status.is_terminal(),
                        "metadata": report.metadata,
                    }),
                    None => json!({
                        "build_id": id, "status": BuildStatus::Unknown, "terminal": false, "metadata": {},
                    }),
                })
                .collect();
            self.out(&json!({ "builds": list }).to_string());
        } else {
            for (id, report) in builds {
                match report {
                    Some(report) => self.out(&format!("{id}: {}", report.status)),
                    None => self.out(&format!("{id}: {} (no status read)", BuildStatus::Unknown)),
                }
            }
        }
    }

    pub fn cancelled(&self, id: &BuildId) {
        if self.json() {
            self.out(&json!({"build_id": id, "cancel_requested": true}).to_string());
        } else {
            self.out(&format!("{id}: cancel requested"));
        }
    }
}

/// A live status line on stderr, only when stderr is a terminal.
#[derive(Debug)]
pub struct Progress {
    live: bool,
    started: Instant,
    frame: usize,
    shown: bool,
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    pub fn new() -> Progress {
        Progress {
            live: std::io::stderr().is_terminal(),
            started: Instant::now(),
            frame: 0,
            shown: false,
        }
    }

    pub fn update(&mut self, id: &BuildId, status: BuildStatus, note: &str) {
        if !self.live {
            return;
        }
        self.frame = (self.frame + 1) % FRAMES.len();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r\x1b[2K{} {id} {status} ({}s){note}",
            FRAMES[self.frame],
            self.started.elapsed().as_secs()
        );
        let _ = stderr.flush();
        self.shown = true;
    }

    /// Clears the line so what follows starts on a clean one.
    pub fn clear(&mut self) {
        if self.shown {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            self.shown = false;
        }
    }
}
