//! Property tests of the noop backend's id parser: any text is a status, `NotFound` or
//! `InvalidBuildId`, never a panic, and minted ids always answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buildrunner_api::{BuildId, BuildRunner, Change, Error, TriggerRequest};
use buildrunner_noop::NoopRunner;
use proptest::prelude::*;

/// The noop backend never waits, so one poll finishes any of its futures.
fn now<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the noop backend never waits"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_a_status_or_a_typed_error(text in ".{0,80}") {
        let runner = NoopRunner::new();
        match now(runner.status(&BuildId::new(text.clone()))) {
            Ok(_) => prop_assert!(text.starts_with("noop:")),
            Err(Error::InvalidBuildId { .. } | Error::NotFound { .. } | Error::Unavailable { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
        let cancelled = now(runner.cancel(&BuildId::new(text)));
        let typed = cancelled.is_ok() || matches!(cancelled, Err(Error::InvalidBuildId { .. } | Error::NotFound { .. }));
        prop_assert!(typed, "unexpected cancel outcome {:?}", cancelled);
    }

    #[test]
    fn shaped_text_is_a_status_or_a_typed_error(
        outcome in "(pass|fail|hang|status-error|trigger-error|PASS|)",
        nonce in "[0-9a-fA-F]{0,34}",
        check in "[0-9a-fA-F]{0,10}",
    ) {
        let runner = NoopRunner::new();
        let text = format!("noop:{outcome}:{nonce}:{check}");
        match now(runner.status(&BuildId::new(text))) {
            Ok(_) | Err(Error::InvalidBuildId { .. } | Error::NotFound { .. } | Error::Unavailable { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn minted_ids_always_answer(uri in "[a-z:/.?=&-]{1,40}", key in proptest::option::of("[ -~]{1,40}")) {
        let runner = NoopRunner::new();
        let mut builder = TriggerRequest::builder().head(Change::new([uri.clone()]));
        if let Some(key) = &key {
            builder = builder.idempotency_key(key);
        }
        let Ok(request) = builder.build() else { return Ok(()) };
        match now(runner.trigger(&request)) {
            Ok(id) => {
                let fresh = NoopRunner::new();
                let answered = now(fresh.status(&id));
                prop_assert!(answered.is_ok() || uri.contains("status-error"), "{:?}", answered);
            }
            Err(Error::InvalidRequest { .. } | Error::Rejected { .. }) => prop_assert!(uri.contains("buildrunner-outcome=")),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
