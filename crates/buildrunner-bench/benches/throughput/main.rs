//! `cargo xtask bench`: every HTTP backend against bare `reqwest`, on its own emulator, in
//! the same run. See docs/benchmarks.md for what each figure means.
//!
//! Flags: `--quick` (under a minute on 2 cores per platform), `--json PATH`, `--platform
//! NAME` (`buildkite`, `github-actions` or `gitlab`; default all), `--follow-only` (only the
//! `follow_*` figures), `--replicas-only` (only the `replicas_*` and Redis take figures),
//! `--observability-only` (only the `observability_*` figures: what metrics cost a call). The emulator binaries come from
//! `$BUILDRUNNER_BENCH_BUILDKITE_EMULATOR` and `$BUILDRUNNER_BENCH_GITHUB_EMULATOR` (xtask
//! builds them). `--memory-child MODE` is internal: the bench runs itself to measure one
//! workload's peak memory in a fresh process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

mod follow;
mod jenkins;
mod observability;
mod platform;
mod replicas;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use buildkite_emulator::Emulated;
use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Change, TriggerRequest};
use nix::sys::resource::{UsageWho, getrusage};
use platform::{Baseline, Platform, TOKEN, request};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Counts heap bytes, so the memory children can tell what the runner keeps from what passes.
#[global_allocator]
static HEAP: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn live_heap_bytes() -> i64 {
    // stats_alloc already books a realloc's growth or shrinkage in these two.
    let stats = HEAP.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

const CONCURRENCY: [usize; 3] = [1, 16, 64];

/// `127.0.0.1`, a port the OS picks.
const LOOPBACK: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// One reported figure.
struct Figure {
    name: String,
    value: f64,
    unit: String,
    baseline: Option<(String, f64)>,
}

impl Figure {
    fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .map(|(_, b)| if *b == 0.0 { f64::NAN } else { self.value / b })
    }
}

/// The emulator as a separate process, so its CPU time is not the benchmark's.
struct EmulatorProcess {
    child: Child,
    url: String,
}

