//! One side's answer as the caller captured it: status, headers, buffered body.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// One side's answer as captured; the caller buffered the body up to the limit.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Status code.
    pub status: StatusCode,
    /// All response headers.
    pub headers: HeaderMap,
    /// The buffered body, or the fact that it was too large to buffer.
    pub body: CapturedBody,
}

impl Captured {
    /// Bundles one side's answer.
    #[must_use]
    pub fn new(status: StatusCode, headers: HeaderMap, body: CapturedBody) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }
}

/// A buffered body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapturedBody {
    /// The whole body.
    Complete(Bytes),
    /// The body was longer than `limit` bytes and was not kept.
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl CapturedBody {
    /// `Complete(bytes)`, or `TooLarge` if `bytes` is longer than `limit`.
    #[must_use]
    pub fn from_bytes(bytes: Bytes, limit: usize) -> Self {
        if bytes.len() > limit {
            CapturedBody::TooLarge { limit }
        } else {
            CapturedBody::Complete(bytes)
        }
    }
}
