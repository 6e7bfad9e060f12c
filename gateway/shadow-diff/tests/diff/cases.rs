//! Table cases: JSON bodies, status, headers, content types, byte previews,
//! limits, path order, the pairing budget and serialisation.

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use shadow_diff::{
    ArrayOrder, Captured, CapturedBody, CompareRules, Comparison, DiffKind, Difference, DropReason,
    Outcome, SkipReason, compare,
};

use DiffKind::{Added, ArrayLength, BodyBytes, Missing, TypeChanged, ValueChanged};

use crate::{answer, comparing, json, kinds, route_rules};

/// One JSON case: rules, both bodies, and what must come out.
struct Case {
    name: &'static str,
    rules: CompareRules,
    primary: Value,
    shadow: Value,
    outcome: Outcome,
    differences: &'static [(&'static str, DiffKind)],
    ignored: &'static [(&'static str, DiffKind)],
}

fn json_cases() -> Vec<Case> {
    let strict = |ignore: &[&str]| route_rules(ArrayOrder::Strict, false, ignore);
    let unordered = |ignore: &[&str]| route_rules(ArrayOrder::Ignore, false, ignore);
    vec![
        Case {
            name: "equal nested documents",
            rules: strict(&[]),
            primary: json!({"user": {"id": 1, "tags": ["a", "b"], "address": {"city": "Oslo"}}}),
            shadow: json!({"user": {"address": {"city": "Oslo"}, "tags": ["a", "b"], "id": 1}}),
            outcome: Outcome::Match,
            differences: &[],
            ignored: &[],
        },
        Case {
            name: "nested value changed",
            rules: strict(&[]),
            primary: json!({"user": {"address": {"city": "Oslo", "zip": "0150"}}}),
            shadow: json!({"user": {"address": {"city": "Bergen", "zip": "0150"}}}),
            outcome: Outcome::Mismatch,
            differences: &[("/user/address/city", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "string vs number is a type change",
            rules: strict(&[]),
            primary: json!({"id": "1"}),
            shadow: json!({"id": 1}),
            outcome: Outcome::Mismatch,
            differences: &[("/id", TypeChanged)],
            ignored: &[],
        },
        Case {
            name: "null vs zero is a type change",
            rules: strict(&[]),
            primary: json!({"n": null}),
            shadow: json!({"n": 0}),
            outcome: Outcome::Mismatch,
            differences: &[("/n", TypeChanged)],
            ignored: &[],
        },
        Case {
            name: "object vs array is a type change, not a walk",
            rules: strict(&[]),
            primary: json!({"x": {"0": 1}}),
            shadow: json!({"x": [1]}),
            outcome: Outcome::Mismatch,
            differences: &[("/x", TypeChanged)],
            ignored: &[],
        },
        Case {
            name: "root difference is reported at body",
            rules: strict(&[]),
            primary: json!([1]),
            shadow: json!({"a": 1}),
            outcome: Outcome::Mismatch,
            differences: &[("body", TypeChanged)],
            ignored: &[],
        },
        Case {
            name: "root scalars",
            rules: strict(&[]),
            primary: json!("a"),
            shadow: json!("b"),
            outcome: Outcome::Mismatch,
            differences: &[("body", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "member missing in shadow",
            rules: strict(&[]),
            primary: json!({"a": 1, "b": {"c": 2}}),
            shadow: json!({"a": 1}),
            outcome: Outcome::Mismatch,
            differences: &[("/b", Missing)],
            ignored: &[],
        },
        Case {
            name: "member added by shadow, not allowed",
            rules: strict(&[]),
            primary: json!({"a": 1}),
            shadow: json!({"a": 1, "c": {"d": true}}),
            outcome: Outcome::Mismatch,
            differences: &[("/c", Added)],
            ignored: &[],
        },
        Case {
            name: "members added by shadow, allowed, at any depth",
            rules: route_rules(ArrayOrder::Strict, true, &[]),
            primary: json!({"a": 1, "o": {"p": 2}, "l": [{"q": 3}]}),
            shadow: json!({"a": 1, "c": 3, "o": {"p": 2, "new": 1}, "l": [{"q": 3, "r": 4}]}),
            outcome: Outcome::Match,
            differences: &[],
            ignored: &[],
        },
        Case {
            name: "allowing added members does not allow missing ones",
            rules: route_rules(ArrayOrder::Strict, true, &[]),
            primary: json!({"a": 1, "b": 2}),
            shadow: json!({"a": 1, "c": 2}),
            outcome: Outcome::Mismatch,
            differences: &[("/b", Missing)],
            ignored: &[],
        },
        Case {
            name: "numbers by value: 1 == 1.0 == 1e0, 0 == -0.0",
            rules: strict(&[]),
            primary: json!({"a": 1, "b": 100, "c": 0, "d": 2.5, "e": -3}),
            shadow: serde_json::from_str(
                r#"{"a": 1.0, "b": 1e2, "c": -0.0, "d": 2.50, "e": -3.0}"#,
            )
            .expect("valid JSON"),
            outcome: Outcome::Match,
            differences: &[],
            ignored: &[],
        },
        Case {
            name: "numbers that differ",
            rules: strict(&[]),
            primary: json!({"a": 1, "b": 9_007_199_254_740_993_u64, "c": 0.1}),
            shadow: serde_json::from_str(r#"{"a": 1.5, "b": 9007199254740992.0, "c": 0.10000001}"#)
                .expect("valid JSON"),
            outcome: Outcome::Mismatch,
            differences: &[
                ("/a", ValueChanged),
                ("/b", ValueChanged),
                ("/c", ValueChanged),
            ],
            ignored: &[],
        },
        Case {
            name: "strict arrays compare by position",
            rules: strict(&[]),
            primary: json!({"items": [1, 2, 3]}),
            shadow: json!({"items": [1, 3, 2]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items/1", ValueChanged), ("/items/2", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "strict arrays of different length: length first, then common items",
            rules: strict(&[]),
            primary: json!({"items": [{"n": 1}, {"n": 2}]}),
            shadow: json!({"items": [{"n": 1}, {"n": 5}, {"n": 3}]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ArrayLength), ("/items/1/n", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "unordered arrays: any order matches",
            rules: unordered(&[]),
            primary: json!({"items": [1, "two", {"a": 1, "b": [1, 2]}, null]}),
            shadow: json!({"items": [null, {"b": [2, 1.0], "a": 1}, 1.0, "two"]}),
            outcome: Outcome::Match,
            differences: &[],
            ignored: &[],
        },
        Case {
            name: "unordered arrays are multisets, not sets",
            rules: unordered(&[]),
            primary: json!({"items": [1, 2, 2]}),
            shadow: json!({"items": [1, 1, 2]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "unordered arrays of different length",
            rules: unordered(&[]),
            primary: json!({"items": [1, 2]}),
            shadow: json!({"items": [2, 1, 3]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ArrayLength)],
            ignored: &[],
        },
        Case {
            name: "unordered nested arrays keep nested structure (Diffy PR #51)",
            rules: unordered(&[]),
            primary: json!({"m": [[1, 2], [3, 4]]}),
            shadow: json!({"m": [[1, 3], [2, 4]]}),
            outcome: Outcome::Mismatch,
            differences: &[("/m", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "unordered items may gain members when allowed",
            rules: route_rules(ArrayOrder::Ignore, true, &[]),
            primary: json!({"items": [{"id": 1}, {"id": 2}, {"id": 2}]}),
            shadow: json!({"items": [{"id": 2, "x": 1}, {"id": 1, "x": 0}, {"id": 2}]}),
            outcome: Outcome::Match,
            differences: &[],
            ignored: &[],
        },
        Case {
            name: "unordered items gaining members when not allowed",
            rules: unordered(&[]),
            primary: json!({"items": [{"id": 1}, {"id": 2}]}),
            shadow: json!({"items": [{"id": 2, "x": 1}, {"id": 1}]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "unordered items losing members are never allowed",
            rules: route_rules(ArrayOrder::Ignore, true, &[]),
            primary: json!({"items": [{"id": 1, "n": "a"}, {"id": 2}]}),
            shadow: json!({"items": [{"id": 2}, {"id": 1}]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "ignore /items/*/id with strict arrays",
            rules: strict(&["/items/*/id"]),
            primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
            shadow: json!({"items": [{"id": "v1", "n": "a"}, {"id": "v2", "n": "b"}]}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/items/0/id", ValueChanged), ("/items/1/id", ValueChanged)],
        },
        Case {
            name: "ignore /items/*/id with unordered arrays",
            rules: unordered(&["/items/*/id"]),
            primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
            shadow: json!({"items": [{"id": "v2", "n": "b"}, {"id": "v1", "n": "a"}]}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/items", ValueChanged)],
        },
        Case {
            name: "ignore rules do not hide other changes in unordered arrays",
            rules: unordered(&["/items/*/id"]),
            primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
            shadow: json!({"items": [{"id": "v2", "n": "b"}, {"id": "v1", "n": "c"}]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "unordered items have no position: /items/0/id does not reach them",
            rules: unordered(&["/items/0/id"]),
            primary: json!({"items": [{"id": "u1"}]}),
            shadow: json!({"items": [{"id": "v1"}]}),
            outcome: Outcome::Mismatch,
            differences: &[("/items", ValueChanged)],
            ignored: &[],
        },
        Case {
            name: "ignore /*/updated_at: any top-level member",
            rules: strict(&["/*/updated_at"]),
            primary: json!({"user": {"updated_at": "t1", "n": 1}, "org": {"updated_at": "t1"}}),
            shadow: json!({"user": {"updated_at": "t2", "n": 1}, "org": {"updated_at": "t3"}}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[
                ("/org/updated_at", ValueChanged),
                ("/user/updated_at", ValueChanged),
            ],
        },
        Case {
            name: "ignore /*/updated_at does not reach other depths",
            rules: strict(&["/*/updated_at"]),
            primary: json!({"updated_at": "t1", "a": {"b": {"updated_at": "t1"}}}),
            shadow: json!({"updated_at": "t2", "a": {"b": {"updated_at": "t2"}}}),
            outcome: Outcome::Mismatch,
            differences: &[
                ("/a/b/updated_at", ValueChanged),
                ("/updated_at", ValueChanged),
            ],
            ignored: &[],
        },
        Case {
            name: "an ignore rule covers its whole subtree, including missing and added",
            rules: strict(&["/user"]),
            primary: json!({"user": {"name": "a", "email": "e"}, "ok": true}),
            shadow: json!({"user": {"name": "b", "extra": 1}, "ok": true}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[
                ("/user/email", Missing),
                ("/user/extra", Added),
                ("/user/name", ValueChanged),
            ],
        },
        Case {
            name: "ignore rules on the member itself: missing or added",
            rules: strict(&["/debug", "/trace"]),
            primary: json!({"debug": 1}),
            shadow: json!({"trace": "x"}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/debug", Missing), ("/trace", Added)],
        },
        Case {
            name: "ignored and real differences together",
            rules: strict(&["/meta"]),
            primary: json!({"meta": {"t": 1}, "name": "a"}),
            shadow: json!({"meta": {"t": 2}, "name": "b"}),
            outcome: Outcome::Mismatch,
            differences: &[("/name", ValueChanged)],
            ignored: &[("/meta/t", ValueChanged)],
        },
        Case {
            name: "ignore rule with ~1 escape for `/` in a key",
            rules: strict(&["/links/a~1b"]),
            primary: json!({"links": {"a/b": 1, "ab": 1}}),
            shadow: json!({"links": {"a/b": 2, "ab": 1}}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/links/a~1b", ValueChanged)],
        },
        Case {
            name: "ignore rule with ~0 escape for `~` in a key",
            rules: strict(&["/m~0n"]),
            primary: json!({"m~n": 1}),
            shadow: json!({"m~n": 2}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/m~0n", ValueChanged)],
        },
        Case {
            name: "escapes decode once: /a~01 names the key `a~1`, not `a/`",
            rules: strict(&["/a~01"]),
            primary: json!({"a~1": 1, "a/": 1}),
            shadow: json!({"a~1": 2, "a/": 2}),
            outcome: Outcome::Mismatch,
            differences: &[("/a~1", ValueChanged)],
            ignored: &[("/a~01", ValueChanged)],
        },
        Case {
            name: "decimal segment reaches a strict array item",
            rules: strict(&["/items/1"]),
            primary: json!({"items": [1, 2]}),
            shadow: json!({"items": [1, 3]}),
            outcome: Outcome::IgnoredOnly,
            differences: &[],
            ignored: &[("/items/1", ValueChanged)],
        },
    ]
}

#[test]
fn json_bodies_follow_the_rules() {
    for case in json_cases() {
        let rules = case.rules;
        let got = compare(&json(&case.primary), &json(&case.shadow), &rules, None);
        assert_eq!(got.outcome, case.outcome, "{}: {got:#?}", case.name);
        assert_eq!(kinds(&got.differences), case.differences, "{}", case.name);
        assert_eq!(kinds(&got.ignored), case.ignored, "{}", case.name);
        assert!(got.noise.is_empty(), "{}", case.name);
        assert!(!got.truncated, "{}", case.name);
    }
}

#[test]
fn differences_carry_rendered_values() {
    let rules = CompareRules::default();
    let got = compare(
        &json(&json!({"a": {"b": [1, 2]}, "s": "x\"y", "gone": null})),
        &json(&json!({"a": {"b": "2"}, "s": "z", "new": {"k": 1.5}})),
        &rules,
        None,
    );
    let rendered: Vec<(&str, Option<&str>, Option<&str>)> = got
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.primary.as_deref(), d.shadow.as_deref()))
        .collect();
    assert_eq!(
        rendered,
        [
            ("/a/b", Some("[1,2]"), Some("\"2\"")),
            ("/gone", Some("null"), None),
            ("/new", None, Some("{\"k\":1.5}")),
            ("/s", Some("\"x\\\"y\""), Some("\"z\"")),
        ]
    );
    let lengths = compare(
        &json(&json!([1, 2, 3])),
        &json(&json!([1, 2])),
        &rules,
        None,
    );
    assert_eq!(lengths.differences[0].primary.as_deref(), Some("3"));
    assert_eq!(lengths.differences[0].shadow.as_deref(), Some("2"));
    assert_eq!(
        lengths.differences[0].to_string(),
        "body array_length: primary 3, shadow 2"
    );
}

#[test]
fn status_is_compared_exactly() {
    let rules = CompareRules::default();
    let cases: &[(u16, u16, Outcome)] = &[
        (200, 200, Outcome::Match),
        (200, 201, Outcome::Mismatch),
        (404, 500, Outcome::Mismatch),
        (204, 204, Outcome::Match),
    ];
    for &(ours, theirs, outcome) in cases {
        let got = compare(
            &answer(ours, &[], b""),
            &answer(theirs, &[], b""),
            &rules,
            None,
        );
        assert_eq!(got.outcome, outcome, "{ours} vs {theirs}");
        if outcome == Outcome::Mismatch {
            assert_eq!(
                got.differences,
                [Difference {
                    path: "status".into(),
                    kind: ValueChanged,
                    primary: Some(ours.to_string()),
                    shadow: Some(theirs.to_string()),
                }]
            );
        }
    }
}

#[test]
fn only_listed_headers_are_compared() {
    type Headers = &'static [(&'static str, &'static str)];
    struct HeaderCase {
        name: &'static str,
        rules: CompareRules,
        primary: Headers,
        shadow: Headers,
        expected: &'static [(
            &'static str,
            DiffKind,
            Option<&'static str>,
            Option<&'static str>,
        )],
    }
    let cases = [
        HeaderCase {
            name: "same content-type",
            rules: comparing(&["content-type"]),
            primary: &[("content-type", "text/plain")],
            shadow: &[("Content-Type", "text/plain")],
            expected: &[],
        },
        HeaderCase {
            name: "content-type values compared exactly",
            rules: comparing(&["content-type"]),
            primary: &[("content-type", "text/plain")],
            shadow: &[("content-type", "text/plain; charset=utf-8")],
            expected: &[(
                "header:content-type",
                ValueChanged,
                Some("\"text/plain\""),
                Some("\"text/plain; charset=utf-8\""),
            )],
        },
        HeaderCase {
            name: "unlisted headers are not compared",
            rules: comparing(&["content-type"]),
            primary: &[("x-request-id", "1"), ("date", "Mon")],
            shadow: &[("x-request-id", "2"), ("server", "new")],
            expected: &[],
        },
        HeaderCase {
            name: "names are case-insensitive in rules and answers",
            rules: comparing(&["content-type", "ETag"]),
            primary: &[("ETag", "\"v1\"")],
            shadow: &[("etag", "\"v1\"")],
            expected: &[],
        },
        HeaderCase {
            name: "values are case-sensitive",
            rules: comparing(&["content-type", "etag"]),
            primary: &[("etag", "abc")],
            shadow: &[("etag", "ABC")],
            expected: &[(
                "header:etag",
                ValueChanged,
                Some("\"abc\""),
                Some("\"ABC\""),
            )],
        },
        HeaderCase {
            name: "missing in shadow",
            rules: comparing(&["content-type", "cache-control"]),
            primary: &[("cache-control", "no-store")],
            shadow: &[],
            expected: &[("header:cache-control", Missing, Some("\"no-store\""), None)],
        },
        HeaderCase {
            name: "added by shadow",
            rules: comparing(&["content-type", "cache-control"]),
            primary: &[],
            shadow: &[("cache-control", "no-store")],
            expected: &[("header:cache-control", Added, None, Some("\"no-store\""))],
        },
        HeaderCase {
            name: "repeated values compared in order",
            rules: comparing(&["vary"]),
            primary: &[("vary", "a"), ("vary", "b")],
            shadow: &[("vary", "b"), ("vary", "a")],
            expected: &[(
                "header:vary",
                ValueChanged,
                Some("[\"a\",\"b\"]"),
                Some("[\"b\",\"a\"]"),
            )],
        },
        HeaderCase {
            name: "an empty list compares no header",
            rules: comparing(&[]),
            primary: &[("content-type", "text/html")],
            shadow: &[("content-type", "text/plain")],
            expected: &[],
        },
        HeaderCase {
            name: "headers are listed by name",
            rules: comparing(&["content-type", "x-b", "X-A"]),
            primary: &[("x-b", "1"), ("x-a", "1")],
            shadow: &[],
            expected: &[
                ("header:x-a", Missing, Some("\"1\""), None),
                ("header:x-b", Missing, Some("\"1\""), None),
            ],
        },
    ];
    for case in cases {
        let rules = case.rules;
        let got = compare(
            &answer(200, case.primary, b"same"),
            &answer(200, case.shadow, b"same"),
            &rules,
            None,
        );
        let found: Vec<_> = got
            .differences
            .iter()
            .map(|d| {
                (
                    d.path.as_str(),
                    d.kind,
                    d.primary.as_deref(),
                    d.shadow.as_deref(),
                )
            })
            .collect();
        assert_eq!(found, case.expected, "{}", case.name);
        let outcome = if case.expected.is_empty() {
            Outcome::Match
        } else {
            Outcome::Mismatch
        };
        assert_eq!(got.outcome, outcome, "{}", case.name);
    }
}

#[test]
fn bodies_follow_the_content_types() {
    const JSON: (&str, &str) = ("content-type", "application/json");
    type Side = (&'static [(&'static str, &'static str)], &'static [u8]);
    type BodyCase = (
        &'static str,
        Side,
        Side,
        &'static [(&'static str, DiffKind)],
    );
    let cases: &[BodyCase] = &[
        (
            "JSON compared structurally, not by bytes",
            (&[JSON], br#"{"a": 1, "b": [1, 2]}"#),
            (&[JSON], br#"{"b":[1,2.0],"a":1}"#),
            &[],
        ),
        (
            "+json types and parameters count as JSON",
            (
                &[("content-type", "application/problem+json")],
                br#"{"status": 404}"#,
            ),
            (
                &[("content-type", "application/problem+json")],
                br#"{"status":404.0}"#,
            ),
            &[],
        ),
        (
            "vendor +json with charset",
            (
                &[("content-type", "Application/Vnd.Api+JSON; charset=utf-8")],
                b"[1]",
            ),
            (
                &[("content-type", "Application/Vnd.Api+JSON; charset=utf-8")],
                b"[1.0]",
            ),
            &[],
        ),
        (
            "text/json is not JSON: bytes",
            (&[("content-type", "text/json")], b"1"),
            (&[("content-type", "text/json")], b"1.0"),
            &[("body", BodyBytes)],
        ),
        (
            "JSON on one side only: bytes (and the header differs)",
            (&[JSON], b"1"),
            (&[("content-type", "text/plain")], b"1"),
            &[("header:content-type", ValueChanged)],
        ),
        (
            "no content-type: bytes",
            (&[], b"{\"a\":1}"),
            (&[], b"{\"a\": 1}"),
            &[("body", BodyBytes)],
        ),
        (
            "JSON body that does not parse on one side",
            (&[JSON], br#"{"a":1}"#),
            (&[JSON], b"<html>oops</html>"),
            &[("body", TypeChanged)],
        ),
        (
            "empty body on one JSON side",
            (&[JSON], b""),
            (&[JSON], b"{}"),
            &[("body", TypeChanged)],
        ),
        (
            "JSON bodies that parse on neither side: bytes",
            (&[JSON], b"{oops"),
            (&[JSON], b"{oops!"),
            &[("body", BodyBytes)],
        ),
        (
            "empty JSON bodies on both sides are equal",
            (&[JSON], b""),
            (&[JSON], b""),
            &[],
        ),
        (
            "equal bytes",
            (&[("content-type", "text/plain")], b"hello"),
            (&[("content-type", "text/plain")], b"hello"),
            &[],
        ),
    ];
    for (name, (ph, pb), (sh, sb), expected) in cases {
        let got = compare(
            &answer(200, ph, pb),
            &answer(200, sh, sb),
            &CompareRules::default(),
            None,
        );
        assert_eq!(kinds(&got.differences), *expected, "{name}");
    }
}

#[test]
fn byte_bodies_render_length_and_a_preview_near_the_difference() {
    let text = [("content-type", "text/plain")];
    let render = |a: &[u8], b: &[u8]| {
        let got = compare(
            &answer(200, &text, a),
            &answer(200, &text, b),
            &CompareRules::default(),
            None,
        );
        assert_eq!(got.outcome, Outcome::Mismatch);
        let d = &got.differences[0];
        assert_eq!((d.path.as_str(), d.kind), ("body", BodyBytes));
        (d.primary.clone().unwrap(), d.shadow.clone().unwrap())
    };
    assert_eq!(
        render(b"hello world", b"hello there"),
        (
            "11 bytes, first difference at byte 6: \"hello world\"".to_owned(),
            "11 bytes, first difference at byte 6: \"hello there\"".to_owned(),
        )
    );
    let long = |c: &str| format!("{}{c}{}", "a".repeat(100), "b".repeat(100));
    let (ours, theirs) = render(long("X").as_bytes(), long("Y").as_bytes());
    let window = |c: &str| {
        format!(
            "201 bytes, first difference at byte 100: …\"{}{c}{}\"…",
            "a".repeat(16),
            "b".repeat(31)
        )
    };
    assert_eq!((ours, theirs), (window("X"), window("Y")));
    assert_eq!(
        render(&[0xff, 0x00, 0x01], &[0xff, 0x00]),
        (
            "3 bytes, first difference at byte 2: 0xff0001".to_owned(),
            "2 bytes, first difference at byte 2: 0xff00".to_owned(),
        )
    );
    assert_eq!(
        render(b"", b"x"),
        (
            "0 bytes, first difference at byte 0".to_owned(),
            "1 bytes, first difference at byte 0: \"x\"".to_owned(),
        )
    );
}

#[test]
fn a_body_that_is_json_on_one_side_renders_both_forms() {
    let ct = [("content-type", "application/json")];
    let got = compare(
        &answer(200, &ct, br#"{"a": 1}"#),
        &answer(200, &ct, b"<html>oops</html>"),
        &CompareRules::default(),
        None,
    );
    assert_eq!(got.outcome, Outcome::Mismatch);
    assert_eq!(
        got.differences,
        [Difference {
            path: "body".into(),
            kind: TypeChanged,
            primary: Some("{\"a\":1}".into()),
            shadow: Some("17 bytes: \"<html>oops</html>\"".into()),
        }]
    );
}

#[test]
fn too_large_bodies_skip_the_comparison_and_never_match() {
    let small =
        CompareRules::new(Vec::new(), vec![CONTENT_TYPE], ArrayOrder::Strict, false, 4).unwrap();
    let ok = answer(200, &[], b"same");
    let mut too_large = ok.clone();
    too_large.body = CapturedBody::TooLarge { limit: 4 };
    let mut other_status = too_large.clone();
    other_status.status = StatusCode::BAD_GATEWAY;
    let cases: &[(&str, &Captured, &Captured, &CompareRules, usize)] = &[
        ("shadow too large", &ok, &too_large, &small, 0),
        ("primary too large", &too_large, &ok, &small, 0),
        ("both too large", &too_large, &too_large, &small, 0),
        ("status still listed", &ok, &other_status, &small, 1),
        (
            "complete but over the rules' limit",
            &answer(200, &[], b"12345"),
            &answer(200, &[], b"12345"),
            &small,
            0,
        ),
    ];
    for (name, p, s, rules, listed) in cases {
        let got = compare(p, s, rules, None);
        assert_eq!(
            got.outcome,
            Outcome::Skipped(SkipReason::BodyTooLarge),
            "{name}"
        );
        assert_eq!(got.differences.len(), *listed, "{name}");
    }
    assert_eq!(
        compare(&ok, &ok, &small, None).outcome,
        Outcome::Match,
        "at the limit is fine"
    );
    assert_eq!(
        CapturedBody::from_bytes(Bytes::from_static(b"12345"), 4),
        CapturedBody::TooLarge { limit: 4 }
    );
    assert_eq!(
        CapturedBody::from_bytes(Bytes::from_static(b"1234"), 4),
        CapturedBody::Complete(Bytes::from_static(b"1234"))
    );
}

#[test]
fn differences_are_in_path_order() {
    let got = compare(
        &answer(
            200,
            &[("content-type", "application/json"), ("etag", "1")],
            br#"{"z": 1, "items": [0,0,0,0,0,0,0,0,0,0,0,0], "a": {"b": 1}}"#,
        ),
        &answer(
            500,
            &[("content-type", "application/json")],
            br#"{"z": 2, "items": [0,0,1,0,0,0,0,0,0,0,1], "a": {"b": 2}}"#,
        ),
        &comparing(&["content-type", "etag"]),
        None,
    );
    let paths: Vec<&str> = got.differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "status",
            "header:etag",
            "/a/b",
            "/items",
            "/items/2",
            "/items/10",
            "/z"
        ]
    );
    let again = compare(
        &answer(
            200,
            &[("content-type", "application/json"), ("etag", "1")],
            br#"{"a": {"b": 1}, "items": [0,0,0,0,0,0,0,0,0,0,0,0], "z": 1}"#,
        ),
        &answer(
            500,
            &[("content-type", "application/json")],
            br#"{"items": [0,0,1,0,0,0,0,0,0,0,1], "a": {"b": 2}, "z": 2}"#,
        ),
        &comparing(&["content-type", "etag"]),
        None,
    );
    assert_eq!(got, again, "member order in the body does not matter");
}

#[test]
fn pairing_search_is_bounded() {
    let rules = route_rules(ArrayOrder::Ignore, true, &[]);
    let primary: Vec<Value> = (0..200).map(|i| json!({"id": i})).collect();
    let shadow: Vec<Value> = (0..200).rev().map(|i| json!({"id": i, "x": 1})).collect();
    let got = compare(
        &json(&Value::Array(primary.clone())),
        &json(&Value::Array(shadow)),
        &rules,
        None,
    );
    assert_eq!(
        got.outcome,
        Outcome::Mismatch,
        "200 x 200 pairs exceed the budget: reported, never guessed equal"
    );
    let shadow: Vec<Value> = (0..100).rev().map(|i| json!({"id": i, "x": 1})).collect();
    let got = compare(
        &json(&Value::Array(primary[..100].to_vec())),
        &json(&Value::Array(shadow)),
        &rules,
        None,
    );
    assert_eq!(got.outcome, Outcome::Match, "100 x 100 pairs fit");
}

#[test]
fn array_order_and_kinds_serialise_as_snake_case() {
    assert_eq!(
        serde_json::to_string(&ArrayOrder::Ignore).unwrap(),
        "\"ignore\""
    );
    assert_eq!(
        serde_json::from_str::<ArrayOrder>("\"strict\"").unwrap(),
        ArrayOrder::Strict
    );
    for kind in [
        ValueChanged,
        TypeChanged,
        Missing,
        Added,
        ArrayLength,
        BodyBytes,
    ] {
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    let comparison = Comparison::not_compared(Outcome::Dropped(DropReason::Overloaded));
    let text = serde_json::to_string(&comparison).unwrap();
    assert!(
        text.contains("\"outcome\":\"dropped_overloaded\""),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Comparison>(&text).unwrap(),
        comparison
    );
}