impl EmulatorProcess {
    fn start(platform: Platform, jobs: usize) -> EmulatorProcess {
        let path = std::env::var(platform.emulator_env()).unwrap_or_else(|_| {
            panic!(
                "set {} to the emulator binary (cargo xtask bench does)",
                platform.emulator_env()
            )
        });
        let mut child = Command::new(path)
            .args(platform.emulator_args(jobs))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        EmulatorProcess { child, url }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let micros =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    micros(usage.user_time()) + micros(usage.system_time())
}

/// This process's peak resident memory. `VmHWM` rather than `ru_maxrss`, which a child
/// inherits from the parent that forked it.
fn peak_rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One side of the comparison, over the same builds.
#[derive(Clone)]
enum Side {
    Ours(Arc<dyn BuildRunner>, Arc<Vec<BuildId>>),
    Baseline(Baseline, Arc<Vec<u64>>),
}

impl Side {
    /// Call `i` of a run of `verb`; builds are taken round-robin.
    async fn call(&self, verb: &str, i: usize) {
        match (self, verb) {
            (Side::Ours(runner, ids), "status") => {
                drop(runner.status(&ids[i % ids.len()]).await.unwrap())
            }
            (Side::Ours(runner, ids), "cancel") => {
                runner.cancel(&ids[i % ids.len()]).await.unwrap()
            }
            (Side::Ours(runner, _), _) => drop(runner.trigger(&request(i)).await.unwrap()),
            (Side::Baseline(client, numbers), "status") => {
                drop(client.status(numbers[i % numbers.len()]).await)
            }
            (Side::Baseline(client, numbers), "cancel") => {
                drop(client.cancel(numbers[i % numbers.len()]).await)
            }
            (Side::Baseline(client, _), _) => drop(client.trigger(i).await),
        }
    }
}

/// Runs `ops` operations with `concurrency` workers and returns (ops per second, CPU per op).
async fn measure<F, Fut>(ops: usize, concurrency: usize, op: F) -> (f64, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_time();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next) = (Arc::clone(&op), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ops {
                        break;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    (ops as f64 / elapsed.as_secs_f64(), cpu / ops as u32)
}

async fn throughput(platform: Platform, quick: bool, figures: &mut Vec<Figure>) {
    let emulator = EmulatorProcess::start(platform, 3);
    let ours = platform.runner(&emulator.url);
    let baseline = Baseline::new(platform, &emulator.url);
    let seeds = 256;
    let mut ids = Vec::new();
    for i in 0..seeds {
        ids.push(ours.trigger(&request(i)).await.unwrap());
    }
    let ids = Arc::new(ids);
    let numbers: Arc<Vec<u64>> = Arc::new(ids.iter().map(|id| platform.build_number(id)).collect());
    // Each sample runs a few tenths of a second; the median of the rounds is reported.
    let rounds = if quick { 3 } else { 5 };
    let ops_for = |verb: &str| match (verb, quick) {
        ("trigger", true) => 2_000,
        ("cancel", true) => 4_000,
        (_, true) => 8_000,
        ("trigger", false) => 5_000,
        ("cancel", false) => 10_000,
        (_, false) => 20_000,
    };

    // Warm both clients' connection pools.
    let ours_side = Side::Ours(Arc::clone(&ours), Arc::clone(&ids));
    let baseline_side = Side::Baseline(baseline.clone(), Arc::clone(&numbers));
    for client in [&baseline_side, &ours_side] {
        let client = client.clone();
        measure(512, 64, move |i| {
            let client = client.clone();
            async move { client.call("status", i).await }
        })
        .await;
    }

    for verb in ["status", "trigger", "cancel"] {
        for concurrency in CONCURRENCY {
            let ops = ops_for(verb);
            let mut samples_ours = Vec::new();
            let mut samples_base = Vec::new();
            for round in 0..rounds {
                for side in if round % 2 == 0 {
                    ["baseline", "ours"]
                } else {
                    ["ours", "baseline"]
                } {
                    let client = if side == "ours" {
                        ours_side.clone()
                    } else {
                        baseline_side.clone()
                    };
                    let sample = measure(ops, concurrency, move |i| {
                        let client = client.clone();
                        async move { client.call(verb, i).await }
                    })
                    .await;
                    if side == "ours" {
                        samples_ours.push(sample)
                    } else {
                        samples_base.push(sample)
                    }
                }
            }
            let median = |samples: &mut Vec<(f64, Duration)>| {
                samples.sort_by(|a, b| a.0.total_cmp(&b.0));
                samples[samples.len() / 2]
            };
            let (ours_rate, ours_cpu) = median(&mut samples_ours);
            let (base_rate, base_cpu) = median(&mut samples_base);
            let prefix = platform.prefix();
            let base_name = format!("{prefix}baseline_{verb}_ops_per_sec_c{concurrency}");
            figures.push(Figure {
                name: format!("{prefix}{verb}_ops_per_sec_c{concurrency}"),
                value: ours_rate,
                unit: "ops/s".into(),
                baseline: Some((base_name, base_rate)),
            });
            figures.push(Figure {
                name: format!("{prefix}{verb}_cpu_us_per_op_c{concurrency}"),
                value: ours_cpu.as_secs_f64() * 1e6,
                unit: "us CPU/op".into(),
                baseline: Some((
                    format!("{prefix}baseline_{verb}_cpu_us_per_op_c{concurrency}"),
                    base_cpu.as_secs_f64() * 1e6,
                )),
            });
        }
    }
}

/// Bytes of one status answer: Buildkite's poll of a build with 500 jobs against a `GET`
/// without `exclude_jobs`; GitHub's unchanged (conditional, 304) poll against a plain one.
async fn bytes_per_poll(platform: Platform, figures: &mut Vec<Figure>) {
    let emulator = EmulatorProcess::start(platform, 500);
    let ours = platform.runner(&emulator.url);
    let id = ours.trigger(&request(0)).await.unwrap();
    let number = platform.build_number(&id);
    let client = reqwest::Client::new();
    let size = |url: String, tag: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client
                .get(url)
                .bearer_auth(TOKEN)
                .header("PRIVATE-TOKEN", TOKEN);
            if let Some(tag) = tag {
                request = request.header("if-none-match", tag);
            }
            request.send().await.unwrap().bytes().await.unwrap().len() as f64
        }
    };
    // The exact URL the backend sends on every poll (asserted by its tests).
    let polled = platform.status_url(&emulator.url, number);
    ours.status(&id).await.unwrap();
    match platform {
        Platform::Buildkite => {
            let full = polled.split('?').next().unwrap().to_owned();
            figures.push(Figure {
                name: "bytes_per_status_poll_500_jobs".into(),
                value: size(polled, None).await,
                unit: "bytes".into(),
                baseline: Some((
                    "bytes_per_get_without_exclude_jobs_500_jobs".into(),
                    size(full, None).await,
                )),
            });
        }
        // A GitLab pipeline has no larger representation to avoid, nor conditional reads.
        Platform::GitLab => {}
        Platform::GitHubActions => {
            let tag = client
                .get(&polled)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            figures.push(Figure {
                name: "github_actions_bytes_per_unchanged_status_poll".into(),
                value: size(polled.clone(), tag).await,
                unit: "bytes".into(),
                baseline: Some((
                    "github_actions_bytes_per_unconditional_status_poll".into(),
                    size(polled, None).await,
                )),
            });
        }
    }
}

