//! Graceful shutdown: on SIGTERM the gateway stops accepting connections,
//! lets requests in flight finish, and exits 0.

use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::Full;
use test_support::LegacyStub;
use tokio::net::TcpStream;

use crate::harness::{Launch, eventually, request, routes, send};

#[tokio::test]
async fn sigterm_drains_requests_in_flight_and_exits_0() {
    let stub = LegacyStub::start().await;
    let mut gateway = Launch::new(routes(&stub.url(), "legacy"))
        .env("GATEWAY_SERVER__SHUTDOWN_GRACE_SECS", "20")
        .start()
        .await;
    let listen = gateway.listen();

    let (client, url) = (gateway.client(), gateway.url("/slow/1500"));
    let slow = tokio::spawn(async move {
        send(
            &client,
            request(Method::GET, &url)
                .body(Full::default())
                .expect("a valid request"),
        )
        .await
    });
    assert!(
        stub.wait_for_requests(1, Duration::from_secs(10)).await,
        "the slow request never reached legacy"
    );

    gateway.sigterm();
    eventually(
        Duration::from_secs(5),
        "new connections are refused once shutdown has begun",
        || async { TcpStream::connect(listen).await.is_err().then_some(()) },
    )
    .await;
    assert!(
        !slow.is_finished(),
        "the listener closed while the slow request was still in flight"
    );

    let reply = slow.await.expect("the slow request's task");
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.echo()["path"], "/slow/1500");

    let status = gateway.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status}\n--- stderr ---\n{}",
        gateway.stderr()
    );
}
