//! Runs the real `buildrunner` binary against the noop backend and an in-process Buildkite
//! emulator, checking output, exit codes and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use buildkite_emulator::{Emulated, Emulator, EmulatorConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_buildrunner");
const TOKEN: &str = "cli-test-token-s3cr3t";
const TOKEN_ENV: &str = "BUILDRUNNER_CLI_TEST_TOKEN";

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// An empty directory to run in, so no stray ./buildrunner.toml is picked up.
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A directory with a buildrunner.toml holding `config`.
    fn with_config(config: &str) -> Workspace {
        let workspace = Workspace::new();
        std::fs::write(workspace.dir.path().join("buildrunner.toml"), config).unwrap();
        workspace
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("BUILDRUNNER_CONFIG")
            .env_remove("RUST_LOG")
            .env(TOKEN_ENV, TOKEN)
            .env(HOOK_ENV, HOOK_SECRET)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    async fn run_async(&self, args: &[&str]) -> Run {
        Run::from(
            tokio::process::Command::from(self.command(args))
                .output()
                .await
                .unwrap(),
        )
    }
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code and, for failures, one clear line on stderr.
    fn expect(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:?}");
        if code != 0 && code != 1 && code != 3 {
            let lines: Vec<_> = self
                .stderr
                .lines()
                .filter(|l| l.starts_with("buildrunner: "))
                .collect();
            assert!(!lines.is_empty(), "no error line: {self:?}");
        }
        assert!(
            !self.stderr.contains(TOKEN) && !self.stdout.contains(TOKEN),
            "the token leaked: {self:?}"
        );
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }

    fn error_line(&self) -> &str {
        let lines: Vec<_> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stderr: {self:?}"
        );
        lines[0]
    }
}

fn emulator_config(url: &str) -> String {
    format!(
        "[queues.bk]\nbackend = \"buildkite\"\norganization = \"acme\"\npipeline = \"app\"\napi_url = \"{url}\"\ntoken_env = \"{TOKEN_ENV}\"\nmax_retries = 1\ninitial_backoff_ms = 10\n\n[queues.demo]\nbackend = \"noop\"\n"
    )
}

async fn emulator() -> Emulator {
    let config = EmulatorConfig::new(TOKEN).with_timings(buildkite_emulator::Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(150),
        Duration::from_millis(50),
    ));
    Emulator::start(config).await.unwrap()
}

#[test]
fn backends_lists_every_registered_backend() {
    let workspace = Workspace::new();
    let run = workspace.run(&["--output", "json", "backends"]);
    run.expect(0);
    let names: Vec<_> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "azure-pipelines",
            "buildkite",
            "github-actions",
            "gitlab",
            "jenkins",
            "noop"
        ]
    );
    let noop = &run.json()[names.iter().position(|n| n == "noop").unwrap()];
    assert!(
        noop["summary"]
            .as_str()
            .unwrap()
            .contains("outcome markers")
    );
    let run = workspace.run(&["backends"]);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("noop ")),
        "{run:?}"
    );
}

#[test]
fn the_embedded_default_runs_the_demo_queue_with_no_setup() {
    let workspace = Workspace::new();
    let run = workspace.run(&[
        "run",
        "--queue",
        "demo",
        "--head",
        "https://github.com/acme/app/pull/1",
        "--interval",
        "0.05",
    ]);
    run.expect(0);
    assert!(run.stdout.contains(": succeeded"), "{run:?}");
    assert!(
        run.stderr.contains("buildrunner: triggered noop:pass:"),
        "{run:?}"
    );
}

#[test]
fn noop_commands_print_the_contract_json() {
    let workspace = Workspace::new();
    let run = workspace.run(&[
        "--output",
        "json",
        "trigger",
        "--queue",
        "demo",
        "--head",
        "https://x/1",
        "--base",
        "https://x/0",
        "--meta",
        "pr=1",
        "--idempotency-key",
        "k-1",
    ]);
    run.expect(0);
    let id = run.json()["build_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("noop:pass:"), "{id}");
    assert_eq!(run.json().as_object().unwrap().len(), 1);

    let run = workspace.run(&["--output", "json", "status", "--queue", "demo", &id]);
    run.expect(0);
    let report = run.json();
    assert_eq!(report["build_id"], id.as_str());
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["terminal"], true);
    assert_eq!(report["metadata"]["outcome"], "pass");

    let run = workspace.run(&["--output", "json", "cancel", "--queue", "demo", &id]);
    run.expect(0);
    assert_eq!(run.json()["build_id"], id.as_str());

    let run = workspace.run(&[
        "--output",
        "json",
        "watch",
        "--queue",
        "demo",
        &id,
        "--interval",
        "0.05",
    ]);
    run.expect(0);
    assert_eq!(run.json()["status"], "succeeded");

    let run = workspace.run(&["status", "--queue", "demo", &id]);
    run.expect(0);
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        format!("{id}: succeeded")
    );
}

