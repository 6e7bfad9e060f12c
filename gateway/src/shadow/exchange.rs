//! What a mismatch record keeps of the exchange: the request that produced
//! it and both answers, redacted and bounded.
//!
//! The console's diff view shows them, and a replay ([`super::replay`]) can
//! resend the request: method, normalised path and query, headers, and its
//! body (recorded as answers' bodies are). Nothing a `[shadow] redact`
//! name covers is kept: header values and query parameters of those names,
//! JSON members of those names (at any depth), and non-JSON bodies that
//! mention one, are replaced by [`REDACTED`] before anything is stored.
//! Every part has a size bound, so a record costs at most about 76 KiB
//! (bodies [`MAX_BODY_BYTES`] each, the request [`MAX_TARGET_BYTES`] +
//! [`MAX_HEADER_BYTES`], the differences the comparison's own caps); a
//! typical JSON record is 1 to 3 KiB.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shadow_diff::{Captured, CapturedBody};

use super::seal::Original;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";
/// The most bytes of each body kept (after redaction); a longer body is cut and marked.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The most bytes of the path and query kept.
pub const MAX_TARGET_BYTES: usize = 2048;
/// The most bytes of request header names and values kept, all together.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The most bytes of one header value kept.
const MAX_HEADER_VALUE_BYTES: usize = 1024;

/// One header, its value redacted if its name is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedHeader {
    /// The lower-case name.
    pub name: String,
    /// The value as text (lossy), cut at 1 KiB, or [`REDACTED`].
    pub value: String,
}

/// The request a mismatch came from, as it was mirrored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The normalised path and the query, redacted parameters as [`REDACTED`].
    pub path_and_query: String,
    /// The headers in the order received, redacted.
    pub headers: Vec<RecordedHeader>,
    /// Whether headers were left out or the path and query cut, for the size bound.
    pub truncated: bool,
}

/// A body as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordedBody {
    /// A JSON body, redacted, as compact JSON (cut at [`MAX_BODY_BYTES`] when `truncated`).
    Json {
        /// The JSON text.
        text: String,
        /// Whether it was cut (the text is then not valid JSON).
        truncated: bool,
    },
    /// A UTF-8 body that names no redacted field.
    Text {
        /// The text.
        text: String,
        /// Whether it was cut.
        truncated: bool,
    },
    /// A body that is neither JSON nor UTF-8 text: only its size is kept.
    Binary {
        /// Its size in bytes.
        bytes: usize,
    },
    /// A non-JSON body that names a redacted field: only its size is kept.
    Redacted {
        /// Its size in bytes.
        bytes: usize,
    },
    /// Larger than `[shadow] max_body_bytes`: not captured.
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// One side's answer as compared: the compared headers and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAnswer {
    /// The route's `compare_headers` this side sent, redacted.
    pub headers: Vec<RecordedHeader>,
    /// The body.
    pub body: RecordedBody,
}

/// Both answers of a mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedExchange {
    /// The answer the client got.
    pub primary: RecordedAnswer,
    /// The mirrored side's.
    pub shadow: RecordedAnswer,
}

/// Whether `name` (any case) is one of the redacted names (lower-case).
fn is_redacted(name: &str, redact: &[String]) -> bool {
    redact.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// `text` cut to at most `max` bytes at a character boundary; whether it was cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

fn header(name: &str, value: &[u8], redact: &[String]) -> RecordedHeader {
    let value = if is_redacted(name, redact) {
        REDACTED.to_owned()
    } else {
        cut(&String::from_utf8_lossy(value), MAX_HEADER_VALUE_BYTES).0
    };
    RecordedHeader {
        name: name.to_owned(),
        value,
    }
}

/// Records a request: method, path and query, headers; redacted and bounded.
pub fn record_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    redact: &[String],
) -> RecordedRequest {
    let path = uri.path();
    let target = match uri.query() {
        Some(query) => format!("{path}?{}", redact_query(query, redact)),
        None => path.to_owned(),
    };
    let (path_and_query, mut truncated) = cut(&target, MAX_TARGET_BYTES);
    let mut kept = Vec::new();
    let mut total = 0;
    for (name, value) in headers {
        let recorded = header(name.as_str(), value.as_bytes(), redact);
        total += recorded.name.len() + recorded.value.len();
        if total > MAX_HEADER_BYTES {
            truncated = true;
            break;
        }
        kept.push(recorded);
    }
    RecordedRequest {
        method: method.to_string(),
        path_and_query,
        headers: kept,
        truncated,
    }
}

