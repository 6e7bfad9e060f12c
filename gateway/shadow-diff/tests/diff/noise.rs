//! Noise: learning it from two primary answers ([`shadow_diff::detect_noise`])
//! and using it in a comparison.

use serde_json::json;
use shadow_diff::{
    ArrayOrder, Captured, CapturedBody, CompareRules, DiffKind, Outcome, compare, detect_noise,
};

use DiffKind::{BodyBytes, ValueChanged};

use crate::{answer, comparing, json, kinds, noise_of, route_rules};

/// Two answers of the legacy side to the same `GET /users`: ids are
/// random UUIDs, timestamps are "now", the rest is stable.
fn legacy_answer(ids: [&str; 3], now: &str, date: &str) -> Captured {
    let body = json!({
        "generated_at": now,
        "items": [
            {"id": ids[0], "email": "a@example.com", "seen": {"at": now}},
            {"id": ids[1], "email": "b@example.com", "seen": {"at": now}},
            {"id": ids[2], "email": "c@example.com", "seen": {"at": now}},
        ],
        "total": 3,
    });
    answer(
        200,
        &[
            ("content-type", "application/json"),
            ("date", date),
            ("server", "legacy"),
        ],
        &serde_json::to_vec(&body).expect("JSON serialises"),
    )
}

fn first() -> Captured {
    legacy_answer(
        [
            "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0001",
            "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0002",
            "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0003",
        ],
        "2025-01-01T10:00:00Z",
        "Wed, 01 Jan 2025 10:00:00 GMT",
    )
}

fn second() -> Captured {
    legacy_answer(
        [
            "f3c1d2e4-1111-4a2b-8c3d-000000000001",
            "f3c1d2e4-1111-4a2b-8c3d-000000000002",
            "f3c1d2e4-1111-4a2b-8c3d-000000000003",
        ],
        "2025-01-01T10:00:01Z",
        "Wed, 01 Jan 2025 10:00:01 GMT",
    )
}

#[test]
fn differing_uuids_and_timestamps_become_generalised_noise() {
    let noise = detect_noise(&first(), &second());
    assert_eq!(
        noise.paths(),
        [
            "/generated_at",
            "/items/*/id",
            "/items/*/seen/at",
            "header:date"
        ]
    );
    assert_eq!(
        noise.suggestions(),
        ["/generated_at", "/items/*/id", "/items/*/seen/at"]
    );
    for rule in noise.suggestions() {
        assert!(CompareRules::parse_pointer(&rule).is_ok(), "{rule}");
    }
    assert!(noise.contains("/items/7/id"));
    assert!(!noise.contains("/items/0/email"));
    assert!(!noise.contains("/total"));
    assert!(detect_noise(&first(), &first()).is_empty());
}

#[test]
fn a_shadow_differing_only_in_noise_is_ignored_only() {
    let noise = detect_noise(&first(), &second());
    let shadow = legacy_answer(
        [
            "7d7d7d7d-2222-4a2b-8c3d-000000000001",
            "7d7d7d7d-2222-4a2b-8c3d-000000000002",
            "7d7d7d7d-2222-4a2b-8c3d-000000000003",
        ],
        "2025-01-01T10:00:02Z",
        "Wed, 01 Jan 2025 10:00:02 GMT",
    );
    let rules = comparing(&["content-type", "date"]);

    let got = compare(&first(), &shadow, &rules, Some(&noise));
    assert_eq!(got.outcome, Outcome::IgnoredOnly, "{got:#?}");
    assert!(got.differences.is_empty());
    assert!(got.ignored.is_empty());
    let paths: Vec<&str> = got.noise.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "header:date",
            "/generated_at",
            "/items/0/id",
            "/items/0/seen/at",
            "/items/1/id",
            "/items/1/seen/at",
            "/items/2/id",
            "/items/2/seen/at",
        ]
    );
    assert!(got.noise.iter().all(|d| d.kind == DiffKind::ValueChanged));

    let without = compare(&first(), &shadow, &rules, None);
    assert_eq!(without.outcome, Outcome::Mismatch);
    assert_eq!(without.differences.len(), 8);
}

