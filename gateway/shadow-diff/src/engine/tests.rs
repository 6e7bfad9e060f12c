//! Unit tests of the engine that need its internals or caps that
//! `routes.toml` cannot set: truncation, the difference cap, deep nesting,
//! and the comparison properties (two of which check the engine's
//! equivalence and canonical form against its walk).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use DiffKind::BodyBytes;

use super::*;
use crate::format::Formats;
use crate::pointer::escape;
use crate::rules::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DIFFERENCES, DEFAULT_MAX_VALUE_CHARS};

/// An answer with the given status, headers and raw body.
fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Captured {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Captured::new(
        StatusCode::from_u16(status).unwrap(),
        map,
        CapturedBody::Complete(Bytes::copy_from_slice(body)),
    )
}

/// A 200 `application/json` answer with `value` as its body.
fn json(value: &Value) -> Captured {
    answer(
        200,
        &[("content-type", "application/json")],
        &serde_json::to_vec(value).unwrap(),
    )
}

/// Each difference as its path and kind.
fn kinds(list: &[Difference]) -> Vec<(&str, DiffKind)> {
    list.iter().map(|d| (d.path.as_str(), d.kind)).collect()
}

/// Rules as the route parser builds them, comparing `content-type`, with
/// these ignore rules.
fn route_rules(order: ArrayOrder, allow_added_fields: bool, ignore: &[&str]) -> CompareRules {
    let ignore = ignore
        .iter()
        .map(|r| IgnoreRule::parse(r).unwrap())
        .collect();
    let headers = vec![CONTENT_TYPE];
    CompareRules::new(
        ignore,
        headers,
        order,
        allow_added_fields,
        DEFAULT_MAX_BODY_BYTES,
    )
    .unwrap()
}

#[test]
fn long_values_are_truncated_with_an_ellipsis() {
    let long = "é".repeat(500);
    let got = compare(
        &json(&json!({"s": long})),
        &json(&json!({"s": "short"})),
        &CompareRules::default(),
        None,
    );
    let primary = got.differences[0].primary.clone().unwrap();
    assert_eq!(primary.chars().count(), DEFAULT_MAX_VALUE_CHARS + 1);
    assert!(primary.starts_with("\"éé"));
    assert!(primary.ends_with("é…"));
    assert_eq!(got.differences[0].shadow.as_deref(), Some("\"short\""));

    let ten = CompareRules::default()
        .with_caps(DEFAULT_MAX_DIFFERENCES, 10)
        .unwrap();
    let big: Vec<u32> = (0..100_000).collect();
    let got = compare(
        &json(&json!({"a": big})),
        &json(&json!({"a": 1})),
        &ten,
        None,
    );
    assert_eq!(got.differences[0].primary.as_deref(), Some("[0,1,2,3,4…"));
    assert_eq!(got.differences[0].shadow.as_deref(), Some("1"));
    let exact = compare(
        &json(&json!({"a": "12345678"})),
        &json(&json!({"a": "x"})),
        &ten,
        None,
    );
    assert_eq!(
        exact.differences[0].primary.as_deref(),
        Some("\"12345678\""),
        "exactly at the cap is not cut"
    );
}

#[test]
fn the_number_of_differences_is_capped_but_the_outcome_is_not() {
    let primary: Map<String, Value> = (0..150).map(|i| (format!("k{i:03}"), json!(i))).collect();
    let shadow: Map<String, Value> = (0..150)
        .map(|i| (format!("k{i:03}"), json!(i + 1)))
        .collect();
    let (primary, shadow) = (Value::Object(primary), Value::Object(shadow));

    let got = compare(
        &json(&primary),
        &json(&shadow),
        &CompareRules::default(),
        None,
    );
    assert_eq!(got.outcome, Outcome::Mismatch);
    assert_eq!(got.differences.len(), DEFAULT_MAX_DIFFERENCES);
    assert!(got.truncated);
    assert_eq!(got.differences[0].path, "/k000");
    assert_eq!(got.differences[99].path, "/k099");

    let ignored = route_rules(ArrayOrder::Strict, false, &["/*"])
        .with_caps(5, DEFAULT_MAX_VALUE_CHARS)
        .unwrap();
    let got = compare(&json(&primary), &json(&shadow), &ignored, None);
    assert_eq!(got.outcome, Outcome::IgnoredOnly);
    assert_eq!(got.ignored.len(), 5);
    assert!(got.differences.is_empty() && got.truncated);

    let few = compare(
        &json(&json!({"a": 1})),
        &json(&json!({"a": 2})),
        &CompareRules::default()
            .with_caps(1, DEFAULT_MAX_VALUE_CHARS)
            .unwrap(),
        None,
    );
    assert!(!few.truncated, "exactly at the cap is not truncated");
}

