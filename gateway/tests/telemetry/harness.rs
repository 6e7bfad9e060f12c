//! The gateway in-process over a recording legacy stub, and the spans it exports.
//!
//! [`Harness::start`] builds the gateway with [`gateway::app::build`], as
//! `gateway serve` does (the accounts service and the shadow records on a
//! SQLite file of its own), serves it on 127.0.0.1:0, and starts a legacy
//! stub that records the trace headers of every request. The
//! test's subscriber must be installed on the current thread before, and the
//! test must run on a current-thread runtime so that every task sees it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use gateway::config::{ServerSettings, Settings};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long spans may take to arrive before a test fails.
const SPANS_TIMEOUT: Duration = Duration::from_secs(10);

/// The trace headers legacy received on one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) traceparent: Option<String>,
    pub(crate) tracestate: Option<String>,
}

/// The gateway, its legacy stub, and the exporter the test's spans go to.
pub(crate) struct Harness {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// A finished exchange (the body was read to the end).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
}

impl Harness {
    /// Starts the legacy stub and the gateway. Routes: `/v1/accounts` and below
    /// to the service, except `GET /v1/accounts/users/{id}`, which legacy
    /// answers and the service shadows; anything else to legacy.
    pub(crate) async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let legacy_addr = start_legacy(seen.clone()).await;

        let dir = tempfile::tempdir().expect("a temporary directory");
        let routes_file = dir.path().join("routes.toml");
        let routes = test_support::RoutesToml::new(&format!("http://{legacy_addr}"))
            .connect_timeout("1s")
            .default_target("legacy")
            .accounts_to_service()
            .get_user("target = \"legacy\"\nshadow = { to = \"service\" }")
            .build();
        std::fs::write(&routes_file, routes).expect("writing routes.toml");
        let settings = Settings {
            listen: "127.0.0.1:0".parse().expect("an address"),
            admin_listen: "127.0.0.1:0".parse().expect("an address"),
            routes: routes_file,
            database: accounts::DatabaseSettings {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("accounts.sqlite").display()
                ),
                max_connections: 2,
                ..accounts::DatabaseSettings::default()
            },
            server: ServerSettings {
                access_log: false,
                watch_routes: false,
                ..ServerSettings::default()
            },
            ..Settings::default()
        };
        let app = gateway::app::build(settings)
            .await
            .expect("the gateway starts");
        let addr = app.listen().expect("the gateway's address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.serve(async {
            let _ = stopped.await;
        }));

        Self {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            seen,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Sends `GET path` with `headers` and reads the whole answer.
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::get(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::default()).expect("a valid request");
        let exchange = async {
            let response = self.client.request(request).await.expect("a response");
            let status = response.status();
            response
                .into_body()
                .collect()
                .await
                .expect("the whole body");
            Reply { status }
        };
        tokio::time::timeout(SPANS_TIMEOUT, exchange)
            .await
            .expect("an answer in time")
    }

    /// What legacy received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the stub's lock").clone()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A legacy backend that answers `200 {"legacy":true}` and records the trace headers.
async fn start_legacy(seen: Arc<Mutex<Vec<Seen>>>) -> SocketAddr {
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let seen = seen.clone();
        async move {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            seen.lock().expect("the stub's lock").push(Seen {
                path: request.uri().path().to_owned(),
                traceparent: header("traceparent"),
                tracestate: header("tracestate"),
            });
            (
                [(http::header::CONTENT_TYPE, "application/json")],
                r#"{"legacy":true}"#,
            )
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the legacy stub");
    let addr = listener.local_addr().expect("the stub's address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Waits until `exporter` holds spans for which `ready` is true; returns them.
///
/// # Panics
///
/// When they do not arrive in time; the message lists what did.
pub(crate) async fn spans_until(
    exporter: &InMemorySpanExporter,
    what: &str,
    ready: impl Fn(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    let deadline = tokio::time::Instant::now() + SPANS_TIMEOUT;
    loop {
        let spans = exporter.get_finished_spans().expect("the exporter's spans");
        if ready(&spans) {
            return spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {SPANS_TIMEOUT:?}; spans: {:#?}",
            spans.iter().map(describe).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `name trace/span <- parent` for failure messages.
pub(crate) fn describe(span: &SpanData) -> String {
    format!(
        "{} {}/{} <- {}",
        span.name,
        span.span_context.trace_id(),
        span.span_context.span_id(),
        span.parent_span_id
    )
}
