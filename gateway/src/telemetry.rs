//! Logs and traces.
//!
//! - **Logs** go to stderr: JSON when stderr is not a terminal,
//!   human-readable when it is; the level comes from `RUST_LOG`. A thread of
//!   their own writes them (`tracing-appender`'s non-blocking writer), so a
//!   request never waits for stderr: when the writer falls more than
//!   [`LOG_BUFFER_LINES`] behind, lines are dropped and counted
//!   ([`dropped_log_lines`], `gateway_log_lines_dropped_total`). The
//!   [`TelemetryGuard`] writes what is queued when it is dropped.
//! - **Traces** are OpenTelemetry spans made from `tracing` spans
//!   (tracing-opentelemetry), exported over OTLP HTTP/protobuf in batches
//!   when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//!   is set, and not made at all otherwise. `OTEL_SERVICE_NAME` names the
//!   service (default `gateway`); the exporter reads the other standard
//!   `OTEL_EXPORTER_OTLP_*` variables itself. Traces hold every span and event
//!   at `INFO` or above whatever `RUST_LOG` says: the two outputs are filtered
//!   separately.
//!
//! The spans, all made here so that their names and attributes are in one place:
//!
//! - `gateway.request` ([`request_span`]): one per client request. Its parent
//!   is the client's W3C `traceparent` when it sent a valid one.
//! - `gateway.legacy` ([`legacy_span`]) and `gateway.service`
//!   ([`service_span`]): the call to the side that answers, children of the
//!   request. Towards legacy, [`inject_trace_context`] replaces the client's
//!   `traceparent`/`tracestate` with the legacy span's context. Under
//!   `gateway.service` come the service's use-case spans and SeaORM's
//!   statement spans (`sea_orm.*`, the `tracing-spans` feature).
//! - `gateway.shadow` ([`shadow_span`]): a mirror, run in a detached task; a
//!   root in `tracing`'s tree, so it never keeps the request span open, but
//!   the request span's child in the trace.

use std::io::IsTerminal;

use axum::body::Body;
use http::{HeaderMap, HeaderName, Request, StatusCode};
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing::field::Empty;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use gateway_routing::{Target, normalize_path};

/// The log filter when `RUST_LOG` is unset or invalid.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Log lines queued for the writer thread before new ones are dropped (and counted).
pub const LOG_BUFFER_LINES: usize = 128 * 1024;

