//! Spans, in a test binary of its own: tracing caches whether a callsite is wanted across
//! threads, so a subscriber set for one test while others run without one can miss spans.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use buildrunner_emulator_engine::{Emulated as _, Fault, FaultTarget};
use common::{TOKEN, emulator, request, runner};

#[test]
fn request_spans_follow_the_opentelemetry_http_client_conventions() {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let subscriber = {
        use tracing_subscriber::layer::SubscriberExt;
        tracing_subscriber::registry().with(SpanLog(Arc::clone(&spans)))
    };
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let id = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let emulator = emulator().await;
            let runner = runner(&emulator, false);
            let id = runner.trigger(&request("https://x/1")).await.unwrap();
            emulator.inject(FaultTarget::Method("GET"), 1, Fault::Status(503));
            runner.status(&id).await.unwrap();
            id
        })
    };
    let spans = spans.lock().unwrap();
    let field = |span: &LoggedSpan, name: &str| span.fields.get(name).cloned();
    let status_call = spans
        .iter()
        .find(|s| s.name == "buildrunner.status")
        .expect("a span for the status call");
    assert_eq!(
        field(status_call, "buildrunner.backend").as_deref(),
        Some("buildkite")
    );
    assert_eq!(
        field(status_call, "buildrunner.queue").as_deref(),
        Some("q")
    );
    assert_eq!(
        field(status_call, "buildrunner.build_id").as_deref(),
        Some(id.as_str())
    );
    let gets: Vec<&LoggedSpan> = spans
        .iter()
        .filter(|s| {
            s.name == "http_request" && field(s, "http.request.method").as_deref() == Some("GET")
        })
        .collect();
    assert_eq!(gets.len(), 2, "one per attempt: {spans:#?}");
    let codes: Vec<_> = gets
        .iter()
        .map(|s| field(s, "http.response.status_code"))
        .collect();
    assert_eq!(codes, [Some("503".to_owned()), Some("200".to_owned())]);
    assert_eq!(field(gets[0], "error.type").as_deref(), Some("503"));
    assert_eq!(field(gets[0], "otel.status_code").as_deref(), Some("ERROR"));
    assert_eq!(field(gets[1], "error.type"), None);
    for span in &gets {
        assert_eq!(field(span, "otel.name").as_deref(), Some("GET"));
        assert_eq!(field(span, "otel.kind").as_deref(), Some("client"));
        assert_eq!(field(span, "server.address").as_deref(), Some("127.0.0.1"));
        assert!(field(span, "server.port").is_some());
        assert_eq!(
            field(span, "url.path").as_deref(),
            Some("/v2/organizations/acme/pipelines/app/builds/1")
        );
        assert_eq!(span.parent.as_deref(), Some("buildrunner.status"));
    }
    for span in spans.iter() {
        for (name, value) in &span.fields {
            assert!(
                !value.contains(TOKEN) && !value.contains('?'),
                "{} {name}={value:?}",
                span.name
            );
        }
    }
}

#[derive(Debug, Clone)]
struct LoggedSpan {
    name: &'static str,
    parent: Option<String>,
    fields: BTreeMap<String, String>,
}

/// A layer that keeps every span's name, parent and fields (as recorded, in the end).
struct SpanLog(Arc<Mutex<Vec<LoggedSpan>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// The index of a span's entry in the log, kept in the span's extensions.
struct Logged(usize);

impl<S> tracing_subscriber::Layer<S> for SpanLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let span = ctx.span(id).unwrap();
        let parent = span.parent().map(|p| p.name().to_owned());
        let mut log = self.0.lock().unwrap();
        log.push(LoggedSpan {
            name: attrs.metadata().name(),
            parent,
            fields,
        });
        span.extensions_mut().insert(Logged(log.len() - 1));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let span = ctx.span(id).unwrap();
        if let Some(Logged(index)) = span.extensions().get::<Logged>() {
            values.record(&mut Fields(&mut self.0.lock().unwrap()[*index].fields));
        }
    }
}
