//! Shadowing end to end: the primary answers, the other side is mirrored, and the comparison is counted and recorded.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;
use test_support::{LegacyStub, Script, checksum, pattern_body};

use crate::harness::{GatewayProcess, Launch, eventually};

/// A table whose `get-user` route is served by `target` and mirrored to the
/// other side (with `shadow` appended to its shadow table), with
/// `shadow_settings` lines in `[shadow]`.
fn shadowed_routes(
    legacy_url: &str,
    shadow_settings: &[&str],
    target: &str,
    shadow: &str,
) -> String {
    let to = if target == "legacy" {
        "service"
    } else {
        "legacy"
    };
    let mut routes = test_support::RoutesToml::new(legacy_url);
    for line in shadow_settings {
        routes = routes.shadow_setting(line);
    }
    routes
        .accounts_to_service()
        .get_user(&format!(
            "target = \"{target}\"\nshadow = {{ to = \"{to}\"{shadow} }}"
        ))
        .route(
            "create-user",
            "path = \"/v1/accounts/users\", methods = [\"POST\"]",
            "target = \"service\"\nshadow = { to = \"legacy\" }",
        )
        .route(
            "big",
            "prefix = \"/big\"",
            "target = \"legacy\"\nshadow = { to = \"service\" }",
        )
        .build()
}

/// `/-/shadow/routes/{route}` once `ready` says its counts are there.
pub(crate) async fn summary_when(
    gateway: &GatewayProcess,
    route: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    eventually(Duration::from_secs(15), what, || async {
        let reply = gateway
            .admin(Method::GET, &format!("/-/shadow/routes/{route}"))
            .await;
        (reply.status == StatusCode::OK)
            .then(|| reply.json())
            .filter(|summary| ready(summary))
    })
    .await
}

fn count(summary: &Value, outcome: &str) -> u64 {
    summary["counts"][outcome].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_route_whose_sides_agree_shows_matches() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(shadowed_routes(&legacy.url(), &[], "legacy", ""))
        .start()
        .await;
    let user = gateway.register_user("ada@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(&path, Script::json(user.clone()));

    for _ in 0..3 {
        let reply = gateway.get(&path).await;
        assert!(reply.is_from_legacy(), "legacy is the primary: {reply:?}");
        assert_eq!(reply.json(), user);
    }

    let summary = summary_when(&gateway, "get-user", "3 comparisons", |s| {
        s["compared"] == 3
    })
    .await;
    assert_eq!(count(&summary, "match"), 3, "{summary}");
    assert_eq!(summary["mismatched"], 0, "{summary}");
    assert_eq!(summary["match_rate"], 1.0, "{summary}");
    assert_eq!(summary["primary"], "legacy");
    assert_eq!(summary["shadow_to"], "service");
    let metrics =
        String::from_utf8_lossy(&gateway.admin(Method::GET, "/-/metrics").await.body).into_owned();
    assert!(
        metrics
            .contains("gateway_shadow_comparisons_total{route=\"get-user\",outcome=\"match\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_route_whose_sides_differ_in_one_field_shows_exactly_that_field() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(shadowed_routes(&legacy.url(), &[], "legacy", ""))
        .start()
        .await;
    let user = gateway.register_user("grace@example.com").await;
    let id = user["id"].as_str().expect("test data").to_owned();
    let path = format!("/v1/accounts/users/{id}");
    let mut legacy_user = user.clone();
    legacy_user["full_name"] = Value::from("Grace B. Hopper");
    legacy.script(&path, Script::json(legacy_user));

    let reply = gateway.get(&path).await;
    assert_eq!(
        reply.json()["full_name"],
        "Grace B. Hopper",
        "the client gets legacy's answer"
    );

    // The count is immediate; the record reaches the database through the write queue.
    let summary = summary_when(&gateway, "get-user", "a recorded mismatch", |s| {
        s["mismatched"] == 1 && s["top_fields"].as_array().is_some_and(|f| !f.is_empty())
    })
    .await;
    assert_eq!(summary["top_fields"][0]["path"], "/full_name", "{summary}");
    let diffs = gateway
        .admin(Method::GET, "/-/shadow/diffs?route=get-user")
        .await
        .json();
    let items = diffs["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{diffs}");
    let record = &items[0];
    assert_eq!(record["route"], "get-user");
    assert_eq!(
        record["template"], "/v1/accounts/users/{id}",
        "grouped by template, not raw path"
    );
    assert_eq!(record["path"], path);
    assert_eq!(
        record["request_id"],
        reply.header("x-request-id").expect("test data")
    );
    let differences = record["differences"]["differences"]
        .as_array()
        .expect("differences");
    assert_eq!(differences.len(), 1, "exactly one field differs: {record}");
    assert_eq!(differences[0]["path"], "/full_name");
    assert_eq!(differences[0]["primary"], "\"Grace B. Hopper\"");
    assert_eq!(differences[0]["shadow"], "\"Ada Lovelace\"");

    let full = gateway
        .admin(
            Method::GET,
            &format!(
                "/-/shadow/diffs/{}",
                record["id"].as_str().expect("test data")
            ),
        )
        .await;
    assert_eq!(full.status, StatusCode::OK);
    // The record in full is the listed one plus the request, its body and both answers, redacted.
    let mut full = full.json();
    let request = full
        .as_object_mut()
        .and_then(|f| f.remove("request"))
        .expect("the request");
    let exchange = full
        .as_object_mut()
        .and_then(|f| f.remove("exchange"))
        .expect("both answers");
    let request_body = full
        .as_object_mut()
        .and_then(|f| f.remove("request_body"))
        .expect("the request's body");
    assert_eq!(
        request_body,
        serde_json::json!({"kind": "text", "text": "", "truncated": false}),
        "a GET's empty body"
    );
    assert_eq!(&full, record);
    assert_eq!(request["method"], "GET", "{request}");
    assert_eq!(request["path_and_query"], path, "{request}");
    for side in ["primary", "shadow"] {
        let body: Value = serde_json::from_str(
            exchange[side]["body"]["text"]
                .as_str()
                .expect("a JSON body"),
        )
        .expect("JSON");
        assert_eq!(body["email"], "[redacted]", "{exchange}");
    }
    gateway
        .log_line("one log event per mismatch", |l| {
            l.contains("shadow mismatch")
        })
        .await;
}

#[tokio::test]
async fn a_slow_mirror_does_not_delay_the_client() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(shadowed_routes(&legacy.url(), &[], "service", ""))
        .start()
        .await;
    let user = gateway.register_user("slow@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(
        &path,
        Script {
            delay: Duration::from_secs(3),
            ..Script::json(user.clone())
        },
    );

    let reply = gateway.get(&path).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.is_from_legacy(), "the service is the primary");
    assert_eq!(
        legacy.scripted_answers(),
        0,
        "the client had its answer while the mirror was still waiting for legacy"
    );
    let summary = summary_when(&gateway, "get-user", "the late comparison", |s| {
        s["compared"] == 1
    })
    .await;
    assert_eq!(count(&summary, "match"), 1, "{summary}");
    assert_eq!(legacy.scripted_answers(), 1);
}

#[tokio::test]
async fn mirrors_beyond_max_in_flight_are_dropped_and_counted() {
    let legacy = LegacyStub::start().await;
    let routes = shadowed_routes(
        &legacy.url(),
        &["max_in_flight = 1", "timeout = \"10s\""],
        "service",
        "",
    );
    let gateway = Launch::new(routes).start().await;
    let user = gateway.register_user("busy@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(
        &path,
        Script {
            delay: Duration::from_secs(2),
            ..Script::json(user.clone())
        },
    );

    for _ in 0..5 {
        let reply = gateway.get(&path).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "every client request is answered: {reply:?}"
        );
    }

    let summary = summary_when(&gateway, "get-user", "the held mirror's comparison", |s| {
        s["compared"] == 1
    })
    .await;
    assert_eq!(count(&summary, "dropped_overloaded"), 4, "{summary}");
    assert_eq!(summary["dropped"], 4);
}

