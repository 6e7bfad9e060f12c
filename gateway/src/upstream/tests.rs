//! Forwarding over real sockets: a stub legacy on 127.0.0.1:0 records what it
//! received, and each test checks what crossed the hop in both directions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{ClientSettings, ForwardContext, ForwardError, LegacyUpstream};

const WAIT: Duration = Duration::from_secs(5);

/// What the stub legacy saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body_len: usize,
    body_sum: u64,
    peer: SocketAddr,
}

#[derive(Clone, Default)]
struct Legacy {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Body chunks for `/drip`, fed by the test.
    drip: Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>,
}

impl Legacy {
    fn record(&self, request: &Request, peer: SocketAddr, body: &[u8]) {
        self.seen.lock().unwrap().push(Seen {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            body_len: body.len(),
            body_sum: fnv1a(body),
            peer,
        });
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("legacy saw no request")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A body fed chunk by chunk from a channel, ending when the sender drops.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

// ---- the stub legacy ----

/// Records the request and echoes its body back, with its length and
/// checksum in headers.
async fn echo(
    State(legacy): State<Legacy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    legacy.record(&Request::from_parts(parts, Body::empty()), peer, &bytes);
    Response::builder()
        .header("x-echo-len", bytes.len())
        .header("x-echo-sum", fnv1a(&bytes))
        .body(Body::from(bytes))
        .unwrap()
}

async fn status(
    State(legacy): State<Legacy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(code): Path<u16>,
    request: Request,
) -> Response {
    legacy.record(&request, peer, b"");
    Response::builder()
        .status(code)
        .header(header::RETRY_AFTER, "7")
        .body(Body::from(format!("legacy says {code}")))
        .unwrap()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "too late"
}

async fn hop_response() -> Response {
    Response::builder()
        .header(header::CONNECTION, "x-resp-hop")
        .header("x-resp-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header(header::PROXY_AUTHENTICATE, "Basic realm=\"legacy\"")
        .header(header::UPGRADE, "foo")
        .header(header::TRAILER, "x-sum")
        .header("x-end-to-end", "kept")
        .body(Body::from("ok"))
        .unwrap()
}

/// Answers with the first chunk of the request body, without waiting for
/// the rest.
async fn first_chunk(
    State(legacy): State<Legacy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, mut body) = request.into_parts();
    let frame = body.frame().await.unwrap().unwrap();
    let chunk = frame.into_data().unwrap();
    legacy.record(&Request::from_parts(parts, Body::empty()), peer, &chunk);
    Response::new(Body::from(chunk))
}

/// Streams whatever the test feeds into `Legacy::drip`.
async fn drip(State(legacy): State<Legacy>) -> Response {
    let chunks = legacy.drip.lock().unwrap().take().expect("no drip set up");
    Response::new(Body::new(ChannelBody(chunks)))
}

/// Switches to a protocol that echoes every byte back.
async fn ws(
    State(legacy): State<Legacy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    legacy.record(&request, peer, b"");
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = on_upgrade.await.unwrap();
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo-test")
        .header("x-legacy-switch", "yes")
        .body(Body::empty())
        .unwrap()
}

async fn spawn_legacy() -> (SocketAddr, Legacy) {
    let legacy = Legacy::default();
    let router = Router::new()
        .route("/status/{code}", any(status))
        .route("/slow", any(slow))
        .route("/hop-response", any(hop_response))
        .route("/first-chunk", any(first_chunk))
        .route("/drip", any(drip))
        .route("/ws", any(ws))
        .fallback(echo)
        .with_state(legacy.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (addr, legacy)
}

// ---- helpers ----

fn settings(url: &str) -> ClientSettings {
    ClientSettings::single("legacy", url.parse().unwrap(), Duration::from_secs(1), WAIT)
}

fn upstream_for(addr: SocketAddr) -> LegacyUpstream {
    LegacyUpstream::new(&settings(&format!("http://{addr}")))
}

fn ctx() -> ForwardContext {
    ForwardContext {
        client_addr: "198.51.100.7:50000".parse().unwrap(),
        scheme: "http",
        request_id: HeaderValue::from_static("req-123"),
    }
}

async fn forward(
    upstream: &LegacyUpstream,
    request: http::Request<Body>,
    path_and_query: &str,
) -> Result<http::Response<Body>, ForwardError> {
    tokio::time::timeout(WAIT, upstream.forward(request, path_and_query, &ctx()))
        .await
        .expect("forward hung")
}

async fn read_body(response: http::Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

// ---- tests ----

#[tokio::test]
async fn methods_path_and_query_go_through_under_the_base_path() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = LegacyUpstream::new(&settings(&format!("http://{addr}/base/")));
    let path_and_query = "/items/7?x=1&y=a%20b&x=2";

    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let body = format!("payload for {method}");
        let request = http::Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .body(Body::from(body.clone()))
            .unwrap();
        let response = forward(&upstream, request, path_and_query).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(read_body(response).await, body.as_bytes(), "{method}");

        let seen = legacy.last();
        assert_eq!(seen.method, method);
        assert_eq!(seen.uri, "/base/items/7?x=1&y=a%20b&x=2");
        assert_eq!(seen.body_len, body.len(), "{method}");
    }
}

#[tokio::test]
async fn five_mib_streams_both_ways_intact() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let payload: Vec<u8> = (0..5 * 1024 * 1024_u32)
        .map(|i| u8::try_from(i.wrapping_mul(31) % 251).unwrap())
        .collect();
    let expected_sum = fnv1a(&payload);

