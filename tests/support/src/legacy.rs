//! `LegacyStub`: a fake legacy backend on a real socket, for tests that go through the gateway.
//!
//! It listens on `127.0.0.1:0`, speaks HTTP/1.1 and h2c, counts every request
//! it receives, and marks every response with `x-legacy: 1`. What it answers:
//!
//! | request                                 | answer                                                       |
//! |-----------------------------------------|--------------------------------------------------------------|
//! | `Connection: upgrade` + `Upgrade: echo` | 101, then every byte sent is echoed back                     |
//! | `/slow/{ms}`                            | the echo, after sleeping `ms` milliseconds                   |
//! | `/status/{code}`                        | the echo, with status `code`                                 |
//! | `/big/{bytes}`                          | `bytes` bytes of [`pattern_body`], streamed in 64 KiB chunks |
//! | `GET /v1/accounts/users/{id}`           | 200, a fixed legacy-style user ([`LEGACY_USER_EMAIL`])       |
//! | anything else                           | 200, the [echo](#the-echo) of the request                    |
//!
//! # The echo
//!
//! `application/json`: `{method, path, query, version, headers, body_len,
//! body_checksum}`, where `path` is the raw request path as it arrived (not
//! decoded), `query` is the raw query or `null`, `headers` maps each lower-case
//! header name to its values joined with `", "`, and `body_checksum` is
//! [`checksum`] of the request body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The header on every response of the stub: `x-legacy: 1`.
pub const LEGACY_HEADER: &str = "x-legacy";

/// The `email` of the user the stub answers for `GET /v1/accounts/users/{id}`.
pub const LEGACY_USER_EMAIL: &str = "legacy.user@example.com";

/// The chunk size of `/big/{bytes}` bodies.
const CHUNK: usize = 64 * 1024;

type StubBody = BoxBody<Bytes, Infallible>;

/// A legacy backend on `127.0.0.1:0`; stops accepting connections when
/// dropped, and closes the open ones too when [killed](LegacyStub::kill).
pub struct LegacyStub {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    scripts: Scripts,
    accept_loop: JoinHandle<()>,
    /// Set to `true` to close every open connection at once.
    killed: tokio::sync::watch::Sender<bool>,
}