/// What redaction changed in a request, as received, for sealing
/// ([`super::seal`]): `None` when it changed neither the path and query nor
/// the body, or when either exceeds its bound (such a request is not
/// replayed anyway).
pub fn redacted_original(
    uri: &Uri,
    body: &Bytes,
    recorded: &RecordedRequest,
    recorded_body: &RecordedBody,
) -> Option<Original> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_owned(),
    };
    let body_redacted = match recorded_body {
        RecordedBody::Json { text, .. } => text.contains(&format!("\"{REDACTED}\"")),
        RecordedBody::Redacted { .. } => true,
        _ => false,
    };
    let changed = body_redacted || recorded.path_and_query != path_and_query;
    let fits = path_and_query.len() <= MAX_TARGET_BYTES && body.len() <= MAX_BODY_BYTES;
    (changed && fits && !recorded.truncated).then(|| Original {
        path_and_query,
        body: body.clone(),
    })
}

/// The query with the values of redacted parameters replaced (names compared percent-decoded).
fn redact_query(query: &str, redact: &[String]) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            if is_redacted(&decoded, redact) && !value.is_empty() {
                format!("{name}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Records one side's answer: the headers named in `compare_headers` and the body.
pub fn record_answer(
    answer: &Captured,
    compare_headers: &[String],
    redact: &[String],
) -> RecordedAnswer {
    let headers = compare_headers
        .iter()
        .flat_map(|name| {
            answer
                .headers
                .get_all(name.as_str())
                .iter()
                .map(move |value| header(name, value.as_bytes(), redact))
        })
        .collect();
    RecordedAnswer {
        headers,
        body: record_body(&answer.body, redact),
    }
}

/// Records a body, redacted and bounded.
pub fn record_body(body: &CapturedBody, redact: &[String]) -> RecordedBody {
    let bytes = match body {
        CapturedBody::TooLarge { limit } => return RecordedBody::TooLarge { limit: *limit },
        CapturedBody::Complete(bytes) => bytes,
    };
    if let Ok(mut json) = serde_json::from_slice::<Value>(bytes) {
        redact_json(&mut json, redact);
        let (text, truncated) = cut(&json.to_string(), MAX_BODY_BYTES);
        return RecordedBody::Json { text, truncated };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let lower = text.to_ascii_lowercase();
            if redact.iter().any(|name| lower.contains(name.as_str())) {
                RecordedBody::Redacted { bytes: bytes.len() }
            } else {
                let (text, truncated) = cut(text, MAX_BODY_BYTES);
                RecordedBody::Text { text, truncated }
            }
        }
        Err(_) => RecordedBody::Binary { bytes: bytes.len() },
    }
}

/// Replaces the values of redacted members, at any depth, without recursion.
pub fn redact_json(value: &mut Value, redact: &[String]) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    if is_redacted(name, redact) {
                        *member = Value::String(REDACTED.to_owned());
                    } else {
                        stack.push(member);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderValue, StatusCode};
    use serde_json::json;

    use super::*;

    fn redact() -> Vec<String> {
        ["email", "token", "authorization", "cookie"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn a_request_keeps_method_target_and_headers_with_redacted_values_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        headers.insert("cookie", HeaderValue::from_static("session=abc"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let uri: Uri = "/v1/users/7?token=s3cret&page=2&Email=a%40b.c"
            .parse()
            .unwrap();
        let request = record_request(&Method::GET, &uri, &headers, &redact());
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.path_and_query,
            "/v1/users/7?token=[redacted]&page=2&Email=[redacted]"
        );
        assert_eq!(
            request.headers,
            vec![
                RecordedHeader {
                    name: "authorization".into(),
                    value: REDACTED.into()
                },
                RecordedHeader {
                    name: "cookie".into(),
                    value: REDACTED.into()
                },
                RecordedHeader {
                    name: "accept".into(),
                    value: "application/json".into()
                },
            ]
        );
        assert!(!request.truncated);
        let text = serde_json::to_string(&request).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("abc") && !text.contains("a%40b"));
    }

    #[test]
    fn the_original_is_kept_for_sealing_only_when_redaction_changed_the_query_or_body() {
        let none = HeaderMap::new();
        let original = |target: &str, body: &'static [u8]| {
            let uri: Uri = target.parse().unwrap();
            let body = Bytes::from_static(body);
            let recorded = record_request(&Method::POST, &uri, &none, &redact());
            let recorded_body = record_body(&CapturedBody::Complete(body.clone()), &redact());
            redacted_original(&uri, &body, &recorded, &recorded_body)
        };
        assert_eq!(original("/v1/users?page=2", br#"{"name":"Ada"}"#), None);
        let kept = original("/v1/users?token=t0k", br#"{"name":"Ada"}"#).unwrap();
        assert_eq!(kept.path_and_query, "/v1/users?token=t0k");
        let kept = original("/v1/users", br#"{"email":"ada@example.com"}"#).unwrap();
        assert_eq!(kept.path_and_query, "/v1/users");
        assert_eq!(&kept.body[..], br#"{"email":"ada@example.com"}"#);
        // A form body naming a redacted field is recorded by its size only; its original is kept.
        assert!(original("/login", b"email=ada%40example.com&x=1").is_some());
        // Beyond the record's bound it would not be replayed: nothing is kept.
        let big = format!(
            r#"{{"email":"a@b.c","pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        let uri: Uri = "/v1/users".parse().unwrap();
        let body = Bytes::from(big);
        let recorded = record_request(&Method::POST, &uri, &none, &redact());
        let recorded_body = record_body(&CapturedBody::Complete(body.clone()), &redact());
        assert_eq!(
            redacted_original(&uri, &body, &recorded, &recorded_body),
            None
        );
    }

    #[test]
    fn a_request_is_bounded() {
        let mut headers = HeaderMap::new();
        for n in 0..40 {
            headers.insert(
                http::HeaderName::try_from(format!("x-h{n}")).unwrap(),
                HeaderValue::from_str(&"v".repeat(2000)).unwrap(),
            );
        }
        let uri: Uri = format!("/a?q={}", "x".repeat(5000)).parse().unwrap();
        let request = record_request(&Method::GET, &uri, &headers, &redact());
        assert!(request.truncated);
        assert!(request.path_and_query.len() <= MAX_TARGET_BYTES);
        let kept: usize = request
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        assert!(kept <= MAX_HEADER_BYTES, "{kept}");
        assert!(request.headers.iter().all(|h| h.value.len() <= 1024));
    }

    #[test]
    fn json_bodies_have_redacted_members_replaced_at_any_depth() {
        let body = json!({"id": 1, "email": "a@b.c", "friends": [{"EMAIL": "c@d.e", "name": "x"}]});
        let recorded = record_body(
            &CapturedBody::Complete(Bytes::from(body.to_string())),
            &redact(),
        );
        let RecordedBody::Json { text, truncated } = recorded else {
            panic!("{recorded:?}")
        };
        assert!(!truncated);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"id": 1, "email": REDACTED, "friends": [{"EMAIL": REDACTED, "name": "x"}]})
        );
    }

    #[test]
    fn other_bodies_are_kept_only_when_safe_and_bounded() {
        let record = |bytes: &'static [u8]| {
            record_body(
                &CapturedBody::Complete(Bytes::from_static(bytes)),
                &redact(),
            )
        };
        assert_eq!(
            record(b"plain words"),
            RecordedBody::Text {
                text: "plain words".into(),
                truncated: false
            }
        );
        assert_eq!(
            record(b"<p>Email: a@b.c</p>"),
            RecordedBody::Redacted { bytes: 19 }
        );
        assert_eq!(record(&[0xff, 0xfe, 0]), RecordedBody::Binary { bytes: 3 });
        let long = "é".repeat(MAX_BODY_BYTES);
        let RecordedBody::Text { text, truncated } =
            record_body(&CapturedBody::Complete(Bytes::from(long)), &redact())
        else {
            panic!("text")
        };
        assert!(truncated && text.len() <= MAX_BODY_BYTES);
        assert_eq!(
            record_body(&CapturedBody::TooLarge { limit: 9 }, &redact()),
            RecordedBody::TooLarge { limit: 9 }
        );
    }

    #[test]
    fn an_answer_keeps_only_the_compared_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("set-cookie", HeaderValue::from_static("a=b"));
        headers.insert("x-other", HeaderValue::from_static("1"));
        let answer = Captured::new(
            StatusCode::OK,
            headers,
            CapturedBody::Complete(Bytes::from_static(b"{}")),
        );
        let compared = ["content-type".to_owned(), "set-cookie".to_owned()];
        let mut redact = redact();
        redact.push("set-cookie".into());
        let recorded = record_answer(&answer, &compared, &redact);
        assert_eq!(
            recorded.headers,
            vec![
                RecordedHeader {
                    name: "content-type".into(),
                    value: "application/json".into()
                },
                RecordedHeader {
                    name: "set-cookie".into(),
                    value: REDACTED.into()
                },
            ]
        );
    }
}