    // Sent in 64 KiB chunks of unknown total length (chunked on the wire).
    let (tx, rx) = mpsc::channel(4);
    let chunks = payload.clone();
    tokio::spawn(async move {
        for chunk in chunks.chunks(64 * 1024) {
            tx.send(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
    });
    let request = http::Request::post("/upload")
        .body(Body::new(ChannelBody(rx)))
        .unwrap();
    let response = forward(&upstream, request, "/upload").await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let echoed = read_body(response).await;
    assert_eq!(echoed.len(), payload.len());
    assert_eq!(fnv1a(&echoed), expected_sum);
    let seen = legacy.last();
    assert_eq!(seen.body_len, payload.len());
    assert_eq!(seen.body_sum, expected_sum);
}

#[tokio::test]
async fn request_body_is_streamed_not_buffered() {
    let (addr, _legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let (tx, rx) = mpsc::channel(4);
    tx.send(Bytes::from_static(b"first chunk")).await.unwrap();
    let request = http::Request::post("/first-chunk")
        .body(Body::new(ChannelBody(rx)))
        .unwrap();

    // The body has not ended (tx is alive): a buffering forward would hang.
    let response = forward(&upstream, request, "/first-chunk").await.unwrap();
    assert_eq!(read_body(response).await, "first chunk");
    drop(tx);
}

#[tokio::test]
async fn response_body_is_streamed_not_buffered() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let (tx, rx) = mpsc::channel(4);
    *legacy.drip.lock().unwrap() = Some(rx);
    tx.send(Bytes::from_static(b"first")).await.unwrap();

    let response = forward(&upstream, http::Request::new(Body::empty()), "/drip")
        .await
        .unwrap();
    assert_eq!(header_str(response.headers(), "transfer-encoding"), None);
    let mut body = response.into_body();
    let frame = tokio::time::timeout(WAIT, body.frame())
        .await
        .expect("first chunk was held back")
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");

    tx.send(Bytes::from_static(b"second")).await.unwrap();
    drop(tx);
    assert_eq!(body.collect().await.unwrap().to_bytes(), "second");
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_removed() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let request = http::Request::post("/echo")
        .header(header::HOST, "shop.example")
        .header(header::CONNECTION, "keep-alive, x-hop-custom, te")
        .header("keep-alive", "timeout=5")
        .header("x-hop-custom", "secret")
        .header("proxy-connection", "keep-alive")
        .header(header::PROXY_AUTHORIZATION, "Basic Zm9vOmJhcg==")
        .header(header::TE, "trailers, deflate")
        .header(header::TRAILER, "x-checksum")
        .header(header::TRANSFER_ENCODING, "chunked")
        .header(header::UPGRADE, "websocket")
        .header("x-end-to-end", "kept")
        .body(Body::from("abc"))
        .unwrap();
    let response = forward(&upstream, request, "/echo").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let seen = legacy.last().headers;
    for gone in [
        "keep-alive",
        "x-hop-custom",
        "proxy-connection",
        "proxy-authorization",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        assert!(!seen.contains_key(gone), "{gone} reached legacy: {seen:?}");
    }
    // Only what the gateway itself must say about TE.
    let connection: Vec<_> = seen.get_all(header::CONNECTION).iter().collect();
    assert_eq!(connection, ["te"]);
    assert_eq!(header_str(&seen, "te"), Some("trailers"));
    assert_eq!(header_str(&seen, "x-end-to-end"), Some("kept"));
    // Framing chosen by the client connection, not copied from the client.
    assert_eq!(header_str(&seen, "content-length"), Some("3"));
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_removed() {
    let (addr, _legacy) = spawn_legacy().await;

    // Control: legacy really sends them.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"GET /hop-response HTTP/1.1\r\nHost: legacy\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut sent = String::new();
    raw.read_to_string(&mut sent).await.unwrap();
    let sent = sent.to_ascii_lowercase();
    for header in [
        "x-resp-hop: 1",
        "keep-alive: timeout=5",
        "upgrade: foo",
        "trailer: x-sum",
    ] {
        assert!(
            sent.contains(header),
            "legacy did not send {header}: {sent}"
        );
    }

    let upstream = upstream_for(addr);
    let response = forward(
        &upstream,
        http::Request::new(Body::empty()),
        "/hop-response",
    )
    .await
    .unwrap();
    let headers = response.headers().clone();
    for gone in [
        "connection",
        "x-resp-hop",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "upgrade",
        "trailer",
        "transfer-encoding",
    ] {
        assert!(
            !headers.contains_key(gone),
            "{gone} reached the client: {headers:?}"
        );
    }
    assert_eq!(header_str(&headers, "x-end-to-end"), Some("kept"));
    assert_eq!(read_body(response).await, "ok");
}

#[tokio::test]
async fn forwarding_headers_are_set_and_trace_context_passes() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let request = http::Request::get("/who?x=1")
        .header(header::HOST, "shop.example")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("x-request-id", "client-chosen")
        .header("traceparent", traceparent)
        .header("tracestate", "congo=t61rcWkgMzE")
        .body(Body::empty())
        .unwrap();
    forward(&upstream, request, "/who?x=1").await.unwrap();

    let seen = legacy.last().headers;
    let host = addr.to_string();
    assert_eq!(header_str(&seen, "host"), Some(host.as_str()));
    assert_eq!(
        header_str(&seen, "x-forwarded-for"),
        Some("203.0.113.9, 198.51.100.7")
    );
    assert_eq!(header_str(&seen, "x-forwarded-proto"), Some("http"));
    assert_eq!(header_str(&seen, "x-forwarded-host"), Some("shop.example"));
    assert_eq!(header_str(&seen, "x-request-id"), Some("req-123"));
    assert_eq!(header_str(&seen, "traceparent"), Some(traceparent));
    assert_eq!(header_str(&seen, "tracestate"), Some("congo=t61rcWkgMzE"));
}

#[tokio::test]
async fn pooled_connection_is_reused_despite_client_connection_close() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    for path in ["/one", "/two"] {
        let request = http::Request::get(path)
            .header(header::CONNECTION, "close")
            .body(Body::empty())
            .unwrap();
        let response = forward(&upstream, request, path).await.unwrap();
        read_body(response).await;
        // Let the finished connection go back to the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = legacy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].peer, seen[1].peer,
        "second request used a new connection"
    );
}

#[tokio::test]
async fn back_to_back_requests_share_one_connection() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    for _ in 0..5 {
        let response = forward(&upstream, http::Request::new(Body::empty()), "/")
            .await
            .unwrap();
        read_body(response).await;
    }
    // A HEAD's empty body is dropped unread; its connection stays good.
    let head = http::Request::head("/").body(Body::empty()).unwrap();
    drop(forward(&upstream, head, "/").await.unwrap());
    read_body(
        forward(&upstream, http::Request::new(Body::empty()), "/")
            .await
            .unwrap(),
    )
    .await;
    let peers: Vec<SocketAddr> = legacy.seen.lock().unwrap().iter().map(|s| s.peer).collect();
    assert_eq!(peers.len(), 7);
    assert!(peers.iter().all(|peer| *peer == peers[0]), "{peers:?}");
    assert_eq!(upstream.idle_connections_after(Duration::ZERO), 1);
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_are_then_pooled() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let (first, second) = tokio::join!(
        forward(&upstream, http::Request::new(Body::empty()), "/a"),
        forward(&upstream, http::Request::new(Body::empty()), "/b"),
    );
    // Both are in flight at once: two connections.
    let (first, second) = (first.unwrap(), second.unwrap());
    read_body(first).await;
    read_body(second).await;
    assert_eq!(upstream.idle_connections_after(Duration::ZERO), 2);
    // Idle past the timeout, they are swept.
    assert_eq!(
        upstream.idle_connections_after(super::pool::IDLE_TIMEOUT),
        0
    );
    read_body(
        forward(&upstream, http::Request::new(Body::empty()), "/c")
            .await
            .unwrap(),
    )
    .await;
    let peers: Vec<SocketAddr> = legacy.seen.lock().unwrap().iter().map(|s| s.peer).collect();
    assert_eq!(peers.len(), 3);
    assert_ne!(peers[0], peers[1]);
    assert!(
        !peers[..2].contains(&peers[2]),
        "a swept connection was used"
    );
}

