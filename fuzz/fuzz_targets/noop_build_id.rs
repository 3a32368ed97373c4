//! Noop build ids: any text is a status or a typed error, without waiting.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buildrunner_api::{BuildId, BuildRunner, Error};
use buildrunner_noop::NoopRunner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let runner = NoopRunner::new();
    let id = BuildId::new(text);
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(runner.status(&id)).poll(&mut cx) {
        Poll::Ready(Ok(_)) => assert!(text.starts_with("noop:")),
        Poll::Ready(Err(Error::InvalidBuildId { .. } | Error::NotFound { .. } | Error::Unavailable { .. })) => {}
        Poll::Ready(Err(other)) => panic!("unexpected error {other:?}"),
        Poll::Pending => panic!("the noop backend never waits"),
    }
});