#[tokio::test]
async fn a_body_over_the_limit_is_served_in_full_and_recorded_as_skipped() {
    let legacy = LegacyStub::start().await;
    let routes = shadowed_routes(&legacy.url(), &["max_body_bytes = 1024"], "legacy", "");
    let gateway = Launch::new(routes).start().await;

    let reply = gateway.get("/big/5000").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), 5000);
    assert_eq!(
        checksum(&reply.body),
        checksum(&pattern_body(5000)),
        "the client gets every byte"
    );
    let summary = summary_when(&gateway, "big", "the skipped comparison", |s| {
        s["skipped"] == 1
    })
    .await;
    assert_eq!(count(&summary, "skipped_body_too_large"), 1, "{summary}");
    assert_eq!(
        summary["compared"], 0,
        "a body too large is never counted as compared"
    );
}

#[tokio::test]
async fn writes_are_not_mirrored_unless_listed() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(shadowed_routes(&legacy.url(), &[], "legacy", ""))
        .start()
        .await;

    gateway.register_user("write@example.com").await;

    let summary = summary_when(&gateway, "create-user", "the skipped write", |s| {
        s["skipped"] == 1
    })
    .await;
    assert_eq!(
        count(&summary, "skipped_method_not_mirrored"),
        1,
        "{summary}"
    );
    assert_eq!(
        legacy.requests(),
        0,
        "a POST must not reach the mirrored side"
    );
}

#[tokio::test]
async fn noise_detection_marks_a_random_field_as_noise() {
    let legacy = LegacyStub::start().await;
    let routes = shadowed_routes(&legacy.url(), &[], "legacy", ", detect_noise = true");
    let gateway = Launch::new(routes).start().await;
    let user = gateway.register_user("noisy@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(
        &path,
        Script {
            random_field: Some("trace".to_owned()),
            ..Script::json(user.clone())
        },
    );

    for _ in 0..2 {
        assert!(gateway.get(&path).await.is_from_legacy());
    }

    let summary = summary_when(&gateway, "get-user", "two comparisons", |s| {
        s["compared"] == 2
    })
    .await;
    assert_eq!(
        summary["mismatched"], 0,
        "a noisy field is not a regression: {summary}"
    );
    assert_eq!(count(&summary, "ignored_only"), 2, "{summary}");
    assert_eq!(summary["noise"], 2, "{summary}");
    assert_eq!(
        summary["suggested_ignore"],
        serde_json::json!(["/trace"]),
        "{summary}"
    );
}

