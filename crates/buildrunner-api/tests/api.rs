//! Tests of the api crate's public surface: request rules, statuses, errors and the registry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildrunner_api::outcome::Outcome;
use buildrunner_api::registry::{self, BackendRegistration, Registry};
use buildrunner_api::{
    BuildId, BuildReport, BuildRunner, BuildStatus, Capabilities, Change, Error, QueueConfig,
    Result, TriggerRequest,
};
use serde::Deserialize;

fn change(uri: &str) -> Change {
    Change::new([uri])
}

#[test]
fn a_request_needs_head_changes() {
    let error = TriggerRequest::new(vec![]).unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    assert!(error.to_string().contains("head"), "{error}");

    let error = TriggerRequest::builder()
        .base(change("https://x/pull/1"))
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
}

#[test]
fn changes_need_non_empty_uris() {
    for bad in [
        Change::new(Vec::<String>::new()),
        Change::new([""]),
        Change::new(["a\nb"]),
    ] {
        let error = TriggerRequest::new(vec![bad.clone()]).unwrap_err();
        assert!(
            matches!(error, Error::InvalidRequest { .. }),
            "{bad:?}: {error:?}"
        );
        let error = TriggerRequest::builder()
            .base(bad.clone())
            .head(change("https://x/pull/2"))
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("base change 0"), "{error}");
    }
}

#[test]
fn idempotency_keys_and_metadata_keys_are_checked() {
    let ok = |key: &str| {
        TriggerRequest::builder()
            .head(change("https://x/pull/1"))
            .idempotency_key(key)
            .build()
    };
    assert_eq!(ok("batch-7").unwrap().idempotency_key(), Some("batch-7"));
    assert!(ok(&"k".repeat(buildrunner_api::MAX_IDEMPOTENCY_KEY_LEN)).is_ok());
    for bad in [
        String::new(),
        "k".repeat(buildrunner_api::MAX_IDEMPOTENCY_KEY_LEN + 1),
        "a\u{7}b".to_owned(),
    ] {
        assert!(
            matches!(ok(&bad), Err(Error::InvalidRequest { .. })),
            "{bad:?}"
        );
    }
    let error = TriggerRequest::builder()
        .head(change("https://x/pull/1"))
        .metadata("", "v")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { .. }));
}

#[test]
fn uris_flatten_in_order_across_changes() {
    let request = TriggerRequest::builder()
        .base(Change::new(["b1", "b2"]))
        .base(Change::new(["b3"]))
        .head(Change::new(["h1"]))
        .head(Change::new(["h2", "h3"]))
        .build()
        .unwrap();
    assert_eq!(request.base_uris().collect::<Vec<_>>(), ["b1", "b2", "b3"]);
    assert_eq!(request.head_uris().collect::<Vec<_>>(), ["h1", "h2", "h3"]);
}

#[test]
fn deserializing_a_request_applies_the_same_rules() {
    let request: TriggerRequest = serde_json::from_value(serde_json::json!({
        "head": [{"uris": ["https://x/pull/1"]}],
        "metadata": {"b": "2", "a": "1"},
        "idempotency_key": "k"
    }))
    .unwrap();
    assert_eq!(request.metadata().keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(request.base().is_empty());

    let error = serde_json::from_value::<TriggerRequest>(serde_json::json!({"head": []}))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("head must contain at least one change"),
        "{error}"
    );
    let error = serde_json::from_value::<TriggerRequest>(
        serde_json::json!({"head": [{"uris": ["u"]}], "heads": []}),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("unknown field `heads`"), "{error}");

    // A serialized request reads back unchanged.
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(
        serde_json::from_value::<TriggerRequest>(json).unwrap(),
        request
    );
}

#[test]
fn status_terminality_table() {
    let table = [
        (BuildStatus::Unknown, false, "unknown"),
        (BuildStatus::Accepted, false, "accepted"),
        (BuildStatus::Running, false, "running"),
        (BuildStatus::Succeeded, true, "succeeded"),
        (BuildStatus::Failed, true, "failed"),
        (BuildStatus::Cancelled, true, "cancelled"),
    ];
    assert_eq!(table.len(), BuildStatus::ALL.len());
    for (status, terminal, name) in table {
        assert_eq!(status.is_terminal(), terminal, "{status:?}");
        assert_eq!(status.to_string(), name);
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            serde_json::json!(name)
        );
        assert_eq!(
            serde_json::from_value::<BuildStatus>(serde_json::json!(name)).unwrap(),
            status
        );
    }
}

