//! The database goes away: service routes fail fast, legacy routes and readiness do not depend on it,
//! the gateway recovers by itself, and no acknowledged write is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use test_support::{LegacyStub, PostgresServer};

use crate::harness::{
    GatewayProcess, HttpClient, Launch, Reply, eventually, request, routes, send,
};

/// The most a service request may wait for its 503 while the database is
/// down: the 1 s the issue asks for, with room for a debug build on a busy machine.
const FAIL_FAST: Duration = Duration::from_millis(1500);

/// One registration a writer sent, and what it was told.
struct Write {
    email: String,
    status: StatusCode,
    problem: bool,
    elapsed: Duration,
    id: Option<String>,
}

async fn register(client: &HttpClient, url: &str, email: &str) -> (Reply, Duration) {
    let body = serde_json::json!({ "email": email, "full_name": "Writer Loop" });
    let started = Instant::now();
    let reply = send(
        client,
        request(Method::POST, url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a valid request"),
    )
    .await;
    (reply, started.elapsed())
}

/// Registers `writer-N-i@…` one after another until `stop` is set.
async fn writer_loop(
    client: HttpClient,
    url: String,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Write> {
    let mut writes = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let email = format!("writer-{n}-{i}@example.com");
        let (reply, elapsed) = register(&client, &url, &email).await;
        let problem = reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json"));
        let id = (reply.status == StatusCode::CREATED)
            .then(|| reply.json()["id"].as_str().map(str::to_owned))
            .flatten();
        writes.push(Write {
            email,
            status: reply.status,
            problem,
            elapsed,
            id,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writes
}

/// `/-/readyz`, timed.
async fn readiness(gateway: &GatewayProcess) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = gateway.admin(Method::GET, "/-/readyz").await;
    (reply, started.elapsed())
}

/// Asserts that legacy answers, readiness is `ready, degraded` within 1 s, and a service request fails fast.
async fn assert_degraded(gateway: &GatewayProcess, legacy: &LegacyStub, database: &str) {
    let page = gateway.get("/legacy/page").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "legacy is unaffected: {page:?}"
    );
    assert!(page.is_from_legacy(), "{page:?}");

    let (ready, took) = readiness(gateway).await;
    assert!(took < Duration::from_secs(1), "readiness took {took:?}");
    assert_eq!(ready.status, StatusCode::OK, "ready, degraded: {ready:?}");
    let body = ready.json();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["database"], database, "{body}");
    assert_eq!(body["checks"]["database"]["status"], database, "{body}");
    assert_eq!(body["checks"]["route_table"]["status"], "ok", "{body}");

    let (reply, took) = register(
        &gateway.client(),
        &gateway.url("/v1/accounts/users"),
        "refused@example.com",
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(took < FAIL_FAST, "the 503 took {took:?}");
    assert!(legacy.requests() >= 1);
}

#[tokio::test]
async fn a_database_outage_under_a_writer_loop_loses_no_acknowledged_write() {
    let Some(postgres) = PostgresServer::start() else {
        return;
    };
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), "service"))
        .without_file_watch()
        .env("DATABASE_URL", &postgres.url("postgres"))
        .start()
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|n| {
            tokio::spawn(writer_loop(
                gateway.client(),
                gateway.url("/v1/accounts/users"),
                n,
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.stop();
    let stopped = Instant::now();
    // Let the gateway notice, then look at it from outside.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_degraded(&gateway, &legacy, "unreachable").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.restart();
    let restarted = Instant::now();

    // Recovery without a restart: a write succeeds again.
    let url = gateway.url("/v1/accounts/users");
    eventually(
        Duration::from_secs(15),
        "a 201 after the database is back",
        || async {
            let (reply, _) = register(
                &gateway.client(),
                &url,
                &format!("back-{}@example.com", restarted.elapsed().as_micros()),
            )
            .await;
            (reply.status == StatusCode::CREATED).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut writes = Vec::new();
    for writer in writers {
        writes.extend(writer.await.expect("a writer"));
    }
    let (ready, _) = readiness(&gateway).await;
    assert_eq!(ready.json()["status"], "ready", "{ready:?}");

    let acknowledged: Vec<&Write> = writes
        .iter()
        .filter(|w| w.status == StatusCode::CREATED)
        .collect();
    let refused: Vec<&Write> = writes
        .iter()
        .filter(|w| w.status != StatusCode::CREATED)
        .collect();
    assert!(
        !refused.is_empty(),
        "the outage refused no write: was the database stopped?"
    );
    assert!(
        acknowledged.len() > refused.len() / 10,
        "{} acknowledged, {} refused",
        acknowledged.len(),
        refused.len()
    );
    for write in &refused {
        assert!(
            write.status.is_server_error() && write.problem,
            "{}: refused with {} (problem+json: {}), not a 5xx problem",
            write.email,
            write.status,
            write.problem
        );
        assert!(
            write.elapsed < FAIL_FAST,
            "{}: the {} took {:?}",
            write.email,
            write.status,
            write.elapsed
        );
    }
    let stored = postgres.column("postgres", "SELECT email FROM users").await;
    for write in &acknowledged {
        assert!(
            stored.contains(&write.email),
            "{} was acknowledged (201, id {:?}) but is not in the database",
            write.email,
            write.id
        );
    }
    eprintln!(
        "outage: {} writes acknowledged, {} refused; down {:?}",
        acknowledged.len(),
        refused.len(),
        restarted.duration_since(stopped)
    );
}

#[tokio::test]
async fn a_gateway_started_without_its_database_serves_legacy_and_catches_up() {
    let Some(postgres) = PostgresServer::start() else {
        return;
    };
    postgres.stop();
    let legacy = LegacyStub::start().await;
    // `get-user` is served by legacy and mirrored to the service: its mismatch records show the recorder resumed.
    let table = test_support::RoutesToml::new(&legacy.url())
        .default_target("legacy")
        .accounts_to_service()
        .get_user("target = \"legacy\"\nshadow = { to = \"service\" }")
        .build();
    let gateway = Launch::new(table)
        .without_file_watch()
        .env("DATABASE_URL", &postgres.url("postgres"))
        .start()
        .await;
    assert_degraded(&gateway, &legacy, "migrations-pending").await;
    gateway
        .log_line("the migration warning", |line| {
            line.contains("cannot apply migrations now")
        })
        .await;

    postgres.restart();
    // The migrations are applied in the background, then the service serves.
    let user = eventually(
        Duration::from_secs(30),
        "a 201 once the database is up",
        || async {
            let reply = gateway.register_user_reply("late@example.com").await;
            (reply.status == StatusCode::CREATED).then(|| reply.json())
        },
    )
    .await;
    let id = user["id"].as_str().expect("an id");
    assert_eq!(
        postgres.column("postgres", "SELECT email FROM users").await,
        vec!["late@example.com".to_owned()]
    );
    let fetched = gateway.get(&format!("/v1/accounts/users/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK, "{fetched:?}");
    assert!(fetched.is_from_legacy(), "{fetched:?}");
    let (ready, _) = readiness(&gateway).await;
    assert_eq!(ready.json()["status"], "ready", "{ready:?}");

    // Legacy's user differs from the service's: the mismatch reaches the database.
    let recorded = eventually(
        Duration::from_secs(15),
        "a mismatch record in the database",
        || async {
            let reply = gateway
                .admin(Method::GET, "/-/shadow/diffs?route=get-user")
                .await;
            (reply.status == StatusCode::OK)
                .then(|| reply.json())
                .filter(|diffs| {
                    diffs["items"]
                        .as_array()
                        .is_some_and(|items| !items.is_empty())
                })
        },
    )
    .await;
    assert_eq!(recorded["items"][0]["route"], "get-user", "{recorded}");
}

#[tokio::test]
async fn readiness_can_require_the_database() {
    let legacy = LegacyStub::start().await;
    // Nothing listens on port 1.
    let gateway = Launch::new(routes(&legacy.url(), "service"))
        .without_file_watch()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("GATEWAY_READINESS__REQUIRE_DATABASE", "true")
        .start()
        .await;
    let (ready, took) = readiness(&gateway).await;
    assert!(took < Duration::from_secs(1), "readiness took {took:?}");
    let problem = test_support::assert_problem(
        ready.status,
        &ready.headers,
        &ready.body,
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("require_database")),
        "{problem}"
    );
    assert_eq!(gateway.get("/legacy/page").await.status, StatusCode::OK);
}