/// `GET /-/shadow`'s comparison-budget report.
async fn budget_report(gateway: &GatewayProcess) -> Value {
    let reply = gateway.admin(Method::GET, "/-/shadow").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.json()["budget"].clone()
}

/// A registered user whose `GET` legacy answers with the same JSON, and its path.
async fn user_on_both_sides(gateway: &GatewayProcess, legacy: &LegacyStub) -> (Value, String) {
    let user = gateway.register_user("budget@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(&path, Script::json(user.clone()));
    (user, path)
}

/// Sends `n` shadowed `GET`s of `path`, one after the other; all answered with `user`.
async fn get_user_n_times(gateway: &GatewayProcess, path: &str, user: &Value, n: u64) {
    for _ in 0..n {
        let reply = gateway.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(&reply.json(), user, "the client's answer is legacy's");
    }
}

#[tokio::test]
async fn past_max_busy_the_budget_admits_some_mirrors_and_every_request_has_one_outcome() {
    // `max_busy = 0.0`: the workers are never "spare", so only the budget admits.
    let legacy = LegacyStub::start().await;
    let routes = shadowed_routes(
        &legacy.url(),
        &["max_busy = 0.0", "budget = 0.5"],
        "legacy",
        "",
    );
    let gateway = Launch::new(routes).start().await;
    let (user, path) = user_on_both_sides(&gateway, &legacy).await;
    // The first attempt finds no credit earned yet. The budget then earns
    // half the CPU time the gateway spends, and opens a burst of mirrors
    // (16 at 200 µs each) once that covers all but one of them: send until
    // one has run.
    let mut sent = 0;
    while sent < 2000 {
        get_user_n_times(&gateway, &path, &user, 10).await;
        sent += 10;
        if budget_report(&gateway).await["mirrors"].as_u64() > Some(0) {
            break;
        }
    }

    let summary = summary_when(&gateway, "get-user", "an outcome per request", |s| {
        s["counts"]
            .as_object()
            .is_some_and(|c| c.values().filter_map(Value::as_u64).sum::<u64>() == sent)
    })
    .await;
    let matched = count(&summary, "match");
    let dropped = count(&summary, "dropped_overloaded");
    assert_eq!(
        matched + dropped,
        sent,
        "every request ends in exactly one outcome, a comparison or a drop: {summary}"
    );
    assert!(dropped >= 1, "{summary}");
    assert!(matched >= 1, "{summary}");
    let budget = budget_report(&gateway).await;
    assert_eq!(budget["share"], 0.5, "{budget}");
    assert_eq!(budget["mirrors"], matched, "{budget}");
    assert_eq!(budget["refused"], dropped, "{budget}");
    assert!(
        budget["spent_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{budget}"
    );
    // The credit came from the gateway's CPU time over the busy spell, all of its threads.
    assert!(
        budget["busy_cpu_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{budget}"
    );
    assert!(budget["spent_share"].as_f64().is_some(), "{budget}");
    // The mirrors went to the in-process service, which reads a user by id
    // from its SQLite file in the mirror's own task (metered with it): what
    // sqlx's SQLite threads did for them, if anything, is a part of what was spent.
    let database = budget["database_ms"]
        .as_f64()
        .expect("database work reported");
    assert!(
        database >= 0.0 && budget["spent_ms"].as_f64() >= Some(database),
        "{budget}"
    );
    assert!(
        summary["mirror_cost_us"]
            .as_f64()
            .is_some_and(|us| us > 0.0),
        "{summary}"
    );
}

#[tokio::test]
async fn a_zero_budget_drops_every_mirror_past_max_busy_and_counts_each() {
    let legacy = LegacyStub::start().await;
    let routes = shadowed_routes(
        &legacy.url(),
        &["max_busy = 0.0", "budget = 0.0"],
        "legacy",
        "",
    );
    let gateway = Launch::new(routes).start().await;
    let (user, path) = user_on_both_sides(&gateway, &legacy).await;
    get_user_n_times(&gateway, &path, &user, 10).await;

    let summary = summary_when(&gateway, "get-user", "10 drops", |s| {
        count(s, "dropped_overloaded") == 10
    })
    .await;
    assert_eq!(summary["compared"], 0, "{summary}");
    assert_eq!(
        summary["counts"].as_object().map(|c| c.len()),
        Some(1),
        "{summary}"
    );
    assert_eq!(
        legacy.scripted_answers(),
        10,
        "legacy answered each client once"
    );
    let budget = budget_report(&gateway).await;
    assert_eq!(
        (&budget["mirrors"], &budget["refused"]),
        (&0.into(), &10.into()),
        "{budget}"
    );
}
