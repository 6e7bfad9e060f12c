//! RFC 9457 problem details: the only error body the service sends.
//!
//! [`AppError`] becomes a [`Problem`] here and nowhere else. Responses that
//! axum or tower make on their own (405, a panic) are rewritten into problems
//! by [`problem_for_bare_errors`] and [`panic_as_problem`].

use std::any::Any;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::shared::{AppError, ErrorChain};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of every problem `type` this project defines; the code follows.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:project-alpha:problem:";

/// An RFC 9457 problem details object.
///
/// Its JSON Schema, in the OpenAPI document, is written out by hand in
/// `api/openapi/problems.rs` (the flattened extensions are beyond the derive).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// URI identifying the problem type: `urn:project-alpha:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary, the same for every occurrence of the type.
    pub title: String,
    /// The HTTP status, repeated for consumers that only see the body.
    pub status: u16,
    /// What went wrong this time; never internal error text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable code also found at the end of `type`, e.g. `email-taken`.
    pub code: String,
    /// Extension members, e.g. `errors` for field problems.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem of `status` with the stable `code` and a `title`.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            code: code.to_owned(),
            extensions: Map::new(),
        }
    }

    /// Adds the `detail` sentence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with_extension(mut self, key: &str, value: Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<&AppError> for Problem {
    fn from(err: &AppError) -> Self {
        match err {
            AppError::Validation(problems) => {
                let errors: Vec<Value> = problems
                    .iter()
                    .map(|p| json!({ "field": p.field, "code": p.code, "detail": p.detail }))
                    .collect();
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation-failed",
                    "Invalid request",
                )
                .with_detail(format!("{} field(s) are invalid", problems.len()))
                .with_extension("errors", Value::Array(errors))
            }
            AppError::NotFound { resource } => {
                Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
                    .with_detail(format!("no such {resource}"))
            }
            AppError::Conflict { code, detail } => {
                Self::new(StatusCode::CONFLICT, code, "Conflict").with_detail(detail.clone())
            }
            AppError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
            )
            .with_detail("a dependency of the service failed; retry later"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Unavailable(cause) = &self {
            // Logged once, here, with the whole cause chain; the client sees none of it.
            tracing::error!(error = %ErrorChain(cause.as_ref()), "request failed");
        }
        Problem::from(&self).into_response()
    }
}

/// Answers requests no route matches.
pub(crate) async fn not_found_fallback() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found").with_detail("no such resource")
}

/// Rewrites error responses without a body type (axum's own 405, for example) into problems.
pub(crate) async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let code = title.to_lowercase().replace(' ', "-");
    let (mut parts, _) = response.into_parts();
    // The length of the body replaced (axum sets 0 on an empty one) is not the problem's.
    parts.headers.remove(header::CONTENT_LENGTH);
    let problem = Problem::new(status, &code, title).into_response();
    let (problem_parts, body) = problem.into_parts();
    parts.headers.extend(problem_parts.headers);
    Response::from_parts(parts, body)
}

/// Turns a panic in a handler into a 500 problem; the panic is logged, not sent.
pub(crate) fn panic_as_problem(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal server error",
    )
    .into_response()
}