#[test]
fn watch_follows_several_builds_and_exits_with_the_worst_verdict() {
    let workspace = Workspace::new();
    let trigger = |marker: &str| {
        let head = format!("https://x/1?buildrunner-outcome={marker}");
        let run = workspace.run(&["trigger", "--queue", "demo", "--head", &head]);
        run.expect(0).stdout.trim().to_owned()
    };
    let (pass, fail, hang) = (trigger("pass"), trigger("fail"), trigger("hang"));
    let watch = |ids: &[&str], extra: &[&str]| {
        let mut args = vec![
            "--output",
            "json",
            "watch",
            "--queue",
            "demo",
            "--interval",
            "0.05",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(ids);
        workspace.run(&args)
    };
    let both = watch(&[&pass, &pass], &[]);
    both.expect(0);
    let builds = both.json()["builds"].as_array().unwrap().clone();
    assert_eq!(builds.len(), 2);
    assert!(
        builds
            .iter()
            .all(|b| b["status"] == "succeeded" && b["terminal"] == true)
    );
    let worst = watch(&[&pass, &fail, &hang], &["--timeout", "0.5"]);
    worst.expect(1);
    let statuses: Vec<_> = worst.json()["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["build_id"].as_str().unwrap().to_owned(),
                b["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (pass.clone(), "succeeded".to_owned()),
            (fail.clone(), "failed".to_owned()),
            (hang.clone(), "running".to_owned())
        ],
        "one object per id, in the order given"
    );
    let timed_out = watch(&[&pass, &hang], &["--timeout", "0.3"]);
    timed_out.expect(5);
    assert!(
        timed_out.stderr.contains("not every build finished"),
        "{timed_out:?}"
    );
    watch(&[&pass, "not-an-id"], &[]).expect(2);
}

#[test]
fn noop_exit_codes_follow_the_build() {
    let workspace = Workspace::new();
    let run_marked = |marker: &str, extra: &[&str]| {
        let head = format!("https://x/1?buildrunner-outcome={marker}");
        let mut args = vec![
            "--output",
            "json",
            "run",
            "--queue",
            "demo",
            "--head",
            &head,
            "--interval",
            "0.05",
        ];
        args.extend_from_slice(extra);
        workspace.run(&args)
    };
    assert_eq!(
        run_marked("pass", &[]).expect(0).json()["status"],
        "succeeded"
    );
    assert_eq!(run_marked("fail", &[]).expect(1).json()["status"], "failed");
    let timed_out = run_marked("hang", &["--timeout", "0.3"]);
    timed_out.expect(5);
    assert_eq!(timed_out.json()["terminal"], false);
    assert!(timed_out.stderr.contains("did not finish"), "{timed_out:?}");
    let refused = run_marked("trigger-error", &[]);
    refused.expect(4);
    assert!(refused.error_line().contains("rejected"), "{refused:?}");

    let id = workspace.run(&[
        "trigger",
        "--queue",
        "demo",
        "--head",
        "https://x/1?buildrunner-outcome=status-error",
    ]);
    let id = id.expect(0).stdout.trim().to_owned();
    let run = workspace.run(&["status", "--queue", "demo", &id]);
    run.expect(4);
    assert!(run.error_line().contains("unavailable"), "{run:?}");
}

#[test]
fn usage_and_configuration_errors_exit_2_with_one_line() {
    let workspace = Workspace::with_config(
        "[queues.demo]\nbackend = \"noop\"\n[queues.typo]\nbackend = \"buildkit\"\n[queues.extra]\nbackend = \"noop\"\ncolour = \"blue\"\n\
         [queues.notoken]\nbackend = \"buildkite\"\norganization = \"acme\"\npipeline = \"app\"\ntoken_env = \"BUILDRUNNER_SURELY_UNSET_TOKEN\"\n",
    );
    let missing = workspace.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--config", missing, "status", "--queue", "demo", "x"],
            "not found",
        ),
        (
            vec!["status", "--queue", "dmeo", "x"],
            "queue `dmeo` is not defined (did you mean `demo`?)",
        ),
        (
            vec!["status", "--queue", "typo", "x"],
            "did you mean \"buildkite\"",
        ),
        (vec!["status", "--queue", "extra", "x"], "colour"),
        (
            vec!["status", "--queue", "notoken", "acme/app/1"],
            "BUILDRUNNER_SURELY_UNSET_TOKEN",
        ),
        (
            vec!["status", "--queue", "demo", "acme/app/1"],
            "invalid build id",
        ),
        (
            vec!["trigger", "--queue", "demo", "--head", ""],
            "invalid request",
        ),
    ];
    for (args, needle) in cases {
        let run = workspace.run(&args);
        run.expect(2);
        let line = run.error_line();
        assert!(
            line.starts_with("buildrunner: ") && line.contains(needle),
            "{args:?}: {line}"
        );
    }
    // The config path also comes from $BUILDRUNNER_CONFIG.
    let run = Run::from(
        workspace
            .command(&["status", "--queue", "demo", "x"])
            .env("BUILDRUNNER_CONFIG", missing)
            .output()
            .unwrap(),
    );
    run.expect(2);
    assert!(
        run.error_line().contains("missing.toml: not found"),
        "{run:?}"
    );

    let broken = Workspace::with_config("[queues.demo]\nbackend = \"noop\"\nx = \n");
    let run = broken.run(&["status", "--queue", "demo", "x"]);
    run.expect(2);
    assert!(run.error_line().contains("buildrunner.toml:3:"), "{run:?}");

    // clap's own usage errors use code 2 as well.
    assert_eq!(workspace.run(&["trigger", "--queue", "demo"]).code, Some(2));
    assert_eq!(
        workspace
            .run(&["watch", "--queue", "demo", "x", "--interval", "0"])
            .code,
        Some(2)
    );
    assert_eq!(
        workspace
            .run(&[
                "trigger", "--queue", "demo", "--head", "u", "--meta", "novalue"
            ])
            .code,
        Some(2)
    );
}

