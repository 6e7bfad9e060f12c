//! Request extractors whose rejections are problem+json.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use super::problem::Problem;

/// A request body that is a JSON object, sent as `application/json` (or `+json`).
///
/// Rejections: wrong or missing content type → 415, body over the limit →
/// 413, malformed JSON or a non-object → 400. Field-level checks are the
/// caller's, so that every field problem is reported at once (422).
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&request) {
            return Err(rejection::unsupported_media_type());
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    BytesRejection::FailedToBufferBody(err) if is_length_limit(&err) => {
                        rejection::payload_too_large()
                    }
                    other => rejection::unreadable(&other.body_text()),
                })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(rejection::not_an_object()),
            Err(err) => Err(rejection::malformed_json(&err)),
        }
    }
}

/// The problems [`JsonObject`] rejects a request with; the OpenAPI examples use them too.
pub(crate) mod rejection {
    use axum::http::StatusCode;

    use super::Problem;

    /// 415: no `Content-Type`, or not JSON.
    pub(crate) fn unsupported_media_type() -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail("the body must be sent with `Content-Type: application/json`")
    }

    /// 413: the body is over the service's limit.
    pub(crate) fn payload_too_large() -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .with_detail("the request body is larger than this endpoint accepts")
    }

    /// 400: the body could not be read (`why`).
    pub(crate) fn unreadable(why: &str) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
        )
        .with_detail(format!("the request body could not be read: {why}"))
    }

    /// 400: the body is JSON, but not an object.
    pub(crate) fn not_an_object() -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
        )
        .with_detail("the body must be a JSON object")
    }

    /// 400: the body is not JSON.
    pub(crate) fn malformed_json(err: &serde_json::Error) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
            .with_detail(format!("the body is not valid JSON: {err}"))
    }
}

fn is_length_limit(err: &axum::extract::rejection::FailedToBufferBody) -> bool {
    matches!(
        err,
        axum::extract::rejection::FailedToBufferBody::LengthLimitError(_)
    )
}

fn has_json_content_type(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads typed fields out of a JSON object, collecting every type problem.
pub(crate) struct Fields {
    map: Map<String, Value>,
    /// Problems found so far.
    pub(crate) problems: Vec<crate::shared::FieldProblem>,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            problems: Vec::new(),
        }
    }

    /// The string at `name`; absent or `null` is `None`, another type is a problem.
    pub(crate) fn string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.problems.push(crate::shared::FieldProblem::new(
                    name,
                    "invalid-type",
                    "must be a string",
                ));
                None
            }
        }
    }

    /// The boolean at `name`; absent or `null` is `None`, another type is a problem.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.problems.push(crate::shared::FieldProblem::new(
                    name,
                    "invalid-type",
                    "must be true or false",
                ));
                None
            }
        }
    }

    /// Reports every field not read so far as one that cannot be set.
    pub(crate) fn reject_unknown(&mut self) {
        let mut names: Vec<String> = self.map.keys().cloned().collect();
        names.sort();
        for name in names {
            self.problems.push(crate::shared::FieldProblem::new(
                name,
                "unknown-field",
                "is not a field that can be set here",
            ));
        }
    }

    /// Whether `field` already has a problem.
    pub(crate) fn has_problem(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }
}
