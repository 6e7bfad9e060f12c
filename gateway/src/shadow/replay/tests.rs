use serde_json::json;
use shadow_diff::{CapturedBody, CompareRules};

use super::*;
use crate::shadow::exchange::RecordedHeader;

fn record(method: &str, body: Option<RecordedBody>) -> MismatchRecord {
    MismatchRecord {
        method: method.into(),
        request: Some(RecordedRequest {
            method: method.into(),
            path_and_query: "/v1/users/7?token=[redacted]&page=2".into(),
            headers: vec![
                RecordedHeader {
                    name: "authorization".into(),
                    value: REDACTED.into(),
                },
                RecordedHeader {
                    name: "accept".into(),
                    value: "application/json".into(),
                },
                RecordedHeader {
                    name: "content-length".into(),
                    value: "999".into(),
                },
            ],
            truncated: false,
        }),
        request_body: body,
        ..MismatchRecord::for_test(
            "users",
            json!({"differences": [{"path": "/name"}, {"path": "/age"}]}),
        )
    }
}

/// The shadow policy of a route with `shadow = {shadow}`, legacy serving.
fn policy(shadow: &str) -> std::sync::Arc<ShadowPolicy> {
    let source = format!(
        "[legacy]\nurl = \"http://127.0.0.1:9\"\n\n[[routes]]\nname = \"users\"\nmatch = {{ prefix = \"/\" }}\ntarget = \"legacy\"\nshadow = {shadow}\n"
    );
    let table = gateway_routing::RouteTable::parse(&source, std::path::Path::new("routes.toml"))
        .expect("a valid table");
    table.routes()[0].shadow().expect("shadowed").clone()
}

fn prepare(record: &MismatchRecord) -> Result<Prepared, String> {
    super::prepare(record, &policy("{ to = \"service\" }"))
}

#[test]
fn a_write_is_replayed_only_when_the_route_rolls_writes_back_on_the_service() {
    let rollback = policy("{ to = \"service\", methods = [\"POST\"], writes = \"rollback\" }");
    let body = RecordedBody::Json {
        text: r#"{"full_name":"Ada"}"#.into(),
        truncated: false,
    };
    let prepared = super::prepare(&record("POST", Some(body.clone())), &rollback).unwrap();
    assert!(prepared.write);
    assert_eq!(prepared.method, Method::POST);
    // Recorded when the service served (a canary): legacy was written, not rolled back.
    let mut served = record("POST", Some(body));
    served.primary_side = "service".into();
    assert!(
        super::prepare(&served, &rollback)
            .unwrap_err()
            .contains("write")
    );
}