/// What a memory child measured.
struct MemoryUse {
    /// Peak resident memory of the process.
    peak_rss_kib: f64,
    /// Peak live heap while polling.
    peak_heap: f64,
    /// Live heap after the workload, less live heap before it: what the client kept.
    held_heap: f64,
}

/// Peak and held memory of fresh processes running one workload each.
fn memory(platform: Platform, figures: &mut Vec<Figure>) {
    let builds = 10_000;
    let emulator = EmulatorProcess::start(platform, 3);
    let run = |mode: &str, builds: usize| -> MemoryUse {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--memory-child",
                mode,
                "--platform",
                platform.arg(),
                "--url",
                &emulator.url,
                "--builds",
                &builds.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        MemoryUse {
            peak_rss_kib: report["peak_rss_kib"].as_f64().unwrap(),
            peak_heap: report["peak_heap"].as_f64().unwrap(),
            held_heap: report["held_heap"].as_f64().unwrap(),
        }
    };
    let prefix = platform.prefix();
    let idle = run("idle", builds);
    let ours = run("ours", builds);
    let ours_double = run("ours", builds * 2);
    let baseline = run("baseline", builds);
    figures.push(Figure {
        name: format!("{prefix}peak_rss_kib_above_idle_runner_tracking_{builds}_builds"),
        value: ours.peak_rss_kib - idle.peak_rss_kib,
        unit: "KiB".into(),
        baseline: Some((
            format!("{prefix}peak_rss_kib_above_idle_bare_reqwest_{builds}_builds"),
            baseline.peak_rss_kib - idle.peak_rss_kib,
        )),
    });
    figures.push(Figure {
        name: format!("{prefix}peak_heap_bytes_polling_{builds}_builds_c64"),
        value: ours.peak_heap,
        unit: "bytes".into(),
        baseline: Some((
            format!("{prefix}peak_heap_bytes_bare_reqwest_polling_{builds}_builds_c64"),
            baseline.peak_heap,
        )),
    });
    // What stays after the polls is the runner's own state: twice the builds, the same bytes.
    figures.push(Figure {
        name: format!(
            "{prefix}heap_bytes_held_by_runner_after_{}_builds",
            builds * 2
        ),
        value: ours_double.held_heap,
        unit: "bytes".into(),
        baseline: Some((
            format!("{prefix}heap_bytes_held_by_runner_after_{builds}_builds"),
            ours.held_heap,
        )),
    });
    figures.push(Figure {
        name: format!("{prefix}peak_rss_kib_idle_process"),
        value: idle.peak_rss_kib,
        unit: "KiB".into(),
        baseline: None,
    });
}