#[test]
fn a_real_regression_is_still_a_mismatch_next_to_noise() {
    let noise = detect_noise(&first(), &second());
    let mut shadow = second();
    let mut body: serde_json::Value = match &shadow.body {
        CapturedBody::Complete(bytes) => serde_json::from_slice(bytes).unwrap(),
        CapturedBody::TooLarge { .. } => unreachable!(),
    };
    body["items"][1]["email"] = json!("B@example.com");
    shadow.body = CapturedBody::Complete(serde_json::to_vec(&body).unwrap().into());
    let got = compare(&first(), &shadow, &CompareRules::default(), Some(&noise));
    assert_eq!(got.outcome, Outcome::Mismatch);
    let paths: Vec<&str> = got.differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/items/1/email"]);
    assert_eq!(got.noise.len(), 7);
}

#[test]
fn status_whole_body_and_learned_noise_merge() {
    let text = [("content-type", "text/plain")];
    let noise = detect_noise(
        &answer(200, &text, b"rendered at 10:00"),
        &answer(503, &text, b"rendered at 10:01"),
    );
    assert_eq!(noise.paths(), ["body", "status"]);
    assert!(noise.suggestions().is_empty());

    let mut all = detect_noise(&first(), &second());
    all.merge(&noise);
    assert_eq!(all.len(), 6);
    assert!(all.contains("status") && all.contains("/anything"));

    let mut too_large = first();
    too_large.body = CapturedBody::TooLarge { limit: 1 };
    let learned = detect_noise(&too_large, &second());
    assert_eq!(
        learned.paths(),
        ["header:date"],
        "nothing learned about the body"
    );
}

#[test]
fn noise_detection_is_not_capped() {
    let many = |offset: u32| {
        let items: Vec<_> = (0..500).map(|i| json!({"id": i + offset})).collect();
        answer(
            200,
            &[("content-type", "application/json")],
            &serde_json::to_vec(&json!({ "items": items })).unwrap(),
        )
    };
    let noise = detect_noise(&many(0), &many(1000));
    assert_eq!(noise.paths(), ["/items/*/id"]);
}

#[test]
fn noise_moves_differences_out_of_the_real_list() {
    let noise = noise_of(&["/items/*/id", "header:date", "status"]);
    let primary = answer(
        200,
        &[("content-type", "application/json"), ("date", "Mon")],
        br#"{"items": [{"id": "a", "n": 1}], "x": 1}"#,
    );
    let shadow = answer(
        201,
        &[("content-type", "application/json"), ("date", "Tue")],
        br#"{"items": [{"id": "b", "n": 1}], "x": 1}"#,
    );
    let rules = comparing(&["content-type", "date"]);
    let got = compare(&primary, &shadow, &rules, Some(&noise));
    assert_eq!(got.outcome, Outcome::IgnoredOnly);
    assert!(got.differences.is_empty());
    assert_eq!(
        kinds(&got.noise),
        [
            ("status", ValueChanged),
            ("header:date", ValueChanged),
            ("/items/0/id", ValueChanged)
        ]
    );
    let without = compare(&primary, &shadow, &rules, None);
    assert_eq!(without.outcome, Outcome::Mismatch);
    assert_eq!(without.differences.len(), 3);

    let both = rules_with_ignore_and_noise();
    let got = compare(&primary, &shadow, &both, Some(&noise));
    assert_eq!(
        kinds(&got.ignored),
        [("/items/0/id", ValueChanged)],
        "ignore wins"
    );
    assert_eq!(kinds(&got.noise), [("status", ValueChanged)]);
}

fn rules_with_ignore_and_noise() -> CompareRules {
    route_rules(ArrayOrder::Strict, false, &["/items"])
}

#[test]
fn noise_applies_inside_unordered_arrays_and_to_whole_bodies() {
    let noise = noise_of(&["/items/*/id"]);
    let unordered = route_rules(ArrayOrder::Ignore, false, &[]);
    let got = compare(
        &json(&json!({"items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]})),
        &json(&json!({"items": [{"id": 3, "n": "b"}, {"id": 4, "n": "a"}]})),
        &unordered,
        Some(&noise),
    );
    assert_eq!(got.outcome, Outcome::IgnoredOnly);
    assert_eq!(kinds(&got.noise), [("/items", ValueChanged)]);

    let whole = noise_of(&["body"]);
    let text = [("content-type", "text/plain")];
    let got = compare(
        &answer(200, &text, b"generated at 10:00"),
        &answer(200, &text, b"generated at 10:01"),
        &CompareRules::default(),
        Some(&whole),
    );
    assert_eq!(got.outcome, Outcome::IgnoredOnly);
    assert_eq!(kinds(&got.noise), [("body", BodyBytes)]);
}
