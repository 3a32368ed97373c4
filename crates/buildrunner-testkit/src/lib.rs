//! Helpers the backends' test targets share, so each test file says only what is particular
//! to its CI. Failures panic with a message: these run in tests only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support fails loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Change, Error, Result, TriggerRequest};
use httpmock::{HttpMockRequest, Mock, MockServer};
use serde_json::Value;

/// A request with one head change of one URI.
pub fn request(uri: &str) -> TriggerRequest {
    TriggerRequest::new(vec![Change::new([uri])]).unwrap()
}

/// Polls `id` every 10 ms until `done` holds (at most 5 s) and returns that status.
pub async fn wait_for(
    runner: &dyn BuildRunner,
    id: &BuildId,
    done: fn(BuildStatus) -> bool,
) -> BuildStatus {
    for _ in 0..500 {
        let status = runner.status(id).await.unwrap().status;
        if done(status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never got there");
}

/// Triggers a build of one head change of `uri`; panics on a refusal.
pub async fn trigger(runner: &dyn BuildRunner, uri: &str) -> BuildId {
    match runner.trigger(&request(uri)).await {
        Ok(id) => id,
        Err(e) => panic!("the trigger of {uri} was refused: {e}"),
    }
}

/// The status `id` ends with: [`wait_for`] until it is terminal.
pub async fn final_status(runner: &dyn BuildRunner, id: &BuildId) -> BuildStatus {
    wait_for(runner, id, BuildStatus::is_terminal).await
}

/// The number an id of the `{prefix}/{number}` form ends with.
pub fn trailing_number(id: &BuildId) -> u64 {
    id.as_str().rsplit('/').next().unwrap().parse().unwrap()
}

/// Asserts that status and cancel of every id are `InvalidBuildId` (callers check with a
/// [`stray_requests`] mock that nothing was sent).
pub async fn assert_invalid_ids(runner: &dyn BuildRunner, ids: &[&str]) {
    for id in ids {
        let id = BuildId::new(*id);
        assert!(
            matches!(runner.status(&id).await, Err(Error::InvalidBuildId { .. })),
            "status of {id:?}"
        );
        assert!(
            matches!(runner.cancel(&id).await, Err(Error::InvalidBuildId { .. })),
            "cancel of {id:?}"
        );
    }
}

/// Asserts that every set of options is a configuration error whose message names the queue
/// and contains the expected text.
pub fn assert_configuration_errors<T: std::fmt::Debug>(
    create: impl Fn(Value) -> Result<T>,
    queue: &str,
    cases: Vec<(Value, &str)>,
) {
    for (options, needle) in cases {
        let error = create(options.clone()).unwrap_err();
        assert!(
            matches!(error, Error::Configuration { .. }),
            "{options}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(needle) && message.contains(queue),
            "{options}: {message}"
        );
    }
}

/// `base` with the keys of `extra` added or replaced (both JSON objects).
pub fn with(base: &Value, extra: Value) -> Value {
    let mut options = base.clone();
    let (Some(fields), Value::Object(extra)) = (options.as_object_mut(), extra) else {
        panic!("with: base and extra must both be JSON objects");
    };
    fields.extend(extra);
    options
}

/// Asserts that the registry of this test binary holds exactly these backends.
pub fn assert_registered(expected: &[&str]) {
    let names: Vec<_> = buildrunner_api::registry::backends()
        .unwrap()
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, expected);
}

/// An httpmock matcher that holds for the first `times` requests it sees, so a mock made with
/// it answers those and lets later ones fall through to the next mock.
pub fn first_n(times: usize) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = Arc::new(AtomicUsize::new(0));
    move |_| seen.fetch_add(1, Ordering::SeqCst) < times
}

/// A mock that answers every request nothing else matched, to count stray requests.
pub async fn stray_requests(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(599);
        })
        .await
}
