//! What the program prints: results on stdout (text, or one JSON object), progress and
//! notices on stderr.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use buildrunner_api::registry::BackendRegistration;
use buildrunner_api::{BuildId, BuildReport, BuildStatus, JobReport, failed_first};
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
        self.verdict(id, report, None);
    }

    /// A build's status, and for a failed verdict the jobs that failed: in JSON the status
    /// object with `"jobs"` and `"attempt"` (where the CI counts); in text up to
    /// [`FAILED_JOBS_SHOWN`] failed jobs with their urls, then how many more.
    pub fn verdict(&self, id: &BuildId, report: &BuildReport, failed_jobs: Option<&[JobReport]>) {
        if self.json() {
            self.out(&status_json(id, Some(report), failed_jobs).to_string());
            return;
        }
        self.out(&format!("{id}: {}", report.status));
        for (key, value) in &report.metadata {
            self.out(&format!("  {key}: {value}"));
        }
        for line in failed_job_lines(failed_jobs.unwrap_or_default()) {
            self.out(&line);
        }
    }

    /// A build's jobs, failed first, one line each: status, name, url and the CI's reason.
    pub fn jobs(&self, id: &BuildId, jobs: &[JobReport]) {
        let mut jobs = jobs.to_vec();
        failed_first(&mut jobs);
        if self.json() {
            self.out(&json!({"build_id": id, "jobs": jobs_json(&jobs)}).to_string());
            return;
        }
        if jobs.is_empty() {
            self.out(&format!("{id}: no jobs"));
        }
        let width = jobs.iter().map(|j| j.name.len()).max().unwrap_or(0);
        for job in &jobs {
            let mut line = format!("{:9}  {:width$}", job.status.as_str(), job.name);
            if let Some(url) = &job.url {
                line.push_str(&format!("  {url}"));
            }
            if let Some(detail) = &job.detail {
                line.push_str(&format!("  ({detail})"));
            }
            self.out(line.trim_end());
        }
    }

    /// The CI accepted a retry of the failed jobs.
    pub fn retry_requested(&self, id: &BuildId) {
        if self.json() {
            self.out(&json!({"build_id": id, "retry_requested": true}).to_string());
        } else {
            self.out(&format!("{id}: retry of the failed jobs requested"));
        }
    }

    /// The outcome of watching several builds: `{"builds": [...]}` with one status object
    /// per id (in the order given; `unknown` for a build whose status was never read).
    pub fn reports(&self, builds: &[Watched]) {
        if self.json() {
            let list: Vec<_> = builds
                .iter()
                .map(|w| status_json(&w.id, w.report.as_ref(), w.failed_jobs.as_deref()))
                .collect();
            self.out(&json!({ "builds": list }).to_string());
        } else {
            for watched in builds {
                match &watched.report {
                    Some(report) => self.out(&format!("{}: {}", watched.id, report.status)),
                    None => self.out(&format!(
                        "{}: {} (no status read)",
                        watched.id,
                        BuildStatus::Unknown
                    )),
                }
                for line in failed_job_lines(watched.failed_jobs.as_deref().unwrap_or_default()) {
                    self.out(&line);
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

/// One build of a `watch` of several: its last report (if any was read) and, for a failed
/// verdict, its failed jobs.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The build.
    pub id: BuildId,
    /// Its last report.
    pub report: Option<BuildReport>,
    /// Its failed jobs, where they were read.
    pub failed_jobs: Option<Vec<JobReport>>,
}

/// How many failed jobs a text verdict lists before "and N more".
pub const FAILED_JOBS_SHOWN: usize = 5;

fn jobs_json(jobs: &[JobReport]) -> serde_json::Value {
    jobs.iter()
        .map(|j| json!({"name": j.name, "status": j.status, "url": j.url, "detail": j.detail}))
        .collect()
}

/// The status object of the JSON output: `build_id`, `status`, `terminal`, `metadata`, and
/// `attempt` and `jobs` where known.
fn status_json(
    id: &BuildId,
    report: Option<&BuildReport>,
    failed_jobs: Option<&[JobReport]>,
) -> serde_json::Value {
    let mut object = match report {
        Some(report) => json!({
            "build_id": id,
            "status": report.status,
            "terminal": report.status.is_terminal(),
            "metadata": report.metadata,
        }),
        None => json!({
            "build_id": id, "status": BuildStatus::Unknown, "terminal": false, "metadata": {},
        }),
    };
    if let Some(attempt) = report.and_then(BuildReport::attempt) {
        object["attempt"] = json!(attempt);
    }
    if let Some(jobs) = failed_jobs {
        object["jobs"] = jobs_json(jobs);
    }
    object
}

/// The lines that name a verdict's failed jobs.
fn failed_job_lines(jobs: &[JobReport]) -> Vec<String> {
    let mut lines: Vec<String> = jobs
        .iter()
        .take(FAILED_JOBS_SHOWN)
        .map(|job| {
            let mut line = format!("  failed job: {}", job.name);
            if let Some(url) = &job.url {
                line.push_str(&format!("  {url}"));
            }
            if let Some(detail) = &job.detail {
                line.push_str(&format!("  ({detail})"));
            }
            line
        })
        .collect();
    if jobs.len() > FAILED_JOBS_SHOWN {
        lines.push(format!("  and {} more", jobs.len() - FAILED_JOBS_SHOWN));
    }
    lines
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
