//! 10,000 concurrent status calls through one shared runner: all succeed, and open sockets
//! and memory stay bounded by the connection cap, not by the number of calls.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{config_for, request};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig};
use buildrunner_api::BuildRunner;
use buildrunner_buildkite::{BuildkiteRunner, Token};

const TOKEN: &str = "load-token";
const CALLS: usize = 10_000;
const MAX_CONNECTIONS: usize = 32;

/// Open sockets of this process (client and, since the emulator runs in process, server side).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    std::fs::read_link(entry.path())
                        .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_status_calls_through_one_runner() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let mut config = config_for(&emulator);
    config.http.max_connections = MAX_CONNECTIONS;
    let runner =
        Arc::new(BuildkiteRunner::new("load", config, Token::new(TOKEN).unwrap()).unwrap());
    let mut ids = Vec::new();
    for i in 0..100 {
        let request = request(format!("https://x/pull/{i}"));
        ids.push(runner.trigger(&request).await.unwrap());
    }
    let ids = Arc::new(ids);

    let sockets_before = open_sockets();
    let rss_before = resident_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let peak_sockets = Arc::new(AtomicUsize::new(0));
    let peak_rss = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak_sockets, peak_rss) = (
            Arc::clone(&done),
            Arc::clone(&peak_sockets),
            Arc::clone(&peak_rss),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak_sockets.fetch_max(open_sockets(), Ordering::SeqCst);
                peak_rss.fetch_max(resident_bytes(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let (runner, ids) = (Arc::clone(&runner), Arc::clone(&ids));
            tokio::spawn(async move { runner.status(&ids[i % ids.len()]).await })
        })
        .collect();
    let mut failures = 0;
    for call in calls {
        if call.await.unwrap().is_err() {
            failures += 1;
        }
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();

    let sockets = peak_sockets.load(Ordering::SeqCst);
    let grown = peak_rss.load(Ordering::SeqCst).saturating_sub(rss_before);
    eprintln!(
        "{CALLS} calls: {failures} failed; open sockets {sockets_before} before, {sockets} at peak; resident memory grew {} KiB at peak",
        grown / 1024
    );
    assert_eq!(failures, 0);
    // Each client connection has its server end in this process too, and a connection being
    // handed back to the pool while the next request starts can briefly add a few more.
    let bound = sockets_before + 2 * (MAX_CONNECTIONS + 16);
    assert!(
        sockets <= bound,
        "{sockets} open sockets at peak, bound {bound}"
    );
    assert!(
        grown < 256 * 1024 * 1024,
        "resident memory grew {grown} bytes"
    );
    let polls = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(polls, CALLS, "one request per call, no retries needed");
}