/// The writer thread's buffer: lines queued together go out in one `write` of up to this much.
const LOG_WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Counts the log lines the writer thread dropped, once [`init`] has installed it.
static LOG_DROPS: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Log lines dropped because the writer could not keep up (0 before [`init`]).
pub fn dropped_log_lines() -> u64 {
    LOG_DROPS
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// `service.name` when `OTEL_SERVICE_NAME` is unset.
pub const DEFAULT_SERVICE_NAME: &str = "gateway";

/// The variables whose presence turns the trace exporter on.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Flushes the spans still queued and stops the exporter, on [`shutdown`](Self::shutdown) or drop.
///
/// Holds nothing when traces are off.
#[must_use = "dropping the guard stops the trace exporter and the log writer"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// Writes the queued log lines when dropped; after the provider, whose shutdown may log.
    logs: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl TelemetryGuard {
    /// Whether spans are being exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes the queued spans and stops the exporter (what dropping does).
    pub fn shutdown(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            // The subscriber may be the one failing to export: say it on stderr directly.
            eprintln!("gateway: flushing traces failed: {err}");
        }
        drop(self.logs.take());
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Installs the global subscriber (logs, and traces when configured) and the
/// W3C trace-context propagator. Later calls install nothing and return an
/// idle guard.
///
/// When the OTLP exporter cannot be built (a malformed endpoint, say), the
/// gateway runs without traces and logs why.
pub fn init() -> TelemetryGuard {
    install_propagator();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let (writer, log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("gateway-log-writer")
        // The writer takes every line queued, then flushes: one `write` per batch, not per line.
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER_BYTES,
            std::io::stderr(),
        ));
    let drops = writer.error_counter();
    let access_writer = writer.clone();
    let terminal = std::io::stderr().is_terminal();
    // Events only: every log line carries its own fields, so the log layer
    // never formats a span's fields (on each `Span::record`, per request),
    // and with traces off no span is made at all.
    let filter = filter.and(filter_fn(|metadata| metadata.is_event()));
    let logs = tracing_subscriber::fmt::layer().with_writer(writer);
    let logs = if terminal {
        logs.with_filter(filter).boxed()
    } else {
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    };

    let (provider, failure) = if traces_configured(|name| std::env::var(name).ok()) {
        match otlp_provider(service_name(std::env::var("OTEL_SERVICE_NAME").ok())) {
            Ok(provider) => (Some(provider), None),
            Err(err) => (None, Some(err)),
        }
    } else {
        (None, None)
    };
    // `try_init` fails only when a subscriber is already installed, which is fine.
    // No `Option` layer for traces: a `None` layer enables every span, and
    // the registry would then make and track spans nobody reads.
    let registry = tracing_subscriber::registry().with(logs);
    let installed = match provider.as_ref() {
        Some(provider) => registry.with(otel_layer(provider)).try_init(),
        None => registry.try_init(),
    }
    .is_ok();
    if let Some(err) = failure {
        tracing::warn!(error = %ErrorChain(err.as_ref()), "traces are off: the OTLP exporter could not be built");
    }
    if installed {
        let _ = LOG_DROPS.set(drops);
        // Access-log lines are JSON formatted by hand, off a terminal, if `RUST_LOG` keeps them.
        let kept = tracing::enabled!(
            kind: tracing::metadata::Kind::EVENT,
            target: "access_log",
            tracing::Level::INFO
        );
        if !terminal && kept {
            crate::access_log::install(access_writer);
        }
    }
    let guard = TelemetryGuard {
        provider: provider.filter(|_| installed),
        logs: installed.then_some(log_guard),
    };
    if guard.exporting() {
        tracing::info!("exporting traces over OTLP");
    }
    guard
}

/// Sets the W3C TraceContext propagator (`traceparent`, `tracestate`) as the global one.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
///
/// It sees every span and event at `INFO` or above, whatever filters the
/// other layers have. Public so that tests can install it over an in-memory
/// exporter.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("gateway"))
        .with_filter(LevelFilter::INFO)
}

/// Whether an OTLP endpoint is configured (set and not blank).
fn traces_configured(var: impl Fn(&str) -> Option<String>) -> bool {
    ENDPOINT_VARS
        .iter()
        .any(|name| var(name).is_some_and(|value| !value.trim().is_empty()))
}

/// `OTEL_SERVICE_NAME`, or [`DEFAULT_SERVICE_NAME`] when unset or blank.
fn service_name(configured: Option<String>) -> String {
    configured
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned())
}

/// A provider exporting in batches over OTLP HTTP/protobuf, endpoint from the environment.
fn otlp_provider(
    service_name: String,
) -> Result<SdkTracerProvider, Box<dyn std::error::Error + Send + Sync>> {
    // reqwest is built with `rustls-no-provider`: pick ring before any client
    // is built. An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build())
}

