//! Assertions on RFC 9457 problem+json responses.

use http::{HeaderMap, StatusCode, header};
use serde_json::Value;

/// Asserts that a response is a problem+json of `status` with `code`, and returns its body.
///
/// # Panics
///
/// When any part of the contract is broken; the message says which.
pub fn assert_problem(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    expected: StatusCode,
    code: &str,
) -> Value {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, expected, "status; body: {text}");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        content_type,
        Some("application/problem+json"),
        "content type; body: {text}"
    );
    let problem: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("problem body is not JSON ({e}): {text}"));
    assert_eq!(
        problem["status"],
        expected.as_u16(),
        "`status` member must mirror the HTTP status: {problem}"
    );
    assert_eq!(problem["code"], code, "`code` member: {problem}");
    assert_eq!(
        problem["type"].as_str(),
        Some(format!("urn:project-alpha:problem:{code}").as_str()),
        "`type` member: {problem}"
    );
    assert!(
        problem["title"].as_str().is_some_and(|t| !t.is_empty()),
        "`title` member: {problem}"
    );
    problem
}