#[test]
fn help_explains_every_flag() {
    let run = Workspace::new().run(&["run", "--help"]);
    run.expect(0);
    for flag in [
        "--queue",
        "--head",
        "--base",
        "--meta",
        "--interval",
        "--timeout",
        "--idempotency-key",
        "--config",
        "--output",
    ] {
        assert!(
            run.stdout.contains(flag),
            "{flag} missing from help: {}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_works_against_the_buildkite_emulator() {
    let emulator = emulator().await;
    let workspace = Workspace::with_config(&emulator_config(&emulator.url()));

    let run = workspace
        .run_async(&[
            "--output",
            "json",
            "run",
            "--queue",
            "bk",
            "--head",
            "https://github.com/acme/app/pull/1",
            "--meta",
            "pr=1",
            "--interval",
            "0.02",
        ])
        .await;
    run.expect(0);
    assert_eq!(run.json()["build_id"], "acme/app/1");
    assert_eq!(run.json()["metadata"]["pr"], "1");
    assert!(
        run.stderr.contains("/acme/app/builds/1"),
        "the URL is shown: {run:?}"
    );

    let run = workspace
        .run_async(&[
            "run",
            "--queue",
            "bk",
            "--head",
            "https://x/2?buildrunner-outcome=fail",
            "--interval",
            "0.02",
        ])
        .await;
    run.expect(1);
    assert!(run.stdout.starts_with("acme/app/2: failed"), "{run:?}");

    let id = workspace
        .run_async(&[
            "trigger",
            "--queue",
            "bk",
            "--head",
            "https://x/3?buildrunner-outcome=hang",
        ])
        .await;
    let id = id.expect(0).stdout.trim().to_owned();
    assert_eq!(id, "acme/app/3");
    let run = workspace
        .run_async(&["--output", "json", "cancel", "--queue", "bk", &id])
        .await;
    run.expect(0);
    assert_eq!(run.json()["cancel_requested"], true);
    let run = workspace
        .run_async(&[
            "--output",
            "json",
            "watch",
            "--queue",
            "bk",
            &id,
            "--interval",
            "0.02",
        ])
        .await;
    run.expect(3);
    assert_eq!(run.json()["status"], "cancelled");
    // Several builds through one tracker: the cancelled one decides the exit code.
    let both = workspace
        .run_async(&[
            "--output",
            "json",
            "watch",
            "--queue",
            "bk",
            "acme/app/1",
            &id,
            "--interval",
            "0.02",
        ])
        .await;
    both.expect(3);
    assert_eq!(both.json()["builds"][0]["status"], "succeeded");
    assert_eq!(both.json()["builds"][1]["status"], "cancelled");

    let run = workspace
        .run_async(&["status", "--queue", "bk", "acme/app/99"])
        .await;
    run.expect(4);
    assert!(run.error_line().contains("not found"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_watch_and_cancel_work_against_the_github_actions_emulator() {
    use github_actions_emulator::{Emulator, EmulatorConfig, Timings};
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(150),
        Duration::from_millis(50),
    )))
    .await
    .unwrap();
    let workspace = Workspace::with_config(&format!(
        "[queues.gh]\nbackend = \"github-actions\"\nowner = \"acme\"\nrepo = \"app\"\nworkflow = \"buildrunner.yml\"\napi_url = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\nmax_retries = 1\n",
        emulator.url()
    ));
    let run_with = |head: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "--output",
            "json",
            "run",
            "--queue",
            "gh",
            "--head",
            head,
            "--interval",
            "0.02",
        ];
        args.extend_from_slice(extra);
        args
    };
    let run = workspace
        .run_async(&run_with("https://github.com/acme/app/pull/1", &[]))
        .await;
    run.expect(0);
    assert_eq!(run.json()["status"], "succeeded");
    assert_eq!(run.json()["metadata"]["github_conclusion"], "success");
    let run = workspace
        .run_async(&run_with("https://x/2?buildrunner-outcome=fail", &[]))
        .await;
    run.expect(1);
    assert_eq!(run.json()["metadata"]["github_conclusion"], "failure");
    // A run waiting for an approval is never green: the watch times out.
    let run = workspace
        .run_async(&run_with(
            "https://x/3?buildrunner-outcome=block",
            &["--timeout", "1"],
        ))
        .await;
    run.expect(5);
    assert_eq!(run.json()["metadata"]["github_status"], "waiting");

    let id = workspace
        .run_async(&[
            "trigger",
            "--queue",
            "gh",
            "--head",
            "https://x/4?buildrunner-outcome=hang",
        ])
        .await;
    let id = id.expect(0).stdout.trim().to_owned();
    assert!(id.starts_with("acme/app/"), "{id}");
    workspace
        .run_async(&["cancel", "--queue", "gh", &id])
        .await
        .expect(0);
    let run = workspace
        .run_async(&[
            "--output",
            "json",
            "watch",
            "--queue",
            "gh",
            &id,
            "--interval",
            "0.02",
        ])
        .await;
    run.expect(3);
    assert_eq!(run.json()["metadata"]["github_conclusion"], "cancelled");
    let run = workspace
        .run_async(&["status", "--queue", "gh", "other/app/1"])
        .await;
    run.expect(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_and_cancel_work_against_the_gitlab_emulator() {
    use gitlab_emulator::{Emulator, EmulatorConfig, Timings};
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(150),
        Duration::from_millis(50),
    )))
    .await
    .unwrap();
    let workspace = Workspace::with_config(&format!(
        "[queues.gl]\nbackend = \"gitlab\"\nproject = \"acme/platform/app\"\napi_url = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\nread_variables = true\nmax_retries = 1\n",
        emulator.url()
    ));
    let run = |head: &'static str| {
        let workspace = &workspace;
        async move {
            workspace
                .run_async(&[
                    "--output",
                    "json",
                    "run",
                    "--queue",
                    "gl",
                    "--head",
                    head,
                    "--meta",
                    "pr=1",
                    "--interval",
                    "0.02",
                    "--timeout",
                    "2",
                ])
                .await
        }
    };
    let passed = run("https://gitlab.com/acme/app/-/merge_requests/1").await;
    passed.expect(0);
    assert_eq!(passed.json()["metadata"]["gitlab_status"], "success");
    assert_eq!(
        passed.json()["metadata"]["pr"],
        "1",
        "caller metadata read back from the variables"
    );
    assert!(
        passed.json()["build_id"]
            .as_str()
            .unwrap()
            .starts_with("acme/platform/app/")
    );
    run("https://x/2?buildrunner-outcome=fail").await.expect(1);
    // A pipeline waiting for a manual job is never green: the watch times out.
    let manual = run("https://x/3?buildrunner-outcome=block").await;
    manual.expect(5);
    assert_eq!(manual.json()["metadata"]["gitlab_status"], "manual");
    let id = manual.json()["build_id"].as_str().unwrap().to_owned();
    // GitLab leaves a manual pipeline as it is: the cancel is refused, a backend error.
    let refused = workspace.run_async(&["cancel", "--queue", "gl", &id]).await;
    refused.expect(4);
    assert!(refused.error_line().contains("manual"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_jobs_and_cancel_work_against_the_jenkins_emulator() {
    use jenkins_emulator::{Emulator, EmulatorConfig, Timings};
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(150),
        Duration::from_millis(50),
    )))
    .await
    .unwrap();
    let workspace = Workspace::with_config(&format!(
        "[queues.jk]\nbackend = \"jenkins\"\nurl = \"{}\"\njob = \"platform/app\"\nuser = \"bot\"\ntoken_env = \"{TOKEN_ENV}\"\nmax_retries = 1\n",
        emulator.url()
    ));
    let run = |head: &'static str| {
        let workspace = &workspace;
        async move {
            workspace
                .run_async(&[
                    "--output",
                    "json",
                    "run",
                    "--queue",
                    "jk",
                    "--head",
                    head,
                    "--meta",
                    "pr=1",
                    "--interval",
                    "0.02",
                    "--timeout",
                    "2",
                ])
                .await
        }
    };
    let passed = run("https://github.com/acme/app/pull/1").await;
    passed.expect(0);
    let report = passed.json();
    assert_eq!(report["metadata"]["jenkins_result"], "SUCCESS");
    assert_eq!(
        report["metadata"]["pr"], "1",
        "caller metadata read back from SQ_METADATA"
    );
    let id = report["build_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("platform/app/queue/"), "{id}");
    let failed = run("https://x/2?buildrunner-outcome=fail").await;
    failed.expect(1);
    let failed_jobs = failed.json()["jobs"].clone();
    assert_eq!(failed_jobs[0]["name"], "test", "{failed_jobs}");
    // A Pipeline waiting at its input step is never green; a cancel stops it.
    let waiting = run("https://x/3?buildrunner-outcome=block").await;
    waiting.expect(5);
    assert_eq!(
        waiting.json()["metadata"]["jenkins_waiting_for_input"],
        "true"
    );
    let id = waiting.json()["build_id"].as_str().unwrap().to_owned();
    workspace
        .run_async(&["cancel", "--queue", "jk", &id])
        .await
        .expect(0);
    let number: u64 = waiting.json()["metadata"]["jenkins_build_number"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let queue_id: u64 = id.rsplit('/').next().unwrap().parse().unwrap();
    let item = emulator.item(queue_id).unwrap();
    assert_eq!((item.number, item.stopped), (Some(number), true));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_retry_and_cancel_work_against_the_azure_pipelines_emulator() {
    use azure_pipelines_emulator::{Emulator, EmulatorConfig, Timings};
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(Timings::new(
        Duration::from_millis(50),
        Duration::from_millis(150),
        Duration::from_millis(50),
    )))
    .await
    .unwrap();
    let workspace = Workspace::with_config(&format!(
        "[queues.az]\nbackend = \"azure-pipelines\"\norganization = \"acme\"\nproject = \"Platform Team\"\npipeline_id = 4\napi_url = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\nmax_retries = 1\n",
        emulator.url()
    ));
    let run = |head: &'static str, extra: &'static [&'static str]| {
        let workspace = &workspace;
        async move {
            let mut args = vec![
                "--output",
                "json",
                "run",
                "--queue",
                "az",
                "--head",
                head,
                "--meta",
                "pr=1",
                "--interval",
                "0.02",
            ];
            args.extend_from_slice(extra);
            workspace.run_async(&args).await
        }
    };
    let passed = run(
        "https://dev.azure.com/acme/app/_git/app/pullrequest/1",
        &["--timeout", "3"],
    )
    .await;
    passed.expect(0);
    let report = passed.json();
    assert_eq!(report["metadata"]["azure_result"], "succeeded");
    assert_eq!(
        report["metadata"]["pr"], "1",
        "caller metadata read back from templateParameters"
    );
    assert!(
        report["build_id"]
            .as_str()
            .unwrap()
            .starts_with("acme/Platform Team/4/")
    );
    let failed = run("https://x/2?buildrunner-outcome=fail", &["--timeout", "3"]).await;
    failed.expect(1);
    assert_eq!(failed.json()["jobs"][0]["name"], "test");
    // A flaky build's failed jobs are re-run in the same run, which then passes.
    let flaky = run(
        "https://x/3?buildrunner-outcome=flaky",
        &["--retry-failed", "1", "--timeout", "3"],
    )
    .await;
    flaky.expect(0);
    let run_id: u64 = flaky.json()["build_id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(emulator.run_snapshot(run_id).unwrap().retries, 1);
    let waiting = run(
        "https://x/4?buildrunner-outcome=block",
        &["--timeout", "0.5"],
    )
    .await;
    waiting.expect(5);
    let id = waiting.json()["build_id"].as_str().unwrap().to_owned();
    workspace
        .run_async(&["cancel", "--queue", "az", &id])
        .await
        .expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ids_send_no_request_and_bad_tokens_are_backend_errors() {
    let emulator = emulator().await;
    let workspace = Workspace::with_config(&emulator_config(&emulator.url()));
    for id in [
        "other/app/1",
        "acme/other/1",
        "acme/app/01",
        "acme/app",
        "noop:pass:x:y",
    ] {
        for verb in ["status", "cancel", "watch"] {
            let run = workspace.run_async(&[verb, "--queue", "bk", id]).await;
            run.expect(2);
            assert!(run.error_line().contains("invalid build id"), "{run:?}");
        }
    }
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());

    let run = Run::from(
        tokio::process::Command::from(workspace.command(&[
            "status",
            "--queue",
            "bk",
            "acme/app/1",
        ]))
        .env(TOKEN_ENV, "wrong-token")
        .output()
        .await
        .unwrap(),
    );
    run.expect(4);
    assert!(run.error_line().contains("unauthenticated"), "{run:?}");
}

/// Starts the binary, waits for a line on stderr containing `ready`, sends SIGINT and
/// returns the finished run.
async fn interrupt_after(workspace: &Workspace, args: &[&str], ready: &str) -> Run {
    let mut child = tokio::process::Command::from(workspace.command(args))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stderr = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains(ready) {
            break;
        }
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    while let Some(line) = lines.next_line().await.unwrap() {
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_watch_but_cancels_what_run_started() {
    let emulator = emulator().await;
    let workspace = Workspace::with_config(&emulator_config(&emulator.url()));

    let id = workspace
        .run_async(&[
            "trigger",
            "--queue",
            "bk",
            "--head",
            "https://x/1?buildrunner-outcome=hang",
        ])
        .await;
    let id = id.expect(0).stdout.trim().to_owned();
    let run = interrupt_after(
        &workspace,
        &["watch", "--queue", "bk", &id, "--interval", "0.05"],
        "/acme/app/builds/1",
    )
    .await;
    run.expect(130);
    assert!(
        run.stderr.contains("stopped watching acme/app/1"),
        "{run:?}"
    );
    assert!(
        !emulator.build("acme", "app", 1).unwrap().cancel_requested,
        "watch leaves the build alone"
    );

    let run = interrupt_after(
        &workspace,
        &[
            "run",
            "--queue",
            "bk",
            "--head",
            "https://x/2?buildrunner-outcome=hang",
            "--interval",
            "0.05",
        ],
        "/acme/app/builds/2",
    )
    .await;
    run.expect(130);
    assert!(run.stderr.contains("cancelled acme/app/2"), "{run:?}");
    assert!(
        emulator.build("acme", "app", 2).unwrap().cancel_requested,
        "run cancels what it started"
    );
}

#[test]
fn the_repository_config_is_the_embedded_one() {
    // The CLI embeds its crate's copy (so `cargo package` carries it); the repository root
    // keeps one for newcomers. They must be the same file.
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let embedded = std::fs::read_to_string(crate_dir.join("buildrunner.toml")).unwrap();
    let Ok(root) = std::fs::read_to_string(crate_dir.join("../../buildrunner.toml")) else {
        return; // a packaged crate has no repository around it
    };
    assert_eq!(
        root, embedded,
        "buildrunner.toml and crates/buildrunner-cli/buildrunner.toml differ"
    );
    assert!(embedded.contains("[queues.demo]") && embedded.contains("[queues.emulator]"));
}

#[test]
fn closed_output_pipes_are_no_reason_to_panic() {
    let workspace = Workspace::new();
    let mut child = workspace
        .command(&[
            "-vv",
            "run",
            "--queue",
            "demo",
            "--head",
            "https://x/1",
            "--interval",
            "0.05",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_live_status_line_is_drawn_only_on_a_terminal() {
    let workspace = Workspace::new();
    let args = [
        "run",
        "--queue",
        "demo",
        "--head",
        "https://x/1?buildrunner-outcome=hang",
        "--timeout",
        "0.3",
        "--interval",
        "0.05",
    ];
    // Not a terminal: no line redrawing in what a CI log would keep.
    let piped = workspace.run(&args);
    piped.expect(5);
    assert!(
        !piped.stderr.contains('\r') && !piped.stderr.contains("\x1b["),
        "{piped:?}"
    );

    // A terminal, through util-linux `script`, which gives the program a pseudo-terminal.
    let command = format!("{BIN} {}", args.join(" ").replace('?', "\\?"));
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(workspace.path())
        .env_remove("BUILDRUNNER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs the program on a pseudo-terminal");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{screen}");
    assert!(
        screen.contains("\r\x1b[2K") && screen.contains(" running ("),
        "no live status line: {screen:?}"
    );
}

#[test]
fn an_empty_config_variable_counts_as_unset() {
    let workspace = Workspace::new();
    let run = Run::from(
        workspace
            .command(&["backends"])
            .env("BUILDRUNNER_CONFIG", "")
            .output()
            .unwrap(),
    );
    run.expect(0);
    let run = Run::from(
        workspace
            .command(&[
                "run",
                "--queue",
                "demo",
                "--head",
                "https://x/1",
                "--interval",
                "0.05",
            ])
            .env("BUILDRUNNER_CONFIG", "")
            .output()
            .unwrap(),
    );
    run.expect(0);
}

const HOOK_ENV: &str = "BUILDRUNNER_CLI_TEST_HOOK_SECRET";
const HOOK_SECRET: &str = "cli-hook-s3cr3t";

/// A loopback port free a moment ago, for a child process to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_brings_verdicts_by_webhook_long_before_the_next_poll() {
    let emulator = emulator().await;
    let config = emulator_config(&emulator.url()).replace(
        "[queues.demo]",
        &format!("webhook_secret_env = \"{HOOK_ENV}\"\n\n[queues.demo]"),
    );
    let workspace = Workspace::with_config(&config);
    let listen = |port: u16| format!("127.0.0.1:{port}");

    // run: the build finishes in 0.2 s; the next poll would be a minute later.
    let port = free_port();
    emulator.send_webhooks(buildkite_emulator::WebhookTarget::new(
        format!("http://{}/webhook", listen(port)),
        HOOK_SECRET,
    ));
    let started = std::time::Instant::now();
    let mut command = workspace.command(&[
        "--output",
        "json",
        "run",
        "--queue",
        "bk",
        "--head",
        "https://x/1",
        "--interval",
        "60",
        "--listen",
        &listen(port),
    ]);
    command.env(HOOK_ENV, HOOK_SECRET);
    let run = Run::from(
        tokio::process::Command::from(command)
            .output()
            .await
            .unwrap(),
    );
    run.expect(0);
    assert_eq!(run.json()["status"], "succeeded");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(!run.stderr.contains(HOOK_SECRET), "{run:?}");

    // watch with several ids: the tracker is hinted the same way.
    let port = free_port();
    emulator.send_webhooks(buildkite_emulator::WebhookTarget::new(
        format!("http://{}/webhook/bk", listen(port)),
        HOOK_SECRET,
    ));
    let mut ids = Vec::new();
    for marker in ["", "?buildrunner-outcome=fail"] {
        let uri = format!("https://x/2{marker}");
        let triggered = workspace
            .run_async(&["trigger", "--queue", "bk", "--head", &uri])
            .await;
        ids.push(triggered.expect(0).stdout.trim().to_owned());
    }
    let started = std::time::Instant::now();
    let mut args = vec![
        "--output",
        "json",
        "watch",
        "--queue",
        "bk",
        "--interval",
        "60",
    ];
    let address = listen(port);
    args.extend(["--listen", &address]);
    args.extend(ids.iter().map(String::as_str));
    let mut command = workspace.command(&args);
    command.env(HOOK_ENV, HOOK_SECRET);
    let watch = Run::from(
        tokio::process::Command::from(command)
            .output()
            .await
            .unwrap(),
    );
    watch.expect(1);
    assert_eq!(watch.json()["builds"][0]["status"], "succeeded");
    assert_eq!(watch.json()["builds"][1]["status"], "failed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn listen_on_a_queue_without_webhooks_is_a_usage_error_and_triggers_nothing() {
    let workspace = Workspace::with_config(&emulator_config("http://127.0.0.1:9"));
    for (queue, says) in [("demo", "backend `noop`"), ("bk", "webhook_secret_env")] {
        let run = workspace.run(&[
            "run",
            "--queue",
            queue,
            "--head",
            "https://x/1",
            "--listen",
            "127.0.0.1:0",
        ]);
        run.expect(2);
        assert!(run.error_line().contains(says), "{run:?}");
    }
    let run = workspace.run(&[
        "watch",
        "--queue",
        "demo",
        "noop-1",
        "--listen",
        "not-an-address",
    ]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--listen"), "{run:?}");
}

#[test]
fn completions_and_the_manual_page_are_generated_from_the_flags() {
    let workspace = Workspace::new();
    let bash = workspace.run(&["completions", "bash"]);
    bash.expect(0);
    assert!(bash.stdout.contains("complete -F _buildrunner"), "{bash:?}");
    assert!(bash.stdout.contains("--listen") && bash.stdout.contains("--idempotency-key"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = workspace.run(&["completions", shell]);
        script.expect(0);
        assert!(script.stdout.contains("buildrunner"), "{shell}: {script:?}");
    }
    let man = workspace.run(&["man"]);
    man.expect(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH buildrunner 1"),
        "{man:?}"
    );
    assert!(man.stdout.contains("Trigger, follow and cancel CI builds"));
    let unknown = workspace.run(&["completions", "tcsh"]);
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
}

/// The body of `GET /metrics` on `port`, or `None` while nothing answers there.
async fn scrape(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_serves_prometheus_metrics_and_v_sums_up_the_requests() {
    let emulator = emulator().await;
    let workspace = Workspace::with_config(&emulator_config(&emulator.url()));
    let triggered = workspace
        .run_async(&["trigger", "--queue", "bk", "--head", "https://x/1"])
        .await;
    let id = triggered.expect(0).stdout.trim().to_owned();
    assert!(emulator.force_state("acme", "app", 1, "running", false));

    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let watch = tokio::process::Command::from(workspace.command(&[
        "-v",
        "watch",
        "--queue",
        "bk",
        "--interval",
        "0.2",
        "--timeout",
        "4",
        "--metrics",
        &address,
        &id,
    ]))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // Scrape while the build runs, until two polls have been counted.
    let wanted = "buildrunner_http_requests_total{backend=\"buildkite\",operation=\"status\",status_class=\"2xx\"}";
    let mut body = String::new();
    for _ in 0..150 {
        if let Some(text) = scrape(port).await {
            let polls = text
                .lines()
                .find_map(|line| line.strip_prefix(wanted))
                .and_then(|count| count.trim().parse::<u64>().ok());
            body = text;
            if polls.is_some_and(|n| n >= 2) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for needle in [
        wanted,
        "# TYPE buildrunner_http_requests_total counter",
        "buildrunner_calls_total{backend=\"buildkite\",operation=\"status\",outcome=\"ok\"}",
        "# TYPE buildrunner_call_duration_seconds histogram",
        "buildrunner_http_request_duration_seconds_bucket{backend=\"buildkite\",operation=\"status\",status_class=\"2xx\",le=\"0.005\"}",
    ] {
        assert!(body.contains(needle), "{needle} missing from:\n{body}");
    }
    assert!(
        !body.contains(TOKEN) && !body.contains(&id),
        "a token or build id in:\n{body}"
    );
    assert_prometheus_text(&body);

    let run = Run::from(watch.wait_with_output().await.unwrap());
    run.expect(5);
    let summary = run.stderr.lines().last().unwrap_or_default();
    let requests: u64 = summary
        .strip_prefix("buildrunner: ")
        .and_then(|rest| {
            rest.split_once(" requests (0 rate-limited), 0 retries, 0 rate-limit waits (0.0 s)")
        })
        .and_then(|(count, rest)| rest.is_empty().then_some(count))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no summary line: {run:?}"));
    assert!(requests >= 2, "{run:?}");
}

#[test]
fn metrics_on_an_address_in_use_is_a_usage_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let workspace = Workspace::new();
    let run = workspace.run(&[
        "run",
        "--queue",
        "demo",
        "--head",
        "https://x/1",
        "--metrics",
        &address,
    ]);
    run.expect(2);
    assert!(
        run.error_line()
            .contains(&format!("--metrics {address}: cannot serve metrics")),
        "{run:?}"
    );
}

/// Every line is a comment (`# HELP`, `# TYPE`) or a sample `name{labels} value` whose value
/// is a number, as Prometheus's text format says.
fn assert_prometheus_text(body: &str) {
    let mut samples = 0;
    for line in body.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("TYPE ") || comment.starts_with("HELP "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(
            value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
            "{line}"
        );
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        samples += 1;
    }
    assert!(samples > 10, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_retry_retry_failed_and_start_timeout_against_the_buildkite_emulator() {
    let emulator = emulator().await;
    let workspace = Workspace::with_config(&emulator_config(&emulator.url()));
    let fast = ["--interval", "0.02"];

    // A failed verdict names its failed job, with a link, in text and JSON.
    let failed = workspace
        .run_async(
            &[
                &[
                    "--output",
                    "json",
                    "run",
                    "--queue",
                    "bk",
                    "--head",
                    "https://x/1?buildrunner-outcome=fail",
                ][..],
                &fast,
            ]
            .concat(),
        )
        .await;
    failed.expect(1);
    let jobs = failed.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1, "{failed:?}");
    assert_eq!(jobs[0]["name"], "test");
    assert_eq!(jobs[0]["status"], "failed");
    assert!(jobs[0]["url"].as_str().unwrap().starts_with("http://"));
    let id = failed.json()["build_id"].as_str().unwrap().to_owned();

    let listed = workspace
        .run_async(&["--output", "json", "jobs", "--queue", "bk", &id])
        .await;
    listed.expect(0);
    let names: Vec<_> = listed.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_owned(),
                j["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names[0],
        ("test".to_owned(), "failed".to_owned()),
        "failed first: {names:?}"
    );
    assert!(names.contains(&("build".to_owned(), "succeeded".to_owned())));
    let text = workspace.run_async(&["jobs", "--queue", "bk", &id]).await;
    text.expect(0);
    assert!(
        text.stdout.lines().next().unwrap().starts_with("failed"),
        "{text:?}"
    );

    // `retry` re-runs the failed job; a second one while it runs is refused (exit 4).
    let retried = workspace
        .run_async(&["--output", "json", "retry", "--queue", "bk", &id])
        .await;
    retried.expect(0);
    assert_eq!(retried.json()["retry_requested"], true);
    let again = workspace.run_async(&["retry", "--queue", "bk", &id]).await;
    again.expect(4);
    assert!(again.error_line().contains("refused to retry"), "{again:?}");
    let bad = workspace
        .run_async(&["retry", "--queue", "bk", "acme/other/1"])
        .await;
    bad.expect(2);

    // --retry-failed: a flaky build ends green under the same id.
    let flaky = workspace
        .run_async(
            &[
                &[
                    "--output",
                    "json",
                    "run",
                    "--queue",
                    "bk",
                    "--head",
                    "https://x/2?buildrunner-outcome=flaky",
                    "--retry-failed",
                    "2",
                ][..],
                &fast,
            ]
            .concat(),
        )
        .await;
    flaky.expect(0);
    assert_eq!(flaky.json()["status"], "succeeded");
    assert!(
        flaky
            .stderr
            .contains("retrying the failed jobs (attempt 2)"),
        "{flaky:?}"
    );

    // --start-timeout: a build that never leaves the queue is exit 5, and run cancels it.
    let queued = EmulatorConfig::new(TOKEN).with_timings(buildkite_emulator::Timings::new(
        Duration::from_secs(60),
        Duration::from_millis(150),
        Duration::from_millis(50),
    ));
    let queued = Emulator::start(queued).await.unwrap();
    let workspace = Workspace::with_config(&emulator_config(&queued.url()));
    let stuck = workspace
        .run_async(
            &[
                &[
                    "run",
                    "--queue",
                    "bk",
                    "--head",
                    "https://x/3",
                    "--start-timeout",
                    "0.01",
                ][..],
                &fast,
            ]
            .concat(),
        )
        .await;
    stuck.expect(5);
    assert!(stuck.stderr.contains("never started"), "{stuck:?}");
    assert!(stuck.stderr.contains("cancelled it"), "{stuck:?}");
    let cancels = queued
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .count();
    assert_eq!(cancels, 1);
}
