//! Responses the gateway makes itself: the one place gateway failures become problem+json.
//!
//! Every such response carries `x-gateway-error: <code>`, so operators can
//! tell "legacy answered 502" from "the gateway could not reach legacy".
//! Upstream responses, 5xx included, are never errors here.

use accounts::Problem;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::upstream::ForwardError;
use gateway_routing::PathError;

/// The header naming the gateway's own error code on responses it made.
pub const GATEWAY_ERROR_HEADER: &str = "x-gateway-error";

/// Failures the gateway itself answers for.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request path is malformed or smuggles an encoded separator (400).
    #[error("bad request path: {0}")]
    BadPath(#[from] PathError),
    /// The normalised path and query do not form a valid URI again (400).
    #[error("the request URI cannot be rebuilt")]
    BadUri,
    /// The request body could not be read (the client aborted it) (400).
    #[error("the request body could not be read")]
    BodyRead,
    /// The request body is larger than the gateway accepts (413).
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Legacy could not be reached or answered too late (502/504/500).
    #[error("forwarding to legacy failed")]
    Legacy(#[from] ForwardError),
    /// A plain HTTP request arrived on the listener that speaks HTTPS (400).
    #[error("a plain HTTP request on the HTTPS listener")]
    PlainHttpOnTls,
}

impl GatewayError {
    /// The status and the stable code of this failure.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadPath(_) => (StatusCode::BAD_REQUEST, "bad-path"),
            Self::BadUri => (StatusCode::BAD_REQUEST, "bad-uri"),
            Self::BodyRead => (StatusCode::BAD_REQUEST, "bad-request-body"),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::PlainHttpOnTls => (StatusCode::BAD_REQUEST, "plain-http-on-https-port"),
            Self::Legacy(ForwardError::Connect { .. } | ForwardError::Io { .. }) => {
                (StatusCode::BAD_GATEWAY, "upstream-unreachable")
            }
            Self::Legacy(ForwardError::Tls { .. }) => (StatusCode::BAD_GATEWAY, "upstream-tls"),
            Self::Legacy(ForwardError::Timeout { .. }) => {
                (StatusCode::GATEWAY_TIMEOUT, "upstream-timeout")
            }
            Self::Legacy(ForwardError::InvalidUri { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "bad-upstream-uri")
            }
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadPath(_) => "Bad request path",
            Self::BadUri => "Bad request URI",
            Self::BodyRead => "Bad request body",
            Self::BodyTooLarge { .. } => "Payload too large",
            Self::PlainHttpOnTls => "Plain HTTP sent to the HTTPS port",
            Self::Legacy(ForwardError::Timeout { .. }) => "Upstream timed out",
            Self::Legacy(ForwardError::Tls { .. }) => "Upstream TLS failed",
            Self::Legacy(ForwardError::InvalidUri { .. }) => "Bad upstream URI",
            Self::Legacy(_) => "Upstream unreachable",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadPath(err) => format!("the request path is not acceptable: {err}"),
            Self::BadUri => "the request URI is not acceptable".to_owned(),
            Self::BodyRead => "the request body could not be read".to_owned(),
            Self::PlainHttpOnTls => "this port speaks HTTPS only: use an https:// URL".to_owned(),
            Self::BodyTooLarge { limit } => {
                format!("the request body is larger than {limit} bytes")
            }
            Self::Legacy(ForwardError::Timeout { after }) => {
                format!("the legacy backend sent no response within {after:?}")
            }
            Self::Legacy(ForwardError::InvalidUri { .. }) => {
                "the gateway could not build the upstream URI".to_owned()
            }
            Self::Legacy(ForwardError::Tls { .. }) => {
                "the TLS handshake with the legacy backend failed".to_owned()
            }
            Self::Legacy(_) => "the legacy backend could not be reached".to_owned(),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut response = Problem::new(status, code, self.title())
            .with_detail(self.detail())
            .into_response();
        response
            .headers_mut()
            .insert(GATEWAY_ERROR_HEADER, HeaderValue::from_static(code));
        response
    }
}
