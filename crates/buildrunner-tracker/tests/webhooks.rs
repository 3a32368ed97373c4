//! Webhooks end to end: each CI's emulator POSTs its webhooks (with faults) to the tracker's
//! listener, the backend verifies and reads them, the tracker confirms each verdict with a
//! status call. Polling is slowed down so that a fast verdict can only come from a webhook.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, BuildStatus};
use buildrunner_emulator_engine::{WebhookCounts, WebhookFaults, WebhookTarget};
use buildrunner_http::Token;
use buildrunner_tracker::listener::{WebhookListener, WebhookRoute};
use buildrunner_tracker::{Intervals, Tracker, TrackerEvent, TrackerOptions};

const SECRET: &str = "hook secret";
const PLATFORMS: [&str; 5] = [
    "buildkite",
    "github-actions",
    "gitlab",
    "jenkins",
    "azure-pipelines",
];

type SendWebhooks = Box<dyn Fn(WebhookTarget) -> Arc<WebhookCounts> + Send + Sync>;

/// A runner on a platform's emulator, and the switch that makes the emulator send webhooks.
struct Platform {
    runner: Arc<dyn BuildRunner>,
    send_webhooks: SendWebhooks,
}

async fn platform(name: &str) -> Platform {
    let secret = Some(Token::multiline(SECRET).unwrap());
    match name {
        "buildkite" => {
            let emulator = Arc::new(
                buildkite_emulator::Emulator::start(buildkite_emulator::EmulatorConfig::new("t"))
                    .await
                    .unwrap(),
            );
            let mut config = buildrunner_buildkite::BuildkiteConfig::new("acme", "app")
                .unwrap()
                .with_api_url(&emulator.url())
                .unwrap();
            config.webhook_secret = secret;
            let runner =
                buildrunner_buildkite::BuildkiteRunner::new("q", config, Token::new("t").unwrap())
                    .unwrap();
            Platform {
                runner: Arc::new(runner),
                send_webhooks: Box::new(move |target| emulator.send_webhooks(target)),
            }
        }
        "github-actions" => {
            let emulator = Arc::new(
                github_actions_emulator::Emulator::start(
                    github_actions_emulator::EmulatorConfig::new("t"),
                )
                .await
                .unwrap(),
            );
            let mut config =
                buildrunner_github_actions::GitHubActionsConfig::new("octo", "app", "ci.yml")
                    .unwrap()
                    .with_api_url(&emulator.url())
                    .unwrap();
            config.webhook_secret = secret;
            let credentials =
                buildrunner_github_actions::Credentials::Token(Token::new("t").unwrap());
            let runner =
                buildrunner_github_actions::GitHubActionsRunner::new("q", config, credentials)
                    .unwrap();
            Platform {
                runner: Arc::new(runner),
                send_webhooks: Box::new(move |target| emulator.send_webhooks(target)),
            }
        }
        "jenkins" => {
            let emulator = Arc::new(
                jenkins_emulator::Emulator::start(jenkins_emulator::EmulatorConfig::new("t"))
                    .await
                    .unwrap(),
            );
            let mut config =
                buildrunner_jenkins::JenkinsConfig::new(&emulator.url(), "platform/app", "bot")
                    .unwrap();
            config.webhook_secret = secret;
            let runner =
                buildrunner_jenkins::JenkinsRunner::new("q", config, Token::new("t").unwrap())
                    .unwrap();
            Platform {
                runner: Arc::new(runner),
                send_webhooks: Box::new(move |target| emulator.send_webhooks(target)),
            }
        }
        "azure-pipelines" => {
            let emulator = Arc::new(
                azure_pipelines_emulator::Emulator::start(
                    azure_pipelines_emulator::EmulatorConfig::new("t"),
                )
                .await
                .unwrap(),
            );
            let mut config =
                buildrunner_azure_pipelines::AzurePipelinesConfig::new("acme", "app", 4)
                    .unwrap()
                    .with_api_url(&emulator.url())
                    .unwrap();
            config.webhook_secret = secret;
            let runner = buildrunner_azure_pipelines::AzurePipelinesRunner::new(
                "q",
                config,
                Token::new("t").unwrap(),
            )
            .unwrap();
            Platform {
                runner: Arc::new(runner),
                send_webhooks: Box::new(move |target| emulator.send_webhooks(target)),
            }
        }
        _ => {
            let emulator = Arc::new(
                gitlab_emulator::Emulator::start(gitlab_emulator::EmulatorConfig::new("t"))
                    .await
                    .unwrap(),
            );
            let mut config = buildrunner_gitlab::GitLabConfig::new("group/app")
                .unwrap()
                .with_api_url(&emulator.url())
                .unwrap();
            config.webhook_secret = secret;
            let runner =
                buildrunner_gitlab::GitLabRunner::new("q", config, Token::new("t").unwrap())
                    .unwrap();
            Platform {
                runner: Arc::new(runner),
                send_webhooks: Box::new(move |target| emulator.send_webhooks(target)),
            }
        }
    }
}

