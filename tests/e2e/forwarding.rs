//! Forwarding to legacy: what crosses the hop, bodies both ways, headers, and
//! the gateway's own answers when legacy fails.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, Version};
use http_body_util::Full;
use test_support::{LegacyStub, checksum, pattern_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{GATEWAY_ERROR, Launch, h2c_client, request, routes, routes_toml, send};

const FIVE_MIB: usize = 5 * 1024 * 1024;

#[tokio::test]
async fn method_path_and_query_reach_legacy_intact() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let body = if method == Method::GET {
            Bytes::new()
        } else {
            Bytes::from(format!("a {method} body"))
        };
        let reply = gateway
            .send(
                request(
                    method.clone(),
                    &gateway.url("/legacy/orders/42?expand=items&q=a%20b&q=c"),
                )
                .body(Full::new(body.clone()))
                .expect("a valid request"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{method}: {reply:?}");
        let echo = reply.echo();
        assert_eq!(echo["method"], method.as_str(), "{echo}");
        assert_eq!(echo["path"], "/legacy/orders/42", "{echo}");
        assert_eq!(echo["query"], "expand=items&q=a%20b&q=c", "{echo}");
        assert_eq!(echo["body_len"], body.len(), "{echo}");
        assert_eq!(echo["body_checksum"], checksum(&body), "{echo}");
    }
    assert_eq!(stub.requests(), 5);
}

#[tokio::test]
async fn a_5_mib_request_body_arrives_intact() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    let body = pattern_body(FIVE_MIB);

    let reply = gateway
        .send(
            request(Method::POST, &gateway.url("/upload"))
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(Full::new(Bytes::from(body.clone())))
                .expect("a valid request"),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let echo = reply.echo();
    assert_eq!(echo["body_len"], FIVE_MIB);
    assert_eq!(echo["body_checksum"], checksum(&body));
}

#[tokio::test]
async fn a_5_mib_response_body_arrives_intact() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let reply = gateway.get(&format!("/big/{FIVE_MIB}")).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.is_from_legacy());
    assert_eq!(reply.body.len(), FIVE_MIB);
    assert!(
        reply.body == pattern_body(FIVE_MIB),
        "the body differs from what legacy sent"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_and_forwarding_headers_set() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let reply = gateway
        .send(
            request(Method::GET, &gateway.url("/headers"))
                .header(http::header::HOST, "shop.example:8443")
                .header(http::header::CONNECTION, "x-custom")
                .header("x-custom", "per-connection")
                .header("keep-alive", "timeout=5")
                .header(http::header::PROXY_AUTHORIZATION, "Basic Zm9vOmJhcg==")
                .header("x-end-to-end", "kept")
                .header("traceparent", traceparent)
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;

    let echo = reply.echo();
    let headers = &echo["headers"];
    for hop in [
        "connection",
        "x-custom",
        "keep-alive",
        "proxy-authorization",
    ] {
        assert!(
            headers.get(hop).is_none(),
            "{hop} must not reach legacy: {headers}"
        );
    }
    assert_eq!(headers["x-end-to-end"], "kept", "{headers}");
    assert_eq!(headers["traceparent"], traceparent, "{headers}");
    let forwarded_for = headers["x-forwarded-for"].as_str().unwrap_or_default();
    assert!(
        forwarded_for.split(',').any(|ip| ip.trim() == "127.0.0.1"),
        "x-forwarded-for: {headers}"
    );
    assert_eq!(headers["x-forwarded-proto"], "http", "{headers}");
    assert_eq!(
        headers["x-forwarded-host"], "shop.example:8443",
        "{headers}"
    );
    assert_eq!(
        headers["host"],
        stub.addr().to_string(),
        "Host is legacy's: {headers}"
    );
}

#[tokio::test]
async fn a_client_request_id_goes_to_legacy_and_comes_back() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let reply = gateway
        .send(
            request(Method::GET, &gateway.url("/with-id"))
                .header("x-request-id", "e2e-client-id-1")
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;

    assert_eq!(reply.header("x-request-id"), Some("e2e-client-id-1"));
    assert_eq!(reply.echo()["headers"]["x-request-id"], "e2e-client-id-1");
}

#[tokio::test]
async fn a_generated_request_id_goes_to_legacy_and_comes_back() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let first = gateway.get("/without-id").await;
    let second = gateway
        .send(
            request(Method::GET, &gateway.url("/without-id"))
                .header("x-request-id", "not acceptable: has spaces")
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;

    let id = first
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id returned: {first:?}"));
    assert!(!id.is_empty());
    assert_eq!(first.echo()["headers"]["x-request-id"], id);
    let second_id = second.header("x-request-id").expect("a replacement id");
    assert_ne!(second_id, id, "each request gets its own id");
    assert_ne!(second_id, "not acceptable: has spaces");
    assert_eq!(second.echo()["headers"]["x-request-id"], second_id);
}

#[tokio::test]
async fn legacy_errors_pass_through_unchanged() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let reply = gateway.get("/status/503").await;

    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header(GATEWAY_ERROR), None, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
    assert_eq!(reply.echo()["path"], "/status/503");
}