impl LegacyStub {
    /// Starts the stub on an ephemeral loopback port, in the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the legacy stub to 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("the legacy stub's bound address");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let scripts = Scripts::default();
        let loop_scripts = scripts.clone();
        let (killed, kill_watch) = tokio::sync::watch::channel(false);
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((stream, _peer)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                let scripts = loop_scripts.clone();
                let mut kill_watch = kill_watch.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        answer(request, scripts.clone())
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let serving =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    // A client that goes away mid-request is no concern of the stub's.
                    tokio::select! {
                        _ = serving => {}
                        // Killed: the connection is dropped, mid-request or not.
                        _ = kill_watch.wait_for(|killed| *killed) => {}
                    }
                });
            }
        });
        Self {
            addr,
            requests,
            scripts,
            accept_loop,
            killed,
        }
    }

    /// Stops the stub as a crashed process would: no more connections are
    /// accepted (the port refuses them) and every open one is closed at
    /// once, requests in progress included.
    pub fn kill(self) {
        let _ = self.killed.send(true);
        // Dropping `self` ends the accept loop and its listener.
    }

    /// Answers `GET path` (exactly) with `script` from now on, instead of the table above.
    pub fn script(&self, path: &str, script: Script) {
        if let Ok(mut scripts) = self.scripts.map.lock() {
            scripts.insert(path.to_owned(), script);
        }
    }

    /// How many scripted answers the stub has finished (after their delay).
    pub fn scripted_answers(&self) -> usize {
        self.scripts.answered.load(Ordering::SeqCst)
    }

    /// The address the stub listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The stub's base URL, `http://127.0.0.1:PORT`, as `routes.toml`'s `[legacy] url` wants it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests the stub has received so far (counted on arrival, before answering).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The shared request counter, for tasks that outlive a borrow of the stub.
    pub fn request_counter(&self) -> Arc<AtomicUsize> {
        self.requests.clone()
    }

    /// Waits until the stub has received at least `count` requests; false when `within` elapses first.
    pub async fn wait_for_requests(&self, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.requests() < count {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Drop for LegacyStub {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// FNV-1a (64-bit) of `bytes` as 16 hexadecimal digits: the stub's body checksum.
pub fn checksum(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The bytes `/big/{len}` sends: byte `i` is `i % 251`, so a shifted or lost chunk shows.
pub fn pattern_body(len: usize) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

fn pattern_byte(index: usize) -> u8 {
    u8::try_from(index % 251).unwrap_or(0)
}

/// A scripted answer for one path (see [`LegacyStub::script`]).
#[derive(Debug, Clone)]
pub struct Script {
    /// The status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// How long to wait before answering.
    pub delay: Duration,
    /// A top-level member set to a fresh random UUID in every answer (noise).
    pub random_field: Option<String>,
}

impl Script {
    /// A 200 with `body`, at once.
    pub fn json(body: Value) -> Self {
        Self {
            status: 200,
            body,
            delay: Duration::ZERO,
            random_field: None,
        }
    }
}

/// The scripts, shared with every connection.
#[derive(Clone, Default)]
struct Scripts {
    map: Arc<std::sync::Mutex<std::collections::HashMap<String, Script>>>,
    answered: Arc<AtomicUsize>,
}

async fn answer(
    mut request: Request<Incoming>,
    scripts: Scripts,
) -> Result<Response<StubBody>, Infallible> {
    if wants_echo_upgrade(&request) {
        return Ok(switch_to_echo(&mut request));
    }
    let path = request.uri().path().to_owned();
    let script = scripts
        .map
        .lock()
        .ok()
        .and_then(|map| map.get(&path).cloned());
    if let Some(script) = script.filter(|_| request.method() == Method::GET) {
        tokio::time::sleep(script.delay).await;
        let mut body = script.body;
        if let (Some(field), Some(object)) = (&script.random_field, body.as_object_mut()) {
            object.insert(
                field.clone(),
                Value::String(uuid::Uuid::new_v4().to_string()),
            );
        }
        let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::OK);
        scripts.answered.fetch_add(1, Ordering::SeqCst);
        return Ok(mark(json_response(status, &body)));
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = match segments.as_slice() {
        ["slow", ms] => match ms.parse::<u64>() {
            Ok(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                echo(request, StatusCode::OK).await
            }
            Err(_) => plain(StatusCode::BAD_REQUEST, "slow/{ms}: ms must be a number"),
        },
        ["status", code] => match code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(status) => echo(request, status).await,
            None => plain(StatusCode::BAD_REQUEST, "status/{code}: not a status code"),
        },
        ["big", len] => match len.parse::<usize>() {
            Ok(len) => Response::new(PatternBody::new(len).boxed()),
            Err(_) => plain(
                StatusCode::BAD_REQUEST,
                "big/{bytes}: bytes must be a number",
            ),
        },
        ["v1", "accounts", "users", id] if request.method() == Method::GET => {
            json_response(StatusCode::OK, &legacy_user(id))
        }
        _ => echo(request, StatusCode::OK).await,
    };
    Ok(mark(response))
}

/// Adds `x-legacy: 1`.
fn mark(mut response: Response<StubBody>) -> Response<StubBody> {
    response
        .headers_mut()
        .insert(LEGACY_HEADER, HeaderValue::from_static("1"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<StubBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<StubBody> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn legacy_user(id: &str) -> Value {
    json!({
        "id": id,
        "email": LEGACY_USER_EMAIL,
        "full_name": "Legacy User",
        "is_active": true,
        "created_at": "2015-06-01T12:00:00Z",
        "updated_at": "2015-06-01T12:00:00Z",
    })
}

/// Reads the whole request body and describes the request (see the module docs).
async fn echo(request: Request<Incoming>, status: StatusCode) -> Response<StubBody> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
    };
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    let description = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
        "body_checksum": checksum(&body),
    });
    json_response(status, &description)
}

fn wants_echo_upgrade(request: &Request<Incoming>) -> bool {
    let lists = |name: header::HeaderName, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    lists(header::CONNECTION, "upgrade") && lists(header::UPGRADE, "echo")
}

/// Answers 101 and, once hyper has switched, echoes every byte until the client closes.
fn switch_to_echo(request: &mut Request<Incoming>) -> Response<StubBody> {
    let on_upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
    });
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("echo"));
    mark(response)
}

/// `len` bytes of [`pattern_body`], produced chunk by chunk (never held whole).
struct PatternBody {
    sent: usize,
    len: usize,
}

impl PatternBody {
    fn new(len: usize) -> Self {
        Self { sent: 0, len }
    }
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.sent >= this.len {
            return Poll::Ready(None);
        }
        let end = this.len.min(this.sent + CHUNK);
        let chunk: Vec<u8> = (this.sent..end).map(pattern_byte).collect();
        this.sent = end;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(u64::try_from(self.len - self.sent).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_fnv1a_64() {
        assert_eq!(checksum(b""), "cbf29ce484222325");
        assert_eq!(checksum(b"a"), "af63dc4c8601ec8c");
        assert_ne!(checksum(&pattern_body(1000)), checksum(&pattern_body(1001)));
    }

    #[test]
    fn pattern_body_repeats_every_251_bytes() {
        let body = pattern_body(600);
        assert_eq!(body.len(), 600);
        assert_eq!(body[0], 0);
        assert_eq!(body[250], 250);
        assert_eq!(body[251], 0);
    }
}
