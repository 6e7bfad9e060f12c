//! Failover over real sockets, one upstream with several addresses: what is
//! resent to another address (nothing sent yet, or a bodiless idempotent
//! request whose connection died) and what never is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::net::TcpListener;

use super::tests::request_head;
use super::{AddressSettings, ClientSettings, ForwardContext, ForwardError, LegacyUpstream};

const WAIT: Duration = Duration::from_secs(5);

/// A legacy address that reads each request's head, counts it, and closes
/// the connection without answering: a process dying mid-request.
async fn spawn_dying() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                if request_head(&mut stream).await.is_none() {
                    return;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            });
        }
    });
    (addr, requests)
}

/// A legacy address that answers `200 ok` and counts the requests (and body bytes) it got.
async fn spawn_good() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let body_bytes = Arc::new(AtomicUsize::new(0));
    let (counted, bytes) = (Arc::clone(&requests), Arc::clone(&body_bytes));
    let router = axum::Router::new().fallback(move |body: Bytes| {
        let (counted, bytes) = (Arc::clone(&counted), Arc::clone(&bytes));
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            bytes.fetch_add(body.len(), Ordering::SeqCst);
            "ok"
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, requests, body_bytes)
}

/// An address nothing listens on.
async fn refused() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// One round-robin upstream over `addresses` (the first request goes to the first).
fn upstream(addresses: &[SocketAddr]) -> LegacyUpstream {
    LegacyUpstream::new(&ClientSettings {
        addresses: addresses
            .iter()
            .map(|addr| AddressSettings {
                url: format!("http://{addr}").parse().unwrap(),
                tls: None,
            })
            .collect(),
        ..ClientSettings::single("legacy", http::Uri::default(), Duration::from_secs(1), WAIT)
    })
}

async fn send(
    upstream: &LegacyUpstream,
    method: Method,
    body: &'static str,
) -> Result<http::Response<Body>, ForwardError> {
    let mut request = http::Request::new(Body::from(body));
    *request.method_mut() = method;
    let ctx = ForwardContext {
        client_addr: "198.51.100.7:50000".parse().unwrap(),
        scheme: "http",
        request_id: HeaderValue::from_static("req-1"),
    };
    tokio::time::timeout(WAIT, upstream.forward(request, "/x", &ctx))
        .await
        .expect("forward hung")
}

#[tokio::test]
async fn a_bodiless_idempotent_request_whose_connection_died_goes_to_another_address() {
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        let (dying, died) = spawn_dying().await;
        let (good, answered, _) = spawn_good().await;
        let upstream = upstream(&[dying, good]);
        let response = send(&upstream, method.clone(), "").await;
        let response = response.unwrap_or_else(|error| panic!("{method}: {error:?}"));
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(died.load(Ordering::SeqCst), 1, "{method}");
        assert_eq!(answered.load(Ordering::SeqCst), 1, "{method}");
        assert_eq!(upstream.health()[0].health.consecutive_failures, 1);
        assert_eq!(upstream.health()[1].health.consecutive_failures, 0);
    }
}

#[tokio::test]
async fn a_request_that_may_have_reached_legacy_is_never_resent() {
    for (method, body) in [
        (Method::POST, "{\"a\":1}"),
        (Method::POST, ""),
        (Method::PATCH, ""),
        (Method::PUT, "with a body"),
    ] {
        let (dying, died) = spawn_dying().await;
        let (good, answered, _) = spawn_good().await;
        let upstream = upstream(&[dying, good]);
        let error = send(&upstream, method.clone(), body).await.unwrap_err();
        assert!(
            matches!(error, ForwardError::Io { .. }),
            "{method}: {error:?}"
        );
        assert_eq!(died.load(Ordering::SeqCst), 1, "{method}");
        assert_eq!(
            answered.load(Ordering::SeqCst),
            0,
            "{method} {body:?} was resent"
        );
    }
}

#[tokio::test]
async fn an_idempotent_request_is_resent_once_only() {
    let (a, a_died) = spawn_dying().await;
    let (b, b_died) = spawn_dying().await;
    let (c, c_died) = spawn_dying().await;
    let upstream = upstream(&[a, b, c]);
    let error = send(&upstream, Method::GET, "").await.unwrap_err();
    assert!(matches!(error, ForwardError::Io { .. }), "{error:?}");
    let tries = [&a_died, &b_died, &c_died].map(|n| n.load(Ordering::SeqCst));
    assert_eq!(tries.iter().sum::<usize>(), 2, "{tries:?}");
}

#[tokio::test]
async fn a_refused_address_is_skipped_for_any_method_and_ejected() {
    let dead = refused().await;
    let (good, answered, body_bytes) = spawn_good().await;
    let upstream = upstream(&[dead, good]);
    for round in 0..6 {
        let response = send(&upstream, Method::POST, "{\"n\":1}").await;
        let response = response.unwrap_or_else(|error| panic!("round {round}: {error:?}"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
    }
    assert_eq!(answered.load(Ordering::SeqCst), 6);
    assert_eq!(
        body_bytes.load(Ordering::SeqCst),
        6 * 7,
        "every body arrived whole"
    );
    let health = upstream.health();
    assert_eq!(health[0].health.state, "ejected", "{health:?}");
    assert_eq!(health[0].health.ejections, 1, "{health:?}");
    // Ejected after 3 failures: from then on it is not tried.
    assert_eq!(health[0].health.consecutive_failures, 3, "{health:?}");
    assert_eq!(health[1].health.state, "healthy", "{health:?}");
}

#[tokio::test]
async fn every_address_refused_is_a_connect_error() {
    let upstream = upstream(&[refused().await, refused().await]);
    let error = send(&upstream, Method::GET, "").await.unwrap_err();
    assert!(matches!(error, ForwardError::Connect { .. }), "{error:?}");
    let failures: Vec<u32> = upstream
        .health()
        .iter()
        .map(|address| address.health.consecutive_failures)
        .collect();
    assert_eq!(failures, [1, 1], "each address tried once");
}
