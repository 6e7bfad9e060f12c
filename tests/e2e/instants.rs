//! Format is not a difference: a legacy that writes naive timestamps for the
//! instants the service writes with `Z` agrees with it (`format_only`), with
//! no ignore rule for timestamps, and a real drift is still a mismatch.

use chrono::{DateTime, TimeDelta, Utc};
use http::Method;
use serde_json::Value;
use test_support::{LegacyStub, Script};

use crate::harness::{GatewayProcess, Launch, run_gateway};
use crate::shadow::summary_when;

/// `GET /v1/accounts/users/{id}` served by legacy and mirrored to the
/// service, with no ignore rule: every field is compared.
fn routes(legacy_url: &str, shadow: &str) -> String {
    test_support::RoutesToml::new(legacy_url)
        .accounts_to_service()
        .get_user(&format!(
            "target = \"legacy\"\nshadow = {{ to = \"service\"{shadow} }}"
        ))
        .build()
}

/// The instant at `field` of `user` (the service's RFC 3339 with `Z`),
/// moved by `by` and written as a naive timestamp, as a FastAPI +
/// SQLAlchemy legacy on SQLite writes it: `2026-12-01T06:40:00.123456`.
fn naive(user: &Value, field: &str, by: TimeDelta) -> Value {
    let text = user[field].as_str().expect("a timestamp");
    assert!(text.ends_with('Z'), "the service writes UTC with Z: {text}");
    let instant: DateTime<Utc> = text.parse().expect("RFC 3339");
    let written = (instant + by)
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    assert_ne!(written, text, "the forms differ as written");
    Value::from(written)
}

/// `user` as the legacy writes it, its `created_at` moved by `drift`.
fn as_legacy_writes(user: &Value, drift: TimeDelta) -> Value {
    let mut legacy = user.clone();
    legacy["created_at"] = naive(user, "created_at", drift);
    legacy["updated_at"] = naive(user, "updated_at", TimeDelta::zero());
    legacy
}

/// A legacy and a gateway shadowing `get-user` with `shadow` appended to
/// the route's shadow table, a user registered on the service, and legacy
/// answering that user's path with the same instants, written naive.
async fn shadowing_a_naive_legacy(shadow: &str) -> (LegacyStub, GatewayProcess, Value, String) {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), shadow)).start().await;
    let user = gateway.register_user("ada@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(
        &path,
        Script::json(as_legacy_writes(&user, TimeDelta::zero())),
    );
    (legacy, gateway, user, path)
}

#[tokio::test]
async fn naive_timestamps_for_the_same_instants_are_format_only_and_a_drift_is_a_mismatch() {
    let (legacy, gateway, user, path) = shadowing_a_naive_legacy("").await;

    for _ in 0..3 {
        let reply = gateway.get(&path).await;
        assert!(reply.is_from_legacy(), "legacy is the primary: {reply:?}");
    }
    let summary = summary_when(&gateway, "get-user", "3 comparisons", |s| {
        s["compared"] == 3
    })
    .await;
    assert_eq!(summary["mismatched"], 0, "{summary}");
    assert_eq!(summary["counts"]["format_only"], 3, "{summary}");
    assert_eq!(summary["counts"].get("match"), None, "{summary}");
    assert_eq!(summary["format_only"], 3, "{summary}");
    assert_eq!(summary["matched"], 3, "{summary}");
    assert_eq!(summary["match_rate"], 1.0, "{summary}");
    let format_fields: Vec<(&str, u64)> = summary["format_fields"]
        .as_array()
        .expect("format fields")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("?"),
                f["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        format_fields,
        [("/created_at", 3), ("/updated_at", 3)],
        "{summary}"
    );
    assert_eq!(summary["top_fields"], Value::Array(Vec::new()), "{summary}");

    let metrics =
        String::from_utf8_lossy(&gateway.admin(Method::GET, "/-/metrics").await.body).into_owned();
    assert!(
        metrics.contains(
            "gateway_shadow_comparisons_total{route=\"get-user\",outcome=\"format_only\"} 3"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "gateway_shadow_comparisons_total{route=\"get-user\",outcome=\"mismatch\"} 0"
        ),
        "no mismatch was counted: {metrics}"
    );
    let page = gateway
        .admin(Method::GET, "/-/console/routes/get-user")
        .await
        .body;
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains(r#"Format only</span><span class="value">3</span>"#),
        "the console shows the format-only count: {page}"
    );
    let (status, out, err) = run_gateway(&["status", "--admin-url", &gateway.admin_url("")]).await;
    assert!(status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("get-user"))
        .unwrap_or_default();
    assert!(
        line.contains("100.00% of 3") && line.contains("3 format only"),
        "{out}"
    );

    // A legacy whose `created_at` is one second off is still a mismatch, at that field only.
    legacy.script(
        &path,
        Script::json(as_legacy_writes(&user, TimeDelta::seconds(1))),
    );
    gateway.get(&path).await;
    let summary = summary_when(&gateway, "get-user", "the drift recorded", |s| {
        s["mismatched"] == 1 && s["top_fields"].as_array().is_some_and(|f| !f.is_empty())
    })
    .await;
    assert_eq!(summary["counts"]["format_only"], 3, "{summary}");
    assert_eq!(summary["compared"], 4, "{summary}");
    assert_eq!(summary["top_fields"][0]["path"], "/created_at", "{summary}");
    assert_eq!(summary["top_fields"].as_array().map(Vec::len), Some(1));
    let diffs = gateway
        .admin(Method::GET, "/-/shadow/diffs?route=get-user")
        .await
        .json();
    let record = &diffs["items"][0];
    let id = record["id"].as_str().expect("a record id");
    let full = gateway
        .admin(Method::GET, &format!("/-/shadow/diffs/{id}"))
        .await
        .json();
    let listed = |list: &str| -> Vec<(String, String)> {
        full["differences"][list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["path"].to_string(), d["kind"].to_string()))
            .collect()
    };
    let pair = |path: &str, kind: &str| (format!("\"{path}\""), format!("\"{kind}\""));
    assert_eq!(
        listed("differences"),
        [pair("/created_at", "value_changed")],
        "{full}"
    );
    assert_eq!(
        listed("formats"),
        [pair("/updated_at", "format_changed")],
        "the difference of form is kept beside the real one: {full}"
    );
}

#[tokio::test]
async fn strict_timestamps_keep_the_byte_comparison() {
    let (_legacy, gateway, _user, path) =
        shadowing_a_naive_legacy(", timestamps = \"strict\"").await;
    gateway.get(&path).await;
    let summary = summary_when(&gateway, "get-user", "1 comparison", |s| s["compared"] == 1).await;
    assert_eq!(summary["mismatched"], 1, "{summary}");
    assert_eq!(summary["format_only"], 0, "{summary}");
}
