//! Webhook receivers of the five HTTP CIs: any body, with the right credentials, is an event
//! naming a build of the configured project or an acknowledged "ignored", never a panic or a
//! refusal; with wrong credentials, always a refusal.
#![no_main]

use buildrunner_api::webhook::{WebhookDelivery, WebhookError, WebhookEvent};
use buildrunner_api::BuildRunner;
use buildrunner_http::Token;
use buildrunner_emulator_engine::hmac_sha256_hex;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz secret";

/// Each CI's runner, the header naming the event, its build event, and its ids' prefix.
type Receiving = (Box<dyn BuildRunner>, &'static str, &'static str, &'static str);

fn runners() -> Vec<Receiving> {
    let secret = || Some(Token::multiline(SECRET).unwrap());
    let mut buildkite = buildrunner_buildkite::BuildkiteConfig::new("acme", "app").unwrap();
    buildkite.webhook_secret = secret();
    let mut github = buildrunner_github_actions::GitHubActionsConfig::new("octo", "app", "ci.yml").unwrap();
    github.webhook_secret = secret();
    let mut gitlab = buildrunner_gitlab::GitLabConfig::new("group/app").unwrap();
    gitlab.webhook_secret = secret();
    let mut jenkins = buildrunner_jenkins::JenkinsConfig::new("https://ci.example.com/", "platform/app", "bot").unwrap();
    jenkins.webhook_secret = secret();
    let mut azure = buildrunner_azure_pipelines::AzurePipelinesConfig::new("acme", "app", 4).unwrap();
    azure.webhook_secret = secret();
    let token = || Token::new("t").unwrap();
    vec![
        (Box::new(buildrunner_buildkite::BuildkiteRunner::new("q", buildkite, token()).unwrap()), "X-Buildkite-Event", "build.finished", "acme/app/"),
        (
            Box::new(
                buildrunner_github_actions::GitHubActionsRunner::new(
                    "q",
                    github,
                    buildrunner_github_actions::Credentials::Token(token()),
                )
                .unwrap(),
            ),
            "X-GitHub-Event",
            "workflow_run",
            "octo/app/",
        ),
        (Box::new(buildrunner_gitlab::GitLabRunner::new("q", gitlab, token()).unwrap()), "X-Gitlab-Event", "Pipeline Hook", "group/app/"),
        // Jenkins and Azure name their events in the body; the header is only noise to them.
        (Box::new(buildrunner_jenkins::JenkinsRunner::new("q", jenkins, token()).unwrap()), "X-Event", "none", "platform/app/queue/"),
        (Box::new(buildrunner_azure_pipelines::AzurePipelinesRunner::new("q", azure, token()).unwrap()), "X-Event", "none", "acme/app/4/"),
    ]
}

static RUNNERS: std::sync::OnceLock<Vec<Receiving>> = std::sync::OnceLock::new();

fuzz_target!(|body: &[u8]| {
    for (runner, event_header, event, prefix) in RUNNERS.get_or_init(runners) {
        check(runner.as_ref(), event_header, event, prefix, body);
    }
});

fn check(runner: &dyn BuildRunner, event_header: &str, event: &str, prefix: &str, body: &[u8]) {
    let receiver = runner.webhooks().unwrap();
    let signature = format!("sha256={}", hmac_sha256_hex(SECRET, body));
    let credentials = |good: bool| -> Vec<(String, String)> {
        let secret = if good { SECRET.to_owned() } else { format!("{SECRET}!") };
        let signature = if good { signature.clone() } else { "sha256=00".to_owned() };
        // Basic "hook:<secret>": the password Jenkins' and Azure's senders carry.
        let basic = if good { "Basic aG9vazpmdXp6IHNlY3JldA==" } else { "Basic aG9vazpmdXp6IHNlY3JldCE=" };
        vec![
            ("X-Buildkite-Token".into(), secret.clone()),
            ("X-Gitlab-Token".into(), secret),
            ("X-Hub-Signature-256".into(), signature),
            ("Authorization".into(), basic.to_owned()),
        ]
    };
    for good in [true, false] {
        let mut headers = credentials(good);
        headers.push((event_header.to_owned(), event.to_owned()));
        match receiver.receive(&WebhookDelivery::new(headers, body.to_vec())) {
            Ok(WebhookEvent::Build { id, .. }) => {
                assert!(good, "a forged delivery named a build");
                assert!(id.as_str().starts_with(prefix), "{id} is not of this project");
            }
            Ok(_) => assert!(good, "a forged delivery was accepted"),
            Err(WebhookError::Unauthenticated { .. }) => assert!(!good, "the right credentials were refused"),
            Err(other) => panic!("{other:?}"),
        }
    }
}
