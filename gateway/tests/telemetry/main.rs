//! Traces through the gateway: the spans it makes and the context it propagates.
//!
//! Each test installs, on its own thread, a subscriber with the gateway's
//! OpenTelemetry layer ([`gateway::telemetry::otel_layer`]) over the SDK's
//! in-memory exporter, runs the gateway in-process ([`harness::Harness`])
//! on a current-thread runtime so every task sees that subscriber, sends
//! requests with a client `traceparent`, and checks the exported spans'
//! parent/child links and what the legacy stub received.

mod harness;

use std::collections::HashMap;

use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

use crate::harness::{Harness, describe, spans_until};

/// The test's subscriber and exporter; the subscriber is this thread's default until dropped.
struct Traced {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: DefaultGuard,
    // Dropped last: the next test starts only once this one's subscriber is gone.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// One test at a time: `tracing` caches per call site whether spans are
/// wanted, and thread-local subscribers of tests running side by side made
/// that cache drop spans (a quarter of runs lost the request span).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Installs the gateway's propagator and OpenTelemetry layer over an in-memory exporter.
async fn traced() -> Traced {
    let serial = serial().await;
    gateway::telemetry::install_propagator();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(gateway::telemetry::otel_layer(&provider));
    let guard = tracing::subscriber::set_default(subscriber);
    // A call site first met while no test's subscriber was alive (a thread
    // a previous test left behind) may still be cached as unwanted: ask
    // every call site again now that this one listens.
    tracing::callsite::rebuild_interest_cache();
    Traced {
        exporter,
        _provider: provider,
        _guard: guard,
        _serial: serial,
    }
}

fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

/// The attribute's value as text.
fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn in_trace<'a>(spans: &'a [SpanData], trace: &str) -> impl Iterator<Item = &'a SpanData> {
    spans
        .iter()
        .filter(move |s| s.span_context.trace_id().to_string() == trace)
}

fn has(spans: &[SpanData], trace: &str, name: &str) -> bool {
    in_trace(spans, trace).any(|s| s.name == name)
}

/// The one span of the trace called `name`.
fn one<'a>(spans: &'a [SpanData], trace: &str, name: &str) -> &'a SpanData {
    let found: Vec<_> = in_trace(spans, trace).filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span in trace {trace}: {:#?}",
        spans.iter().map(describe).collect::<Vec<_>>()
    );
    found[0]
}

