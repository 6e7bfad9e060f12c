//! Any two bodies (split at the first 0xFF byte, which UTF-8 never has):
//! the comparison and noise detection never panic, an answer equals itself,
//! and the comparison is deterministic.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use shadow_diff::{Captured, CapturedBody, CompareRules, compare, detect_noise};

fn answer(body: &[u8]) -> Captured {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    Captured::new(
        StatusCode::OK,
        headers,
        CapturedBody::from_bytes(Bytes::copy_from_slice(body), 64 * 1024),
    )
}

fuzz_target!(|data: &[u8]| {
    let (left, right) = match data.iter().position(|b| *b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, data),
    };
    let (primary, shadow) = (answer(left), answer(right));
    let rules = CompareRules::default();
    let noise = detect_noise(&primary, &shadow);
    let first = compare(&primary, &shadow, &rules, None);
    let again = compare(&primary, &shadow, &rules, None);
    assert_eq!(
        format!("{first:?}"),
        format!("{again:?}"),
        "not deterministic"
    );
    let _ = compare(&primary, &shadow, &rules, Some(&noise));
    let itself = compare(&primary, &primary, &rules, None);
    assert!(
        itself.differences.is_empty(),
        "an answer differs from itself: {itself:?}"
    );
});
