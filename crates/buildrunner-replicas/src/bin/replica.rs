//! One replica of a merge queue, as a separate OS process: triggers builds on a Buildkite API
//! through the `buildkite` backend (with `rate_budget_url` when given), follows each to its
//! verdict and prints one JSON line. Exit 0 when every build got the verdict its marker asks
//! for, 1 otherwise, 2 on bad arguments.
//!
//! `buildrunner-replica --api-url URL --builds N [--redis URL] [--keys PREFIX]
//! [--concurrency N]`; the token is read from `BUILDRUNNER_REPLICA_TOKEN`. With `--keys`,
//! build `i` is triggered with idempotency key `{PREFIX}{i}`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, QueueConfig, TriggerRequest, registry,
};
use buildrunner_buildkite as _;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

struct Args {
    api_url: String,
    builds: usize,
    redis: Option<String>,
    keys: Option<String>,
    concurrency: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        api_url: String::new(),
        builds: 0,
        redis: None,
        keys: None,
        concurrency: 8,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--api-url" => args.api_url = value()?,
            "--builds" => args.builds = value()?.parse().map_err(|e| format!("--builds: {e}"))?,
            "--redis" => args.redis = Some(value()?),
            "--keys" => args.keys = Some(value()?),
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.api_url.is_empty() {
        return Err("--api-url is required".into());
    }
    Ok(args)
}

fn runner(args: &Args) -> Result<Arc<dyn BuildRunner>, String> {
    let mut options = json!({
        "organization": "acme",
        "pipeline": "replicas",
        "api_url": args.api_url,
        "token_env": "BUILDRUNNER_REPLICA_TOKEN",
        "max_retries": 50,
        "max_retry_wait_secs": 300,
        "initial_backoff_ms": 50,
    });
    if let Some(url) = &args.redis {
        options["rate_budget_url"] = json!(url);
    }
    registry::create("buildkite", &QueueConfig::new("replica", options)).map_err(|e| e.to_string())
}

/// Build `i`: every fourth fails.
fn request(i: usize, keys: Option<&str>) -> Result<(TriggerRequest, BuildStatus), String> {
    let (marker, verdict) = if i % 4 == 3 {
        ("?buildrunner-outcome=fail", BuildStatus::Failed)
    } else {
        ("", BuildStatus::Succeeded)
    };
    let mut builder =
        TriggerRequest::builder().head(Change::new([format!("https://x/{i}{marker}")]));
    if let Some(prefix) = keys {
        builder = builder.idempotency_key(format!("{prefix}{i}"));
    }
    Ok((builder.build().map_err(|e| e.to_string())?, verdict))
}

async fn run(args: Args) -> Result<bool, String> {
    let runner = runner(&args)?;
    let triggered: Vec<Result<(BuildId, BuildStatus), String>> = stream::iter(0..args.builds)
        .map(|i| {
            let runner = Arc::clone(&runner);
            let keys = args.keys.clone();
            async move {
                let (request, verdict) = request(i, keys.as_deref())?;
                let id = runner.trigger(&request).await.map_err(|e| e.to_string())?;
                Ok((id, verdict))
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let mut waiting: HashMap<BuildId, BuildStatus> = HashMap::new();
    for result in triggered {
        let (id, verdict) = result?;
        waiting.insert(id, verdict);
    }
    let ids: Vec<String> = waiting.keys().map(ToString::to_string).collect();
    let mut right = 0;
    while !waiting.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let polled: Vec<(BuildId, BuildStatus, Option<BuildStatus>)> =
            stream::iter(waiting.clone())
                .map(|(id, verdict)| {
                    let runner = Arc::clone(&runner);
                    async move {
                        let status = runner.status(&id).await.ok().map(|r| r.status);
                        (id, verdict, status)
                    }
                })
                .buffer_unordered(args.concurrency.max(1))
                .collect()
                .await;
        for (id, verdict, status) in polled {
            if let Some(status) = status.filter(|s| s.is_terminal()) {
                right += usize::from(status == verdict);
                waiting.remove(&id);
            }
        }
    }
    println!(
        "{}",
        json!({"triggered": ids.len(), "right_verdicts": right, "ids": ids})
    );
    Ok(right == ids.len())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("buildrunner-replica: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("buildrunner-replica: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("buildrunner-replica: {message}");
            ExitCode::from(1)
        }
    }
}
