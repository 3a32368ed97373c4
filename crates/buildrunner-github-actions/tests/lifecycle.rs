//! Whole lifecycles against the GitHub Actions emulator: outcome markers, re-runs, free
//! conditional polls under a rate limit, GitHub Enterprise Server dispatch modes and the
//! secondary limit on dispatches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use github_actions_emulator::GitHubConfig as _;
use std::time::Duration;

use buildrunner_api::{BuildRunner, BuildStatus};
use buildrunner_github_actions::{Credentials, GitHubActionsConfig, GitHubActionsRunner, Token};
use github_actions_emulator::{
    DispatchMode, Emulated, Emulator, EmulatorConfig, RateLimit, Timings,
};

use buildrunner_testkit::{final_status, request, trailing_number, trigger, wait_for};

const TOKEN: &str = "lifecycle-token";

fn runner(emulator: &Emulator) -> GitHubActionsRunner {
    let mut config = GitHubActionsConfig::new("acme", "app", "buildrunner.yml")
        .unwrap()
        .with_api_url(&emulator.url())
        .unwrap();
    config.http.initial_backoff = Duration::from_millis(20);
    config.http.max_retry_wait = Duration::from_secs(5);
    GitHubActionsRunner::new(
        "lifecycle",
        config,
        Credentials::Token(Token::new(TOKEN).unwrap()),
    )
    .unwrap()
}

#[tokio::test]
async fn markers_drive_the_run_and_block_waits_for_an_approval_until_cancelled() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(&emulator);
    let pass = trigger(&runner, "https://x/1").await;
    let fail = trigger(&runner, "https://x/2?buildrunner-outcome=fail").await;
    let block = trigger(&runner, "https://x/3?buildrunner-outcome=block").await;
    assert_eq!(final_status(&runner, &pass).await, BuildStatus::Succeeded);
    assert_eq!(final_status(&runner, &fail).await, BuildStatus::Failed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = runner.status(&block).await.unwrap();
    assert_eq!(waiting.status, BuildStatus::Accepted);
    assert_eq!(waiting.metadata["github_status"], "waiting");
    runner.cancel(&block).await.unwrap();
    assert_eq!(final_status(&runner, &block).await, BuildStatus::Cancelled);
    // The dispatch carried the contract's inputs, and the run-name rule named its key.
    let snapshot = emulator.run(trailing_number(&fail)).unwrap();
    assert_eq!(
        snapshot.inputs["sq_head_uris"],
        r#"["https://x/2?buildrunner-outcome=fail"]"#
    );
    assert_eq!(snapshot.inputs["sq_queue"], "lifecycle");
    let key = snapshot.inputs["buildrunner_key"].as_str().unwrap();
    assert_eq!(snapshot.display_title, format!("buildrunner {key}"));
}

#[tokio::test]
async fn a_rerun_keeps_the_id_and_status_follows_the_latest_attempt() {
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN)).await.unwrap();
    let runner = runner(&emulator);
    let id = trigger(&runner, "https://x/1?buildrunner-outcome=fail").await;
    wait_for(&runner, &id, BuildStatus::is_terminal).await;
    let client = reqwest_free_rerun(&emulator, trailing_number(&id)).await;
    assert_eq!(client, 201);
    let report = runner.status(&id).await.unwrap();
    assert_eq!(report.metadata["github_run_attempt"], "2");
    assert!(!report.status.is_terminal(), "{report:?}");
    assert_eq!(final_status(&runner, &id).await, BuildStatus::Failed);
}

/// Asks the emulator for a re-run over plain HTTP, as a person in the Actions tab would.
async fn reqwest_free_rerun(emulator: &Emulator, run: u64) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = emulator.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /repos/acme/app/actions/runs/{run}/rerun HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn unchanged_polls_cost_no_rate_limit() {
    let timings = Timings::new(
        Duration::from_millis(10),
        Duration::from_secs(60),
        Duration::from_millis(10),
    );
    let limit = RateLimit {
        limit: 5,
        window: Duration::from_secs(3600),
    };
    let emulator = Emulator::start(
        EmulatorConfig::new(TOKEN)
            .with_timings(timings)
            .with_rate_limit(limit),
    )
    .await
    .unwrap();
    let runner = runner(&emulator);
    let id = trigger(&runner, "https://x/1").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Two requests of the five are spent (dispatch, first poll); the rest are 304s.
    for _ in 0..50 {
        assert_eq!(
            runner.status(&id).await.unwrap().status,
            BuildStatus::Running
        );
    }
    let answered: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        answered.iter().filter(|s| **s == 304).count(),
        49,
        "{answered:?}"
    );
    assert!(!answered.contains(&403), "{answered:?}");
}

#[tokio::test]
async fn both_kinds_of_older_enterprise_server_find_the_run_by_its_key() {
    for mode in [DispatchMode::NoRunDetails, DispatchMode::RejectsRunDetails] {
        let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_dispatch(mode))
            .await
            .unwrap();
        let runner = runner(&emulator);
        let first = trigger(&runner, "https://x/1").await;
        let second = trigger(&runner, "https://x/2").await;
        assert_ne!(first, second);
        assert_eq!(emulator.run_count(), 2, "{mode:?}: one run per trigger");
        let snapshot = emulator.run(trailing_number(&second)).unwrap();
        assert_eq!(
            snapshot.inputs["sq_head_uris"], r#"["https://x/2"]"#,
            "{mode:?}"
        );
        let dispatches = emulator
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/dispatches"))
            .count();
        let expected = if mode == DispatchMode::RejectsRunDetails {
            3
        } else {
            2
        };
        assert_eq!(
            dispatches, expected,
            "{mode:?}: one refused dispatch at most"
        );
    }
}

#[tokio::test]
async fn a_secondary_limit_on_dispatches_is_waited_out_not_failed() {
    let limit = RateLimit {
        limit: 2,
        window: Duration::from_secs(1),
    };
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_secondary_limit(limit))
        .await
        .unwrap();
    let runner = runner(&emulator);
    for i in 0..3 {
        runner
            .trigger(&request(&format!("https://x/{i}")))
            .await
            .unwrap();
    }
    assert_eq!(emulator.run_count(), 3);
    let refused = emulator
        .requests()
        .iter()
        .filter(|r| r.status == 403)
        .count();
    assert_eq!(refused, 1, "the third dispatch waited out retry-after once");
}