#[test]
fn nesting_deeper_than_the_limit_is_compared_without_recursion() {
    fn nest(depth: usize, leaf: Value) -> Value {
        (0..depth).fold(leaf, |inner, _| json!({"k": inner}))
    }
    let rules = CompareRules::default();
    let mut engine = Engine::new(&rules, None, false);
    let (a, b) = (nest(300, json!(1)), nest(300, json!(1.0)));
    engine.walk(&a, &b, &mut Vec::new(), Bucket::Real, 0);
    assert_eq!(engine.counts, [0; 4], "equal deep trees");

    let c = nest(300, json!(2));
    let mut engine = Engine::new(&rules, None, false);
    engine.walk(&a, &c, &mut Vec::new(), Bucket::Real, 0);
    let got = engine.finish(false);
    assert_eq!(got.outcome, Outcome::Mismatch);
    assert_eq!(got.differences.len(), 1);
    assert_eq!(got.differences[0].path, "/k".repeat(MAX_DEPTH));
    assert!(
        got.differences[0]
            .primary
            .as_deref()
            .unwrap()
            .ends_with('…')
    );

    let ignore_leaf = route_rules(ArrayOrder::Strict, false, &[&"/k".repeat(300)]);
    let mut engine = Engine::new(&ignore_leaf, None, false);
    engine.walk(&a, &c, &mut Vec::new(), Bucket::Real, 0);
    assert_eq!(engine.finish(false).outcome, Outcome::IgnoredOnly);

    // Through `compare`, bodies nested beyond serde_json's own limit do
    // not parse, so they are compared as bytes, without overflowing.
    let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(50_000), "]".repeat(50_000));
    let got = compare(
        &answer(
            200,
            &[("content-type", "application/json")],
            deep("1").as_bytes(),
        ),
        &answer(
            200,
            &[("content-type", "application/json")],
            deep("2").as_bytes(),
        ),
        &CompareRules::default(),
        None,
    );
    assert_eq!(kinds(&got.differences), [("body", BodyBytes)]);
}

// ---- properties -------------------------------------------------------

