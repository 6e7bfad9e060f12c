//! The admin API, on its own listener: health, readiness, the route table, reload.
//!
//! `/-/healthz` and `/-/readyz` are open (for probes); every other endpoint
//! (`/-/routes`, `/-/reload`, `/-/metrics`)
//! requires `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>` when a token is set.
//! The gateway refuses to bind the admin API beyond loopback without a token.

use std::sync::Arc;

use accounts::{Accounts, Problem};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{StatusCode, header};
use serde_json::json;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::reload::RouteState;

/// What the admin handlers can see.
#[derive(Clone)]
pub struct AdminState {
    /// The route table and its reload history.
    pub routes: Arc<RouteState>,
    /// The hosted service, for the readiness check.
    pub accounts: Accounts,
    /// The bearer token, if one is configured.
    pub token: Option<Arc<str>>,
    /// Renders the Prometheus metrics; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let protected = Router::new()
        .route("/-/routes", get(routes))
        .route("/-/metrics", get(metrics))
        .route("/-/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/-/healthz", get(healthz))
        .route("/-/readyz", get(readyz))
        .merge(protected)
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found") })
        .with_state(state)
}

async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
        .with_detail("this admin endpoint needs `Authorization: Bearer <token>`")
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Compares without returning early, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /-/healthz`: the process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /-/readyz`: a route table is loaded and the database answers.
async fn readyz(State(state): State<AdminState>) -> Response {
    let version = state.routes.current().table.version().to_owned();
    match state.accounts.ping().await {
        Ok(()) => {
            Json(json!({ "status": "ready", "route_table_version": version, "database": "ok" }))
                .into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready")
                .with_detail("the database does not answer")
                .into_response()
        }
    }
}

/// `GET /-/metrics`: every series in the Prometheus text format.
async fn metrics(State(state): State<AdminState>) -> Response {
    let Some(handle) = &state.metrics else {
        return Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
            .with_detail("metrics are not enabled in this process")
            .into_response();
    };
    crate::metrics::set_pool(state.accounts.pool_stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// `GET /-/routes`: the table in force, its version, load time and reload history.
async fn routes(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let active = state.routes.current();
    Json(json!({
        "file": state.routes.path().display().to_string(),
        "loaded_at": active.loaded_at,
        "table": active.table.summary(),
        "reloads": state.routes.stats(),
    }))
}

/// `POST /-/reload`: re-reads routes.toml now.
async fn reload(State(state): State<AdminState>) -> Response {
    match state.routes.reload("admin") {
        Ok(outcome) => Json(outcome).into_response(),
        Err(err) => {
            let problems: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-route-table",
                "Invalid route table",
            )
            .with_detail("the file was rejected; the previous table stays in force")
            .with_extension("problems", json!(problems))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
