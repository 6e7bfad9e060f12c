//! `X-Request-Id`: accepted from the client when sane, generated otherwise.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header, as sent to both sides and back to the client.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const MAX_LEN: usize = 200;

/// The client's request id if it is 1 to 200 visible ASCII characters, else a new UUIDv7.
///
/// An id is accepted rather than replaced so that one id follows a request
/// from an upstream proxy through the gateway to both backends.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| is_acceptable(v.as_bytes()))
        .cloned()
        .unwrap_or_else(generate)
}

fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| b.is_ascii_graphic())
}

fn generate() -> HeaderValue {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid-request-id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_client_ids_and_replaces_others() {
        let cases: [(Option<&[u8]>, bool); 6] = [
            (Some(b"abc-123"), true),
            (Some(b"0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a"), true),
            (Some(b""), false),
            (Some(b"has space"), false),
            (Some(&[b'a'; 201]), false),
            (None, false),
        ];
        for (given, kept) in cases {
            let mut headers = HeaderMap::new();
            if let Some(given) = given {
                headers.insert(REQUEST_ID, HeaderValue::from_bytes(given).unwrap());
            }
            let id = request_id(&headers);
            assert_eq!(
                Some(id.as_bytes()) == given,
                kept,
                "given {given:?} → {id:?}"
            );
            assert!(is_acceptable(id.as_bytes()));
        }
    }
}