/// Whether `span` is below `ancestor` (by span id) in the exported tree.
fn descends_from(spans: &[SpanData], span: &SpanData, ancestor: SpanId) -> bool {
    let parents: HashMap<SpanId, SpanId> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s.parent_span_id))
        .collect();
    let mut current = span.parent_span_id;
    for _ in 0..64 {
        if current == ancestor {
            return true;
        }
        match parents.get(&current) {
            Some(parent) => current = *parent,
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn the_legacy_call_continues_the_clients_trace_and_is_propagated() {
    let traced = traced().await;
    let harness = Harness::start().await;
    let (trace, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");

    let reply = harness
        .get(
            "/legacy//orders/./42?token=secret",
            &[
                ("traceparent", &traceparent(trace, client_span)),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);

    let spans = spans_until(&traced.exporter, "the request and legacy spans", |s| {
        has(s, trace, "gateway.request") && has(s, trace, "gateway.legacy")
    })
    .await;
    let request = one(&spans, trace, "gateway.request");
    assert_eq!(request.parent_span_id.to_string(), client_span);
    assert!(request.parent_span_is_remote, "{}", describe(request));
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(attr(request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        attr(request, "url.path").as_deref(),
        Some("/legacy/orders/42"),
        "normalised, without the query"
    );
    assert_eq!(attr(request, "gateway.route").as_deref(), Some("(default)"));
    assert_eq!(attr(request, "gateway.target").as_deref(), Some("legacy"));
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(attr(request, "gateway.request_id").is_some_and(|id| !id.is_empty()));

    let legacy = one(&spans, trace, "gateway.legacy");
    assert_eq!(legacy.parent_span_id, request.span_context.span_id());
    assert_eq!(legacy.span_kind, SpanKind::Client);
    assert_eq!(
        attr(legacy, "http.response.status_code").as_deref(),
        Some("200")
    );

    let seen = harness.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/legacy/orders/42");
    assert_eq!(
        seen[0].traceparent.as_deref(),
        Some(traceparent(trace, &legacy.span_context.span_id().to_string()).as_str()),
        "legacy's parent is the gateway's legacy-call span"
    );
    assert_eq!(seen[0].tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
}

#[tokio::test]
async fn the_service_call_has_handler_and_statement_spans_in_the_trace() {
    let traced = traced().await;
    let harness = Harness::start().await;
    let (trace, client_span) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");

    let reply = harness
        .get(
            "/v1/accounts/users?limit=5",
            &[("traceparent", &traceparent(trace, client_span))],
        )
        .await;
    assert_eq!(reply.status, 200);

    let spans = spans_until(&traced.exporter, "the request and service spans", |s| {
        has(s, trace, "gateway.request")
            && has(s, trace, "gateway.service")
            && has(s, trace, "list_users")
    })
    .await;
    let request = one(&spans, trace, "gateway.request");
    assert_eq!(request.parent_span_id.to_string(), client_span);
    assert_eq!(attr(request, "gateway.route").as_deref(), Some("accounts"));
    assert_eq!(attr(request, "gateway.target").as_deref(), Some("service"));
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("200")
    );

    let service = one(&spans, trace, "gateway.service");
    assert_eq!(service.parent_span_id, request.span_context.span_id());
    assert_eq!(
        attr(service, "http.response.status_code").as_deref(),
        Some("200")
    );
    let handler = one(&spans, trace, "list_users");
    assert!(
        descends_from(&spans, handler, service.span_context.span_id()),
        "{} under {}",
        describe(handler),
        describe(service)
    );

    let statements: Vec<_> = in_trace(&spans, trace)
        .filter(|s| s.name.starts_with("sea_orm."))
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| descends_from(&spans, s, handler.span_context.span_id())
                && attr(s, "db.system").as_deref() == Some("sqlite")
                && attr(s, "db.statement").is_some_and(|sql| sql.contains("SELECT"))),
        "a SELECT statement span under list_users: {:#?}",
        spans.iter().map(describe).collect::<Vec<_>>()
    );
    assert!(harness.seen().is_empty(), "legacy was not called");
}

#[tokio::test]
async fn the_shadow_call_is_a_child_of_the_request() {
    let traced = traced().await;
    let harness = Harness::start().await;
    let (trace, client_span) = ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174");

    let reply = harness
        .get(
            "/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
            &[("traceparent", &traceparent(trace, client_span))],
        )
        .await;
    assert_eq!(reply.status, 200, "legacy answers the route");

    let spans = spans_until(&traced.exporter, "the shadow spans", |s| {
        has(s, trace, "gateway.request")
            && has(s, trace, "gateway.shadow")
            && has(s, trace, "get_user_by_id")
    })
    .await;
    let request = one(&spans, trace, "gateway.request");
    assert_eq!(request.parent_span_id.to_string(), client_span);
    assert_eq!(attr(request, "gateway.route").as_deref(), Some("get-user"));
    let legacy = one(&spans, trace, "gateway.legacy");
    assert_eq!(legacy.parent_span_id, request.span_context.span_id());

    let shadow = one(&spans, trace, "gateway.shadow");
    assert_eq!(shadow.parent_span_id, request.span_context.span_id());
    assert_eq!(attr(shadow, "gateway.target").as_deref(), Some("service"));
    let service = one(&spans, trace, "gateway.service");
    assert_eq!(service.parent_span_id, shadow.span_context.span_id());
    let handler = one(&spans, trace, "get_user_by_id");
    assert!(descends_from(
        &spans,
        handler,
        service.span_context.span_id()
    ));
}

#[tokio::test]
async fn without_a_client_traceparent_the_request_starts_the_trace() {
    let traced = traced().await;
    let harness = Harness::start().await;

    let reply = harness.get("/fresh-trace", &[]).await;
    assert_eq!(reply.status, 200);

    let fresh = |s: &SpanData| {
        s.name == "gateway.request" && attr(s, "url.path").as_deref() == Some("/fresh-trace")
    };
    let spans = spans_until(&traced.exporter, "the request span", |s| {
        s.iter().any(|r| {
            fresh(r)
                && s.iter().any(|l| {
                    l.name == "gateway.legacy" && l.parent_span_id == r.span_context.span_id()
                })
        })
    })
    .await;
    let request = spans.iter().find(|s| fresh(s)).expect("the request span");
    assert_eq!(request.parent_span_id, SpanId::INVALID, "a root span");
    let trace = request.span_context.trace_id().to_string();
    let legacy = one(&spans, &trace, "gateway.legacy");

    let seen = harness.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].traceparent.as_deref(),
        Some(traceparent(&trace, &legacy.span_context.span_id().to_string()).as_str())
    );
    assert_eq!(seen[0].tracestate, None, "no empty tracestate is sent");
}

#[tokio::test]
async fn without_traces_the_clients_trace_context_passes_untouched() {
    let _serial = serial().await;
    gateway::telemetry::install_propagator();
    // Logs on, traces off: what the gateway runs with when no endpoint is set.
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_test_writer()),
    );
    let harness = Harness::start().await;
    let client = traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");

    let reply = harness
        .get(
            "/untraced",
            &[
                ("traceparent", &client),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);

    let seen = harness.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].traceparent.as_deref(), Some(client.as_str()));
    assert_eq!(seen[0].tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
}