/// The span of one client request, `gateway.request`.
///
/// Its parent is the trace context in the client's `traceparent` (and
/// `tracestate`) when valid; otherwise it starts a trace. `url.path` is the
/// normalised path, never the query. The proxy records the rest with
/// [`record_request_id`] and [`record_outcome`].
pub(crate) fn request_span(request: &Request<Body>) -> Span {
    let span = tracing::info_span!(
        "gateway.request",
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = Empty,
        gateway.route = Empty,
        gateway.target = Empty,
        gateway.request_id = Empty,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    if span.is_disabled() {
        // Nothing listens (traces off): skip the work of filling the span.
        return span;
    }
    if let Ok(path) = normalize_path(request.uri().path()) {
        span.record("url.path", path.to_uri_path().as_ref());
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer sees the span: nothing to link then.
        let _ = span.set_parent(parent);
    }
    span
}

/// Records the request id on the request span.
pub(crate) fn record_request_id(span: &Span, id: &http::HeaderValue) {
    span.record("gateway.request_id", id.to_str().unwrap_or("-"));
}

/// Records where a request went and its status on the request span; a 5xx marks it as an error.
pub(crate) fn record_outcome(span: &Span, route: &str, target: &str, status: StatusCode) {
    span.record("gateway.route", route);
    span.record("gateway.target", target);
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// The span of a call to legacy, `gateway.legacy`, a child of the current span.
pub(crate) fn legacy_span(method: &http::Method) -> Span {
    tracing::info_span!(
        "gateway.legacy",
        otel.kind = "client",
        http.request.method = %method,
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// The span of an in-process call to the service, `gateway.service`, a child of the current span.
pub(crate) fn service_span(method: &http::Method) -> Span {
    tracing::info_span!(
        "gateway.service",
        otel.kind = "internal",
        http.request.method = %method,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    )
}

/// Records a side's answer on its span: the status, or the error's kind.
pub(crate) fn record_call<E>(
    span: &Span,
    result: &Result<http::Response<Body>, E>,
    kind: impl Fn(&E) -> &'static str,
) {
    match result {
        Ok(response) => {
            span.record("http.response.status_code", response.status().as_u16());
            if response.status().is_server_error() {
                span.record("otel.status_code", "error");
            }
        }
        Err(err) => {
            span.record("error.type", kind(err));
            span.record("otel.status_code", "error");
        }
    }
}

/// The span of a detached mirror, `gateway.shadow`.
///
/// A root for `tracing` (so the mirror never keeps the request span open),
/// whose OpenTelemetry parent is the current span: call it from the request's task.
pub(crate) fn shadow_span(route: &str, side: Target) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "gateway.shadow",
        otel.kind = "internal",
        gateway.route = route,
        gateway.target = side.as_str(),
    );
    let parent = Span::current().context();
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span
}

/// Sets `traceparent` and `tracestate` towards a backend to the current span's context.
///
/// The client's values are replaced: the gateway's span is the backend's
/// parent now. When the current span has no OpenTelemetry context (traces
/// off), the headers are left untouched, so the client's pass through.
pub(crate) fn inject_trace_context(headers: &mut HeaderMap) {
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    let mut injected = HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut NonEmpty(HeaderInjector(&mut injected)));
    });
    if !injected.contains_key(&TRACEPARENT) {
        // No propagator installed: better the client's context than none.
        return;
    }
    headers.remove(&TRACEPARENT);
    headers.remove(&TRACESTATE);
    headers.extend(injected);
}

/// An injector that skips empty values (the propagator writes `tracestate: ""` when there is none).
struct NonEmpty<I>(I);

impl<I: Injector> Injector for NonEmpty<I> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.set(key, value);
        }
    }
}

pub use accounts::ErrorChain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_on_only_with_an_endpoint() {
        let cases: [(&[(&str, &str)], bool); 5] = [
            (&[], false),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")], false),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")], false),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")],
                true,
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://collector:4318/v1/traces",
                )],
                true,
            ),
        ];
        for (vars, on) in cases {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            assert_eq!(traces_configured(lookup), on, "{vars:?}");
        }
    }

    #[test]
    fn service_name_defaults_to_gateway() {
        assert_eq!(service_name(None), "gateway");
        assert_eq!(service_name(Some(" ".to_owned())), "gateway");
        assert_eq!(service_name(Some("edge".to_owned())), "edge");
    }

    #[test]
    fn injection_without_a_trace_leaves_the_client_context() {
        let mut headers = HeaderMap::new();
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        headers.insert(TRACEPARENT, traceparent.parse().unwrap());
        headers.insert(TRACESTATE, "congo=t61rcWkgMzE".parse().unwrap());
        install_propagator();
        inject_trace_context(&mut headers);
        assert_eq!(headers[&TRACEPARENT], traceparent);
        assert_eq!(headers[&TRACESTATE], "congo=t61rcWkgMzE");
    }

    #[test]
    fn non_empty_injector_skips_empty_values() {
        let mut headers = HeaderMap::new();
        let mut injector = NonEmpty(HeaderInjector(&mut headers));
        injector.set("tracestate", String::new());
        injector.set("traceparent", "x".to_owned());
        assert!(!headers.contains_key(&TRACESTATE));
        assert_eq!(headers[&TRACEPARENT], "x");
    }
}