#[test]
fn error_retryability_table() {
    let wait = Some(Duration::from_secs(7));
    let table: Vec<(Error, bool, &str)> = vec![
        (
            Error::InvalidRequest { reason: "r".into() },
            false,
            "invalid_request",
        ),
        (
            Error::InvalidBuildId {
                id: "i".into(),
                reason: "r".into(),
            },
            false,
            "invalid_build_id",
        ),
        (Error::NotFound { id: "i".into() }, false, "not_found"),
        (
            Error::Unauthenticated {
                message: "m".into(),
            },
            false,
            "unauthenticated",
        ),
        (
            Error::PermissionDenied {
                message: "m".into(),
            },
            false,
            "permission_denied",
        ),
        (
            Error::RateLimited {
                retry_after: wait,
                message: "m".into(),
            },
            true,
            "rate_limited",
        ),
        (
            Error::Unavailable {
                message: "m".into(),
                source: None,
            },
            true,
            "unavailable",
        ),
        (
            Error::Rejected {
                message: "m".into(),
            },
            false,
            "rejected",
        ),
        (
            Error::Protocol {
                message: "m".into(),
                source: None,
            },
            false,
            "protocol",
        ),
        (
            Error::Configuration {
                message: "m".into(),
            },
            false,
            "configuration",
        ),
        (
            Error::UnknownBackend {
                name: "n".into(),
                available: vec![],
                closest: None,
            },
            false,
            "unknown_backend",
        ),
        (
            Error::DuplicateBackend {
                name: "n".into(),
                first: "a".into(),
                second: "b".into(),
            },
            false,
            "duplicate_backend",
        ),
        (
            Error::Unsupported {
                backend: "b",
                operation: "o",
            },
            false,
            "unsupported",
        ),
    ];
    for (error, retryable, kind) in &table {
        assert_eq!(error.is_retryable(), *retryable, "{error:?}");
        assert_eq!(error.kind(), *kind);
    }
    assert_eq!(table[5].0.retry_after(), wait);
    assert_eq!(table[6].0.retry_after(), None);
}

#[test]
fn outcome_markers_are_read_from_the_first_marked_uri() {
    let cases: [(&[&str], Result<Outcome, ()>); 7] = [
        (&["https://x/pull/1"], Ok(Outcome::Pass)),
        (
            &["https://x/pull/1?buildrunner-outcome=fail"],
            Ok(Outcome::Fail),
        ),
        (&["a", "b#buildrunner-outcome=hang"], Ok(Outcome::Hang)),
        (
            &["x?buildrunner-outcome=trigger-error&y=1"],
            Ok(Outcome::TriggerError),
        ),
        (
            &["buildrunner-outcome=status-error"],
            Ok(Outcome::StatusError),
        ),
        (
            &["?buildrunner-outcome=fail", "?buildrunner-outcome=hang"],
            Ok(Outcome::Fail),
        ),
        (&["?buildrunner-outcome=oops"], Err(())),
    ];
    for (uris, expected) in cases {
        assert_eq!(
            Outcome::from_uris(uris.iter().copied()).map_err(|_| ()),
            expected,
            "{uris:?}"
        );
    }
}