fn polling_every(interval: Duration) -> TrackerOptions {
    TrackerOptions {
        intervals: Intervals {
            min: interval,
            max: interval,
            age_factor: 0.0,
        },
        max_cost_per_sec: 1000.0,
        confirm_after: Duration::from_millis(50),
        ..TrackerOptions::default()
    }
}

struct Following {
    tracker: Arc<Tracker>,
    events: tokio::sync::mpsc::Receiver<TrackerEvent>,
    listener: WebhookListener,
    counts: Arc<WebhookCounts>,
    expected: HashMap<BuildId, BuildStatus>,
}

/// Starts a tracker and its listener, turns on the emulator's webhooks, triggers `count`
/// builds (every third one fails) and follows them.
async fn follow(
    platform: &Platform,
    count: usize,
    options: TrackerOptions,
    configure: impl FnOnce(&mut WebhookTarget),
) -> Following {
    let (tracker, events) = Tracker::start(Arc::clone(&platform.runner), options);
    let tracker = Arc::new(tracker);
    let route = WebhookRoute {
        runner: Arc::clone(&platform.runner),
        hints: Arc::clone(&tracker) as Arc<dyn buildrunner_tracker::listener::Hints>,
    };
    let listener = WebhookListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        HashMap::from([("q".to_owned(), route)]),
        Some("q".to_owned()),
    )
    .await
    .unwrap();
    let mut target =
        WebhookTarget::new(format!("http://{}/webhook", listener.local_addr()), SECRET);
    configure(&mut target);
    let counts = (platform.send_webhooks)(target);
    let mut expected = HashMap::new();
    for i in 0..count {
        let (marker, status) = if i % 3 == 2 {
            ("?buildrunner-outcome=fail", BuildStatus::Failed)
        } else {
            ("", BuildStatus::Succeeded)
        };
        let request = buildrunner_testkit::request(&format!("https://x/{i}{marker}"));
        let id = platform.runner.trigger(&request).await.unwrap();
        tracker.follow(id.clone());
        expected.insert(id, status);
    }
    Following {
        tracker,
        events,
        listener,
        counts,
        expected,
    }
}

