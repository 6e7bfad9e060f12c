//! Client connections: idle keep-alive has its own timeout, separate from the slow-loris guard.

use std::time::{Duration, Instant};

use test_support::LegacyStub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{GatewayProcess, Launch, routes};

/// Sends one GET on `stream` and reads its response; returns the status line.
async fn exchange(stream: &mut TcpStream, path: &str) -> std::io::Result<String> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: keep-alive.test\r\n\r\n").as_bytes())
        .await?;
    let (status, _body) = read_response(stream, &mut Vec::new()).await?;
    Ok(status)
}

/// A gateway in front of a legacy stub, with `env` set, and a connection to it.
async fn connected(env: &[(&str, &str)]) -> (LegacyStub, GatewayProcess, TcpStream) {
    let legacy = LegacyStub::start().await;
    let mut launch = Launch::new(routes(&legacy.url(), "legacy")).without_file_watch();
    for (name, value) in env {
        launch = launch.env(name, value);
    }
    let gateway = launch.start().await;
    let stream = TcpStream::connect(gateway.listen())
        .await
        .expect("connecting");
    (legacy, gateway, stream)
}

/// Whether the server has closed `stream` (a read ends) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_keep_alive_connection_idle_for_30_s_still_serves() {
    // Default timeouts: the header-read timeout (10 s) no longer ends idle connections.
    let (legacy, _gateway, mut stream) = connected(&[]).await;
    let first = exchange(&mut stream, "/first")
        .await
        .expect("the first request");
    assert!(first.contains(" 200"), "{first}");

    tokio::time::sleep(Duration::from_secs(30)).await;

    let second = exchange(&mut stream, "/after-30s-idle")
        .await
        .expect("the same connection serves after 30 s idle");
    assert!(second.contains(" 200"), "{second}");
    assert_eq!(legacy.requests(), 2);
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_keep_alive_timeout() {
    let (_legacy, _gateway, mut stream) =
        connected(&[("GATEWAY_SERVER__KEEP_ALIVE_TIMEOUT_SECS", "2")]).await;
    let first = exchange(&mut stream, "/first")
        .await
        .expect("the first request");
    assert!(first.contains(" 200"), "{first}");
    assert_idles_out_after_2_s(&mut stream, Instant::now()).await;
}

/// Asserts that `stream`, idle since `idle`, is closed about 2 s (the
/// keep-alive timeout these tests set) later: not much sooner, not never.
async fn assert_idles_out_after_2_s(stream: &mut TcpStream, idle: Instant) {
    assert!(
        closed_within(stream, Duration::from_secs(10)).await,
        "the idle connection was not closed"
    );
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(6),
        "closed after {after:?} idle, the keep-alive timeout is 2 s"
    );
}

#[tokio::test]
async fn a_request_longer_than_the_keep_alive_timeout_is_answered_then_idles_out() {
    // The idle timer is not re-armed when a request ends: it fires early, is
    // looked at again, and must still end the connection one keep-alive
    // period after the answer, neither during a slow request nor never.
    let (legacy, _gateway, mut stream) =
        connected(&[("GATEWAY_SERVER__KEEP_ALIVE_TIMEOUT_SECS", "2")]).await;
    let slow = exchange(&mut stream, "/slow/3000")
        .await
        .expect("a request answered after 3 s, longer than the keep-alive timeout");
    assert!(slow.contains(" 200"), "{slow}");
    let next = exchange(&mut stream, "/right-after")
        .await
        .expect("the connection still serves right after the slow answer");
    assert!(next.contains(" 200"), "{next}");
    assert_idles_out_after_2_s(&mut stream, Instant::now()).await;
    assert_eq!(legacy.requests(), 2);
}

#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_cut_off() {
    let (legacy, _gateway, mut stream) =
        connected(&[("GATEWAY_SERVER__HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /dribble HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("the request line");
    // A header line every 100 ms: always progressing, never finishing.
    let mut cut_off = false;
    while started.elapsed() < Duration::from_secs(8) {
        if stream.write_all(b"X-Drip: a\r\n").await.is_err() {
            cut_off = true;
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(100)).await {
            cut_off = true;
            break;
        }
    }
    let after = started.elapsed();
    assert!(cut_off, "the dribbling client was never cut off");
    assert!(
        after < Duration::from_secs(4),
        "cut off after {after:?}; the header-read timeout is 1 s"
    );
    assert_eq!(
        legacy.requests(),
        0,
        "an incomplete head never reaches legacy"
    );
}

/// Reads one HTTP/1.1 response from `stream`, starting with the bytes in
/// `pending` (read ahead with an earlier response); leaves any bytes after it
/// there. Returns the status line and the body.
async fn read_response(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf).await? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => pending.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .ok_or_else(|| std::io::Error::other(format!("no content-length in {head}")))?;
    while pending.len() < head_end + length {
        match stream.read(&mut buf).await? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => pending.extend_from_slice(&buf[..n]),
        }
    }
    let body = pending[head_end..head_end + length].to_vec();
    pending.drain(..head_end + length);
    Ok((head.lines().next().unwrap_or_default().to_owned(), body))
}

/// The path and body length legacy's echo saw, from a response body.
fn echoed(body: &[u8]) -> (String, u64) {
    let echo: serde_json::Value = serde_json::from_slice(body).expect("legacy's echo JSON");
    (
        echo["path"].as_str().unwrap_or_default().to_owned(),
        echo["body_len"].as_u64().unwrap_or(u64::MAX),
    )
}

#[tokio::test]
async fn an_idle_connection_serves_pipelined_split_and_large_heads() {
    // A kept-alive connection gives its buffers back while it waits for the
    // next request (vendor/README.md); what arrives next, however it arrives,
    // is read whole and in order.
    let (legacy, _gateway, mut stream) = connected(&[]).await;
    let mut pending = Vec::new();
    let first = exchange(&mut stream, "/first").await.expect("the first");
    assert!(first.contains(" 200"), "{first}");

    // Three pipelined requests in one write, one with a body.
    stream
        .write_all(
            b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
              GET /p3 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await
        .expect("the pipelined requests");
    for (path, body_len) in [("/p1", 0), ("/p2", 5), ("/p3", 0)] {
        let (status, body) = read_response(&mut stream, &mut pending)
            .await
            .unwrap_or_else(|err| panic!("the answer to {path}: {err}"));
        assert!(status.contains(" 200"), "{path}: {status}");
        assert_eq!(echoed(&body), (path.to_owned(), body_len));
    }

    // A head split across two writes, after an idle spell.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
        .write_all(b"GET /split HTTP/1.1\r\nHo")
        .await
        .expect("half a head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(b"st: x\r\n\r\n").await.expect("the rest");
    let (status, body) = read_response(&mut stream, &mut pending)
        .await
        .expect("the split head's answer");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(echoed(&body), ("/split".to_owned(), 0));

    // A head larger than one read buffer (hyper's is 8 KiB), then a small one.
    let large = format!(
        "GET /large HTTP/1.1\r\nHost: x\r\nX-Large: {}\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    stream
        .write_all(large.as_bytes())
        .await
        .expect("a large head");
    for path in ["/large", "/after"] {
        let (status, body) = read_response(&mut stream, &mut pending)
            .await
            .unwrap_or_else(|err| panic!("the answer to {path}: {err}"));
        assert!(status.contains(" 200"), "{path}: {status}");
        assert_eq!(echoed(&body).0, path);
    }
    assert!(pending.is_empty(), "nothing more was answered: {pending:?}");
    assert_eq!(legacy.requests(), 7, "each request reached legacy once");
}
