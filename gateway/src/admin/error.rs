//! The one place an admin failure becomes an RFC 9457 problem+json response.
//!
//! Handlers return [`AdminError`]; its [`IntoResponse`] picks the status, the
//! stable `code` and the words, and logs what an operator should see in the
//! log (a database that does not answer) once, here.

use accounts::Problem;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::reload::ReloadError;
use crate::shadow::store::StoreError;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A token is configured and the request lacks it or has another.
    #[error("this admin endpoint needs `Authorization: Bearer <token>`")]
    Unauthorized,
    /// No such endpoint, route or record.
    #[error("{0}")]
    NotFound(String),
    /// A query parameter is out of range or malformed.
    #[error("{0}")]
    InvalidQuery(String),
    /// The process records no shadow results (no database for them).
    #[error("this gateway records no shadow results")]
    NoRecords,
    /// The shadow records could not be read or written.
    #[error("the shadow records could not be read from or written to the database")]
    RecordsUnavailable(#[source] StoreError),
    /// Shutdown has begun.
    #[error("the gateway is draining requests in flight before it stops")]
    Draining,
    /// A dependency readiness requires is not usable (the reason).
    #[error("not ready: {0}")]
    NotReady(String),
    /// The route has no shadow rules in force (a replay needs them).
    #[error("{0}")]
    NotShadowed(String),
    /// A reload found the file invalid, or its flip not earned.
    #[error("the file was rejected; the previous table stays in force")]
    ReloadRefused(#[source] ReloadError),
}

impl From<crate::shadow::replay::ReplayError> for AdminError {
    fn from(err: crate::shadow::replay::ReplayError) -> Self {
        use crate::shadow::replay::ReplayError;
        match err {
            ReplayError::NoRoute(_) => Self::NotFound(err.to_string()),
            ReplayError::NotShadowed(_) => Self::NotShadowed(err.to_string()),
            ReplayError::Store(err) => Self::RecordsUnavailable(err),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        Self::RecordsUnavailable(err)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match &self {
            Self::Unauthorized => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            }
            Self::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::InvalidQuery(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Invalid request",
            ),
            Self::NoRecords => Problem::new(StatusCode::NOT_FOUND, "no-records", "No records"),
            Self::NotShadowed(_) => {
                Problem::new(StatusCode::CONFLICT, "not-shadowed", "Route not shadowed")
            }
            Self::RecordsUnavailable(err) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(err), "shadow records unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "records-unavailable",
                    "Records unavailable",
                )
            }
            Self::Draining => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "draining", "Shutting down")
            }
            Self::NotReady(reason) => {
                tracing::warn!(%reason, "readiness check failed");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready")
            }
            Self::ReloadRefused(err) => {
                let (code, title) = match err {
                    ReloadError::Invalid(_) => ("invalid-route-table", "Invalid route table"),
                    ReloadError::Gated { .. } => ("flip-not-earned", "Flip not earned"),
                };
                let problems: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, title)
                    .with_extension("problems", json!(problems))
            }
        };
        let mut response = problem.with_detail(detail).into_response();
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn problem(err: AdminError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = err.into_response();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&body).expect("problem+json"),
        )
    }

    #[tokio::test]
    async fn each_failure_has_its_status_code_and_words() {
        let cases = [
            (AdminError::Unauthorized, 401, "unauthorized"),
            (
                AdminError::NotFound("no such record".into()),
                404,
                "not-found",
            ),
            (
                AdminError::InvalidQuery("`limit` must be between 1 and 500".into()),
                422,
                "validation-failed",
            ),
            (AdminError::NoRecords, 404, "no-records"),
            (
                AdminError::NotShadowed("route \"r\" is not shadowed".into()),
                409,
                "not-shadowed",
            ),
            (AdminError::Draining, 503, "draining"),
            (
                AdminError::ReloadRefused(ReloadError::Gated {
                    problems: vec!["route \"r\": not earned".into()],
                }),
                422,
                "flip-not-earned",
            ),
        ];
        for (err, status, code) in cases {
            let detail = err.to_string();
            let (got, headers, body) = problem(err).await;
            assert_eq!(got.as_u16(), status, "{body}");
            assert_eq!(body["code"], code, "{body}");
            assert_eq!(body["status"], status, "{body}");
            assert_eq!(body["detail"], detail.as_str(), "{body}");
            assert_eq!(
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                Some("application/problem+json")
            );
            assert_eq!(
                headers.contains_key(header::WWW_AUTHENTICATE),
                status == 401,
                "{body}"
            );
        }
        let (_, _, body) = problem(AdminError::ReloadRefused(ReloadError::Gated {
            problems: vec!["a".into(), "b".into()],
        }))
        .await;
        assert_eq!(body["problems"], json!(["a", "b"]));
    }
}
