//! Differences of form only: timestamps compared as instants, numbers
//! written as strings, and the `format_only` outcome.

use chrono::FixedOffset;
use serde_json::{Value, json};
use shadow_diff::{
    ArrayOrder, CompareRules, Comparison, DiffKind, Formats, Outcome, Timestamps, compare,
};

use DiffKind::{FormatChanged, TypeChanged, ValueChanged};

use crate::{json, kinds, route_rules};

/// What the service writes for an instant: RFC 3339, UTC, `Z`, microseconds.
const SERVICE: &str = "2026-12-01T06:40:00.123456Z";

/// A user as an answer with these timestamps.
fn user(created_at: &str, updated_at: &str) -> Value {
    json!({
        "id": "0193a0c4-7d1e-7000-8000-000000000001",
        "email": "ada@example.com",
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

/// A user whose timestamps the legacy writes as given, against the
/// service's user with `SERVICE` for both.
fn users_compared(created_at: &str, updated_at: &str, rules: &CompareRules) -> Comparison {
    compare(
        &json(&user(created_at, updated_at)),
        &json(&user(SERVICE, SERVICE)),
        rules,
        None,
    )
}

/// `{"at": legacy}` against `{"at": service}`.
fn at_compared(legacy: &str, service: &str, rules: &CompareRules) -> Comparison {
    compare(
        &json(&json!({ "at": legacy })),
        &json(&json!({ "at": service })),
        rules,
        None,
    )
}

fn with(formats: Formats) -> CompareRules {
    route_rules(ArrayOrder::Strict, false, &[]).with_formats(formats)
}

fn naive_at(hours: i32) -> Formats {
    Formats {
        timestamps: Timestamps::Instants {
            naive_offset: FixedOffset::east_opt(hours * 3600).expect("a valid offset"),
        },
        numeric_strings: false,
    }
}

#[test]
fn the_same_instant_in_another_format_is_format_only() {
    // The forms a legacy backend writes for the service's `SERVICE` instant.
    let same_instant = [
        "2026-12-01T06:40:00.123456",
        "2026-12-01T06:40:00.123456+00:00",
        "2026-12-01T07:40:00.123456+01:00",
        "2026-12-01T01:40:00.123456-05:00",
        "2026-12-01T06:40:00.123456000Z",
        "2026-12-01T06:40:00.123456000",
        "2026-12-01 06:40:00.123456",
        "2026-12-01t06:40:00.123456z",
    ];
    let rules = CompareRules::default();
    for legacy in same_instant {
        let got = users_compared(legacy, legacy, &rules);
        assert_eq!(got.outcome, Outcome::FormatOnly, "{legacy}: {got:#?}");
        assert!(got.differences.is_empty(), "{legacy}");
        assert_eq!(
            kinds(&got.formats),
            [
                ("/created_at", FormatChanged),
                ("/updated_at", FormatChanged)
            ],
            "{legacy}"
        );
        assert_eq!(
            got.formats[0].primary.as_deref(),
            Some(format!("\"{legacy}\"").as_str()),
            "both forms are shown"
        );
        assert_eq!(
            got.formats[0].shadow.as_deref(),
            Some(format!("\"{SERVICE}\"").as_str())
        );
    }
}

#[test]
fn fractional_digits_count_only_by_value() {
    let rules = CompareRules::default();
    let cases = [
        // 0, 3, 6 and 9 digits naming the same instant.
        (
            "2026-12-01T06:40:00",
            "2026-12-01T06:40:00Z",
            Outcome::FormatOnly,
        ),
        (
            "2026-12-01T06:40:00",
            "2026-12-01T06:40:00.000Z",
            Outcome::FormatOnly,
        ),
        (
            "2026-12-01T06:40:00.120",
            "2026-12-01T06:40:00.12Z",
            Outcome::FormatOnly,
        ),
        (
            "2026-12-01T06:40:00.123",
            "2026-12-01T06:40:00.123000Z",
            Outcome::FormatOnly,
        ),
        (
            "2026-12-01T06:40:00.123456789",
            "2026-12-01T06:40:00.123456789Z",
            Outcome::FormatOnly,
        ),
        // Precision lost on one side is a different instant, so a mismatch.
        (
            "2026-12-01T06:40:00.123456",
            "2026-12-01T06:40:00.123Z",
            Outcome::Mismatch,
        ),
        (
            "2026-12-01T06:40:00.123456789",
            "2026-12-01T06:40:00.123456Z",
            Outcome::Mismatch,
        ),
        // Identical text is a plain match.
        (
            "2026-12-01T06:40:00.123456Z",
            "2026-12-01T06:40:00.123456Z",
            Outcome::Match,
        ),
    ];
    for (legacy, service, outcome) in cases {
        let got = at_compared(legacy, service, &rules);
        assert_eq!(got.outcome, outcome, "{legacy} vs {service}: {got:#?}");
    }
}

#[test]
fn a_real_drift_is_still_a_mismatch() {
    let rules = CompareRules::default();
    for (legacy, service) in [
        // One second off, in another format.
        ("2026-12-01T06:40:01.123456", SERVICE),
        // One microsecond off.
        ("2026-12-01T06:40:00.123457", SERVICE),
        // The same wall clock, but a naive one in UTC is not +01:00.
        (
            "2026-12-01T06:40:00.123456",
            "2026-12-01T06:40:00.123456+01:00",
        ),
        // A date is not an instant.
        ("2026-12-01", SERVICE),
    ] {
        let got = at_compared(legacy, service, &rules);
        assert_eq!(got.outcome, Outcome::Mismatch, "{legacy} vs {service}");
        assert_eq!(kinds(&got.differences), [("/at", ValueChanged)]);
        assert!(got.formats.is_empty(), "{got:#?}");
    }
    // A drift next to a difference of form: the drift decides, both are listed.
    let got = users_compared(
        "2026-12-01T06:40:01.123456",
        "2026-12-01T06:40:00.123456",
        &rules,
    );
    assert_eq!(got.outcome, Outcome::Mismatch);
    assert_eq!(kinds(&got.differences), [("/created_at", ValueChanged)]);
    assert_eq!(kinds(&got.formats), [("/updated_at", FormatChanged)]);
}

#[test]
fn strict_timestamps_compare_bytes_as_before() {
    let rules = with(Formats::STRICT);
    let naive = "2026-12-01T06:40:00.123456";
    let got = users_compared(naive, naive, &rules);
    assert_eq!(got.outcome, Outcome::Mismatch);
    assert_eq!(
        kinds(&got.differences),
        [("/created_at", ValueChanged), ("/updated_at", ValueChanged)]
    );
    assert!(got.formats.is_empty());
}

#[test]
fn a_naive_timestamp_is_read_in_the_routes_zone() {
    let legacy = "2026-12-01T07:40:00.123456";
    let got = at_compared(legacy, SERVICE, &with(naive_at(1)));
    assert_eq!(got.outcome, Outcome::FormatOnly, "{got:#?}");
    let got = at_compared(legacy, SERVICE, &CompareRules::default());
    assert_eq!(
        got.outcome,
        Outcome::Mismatch,
        "read in UTC it is an hour off"
    );
}

#[test]
fn numbers_as_strings_are_numbers_when_the_route_says_so() {
    let numeric = with(Formats {
        numeric_strings: true,
        ..Formats::default()
    });
    // The legacy's value, the service's, and the outcome, as JSON texts.
    let cases = [
        (r#""12.50""#, "12.5", Outcome::FormatOnly),
        ("12.5", r#""12.50""#, Outcome::FormatOnly),
        (r#""3""#, "3", Outcome::FormatOnly),
        ("3", r#""3.0""#, Outcome::FormatOnly),
        (r#""4""#, "3", Outcome::Mismatch),
        (r#""03""#, "3", Outcome::Mismatch),
        (r#""three""#, "3", Outcome::Mismatch),
    ];
    for (legacy, service, outcome) in cases {
        let value = |text: &str| json!({ "v": serde_json::from_str::<Value>(text).expect("JSON") });
        let (legacy, service) = (json(&value(legacy)), json(&value(service)));
        let got = compare(&legacy, &service, &numeric, None);
        assert_eq!(got.outcome, outcome, "{got:#?}");
        // Without the setting, a string against a number is a type change.
        let plain = compare(&legacy, &service, &CompareRules::default(), None);
        assert_eq!(plain.outcome, Outcome::Mismatch, "{plain:#?}");
        assert_eq!(plain.differences[0].kind, TypeChanged);
    }
}

#[test]
fn ignore_rules_and_noise_still_win_over_formats() {
    let rules = route_rules(ArrayOrder::Strict, false, &["/updated_at"]);
    // A difference of form at an ignored path is ignored, like any other.
    let naive = "2026-12-01T06:40:00.123456";
    let got = users_compared(naive, naive, &rules);
    assert_eq!(got.outcome, Outcome::IgnoredOnly, "{got:#?}");
    assert_eq!(kinds(&got.formats), [("/created_at", FormatChanged)]);
    assert_eq!(kinds(&got.ignored), [("/updated_at", FormatChanged)]);
    // Only differences of form, none ignored: format-only.
    let got = users_compared("2026-12-01T06:40:00.123456", SERVICE, &rules);
    assert_eq!(got.outcome, Outcome::FormatOnly);
}

#[test]
fn unordered_arrays_see_through_formats_too() {
    let rules = route_rules(ArrayOrder::Ignore, false, &[]);
    let legacy = json!({"logins": ["2026-12-01T06:40:00", "2026-11-30T08:00:00.5"]});
    let service = json!({"logins": ["2026-11-30T08:00:00.500Z", "2026-12-01T06:40:00Z"]});
    let got = compare(&json(&legacy), &json(&service), &rules, None);
    assert_eq!(got.outcome, Outcome::FormatOnly, "{got:#?}");
    assert_eq!(kinds(&got.formats), [("/logins", FormatChanged)]);
    let drifted = json!({"logins": ["2026-11-30T08:00:01.500Z", "2026-12-01T06:40:00Z"]});
    let got = compare(&json(&legacy), &json(&drifted), &rules, None);
    assert_eq!(got.outcome, Outcome::Mismatch);
    let strict = rules.with_formats(Formats::STRICT);
    let got = compare(&json(&legacy), &json(&service), &strict, None);
    assert_eq!(got.outcome, Outcome::Mismatch);
}

#[test]
fn formats_are_part_of_the_rules_canonical_line() {
    let default = CompareRules::default().canonical();
    assert!(
        default.contains("timestamps=instant@+00:00;numeric_strings=false"),
        "{default}"
    );
    assert_ne!(with(Formats::STRICT).canonical(), default);
    assert_ne!(with(naive_at(1)).canonical(), default);
    let kind = serde_json::to_string(&FormatChanged).expect("serialises");
    assert_eq!(kind, "\"format_changed\"");
}