/// The memory child: trigger `builds` builds, poll each once at concurrency 64, then report.
async fn memory_child(platform: Platform, mode: &str, url: &str, builds: usize) {
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let peak = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let sampler = {
        let (sampling, peak) = (Arc::clone(&sampling), Arc::clone(&peak));
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(live_heap_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let (before, after) = match mode {
        "idle" => {
            let _ = (platform.runner(url), Baseline::new(platform, url));
            (live_heap_bytes(), live_heap_bytes())
        }
        "ours" => {
            let ours = platform.runner(url);
            let first = Arc::new(ours.trigger(&request(0)).await.unwrap());
            // Fill the connection pool first, so what is measured is what the builds add.
            let (r, f) = (Arc::clone(&ours), Arc::clone(&first));
            measure(512, 64, move |_| {
                let (r, f) = (Arc::clone(&r), Arc::clone(&f));
                async move {
                    r.status(&f).await.unwrap();
                }
            })
            .await;
            let before = live_heap_bytes();
            {
                let mut ids: Vec<BuildId> = Vec::with_capacity(builds);
                for chunk in (0..builds).collect::<Vec<_>>().chunks(64) {
                    let tasks: Vec<_> = chunk
                        .iter()
                        .map(|i| {
                            let r = Arc::clone(&ours);
                            let i = *i;
                            tokio::spawn(async move { r.trigger(&request(i)).await.unwrap() })
                        })
                        .collect();
                    for task in tasks {
                        ids.push(task.await.unwrap());
                    }
                }
                let ids = Arc::new(ids);
                let (r, i2) = (Arc::clone(&ours), Arc::clone(&ids));
                measure(builds, 64, move |i| {
                    let (r, ids) = (Arc::clone(&r), Arc::clone(&i2));
                    async move {
                        r.status(&ids[i]).await.unwrap();
                    }
                })
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            (before, live_heap_bytes())
        }
        _ => {
            let baseline = Baseline::new(platform, url);
            let first = baseline.trigger(0).await;
            baseline.status(first).await;
            let before = live_heap_bytes();
            {
                let mut numbers = Vec::with_capacity(builds);
                for chunk in (0..builds).collect::<Vec<_>>().chunks(64) {
                    let tasks: Vec<_> = chunk
                        .iter()
                        .map(|i| {
                            let b = baseline.clone();
                            let i = *i;
                            tokio::spawn(async move { b.trigger(i).await })
                        })
                        .collect();
                    for task in tasks {
                        numbers.push(task.await.unwrap());
                    }
                }
                let numbers = Arc::new(numbers);
                let b = baseline.clone();
                measure(builds, 64, move |i| {
                    let (b, n) = (b.clone(), Arc::clone(&numbers));
                    async move {
                        b.status(n[i]).await;
                    }
                })
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            (before, live_heap_bytes())
        }
    };
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    println!(
        "{}",
        json!({
            "peak_rss_kib": peak_rss_kib(),
            "peak_heap": peak.load(Ordering::Relaxed),
            "held_heap": after - before,
        })
    );
}

/// Requests one build lifecycle costs, counted by an in-process emulator's request log.
async fn requests_per_lifecycle(platform: Platform, figures: &mut Vec<Figure>) {
    let (emulated, url) = in_process_emulator(platform).await;
    let ours = platform.runner(&url);
    let prefix = platform.prefix();
    let polls = 10;
    let id = ours.trigger(&request(0)).await.unwrap();
    for _ in 0..polls {
        ours.status(&id).await.unwrap();
    }
    ours.cancel(&id).await.unwrap();
    let requests = emulated.requests();
    figures.push(Figure {
        name: format!("{prefix}requests_per_lifecycle_trigger_{polls}_polls_cancel"),
        value: requests.len() as f64,
        unit: "requests".into(),
        baseline: Some(("one_request_per_call".into(), (1 + polls + 1) as f64)),
    });
    if platform == Platform::GitHubActions {
        // GitHub does not count a 304 against the rate limit.
        let counted = requests.iter().filter(|r| r.status != 304).count();
        figures.push(Figure {
            name: format!(
                "{prefix}rate_limited_requests_per_lifecycle_trigger_{polls}_polls_cancel"
            ),
            value: counted as f64,
            unit: "requests".into(),
            baseline: Some(("one_request_per_call".into(), (1 + polls + 1) as f64)),
        });
    }
    emulated.clear_requests();
    let keyed = TriggerRequest::builder()
        .head(Change::new(["https://x/keyed"]))
        .idempotency_key("k")
        .build()
        .unwrap();
    let id = ours.trigger(&keyed).await.unwrap();
    for _ in 0..polls {
        ours.status(&id).await.unwrap();
    }
    ours.cancel(&id).await.unwrap();
    // A second cancel of the cancelled build: refused (422 or 409), then a status check.
    tokio::time::sleep(Duration::from_millis(20)).await;
    ours.cancel(&id).await.unwrap();
    figures.push(Figure {
        name: format!("{prefix}requests_per_lifecycle_keyed_trigger_{polls}_polls_two_cancels"),
        value: emulated.requests().len() as f64,
        unit: "requests".into(),
        baseline: Some(("one_request_per_call".into(), (1 + polls + 2) as f64)),
    });
    if platform == Platform::GitLab {
        // Caller metadata comes back only through the variables endpoint: what it costs.
        emulated.clear_requests();
        let mut config = buildrunner_gitlab::GitLabConfig::new("acme/bench")
            .unwrap()
            .with_api_url(&url)
            .unwrap();
        config.read_variables = true;
        let token = buildrunner_gitlab::Token::new(TOKEN).unwrap();
        let reading = buildrunner_gitlab::GitLabRunner::new("bench", config, token).unwrap();
        let id = reading.trigger(&request(1)).await.unwrap();
        for _ in 0..polls {
            reading.status(&id).await.unwrap();
        }
        reading.cancel(&id).await.unwrap();
        figures.push(Figure {
            name: format!(
                "{prefix}requests_per_lifecycle_trigger_{polls}_polls_cancel_reading_variables"
            ),
            value: emulated.requests().len() as f64,
            unit: "requests".into(),
            baseline: Some(("one_request_per_call".into(), (1 + polls + 1) as f64)),
        });
    }
}

/// Requests a flaky build costs from trigger to its green verdict with one retry of its
/// failed jobs, polled until each attempt ends, against one request per call.
async fn retry_failed_lifecycle(platform: Platform, figures: &mut Vec<Figure>) {
    let (emulated, url) = emulator_running_for(platform, Duration::from_millis(40)).await;
    let ours = platform.runner(&url);
    let id = ours
        .trigger(
            &TriggerRequest::new(vec![Change::new([
                "https://x/flaky?buildrunner-outcome=flaky",
            ])])
            .unwrap(),
        )
        .await
        .unwrap();
    let mut calls = 1;
    let poll_until = |wanted: BuildStatus| {
        let (ours, id) = (Arc::clone(&ours), id.clone());
        async move {
            let mut polls = 0;
            loop {
                polls += 1;
                if ours.status(&id).await.unwrap().status == wanted {
                    return polls;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    calls += poll_until(BuildStatus::Failed).await;
    ours.retry_failed(&id).await.unwrap();
    calls += 1;
    calls += poll_until(BuildStatus::Succeeded).await;
    figures.push(Figure {
        name: format!("{}retry_failed_lifecycle_requests", platform.prefix()),
        value: emulated.requests().len() as f64,
        unit: "requests".into(),
        baseline: Some(("one_request_per_call".into(), calls as f64)),
    });
}

/// An emulator in this process whose builds run for an hour and cancel at once.
async fn in_process_emulator(platform: Platform) -> (Box<dyn Emulated>, String) {
    emulator_running_for(platform, Duration::from_secs(3600)).await
}

/// An emulator in this process whose builds run for `running` and cancel at once.
async fn emulator_running_for(
    platform: Platform,
    running: Duration,
) -> (Box<dyn Emulated>, String) {
    match platform {
        Platform::Buildkite => {
            let emulator = buildkite_emulator::Emulator::start(
                buildkite_emulator::EmulatorConfig::new(TOKEN).with_timings(
                    buildkite_emulator::Timings::new(Duration::ZERO, running, Duration::ZERO),
                ),
            )
            .await
            .unwrap();
            let url = emulator.url();
            (Box::new(emulator), url)
        }
        Platform::GitLab => {
            let timings = gitlab_emulator::Timings::new(Duration::ZERO, running, Duration::ZERO);
            let emulator = gitlab_emulator::Emulator::start(
                gitlab_emulator::EmulatorConfig::new(TOKEN).with_timings(timings),
            )
            .await
            .unwrap();
            let url = emulator.url();
            (Box::new(emulator), url)
        }
        Platform::GitHubActions => {
            let timings =
                github_actions_emulator::Timings::new(Duration::ZERO, running, Duration::ZERO);
            let emulator = github_actions_emulator::Emulator::start(
                github_actions_emulator::EmulatorConfig::new(TOKEN).with_timings(timings),
            )
            .await
            .unwrap();
            let url = emulator.url();
            (Box::new(emulator), url)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(mode) = value_of("--memory-child") {
        let platform = Platform::from_arg(&value_of("--platform").unwrap());
        let url = value_of("--url").unwrap();
        let builds = value_of("--builds").unwrap().parse().unwrap();
        runtime.block_on(memory_child(platform, &mode, &url, builds));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let platforms: Vec<Platform> = match value_of("--platform") {
        // Jenkins is measured in this process only (`jenkins.rs`).
        Some(name) if name == "jenkins" => Vec::new(),
        Some(name) => vec![Platform::from_arg(&name)],
        None => Platform::ALL.to_vec(),
    };
    let started = Instant::now();
    let mut figures = Vec::new();
    let follows_buildkite = platforms.contains(&Platform::Buildkite);
    let follow_only = args.iter().any(|a| a == "--follow-only");
    let replicas_only = args.iter().any(|a| a == "--replicas-only");
    let observability_only = args.iter().any(|a| a == "--observability-only");
    let only_one = follow_only || replicas_only || observability_only;
    for platform in platforms.into_iter().filter(|_| !only_one) {
        runtime.block_on(async {
            throughput(platform, quick, &mut figures).await;
            bytes_per_poll(platform, &mut figures).await;
            requests_per_lifecycle(platform, &mut figures).await;
            retry_failed_lifecycle(platform, &mut figures).await;
        });
        memory(platform, &mut figures);
    }
    if !only_one && value_of("--platform").is_none_or(|p| p == "jenkins") {
        runtime.block_on(jenkins::jenkins(&mut figures));
    }
    if follows_buildkite && (!only_one || follow_only) {
        runtime.block_on(follow::follow(quick, &mut figures));
    }
    if follows_buildkite && (!only_one || replicas_only) {
        runtime.block_on(replicas::replicas(quick, &mut figures));
    }
    if follows_buildkite && (!only_one || observability_only) {
        observability::observability(quick, &mut figures);
    }

    println!(
        "\n{:72} {:>14} {:>12} {:>8}",
        "figure", "value", "baseline", "ratio"
    );
    for figure in &figures {
        let baseline = figure
            .baseline
            .as_ref()
            .map_or(String::from("-"), |(_, b)| format!("{b:.1}"));
        let ratio = figure
            .ratio()
            .map_or(String::from("-"), |r| format!("{r:.3}"));
        println!(
            "{:72} {:>14.1} {:>12} {:>8}  {}",
            figure.name, figure.value, baseline, ratio, figure.unit
        );
    }
    println!(
        "bench finished in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        if quick { "quick" } else { "full" }
    );

    if let Some(path) = value_of("--json") {
        let list: Vec<Value> = figures
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "value": f.value,
                    "unit": f.unit,
                    "baseline": f.baseline.as_ref().map(|(name, value)| json!({"name": name, "value": value})),
                    "ratio": f.ratio(),
                })
            })
            .collect();
        let document = json!({
            "quick": quick,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "figures": list,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
        println!("wrote {path}");
    }
}
