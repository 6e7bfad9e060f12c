//! In-process dispatch: routes with `target = "service"` are answered by the
//! accounts service inside the gateway, never by legacy.

use http::{Method, StatusCode};
use http_body_util::Full;
use test_support::{Backend, LEGACY_USER_EMAIL, LegacyStub, TestDatabase};

use crate::harness::{GATEWAY_ERROR, Launch, request, routes};

/// Registers a user and reads it back through the gateway; legacy sees nothing.
async fn register_and_read_back(launch: impl FnOnce(String) -> Launch) {
    let stub = LegacyStub::start().await;
    let gateway = launch(routes(&stub.url(), "service")).start().await;

    let created = gateway
        .send(
            request(Method::POST, &gateway.url("/v1/accounts/users"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("x-request-id", "e2e-register-1")
                .body(Full::new(
                    r#"{"email":" Grace@Example.com ","full_name":"Grace Hopper"}"#.into(),
                ))
                .expect("a valid request"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(!created.is_from_legacy(), "{created:?}");
    assert_eq!(created.header("x-request-id"), Some("e2e-register-1"));
    let user = created.json();
    let id = user["id"].as_str().expect("an id");
    assert_eq!(
        user["email"], "Grace@Example.com",
        "trimmed, case kept: {user}"
    );
    let location = created.header("location").expect("a Location header");
    assert!(location.ends_with(id), "{location}");

    let fetched = gateway.get(&format!("/v1/accounts/users/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK, "{fetched:?}");
    assert!(!fetched.is_from_legacy(), "{fetched:?}");
    assert!(fetched.header("x-request-id").is_some(), "{fetched:?}");
    assert_eq!(fetched.json(), user);

    let duplicate = gateway.register_user_reply("grace@example.com").await;
    test_support::assert_problem(
        duplicate.status,
        &duplicate.headers,
        &duplicate.body,
        StatusCode::CONFLICT,
        "email-taken",
    );
    assert_eq!(
        duplicate.header(GATEWAY_ERROR),
        None,
        "the service's own problems are not the gateway's"
    );

    assert_eq!(stub.requests(), 0, "no request may reach legacy");
}

#[tokio::test]
async fn service_routes_are_dispatched_in_process_on_sqlite() {
    register_and_read_back(Launch::new).await;
}

#[tokio::test]
async fn service_routes_are_dispatched_in_process_on_postgres() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    register_and_read_back(|routes| Launch::new(routes).env("DATABASE_URL", database.url())).await;
}

#[tokio::test]
async fn a_legacy_target_sends_the_same_path_to_legacy() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let user = gateway.register_user("ada@example.com").await;
    assert_eq!(stub.requests(), 0, "POST stays with the service");
    let id = user["id"].as_str().expect("an id");

    let fetched = gateway.get(&format!("/v1/accounts/users/{id}")).await;

    assert_eq!(fetched.status, StatusCode::OK, "{fetched:?}");
    assert!(fetched.is_from_legacy(), "{fetched:?}");
    assert_eq!(fetched.json()["email"], LEGACY_USER_EMAIL);
    assert_eq!(fetched.json()["id"], id);
    assert_eq!(stub.requests(), 1);
}