/// The terminal verdicts that arrive within `within`, checking that none repeats.
async fn verdicts(following: &mut Following, within: Duration) -> HashMap<BuildId, BuildStatus> {
    let mut verdicts = HashMap::new();
    let deadline = tokio::time::Instant::now() + within;
    while verdicts.len() < following.expected.len() {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, following.events.recv()).await
        else {
            break;
        };
        if let TrackerEvent::Changed { id, report, .. } = event
            && report.status.is_terminal()
        {
            assert!(
                verdicts.insert(id.clone(), report.status).is_none(),
                "{id}: a second verdict"
            );
        }
    }
    verdicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_bring_verdicts_long_before_the_next_poll() {
    for name in PLATFORMS {
        let platform = platform(name).await;
        // Polled when followed, then not for a minute: only webhooks can be this fast.
        let mut following = follow(
            &platform,
            6,
            polling_every(Duration::from_secs(60)),
            |target| {
                target.signed = name == "buildkite"; // Buildkite's signature mode
            },
        )
        .await;
        let verdicts = verdicts(&mut following, Duration::from_secs(10)).await;
        assert_eq!(
            verdicts, following.expected,
            "[{name}] every verdict, right"
        );
        let counts = following.listener.counts();
        assert_eq!(counts.refused.load(Ordering::Relaxed), 0, "[{name}]");
        assert!(counts.builds.load(Ordering::Relaxed) >= 6, "[{name}]");
        assert_eq!(
            following.tracker.followed(),
            0,
            "[{name}] finished builds are let go"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_with_bad_signatures_change_nothing() {
    for name in PLATFORMS {
        let platform = platform(name).await;
        let mut following = follow(
            &platform,
            3,
            polling_every(Duration::from_secs(60)),
            |target| {
                target.signed = name == "buildkite";
                target.faults.bad_signature = 1.0;
            },
        )
        .await;
        let verdicts = verdicts(&mut following, Duration::from_millis(1500)).await;
        assert!(
            verdicts.is_empty(),
            "[{name}] no verdict from a forged webhook: {verdicts:?}"
        );
        let refused = following.listener.counts().refused.load(Ordering::Relaxed);
        assert!(refused >= 3, "[{name}] {refused} refused");
        assert_eq!(
            following.listener.counts().builds.load(Ordering::Relaxed),
            0,
            "[{name}]"
        );
        assert_eq!(following.tracker.followed(), 3, "[{name}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_duplicated_late_and_reordered_webhooks_lose_no_verdict() {
    for name in PLATFORMS {
        let platform = platform(name).await;
        let mut following = follow(
            &platform,
            12,
            polling_every(Duration::from_millis(500)),
            |target| {
                target.faults = WebhookFaults {
                    drop: 0.3,
                    duplicate: 0.3,
                    delay: 0.2,
                    delay_by: Duration::from_millis(300),
                    reorder: 0.3,
                    bad_signature: 0.0,
                };
            },
        )
        .await;
        let verdicts = verdicts(&mut following, Duration::from_secs(15)).await;
        assert_eq!(verdicts, following.expected, "[{name}]");
        let dropped = WebhookCounts::get(&following.counts.dropped);
        let changes = WebhookCounts::get(&following.counts.changes);
        assert!(changes >= 24, "[{name}] {changes} state changes announced");
        assert!(dropped > 0, "[{name}] the fault was exercised");
        let ids: HashSet<_> = verdicts.keys().collect();
        assert_eq!(ids.len(), 12);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_answers_as_the_contract_says() {
    let platform = platform("gitlab").await;
    let (tracker, _events) = Tracker::start(
        Arc::clone(&platform.runner),
        polling_every(Duration::from_secs(60)),
    );
    let route = WebhookRoute {
        runner: Arc::clone(&platform.runner),
        hints: Arc::new(tracker) as Arc<dyn buildrunner_tracker::listener::Hints>,
    };
    let listener = WebhookListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        HashMap::from([("gl".to_owned(), route)]),
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", listener.local_addr());
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, event: &str, body: Vec<u8>| {
        client
            .post(format!("{base}{path}"))
            .header("X-Gitlab-Token", token)
            .header("X-Gitlab-Event", event)
            .body(body)
            .send()
    };
    let pipeline = br#"{"object_kind":"pipeline","object_attributes":{"id":7,"status":"success"},"project":{"id":1,"path_with_namespace":"group/app"}}"#.to_vec();
    let status = |answer: reqwest::Result<reqwest::Response>| answer.unwrap().status().as_u16();
    assert_eq!(
        status(post("/webhook/gl", SECRET, "Pipeline Hook", pipeline.clone()).await),
        200
    );
    assert_eq!(
        status(post("/webhook/gl", SECRET, "Push Hook", b"{}".to_vec()).await),
        200,
        "unknown events are acknowledged"
    );
    assert_eq!(
        status(post("/webhook/gl", "wrong", "Pipeline Hook", pipeline.clone()).await),
        401
    );
    let oversized = vec![b' '; buildrunner_api::webhook::DEFAULT_WEBHOOK_BODY_LIMIT + 1];
    assert_eq!(
        status(post("/webhook/gl", SECRET, "Pipeline Hook", oversized).await),
        413
    );
    assert_eq!(
        status(post("/webhook/other", SECRET, "Pipeline Hook", pipeline.clone()).await),
        404
    );
    assert_eq!(
        status(post("/webhook", SECRET, "Pipeline Hook", pipeline.clone()).await),
        404,
        "no default queue"
    );
    assert_eq!(
        status(post("/elsewhere", SECRET, "Pipeline Hook", pipeline.clone()).await),
        404
    );
    assert_eq!(
        status(client.get(format!("{base}/webhook/gl")).send().await),
        404
    );
    let counts = listener.counts();
    assert_eq!(
        (
            counts.builds.load(Ordering::Relaxed),
            counts.ignored.load(Ordering::Relaxed),
            counts.refused.load(Ordering::Relaxed)
        ),
        (1, 1, 2)
    );
}