#[derive(Debug)]
struct FakeRunner(&'static str);

#[async_trait]
impl BuildRunner for FakeRunner {
    fn backend_name(&self) -> &'static str {
        self.0
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn trigger(&self, _: &TriggerRequest) -> Result<BuildId> {
        Ok(BuildId::new(format!("{}:1", self.0)))
    }
    async fn status(&self, _: &BuildId) -> Result<BuildReport> {
        Ok(BuildReport::new(BuildStatus::Succeeded))
    }
    async fn cancel(&self, _: &BuildId) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlphaOptions {
    #[serde(default)]
    #[allow(dead_code)]
    depth: u32,
}

fn create_alpha(config: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
    let _: AlphaOptions = config.options("alpha")?;
    Ok(Arc::new(FakeRunner("alpha")))
}

fn create_beta(_: &QueueConfig) -> Result<Arc<dyn BuildRunner>> {
    Ok(Arc::new(FakeRunner("beta")))
}

static ALPHA: BackendRegistration = BackendRegistration::new("alpha", "first", create_alpha);
static BETA: BackendRegistration = BackendRegistration::new("beta", "second", create_beta);
static BETA_AGAIN: BackendRegistration =
    BackendRegistration::new("beta", "second, again", create_beta);

// Registered through inventory too, so the global registry of this test binary is known.
buildrunner_api::inventory::submit! { BackendRegistration::new("gamma", "third", create_beta) }

#[test]
fn registry_lists_backends_sorted_and_creates_them_by_name() {
    let registry = Registry::from_registrations([&BETA, &ALPHA]).unwrap();
    assert_eq!(registry.names(), ["alpha", "beta"]);
    let runner = registry
        .create(
            "alpha",
            &QueueConfig::new("main", serde_json::json!({"depth": 3})),
        )
        .unwrap();
    assert_eq!(runner.backend_name(), "alpha");
    let runner = registry
        .create("beta", &QueueConfig::new("main", serde_json::Value::Null))
        .unwrap();
    assert_eq!(runner.backend_name(), "beta");
}

#[test]
fn unknown_backend_lists_every_name_and_the_closest() {
    let registry = Registry::from_registrations([&ALPHA, &BETA]).unwrap();
    let error = registry.get("alpah").unwrap_err();
    let Error::UnknownBackend {
        name,
        available,
        closest,
    } = &error
    else {
        panic!("expected UnknownBackend, got {error:?}");
    };
    assert_eq!(name, "alpah");
    assert_eq!(available, &["alpha", "beta"]);
    assert_eq!(closest.as_deref(), Some("alpha"));
    let message = error.to_string();
    assert!(
        message.contains("did you mean \"alpha\"") && message.contains("alpha, beta"),
        "{message}"
    );

    let error = registry.get("jenkins").unwrap_err();
    assert!(
        matches!(&error, Error::UnknownBackend { closest: None, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("did you mean"));
}

#[test]
fn duplicate_names_are_an_error_naming_both() {
    let error = Registry::from_registrations([&ALPHA, &BETA, &BETA_AGAIN]).unwrap_err();
    let Error::DuplicateBackend {
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateBackend, got {error:?}");
    };
    assert_eq!(name, "beta");
    let mut both = [first.as_str(), second.as_str()];
    both.sort();
    assert_eq!(both, ["second", "second, again"]);
}

#[test]
fn unknown_options_are_configuration_errors_naming_queue_and_key() {
    let registry = Registry::from_registrations([&ALPHA]).unwrap();
    let error = registry
        .create(
            "alpha",
            &QueueConfig::new("merge-main", serde_json::json!({"detph": 3})),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("merge-main") && message.contains("detph"),
        "{message}"
    );
}

#[test]
fn the_global_registry_holds_what_this_binary_links() {
    let names: Vec<_> = registry::backends()
        .unwrap()
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["gamma"]);
    let runner = registry::create("gamma", &QueueConfig::new("q", serde_json::json!({}))).unwrap();
    assert_eq!(runner.backend_name(), "beta");
    assert!(matches!(
        registry::create("gama", &QueueConfig::new("q", serde_json::json!({}))),
        Err(Error::UnknownBackend { closest: Some(c), .. }) if c == "gamma"
    ));
}

#[test]
fn build_ids_are_opaque_strings() {
    let id = BuildId::from("acme/app/42");
    assert_eq!(id.to_string(), "acme/app/42");
    assert_eq!(
        serde_json::to_value(&id).unwrap(),
        serde_json::json!("acme/app/42")
    );
    assert!(matches!(id.invalid("nope"), Error::InvalidBuildId { id, .. } if id == "acme/app/42"));
    assert!(matches!(id.not_found(), Error::NotFound { id } if id == "acme/app/42"));
}

/// Runners are shared between tasks as `Arc<dyn BuildRunner>`: the trait object (and so every
/// backend) must be `Send + Sync`. Checked by the compiler, not at run time.
const _: () = {
    const fn shared_between_tasks<T: ?Sized + Send + Sync>() {}
    shared_between_tasks::<dyn BuildRunner>();
    shared_between_tasks::<Arc<dyn BuildRunner>>();
};

/// A runner whose `status` takes a moment and counts how many calls overlap, to test the
/// default `status_many` (the method under test is the trait's own).
#[derive(Debug, Default)]
struct SlowStatus {
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl BuildRunner for SlowStatus {
    fn backend_name(&self) -> &'static str {
        "slow"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    async fn trigger(&self, _request: &TriggerRequest) -> buildrunner_api::Result<BuildId> {
        Err(Error::Unsupported {
            backend: "slow",
            operation: "trigger",
        })
    }

    async fn status(&self, id: &BuildId) -> buildrunner_api::Result<BuildReport> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_in_flight.fetch_max(now, SeqCst);
        // Later ids answer sooner, so an implementation that kept completion order would fail.
        let n: u64 = id.as_str().parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(30u64.saturating_sub(n))).await;
        self.in_flight.fetch_sub(1, SeqCst);
        if n.is_multiple_of(5) {
            return Err(id.not_found());
        }
        Ok(BuildReport::new(BuildStatus::Running)
            .with_metadata([("n".to_owned(), n.to_string())].into()))
    }

    async fn cancel(&self, _id: &BuildId) -> buildrunner_api::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_default_status_many_answers_in_order_with_bounded_concurrency() {
    let runner = SlowStatus::default();
    let ids: Vec<BuildId> = (1..=25).map(|n| BuildId::new(n.to_string())).collect();
    let answers = runner.status_many(&ids).await;
    assert_eq!(answers.len(), 25);
    for (n, answer) in (1u64..).zip(&answers) {
        match answer {
            Ok(report) => assert_eq!(report.metadata["n"], n.to_string()),
            Err(Error::NotFound { id }) => {
                assert_eq!((id.as_str(), n % 5), (n.to_string().as_str(), 0))
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let most = runner
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        most,
        buildrunner_api::STATUS_MANY_CONCURRENCY,
        "calls overlap, up to the bound"
    );
    assert!(runner.status_many(&[]).await.is_empty());
}

// Found by `cargo xtask mutants`: accessors and defaults nothing asserted.

#[test]
fn outcome_markers_print_as_their_tokens() {
    let printed: Vec<String> = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Hang,
        Outcome::Block,
        Outcome::TriggerError,
        Outcome::StatusError,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        printed,
        [
            "pass",
            "fail",
            "hang",
            "block",
            "trigger-error",
            "status-error"
        ]
    );
}

#[test]
fn a_registration_prints_its_name_and_summary() {
    let printed = format!("{ALPHA:?}");
    assert!(
        printed.contains("alpha") && printed.contains("first"),
        "{printed}"
    );
}

#[test]
fn typo_suggestions_allow_a_third_of_the_name() {
    // Two letters dropped from nine: within a third.
    assert_eq!(
        registry::closest_name("bildite", ["buildkite"]),
        Some("buildkite")
    );
    assert_eq!(registry::closest_name("bkite", ["buildkite"]), None);
}

#[test]
fn the_default_status_many_cost_is_one_request_a_build() {
    let runner = FakeRunner("alpha");
    assert_eq!([0, 1, 7].map(|n| runner.status_many_cost(n)), [0, 1, 7]);
}

#[test]
fn accessors_give_back_what_was_given() {
    let request = TriggerRequest::builder()
        .base(change("https://x/pull/1"))
        .head(change("https://x/pull/2"))
        .build()
        .unwrap();
    assert_eq!(request.base(), [change("https://x/pull/1")]);
    let id = BuildId::new("acme/app/42");
    let text: &str = id.as_ref();
    assert_eq!(text, "acme/app/42");
    let mut metadata = buildrunner_api::BuildMetadata::new();
    assert_eq!(BuildReport::new(BuildStatus::Running).url(), None);
    metadata.insert("url".into(), "https://ci.example/42".into());
    let report = BuildReport::new(BuildStatus::Running).with_metadata(metadata);
    assert_eq!(report.url(), Some("https://ci.example/42"));
}

#[test]
fn webhook_deliveries_keep_their_body_and_receivers_cap_at_one_mebibyte() {
    use buildrunner_api::webhook::{DEFAULT_WEBHOOK_BODY_LIMIT, WebhookEvent};
    use buildrunner_api::{WebhookDelivery, WebhookError, WebhookReceiver};

    assert_eq!(DEFAULT_WEBHOOK_BODY_LIMIT, 1_048_576);
    let delivery = WebhookDelivery::new(vec![], b"{\"a\":1}".to_vec());
    assert_eq!(delivery.body(), b"{\"a\":1}");

    #[derive(Debug)]
    struct Plain;
    impl WebhookReceiver for Plain {
        fn receive(&self, _: &WebhookDelivery) -> std::result::Result<WebhookEvent, WebhookError> {
            Ok(WebhookEvent::ignored("plain"))
        }
    }
    assert_eq!(Plain.max_body_bytes(), DEFAULT_WEBHOOK_BODY_LIMIT);
}