#[test]
fn a_recorded_answer_compares_as_the_record_keeps_it() {
    use crate::shadow::exchange::RecordedAnswer;
    let answer = RecordedAnswer {
        headers: vec![RecordedHeader {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: RecordedBody::Json {
            text: r#"{"email":"[redacted]","full_name":"Ada"}"#.into(),
            truncated: false,
        },
    };
    let captured = as_recorded(201, &answer).unwrap();
    assert_eq!(captured.status, http::StatusCode::CREATED);
    assert_eq!(captured.headers["content-type"], "application/json");
    let cut = RecordedAnswer {
        body: RecordedBody::Binary { bytes: 3 },
        ..answer
    };
    assert!(as_recorded(200, &cut).is_err());
}

#[test]
fn a_safe_request_is_resent_without_its_redacted_headers_and_says_so() {
    let body = RecordedBody::Json {
        text: r#"{"q":"[redacted]"}"#.into(),
        truncated: false,
    };
    let prepared = prepare(&record("GET", Some(body))).unwrap();
    assert_eq!(prepared.method, Method::GET);
    assert_eq!(prepared.primary, Target::Legacy);
    assert_eq!(prepared.uri, "/v1/users/7?token=[redacted]&page=2");
    assert!(prepared.headers.get("authorization").is_none());
    assert_eq!(prepared.headers["accept"], "application/json");
    assert_eq!(prepared.headers["content-length"], "18");
    assert_eq!(prepared.headers[SHADOW_HEADER], "replay");
    assert_eq!(&prepared.body[..], br#"{"q":"[redacted]"}"#);
    assert_eq!(prepared.notes.len(), 3, "{:?}", prepared.notes);
    assert!(prepared.notes.iter().any(|n| n.contains("authorization")));
}

#[test]
fn writes_and_bodies_that_cannot_be_resent_are_refused_with_the_reason() {
    let refused = |method: &str, body: Option<RecordedBody>| {
        prepare(&record(method, body)).expect_err("refused")
    };
    assert!(refused("POST", None).contains("write"));
    assert!(refused("DELETE", None).contains("write"));
    assert!(refused("GET", Some(RecordedBody::Binary { bytes: 3 })).contains("binary"));
    assert!(refused("GET", Some(RecordedBody::Redacted { bytes: 3 })).contains("redacted"));
    assert!(refused("GET", Some(RecordedBody::TooLarge { limit: 9 })).contains("larger"));
    let cut = RecordedBody::Text {
        text: "x".into(),
        truncated: true,
    };
    assert!(refused("GET", Some(cut)).contains("cut"));
    let mut old = record("GET", None);
    old.request = None;
    assert!(
        prepare(&old)
            .expect_err("refused")
            .contains("earlier release")
    );
    let mut truncated = record("GET", None);
    if let Some(request) = truncated.request.as_mut() {
        request.truncated = true;
    }
    assert!(prepare(&truncated).expect_err("refused").contains("cut"));
    // A record of an earlier release has no body: a safe request is sent empty, and says so.
    let prepared = prepare(&record("HEAD", None)).unwrap();
    assert!(prepared.body.is_empty());
    assert!(prepared.notes.iter().any(|n| n.contains("not recorded")));
}

fn answer(body: serde_json::Value) -> Captured {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Captured::new(
        http::StatusCode::OK,
        headers,
        CapturedBody::Complete(Bytes::from(body.to_string())),
    )
}

fn judged(primary: serde_json::Value, shadow: serde_json::Value) -> ReplayedRequest {
    let record = record("GET", None);
    let comparison = compare(
        &answer(primary),
        &answer(shadow),
        &CompareRules::default(),
        None,
    );
    let mut replayed = ReplayedRequest::of(&record);
    replayed.judge(&record, &comparison);
    replayed
}

#[test]
fn each_field_is_fixed_still_differing_or_newly_differing() {
    let fixed = judged(
        json!({"name": "a", "age": 1}),
        json!({"name": "a", "age": 1}),
    );
    assert_eq!(fixed.result, ReplayResult::Fixed);
    assert_eq!(fixed.outcome, Some("match"));
    assert!(fixed.fields.iter().all(|f| f.result == ReplayResult::Fixed));

    let still = judged(
        json!({"name": "a", "age": 1}),
        json!({"name": "b", "age": 1}),
    );
    assert_eq!(still.result, ReplayResult::StillDiffering, "{still:?}");
    let by_path = |r: &ReplayedRequest, path: &str| {
        r.fields.iter().find(|f| f.path == path).map(|f| f.result)
    };
    assert_eq!(by_path(&still, "/name"), Some(ReplayResult::StillDiffering));
    assert_eq!(by_path(&still, "/age"), Some(ReplayResult::Fixed));

    let newly = judged(json!({"name": "a", "x": 1}), json!({"name": "a", "x": 2}));
    assert_eq!(newly.result, ReplayResult::NewlyDiffering);
    assert_eq!(by_path(&newly, "/x"), Some(ReplayResult::NewlyDiffering));
    assert_eq!(by_path(&newly, "/name"), Some(ReplayResult::Fixed));
}

#[test]
fn the_summary_counts_each_result() {
    let mut refused = ReplayedRequest::of(&record("POST", None));
    refused.refuse("write".into());
    let requests = [
        judged(json!({"name": "a"}), json!({"name": "a"})),
        judged(json!({"name": "a"}), json!({"name": "b"})),
        refused,
    ];
    let summary = ReplaySummary::of(&requests);
    assert_eq!(
        summary.line(),
        "replayed 2 of 3 recorded mismatches: 1 fixed, 1 still differing, 0 newly differing, 1 refused, 0 failed"
    );
}
