//! Requests marked `RollbackWrites` answer for real and keep nothing, through the service the
//! gateway calls and through the router alike.

use accounts::RollbackWrites;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use rstest::rstest;
use test_support::Backend;
use tower::ServiceExt;

use crate::helpers::TestApp;

/// How a request reaches the API.
#[derive(Debug, Clone, Copy)]
enum Through {
    Service,
    Router,
}

async fn register_rolled_back(app: &TestApp, through: Through, email: &str) -> StatusCode {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/v1/accounts/users")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({ "email": email, "full_name": "Shadow Write" }).to_string(),
        ))
        .expect("valid request");
    request.extensions_mut().insert(RollbackWrites);
    let response = match through {
        Through::Service => app.accounts.service().oneshot(request).await,
        Through::Router => app.accounts.router().oneshot(request).await,
    }
    .expect("infallible");
    let status = response.status();
    to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("readable body");
    status
}

#[rstest]
#[tokio::test]
async fn a_rolled_back_write_answers_and_keeps_nothing(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(Through::Service, Through::Router)] through: Through,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert_eq!(
        register_rolled_back(&app, through, "ada@example.com").await,
        StatusCode::CREATED
    );
    // Nothing was kept: the same address registers again, rolled back or for real.
    assert_eq!(
        register_rolled_back(&app, through, "ada@example.com").await,
        StatusCode::CREATED
    );
    let listed = app.get("/v1/accounts/users").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.json()["items"],
        serde_json::json!([]),
        "{:?}",
        listed.json()
    );
    assert_eq!(
        app.register("ada@example.com", "Ada").await.status,
        StatusCode::CREATED
    );
    // A taken address is a 409 in rollback mode too: the answer is real.
    assert_eq!(
        register_rolled_back(&app, through, "ADA@example.com").await,
        StatusCode::CONFLICT
    );
}
