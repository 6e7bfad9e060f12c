//! `TestApp`: the service built as in production, on a fresh database, called in-process.

use accounts::{Accounts, Settings};
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use test_support::{Backend, TestDatabase};
use tower::ServiceExt;

/// A response with its body read.
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl TestResponse {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn problem(&self, status: StatusCode, code: &str) -> Value {
        test_support::assert_problem(self.status, &self.headers, &self.body, status, code)
    }
}

/// The accounts service on its own database.
pub(crate) struct TestApp {
    pub(crate) accounts: Accounts,
    // Held so the database outlives the service; dropped last.
    _database: TestDatabase,
}

impl TestApp {
    /// Builds the service on a fresh database of `backend`; `None` when PostgreSQL was opted out.
    pub(crate) async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with settings changed by `adjust`.
    pub(crate) async fn spawn_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let mut settings = Settings::default();
        settings.database.url = database.url().to_owned();
        settings.database.max_connections = 5;
        adjust(&mut settings);
        let accounts = accounts::build(&settings)
            .await
            .expect("building the service");
        Some(Self {
            accounts,
            _database: database,
        })
    }

    pub(crate) async fn request(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        // The service, as the gateway calls it in-process (`rollback.rs`
        // checks the router answers the same).
        let response = self
            .accounts
            .service()
            .oneshot(request.body(body.into()).expect("valid request"))
            .await
            .expect("the service is infallible");
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, usize::MAX)
            .await
            .expect("readable body")
            .to_vec();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri, None, Body::empty()).await
    }

    pub(crate) async fn send_json(&self, method: Method, uri: &str, body: &Value) -> TestResponse {
        self.request(method, uri, Some("application/json"), body.to_string())
            .await
    }

    pub(crate) async fn register(&self, email: &str, full_name: &str) -> TestResponse {
        self.send_json(
            Method::POST,
            "/v1/accounts/users",
            &serde_json::json!({ "email": email, "full_name": full_name }),
        )
        .await
    }
}
