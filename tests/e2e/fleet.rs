//! Several gateways on one database, as replicas of a deployment start: all
//! of them migrate it at once and serve; and a process that cannot start
//! says why in its JSON log.

use http::{Method, StatusCode};
use serde_json::Value;
use test_support::{Backend, LegacyStub, TestDatabase};

use crate::harness::{Launch, routes};

/// How many replicas start together.
const REPLICAS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_a_fresh_postgres_database_all_serve() {
    let Some(database) = TestDatabase::create_empty(Backend::Postgres).await else {
        return;
    };
    let stub = LegacyStub::start().await;
    let launches = (0..REPLICAS)
        .map(|_| Launch::new(routes(&stub.url(), "service")).env("DATABASE_URL", database.url()))
        .collect();

    let fleet = Launch::start_together(launches).await;

    for (n, gateway) in fleet.iter().enumerate() {
        let ready = gateway.admin(Method::GET, "/-/readyz").await;
        assert_eq!(ready.status, StatusCode::OK, "replica {n}: {ready:?}");
        let email = format!("replica-{n}@example.com");
        let user = gateway.register_user(&email).await;
        let id = user["id"].as_str().expect("an id");
        // They share the database: another replica reads the user back.
        let other = &fleet[(n + 1) % fleet.len()];
        let fetched = other.get(&format!("/v1/accounts/users/{id}")).await;
        assert_eq!(fetched.status, StatusCode::OK, "replica {n}: {fetched:?}");
        assert!(!fetched.is_from_legacy(), "replica {n}: {fetched:?}");
        assert_eq!(fetched.json()["email"], email.as_str(), "{fetched:?}");
    }
    assert_eq!(stub.requests(), 0, "no request may reach legacy");
}

#[tokio::test]
async fn a_start_up_failure_is_logged_as_json_with_its_cause() {
    // The admin port is taken. (An unreachable database is no longer a
    // start-up failure: `outage.rs` shows the gateway serving without it.)
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let addr = taken.local_addr().expect("its address");
    let (status, stderr) = Launch::new(routes("http://127.0.0.1:9", "legacy"))
        .admin_listen(&addr.to_string())
        .start_expecting_failure()
        .await;

    assert_eq!(status.code(), Some(1), "{status}\n{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a stderr line is not JSON ({e}): {line:?}\n{stderr}"))
        })
        .collect();
    let last = lines.last().expect("a log line");
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert_eq!(
        last["message"], "the gateway stopped on an error",
        "{stderr}"
    );
    // `binding the admin API to ADDR: <the system's reason>`.
    let error = last["error"].as_str().unwrap_or_default();
    let chain: Vec<&str> = error.split(": ").collect();
    assert!(
        chain.len() >= 2
            && chain[0] == format!("binding the admin API to {addr}")
            && chain[1].to_lowercase().contains("in use"),
        "the error chain is missing its cause: {error:?}"
    );
}