#[tokio::test]
async fn a_body_dropped_half_read_closes_its_connection() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let (chunks, receiver) = mpsc::channel(4);
    *legacy.drip.lock().unwrap() = Some(receiver);
    let response = forward(&upstream, http::Request::new(Body::empty()), "/drip")
        .await
        .unwrap();
    chunks.send(Bytes::from_static(b"part")).await.unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "part");
    drop(body);
    assert_eq!(upstream.idle_connections_after(Duration::ZERO), 0);
}

/// Reads a request head up to its blank line; `None` when the connection closes first.
pub(super) async fn request_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

/// A legacy that answers one request per connection with keep-alive, then
/// closes the connection a moment later, as a server with a short idle
/// timeout does.
async fn spawn_closing_legacy() -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            *counted.lock().unwrap() += 1;
            tokio::spawn(async move {
                if request_head(&mut stream).await.is_none() {
                    return;
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                stream.write_all(answer).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(stream);
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn a_pooled_connection_legacy_closed_is_not_an_error() {
    let (addr, connections) = spawn_closing_legacy().await;
    let upstream = upstream_for(addr);
    for round in 0..3 {
        let response = forward(&upstream, http::Request::new(Body::empty()), "/")
            .await
            .unwrap_or_else(|error| panic!("round {round}: {error:?}"));
        assert_eq!(read_body(response).await, "ok");
        // Legacy closes the idle connection meanwhile.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(*connections.lock().unwrap(), 3);
}

#[tokio::test]
async fn legacy_5xx_is_passed_through_unchanged() {
    let (addr, _legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let response = forward(&upstream, http::Request::new(Body::empty()), "/status/503")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_str(response.headers(), "retry-after"), Some("7"));
    assert_eq!(read_body(response).await, "legacy says 503");
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let upstream = upstream_for(addr);

    let error = forward(&upstream, http::Request::new(Body::empty()), "/")
        .await
        .unwrap_err();
    assert!(matches!(error, ForwardError::Connect { .. }), "{error:?}");
    assert_eq!(error.kind(), "connect");
}

#[tokio::test]
async fn slow_legacy_is_a_timeout_error() {
    let (addr, _legacy) = spawn_legacy().await;
    let upstream = LegacyUpstream::new(&ClientSettings {
        timeout: Duration::from_millis(200),
        ..settings(&format!("http://{addr}"))
    });
    let started = Instant::now();
    let error = forward(&upstream, http::Request::new(Body::empty()), "/slow")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ForwardError::Timeout { after } if after == Duration::from_millis(200)),
        "{error:?}"
    );
    assert_eq!(error.kind(), "timeout");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn unusable_base_url_is_an_invalid_uri_error() {
    for url in ["https://legacy.internal", "/no-host"] {
        let upstream = LegacyUpstream::new(&settings(url));
        let error = forward(&upstream, http::Request::new(Body::empty()), "/")
            .await
            .unwrap_err();
        assert!(
            matches!(error, ForwardError::InvalidUri { .. }),
            "{url}: {error:?}"
        );
        assert_eq!(error.kind(), "invalid-uri");
    }
}

#[tokio::test]
async fn refused_upgrade_is_an_ordinary_response() {
    let (addr, legacy) = spawn_legacy().await;
    let upstream = upstream_for(addr);
    let request = http::Request::get("/status/426")
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .body(Body::empty())
        .unwrap();
    let response = forward(&upstream, request, "/status/426").await.unwrap();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    let seen = legacy.last().headers;
    assert_eq!(header_str(&seen, "connection"), Some("upgrade"));
    assert_eq!(header_str(&seen, "upgrade"), Some("websocket"));
}

/// The gateway's shape: hyper-util's auto builder with upgrades, calling
/// `forward` for every request.
async fn spawn_front(upstream: LegacyUpstream) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            let service = service_fn(move |request: http::Request<Incoming>| {
                let upstream = upstream.clone();
                async move {
                    let path_and_query = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |pq| pq.as_str())
                        .to_owned();
                    let ctx = ForwardContext {
                        client_addr: peer,
                        scheme: "http",
                        request_id: HeaderValue::from_static("front-1"),
                    };
                    let response = upstream
                        .forward(request.map(Body::new), &path_and_query, &ctx)
                        .await
                        .unwrap_or_else(|error| {
                            http::Response::builder()
                                .status(StatusCode::BAD_GATEWAY)
                                .body(Body::from(error.to_string()))
                                .unwrap()
                        });
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.unwrap();
        assert_eq!(read, 1, "connection closed mid-head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn upgrade_round_trip_through_a_front_server() {
    let (legacy_addr, legacy) = spawn_legacy().await;
    let front = spawn_front(upstream_for(legacy_addr)).await;

    tokio::time::timeout(WAIT, async {
        let mut client = TcpStream::connect(front).await.unwrap();
        client
            .write_all(
                b"GET /ws?room=1 HTTP/1.1\r\nHost: front.example\r\n\
                  Connection: Upgrade\r\nUpgrade: echo-test\r\n\r\n",
            )
            .await
            .unwrap();
        let head = read_head(&mut client).await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("\r\nupgrade: echo-test\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
        assert!(head.contains("\r\nx-legacy-switch: yes\r\n"), "{head}");

        for message in [&b"hello over the tunnel"[..], &b"and again"[..]] {
            client.write_all(message).await.unwrap();
            let mut echoed = vec![0_u8; message.len()];
            client.read_exact(&mut echoed).await.unwrap();
            assert_eq!(echoed, message);
        }
    })
    .await
    .expect("upgrade round trip hung");

    let seen = legacy.last();
    assert_eq!(seen.uri, "/ws?room=1");
    assert_eq!(header_str(&seen.headers, "connection"), Some("upgrade"));
    assert_eq!(header_str(&seen.headers, "upgrade"), Some("echo-test"));
    assert_eq!(
        header_str(&seen.headers, "x-forwarded-for"),
        Some("127.0.0.1")
    );
    assert_eq!(
        header_str(&seen.headers, "x-forwarded-host"),
        Some("front.example")
    );
    assert_eq!(header_str(&seen.headers, "x-request-id"), Some("front-1"));
}