/// Strings that name one instant or one number in different forms, and a
/// second instant and number that differ from them.
const FORMS: [&str; 10] = [
    "2026-12-01T06:40:00.5",
    "2026-12-01T06:40:00.500Z",
    "2026-12-01T07:40:00.5+01:00",
    "2026-12-01 06:40:00.500000",
    "2026-12-01T06:40:01.5Z",
    "1",
    "1.0",
    "1e0",
    "-2",
    "0.5",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e9..1.0e9f64).prop_map(Value::from),
        (-3i32..3).prop_map(|i| Value::from(f64::from(i))),
        "[a-c~/*é0-9\"\\\\]{0,6}".prop_map(Value::String),
        // Values that differ in form only, and one that really differs.
        prop::sample::select(&FORMS[..]).prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-c~/*0-9]{0,3}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_order() -> impl Strategy<Value = ArrayOrder> {
    prop_oneof![Just(ArrayOrder::Strict), Just(ArrayOrder::Ignore)]
}

#[derive(Debug, Clone)]
enum Part {
    Key(String),
    Index(usize),
}

/// Every non-root path of `value`.
fn all_paths(value: &Value) -> Vec<Vec<Part>> {
    let mut out = Vec::new();
    let mut todo = vec![(Vec::new(), value)];
    while let Some((path, node)) = todo.pop() {
        let children: Vec<(Part, &Value)> = match node {
            Value::Object(map) => map.iter().map(|(k, v)| (Part::Key(k.clone()), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Part::Index(i), v))
                .collect(),
            _ => Vec::new(),
        };
        for (part, child) in children {
            let mut child_path: Vec<Part> = path.clone();
            child_path.push(part);
            out.push(child_path.clone());
            todo.push((child_path, child));
        }
    }
    out
}

fn node_mut<'a>(value: &'a mut Value, path: &[Part]) -> &'a mut Value {
    path.iter().fold(value, |node, part| match part {
        Part::Key(k) => node.get_mut(k.as_str()).unwrap(),
        Part::Index(i) => node.get_mut(*i).unwrap(),
    })
}

/// The rule for `path`; array positions become `*` if `generalise`.
fn rule_for(path: &[Part], generalise: bool) -> String {
    path.iter()
        .map(|part| match part {
            Part::Key(k) => format!("/{}", escape(k)),
            Part::Index(_) if generalise => "/*".to_owned(),
            Part::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// A document, a path in it, and the document with that node replaced.
fn arb_edit() -> impl Strategy<Value = (Value, Vec<Part>, Value)> {
    (arb_json(), arb_json(), any::<prop::sample::Index>()).prop_map(|(x, replacement, pick)| {
        let original = json!({"a": x, "b": [1, {"c": 2}]});
        let paths = all_paths(&original);
        let path = paths[pick.index(paths.len())].clone();
        let mut edited = original.clone();
        *node_mut(&mut edited, &path) = replacement;
        (original, path, edited)
    })
}

fn arb_pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        (arb_json(), arb_json()),
        arb_edit().prop_map(|(x, _, y)| (x, y)),
        arb_json().prop_map(|x| (x.clone(), x)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_answer_always_matches_itself(
        x in arb_json(),
        order in arb_order(),
        allow in any::<bool>(),
    ) {
        let rules = route_rules(order, allow, &[]);
        let compact = json(&x);
        let mut pretty = compact.clone();
        pretty.body = CapturedBody::Complete(serde_json::to_vec_pretty(&x).unwrap().into());
        let got = compare(&compact, &pretty, &rules, None);
        prop_assert_eq!(got.outcome, Outcome::Match, "{:?}", got);
    }

    #[test]
    fn whether_anything_differs_is_symmetric((x, y) in arb_pair(), order in arb_order()) {
        let rules = route_rules(order, false, &[]);
        let there = compare(&json(&x), &json(&y), &rules, None);
        let back = compare(&json(&y), &json(&x), &rules, None);
        prop_assert_eq!(
            there.outcome == Outcome::Match,
            back.outcome == Outcome::Match,
            "{:?} / {:?}", there, back
        );
        prop_assert_eq!(there.differences.len(), back.differences.len());
    }

    #[test]
    fn a_difference_at_an_ignored_path_is_never_a_mismatch(
        (original, path, edited) in arb_edit(),
        order in arb_order(),
        allow in any::<bool>(),
        generalise in any::<bool>(),
    ) {
        // Unordered items have no position: only `*` reaches into them.
        let generalise = generalise || order == ArrayOrder::Ignore;
        let rule = rule_for(&path, generalise);
        let rules = route_rules(order, allow, &[&rule]);
        let got = compare(&json(&original), &json(&edited), &rules, None);
        prop_assert_ne!(got.outcome, Outcome::Mismatch, "rule {}: {:?}", rule, got);
        prop_assert!(got.noise.is_empty());

        let mut noise = NoiseSet::new();
        noise.insert(&rule_for(&path, true)).unwrap();
        let plain = route_rules(order, allow, &[]);
        let got = compare(&json(&original), &json(&edited), &plain, Some(&noise));
        prop_assert_ne!(got.outcome, Outcome::Mismatch, "noise {}: {:?}", rule, got);
    }

    #[test]
    fn equivalence_agrees_with_the_walk(
        (x, y) in arb_pair(),
        order in arb_order(),
        allow in any::<bool>(),
        numeric_strings in any::<bool>(),
        strict in any::<bool>(),
    ) {
        let formats = if strict {
            Formats::STRICT
        } else {
            Formats { numeric_strings, ..Formats::default() }
        };
        let rules = route_rules(order, allow, &[]).with_formats(formats);
        let mut engine = Engine::new(&rules, None, false);
        let same = engine.equivalent(&x, &y, &mut Vec::new(), Level::Strict, 0);
        let agree = engine.equivalent(&x, &y, &mut Vec::new(), Level::Exact, 0);
        engine.walk(&x, &y, &mut Vec::new(), Bucket::Real, 0);
        let [real, ignored, noise, format] = engine.counts;
        prop_assert_eq!(same, engine.counts == [0; 4], "{:?}", engine.lists);
        prop_assert_eq!(agree, real + ignored + noise == 0, "{:?}", engine.lists);
        if strict {
            prop_assert_eq!(format, 0);
        }
    }

    #[test]
    fn an_edit_is_found_unless_it_changes_nothing(
        (original, _path, edited) in arb_edit(),
        order in arb_order(),
    ) {
        let rules = route_rules(order, false, &[]);
        let got = compare(&json(&original), &json(&edited), &rules, None);
        let same_text = serde_json::to_string(&original).unwrap()
            == serde_json::to_string(&edited).unwrap();
        if same_text {
            prop_assert_eq!(got.outcome, Outcome::Match);
        } else if order == ArrayOrder::Strict && got.outcome == Outcome::Match {
            // Only numeric normalisation may make different texts equal.
            let normalised = |v: &Value| {
                let rules = CompareRules::default();
                Engine::new(&rules, None, false).canonical(v, &[], Level::Strict)
            };
            prop_assert_eq!(normalised(&original), normalised(&edited));
        }
    }
}

#[test]
fn json_media_types_are_recognised_in_any_case_and_with_parameters() {
    let is = |value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        is_json(&headers)
    };
    assert!(is("application/json"));
    assert!(is("Application/JSON; charset=utf-8"));
    assert!(is(" application/json ;q=1"));
    assert!(is("application/problem+json"));
    assert!(is("application/vnd.api+JSON"));
    assert!(!is("text/plain"));
    assert!(!is("application/json-seq"));
    assert!(!is("application/+json"), "no subtype before +json");
    assert!(!is("/x+json"), "no type");
    assert!(!is("application/jsonx"));
    assert!(!is_json(&HeaderMap::new()));
}

/// The object walk visits both maps' keys in one ordered pass: it needs
/// serde_json's `Map` to iterate in key order (its `preserve_order` feature,
/// enabled anywhere in the build, would break that).
#[test]
fn json_objects_iterate_in_key_order() {
    let object = json!({"zeta": 1, "alpha": 2, "Mid": 3, "beta": 4, "é": 5, "a": 6});
    let keys: Vec<&String> = object.as_object().expect("an object").keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn objects_with_keys_on_one_side_only_report_them_in_key_order() {
    let primary = json(&json!({"a": 1, "c": 3, "e": 5, "g": {"x": 1}}));
    let shadow = json(&json!({"b": 2, "c": 4, "d": 4, "g": {"w": 0, "x": 1}}));
    let comparison = compare(&primary, &shadow, &CompareRules::default(), None);
    assert_eq!(
        kinds(&comparison.differences),
        [
            ("/a", DiffKind::Missing),
            ("/b", DiffKind::Added),
            ("/c", DiffKind::ValueChanged),
            ("/d", DiffKind::Added),
            ("/e", DiffKind::Missing),
            ("/g/w", DiffKind::Added),
        ]
    );
}