#[tokio::test]
async fn unreachable_legacy_is_a_502_problem() {
    // A port that was free a moment ago and has nobody listening now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let gateway = Launch::new(routes(&format!("http://{closed}"), "legacy"))
        .start()
        .await;

    let reply = gateway.get("/anything").await;

    let problem = reply.gateway_problem(StatusCode::BAD_GATEWAY, "upstream-unreachable");
    assert!(problem["detail"].is_string(), "{problem}");
    assert!(
        reply.header("x-request-id").is_some(),
        "gateway errors carry the request id too: {reply:?}"
    );
}

#[tokio::test]
async fn slow_legacy_is_a_504_problem() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes_toml(&stub.url(), "300ms", "legacy"))
        .start()
        .await;

    let started = tokio::time::Instant::now();
    let reply = gateway.get("/slow/3000").await;

    reply.gateway_problem(StatusCode::GATEWAY_TIMEOUT, "upstream-timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the gateway waited for legacy instead of timing out: {:?}",
        started.elapsed()
    );
    assert_eq!(stub.requests(), 1);
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_a_413_problem() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .env("GATEWAY_SERVER__MAX_BODY_BYTES", "1024")
        .start()
        .await;

    let reply = gateway
        .send(
            request(Method::POST, &gateway.url("/upload"))
                .body(Full::new(Bytes::from(vec![b'x'; 4096])))
                .expect("a valid request"),
        )
        .await;

    reply.gateway_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    assert_eq!(stub.requests(), 0, "nothing of it may reach legacy");
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_a_413_problem() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .env("GATEWAY_SERVER__MAX_BODY_BYTES", "1024")
        .start()
        .await;

    // Chunked, so the gateway only finds out while streaming it.
    let mut stream = TcpStream::connect(gateway.listen())
        .await
        .expect("connecting to the gateway");
    let mut raw = b"POST /upload HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        raw.extend_from_slice(b"3e8\r\n");
        raw.extend_from_slice(&[b'x'; 1000]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&raw).await.expect("sending the request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("no answer within 10 s")
        .expect("reading the answer");

    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(
        answer.contains("\r\nx-gateway-error: payload-too-large\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_answered() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let reply = send(
        &h2c_client(),
        request(Method::GET, &gateway.url("/over-h2c?x=1"))
            .body(Full::default())
            .expect("a valid request"),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.version, Version::HTTP_2);
    let echo = reply.echo();
    assert_eq!(echo["path"], "/over-h2c");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(
        echo["headers"]["x-forwarded-host"],
        gateway.listen().to_string(),
        "HTTP/2 has no Host: the :authority stands in"
    );
    assert_eq!(
        echo["version"], "HTTP/1.1",
        "legacy is spoken to in HTTP/1.1"
    );
}

/// Reads an HTTP/1.1 response head, byte by byte, up to the blank line.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.expect("reading the head");
        assert_eq!(read, 1, "connection closed mid-head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[tokio::test]
async fn an_upgrade_is_tunnelled_to_legacy_and_back() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let tunnel = async {
        let mut stream = TcpStream::connect(gateway.listen())
            .await
            .expect("connecting to the gateway");
        stream
            .write_all(
                b"GET /tunnel HTTP/1.1\r\nHost: e2e\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
            )
            .await
            .expect("sending the upgrade request");
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("\r\nupgrade: echo\r\n"), "{head}");
        assert!(head.contains("\r\nx-legacy: 1\r\n"), "{head}");
        for message in [&b"hello through the gateway"[..], &b"and back again"[..]] {
            stream.write_all(message).await.expect("writing");
            let mut echoed = vec![0_u8; message.len()];
            stream.read_exact(&mut echoed).await.expect("reading");
            assert_eq!(echoed, message);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), tunnel)
        .await
        .expect("the upgraded tunnel hung");
    assert_eq!(stub.requests(), 1);
}
