//! Replay of recorded mismatches: record them, change one side's answer,
//! replay through `gateway replay` and the admin API, and see what is fixed
//! — without the replay counting as traffic. On SQLite and PostgreSQL.

use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use test_support::{Backend, LegacyStub, Script, TestDatabase};

use crate::harness::{GatewayProcess, Launch, eventually, request, run_gateway};
use crate::shadow::summary_when;

/// `get-user` served by legacy and mirrored to the service; `create-user`
/// served by the service and mirrored to legacy (its POSTs are writes).
fn routes(legacy_url: &str) -> String {
    test_support::RoutesToml::new(legacy_url)
        .accounts_to_service()
        .get_user("target = \"legacy\"\nshadow = { to = \"service\" }")
        .route(
            "create-user",
            "path = \"/v1/accounts/users\", methods = [\"POST\"]",
            "target = \"service\"\nshadow = { to = \"legacy\", methods = [\"POST\"] }",
        )
        .build()
}

/// `GET path?token=…` with an `Authorization` header: both redacted when recorded.
async fn get_with_secrets(gateway: &GatewayProcess, path: &str) {
    let reply = gateway
        .send(
            request(Method::GET, &gateway.url(&format!("{path}?token=s3cret")))
                .header(http::header::AUTHORIZATION, "Bearer s3cret")
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;
    assert!(reply.is_from_legacy(), "{reply:?}");
}

/// The number of records of `route` the admin API lists.
async fn records(gateway: &GatewayProcess, route: &str) -> usize {
    let reply = gateway
        .admin(Method::GET, &format!("/-/shadow/diffs?route={route}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.json()["items"].as_array().map_or(0, Vec::len)
}

/// The replayed request of `path` in `report`.
fn request_of<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["requests"]
        .as_array()
        .and_then(|all| {
            all.iter().find(|r| {
                r["path_and_query"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(path))
            })
        })
        .unwrap_or_else(|| panic!("no replayed request for {path}: {report}"))
}

async fn a_fix_is_seen_by_replaying_the_recorded_mismatches(database_url: Option<&str>) {
    let legacy = LegacyStub::start().await;
    let mut launch = Launch::new(routes(&legacy.url()));
    if let Some(url) = database_url {
        launch = launch.env("DATABASE_URL", url);
    }
    let gateway = launch.start().await;
    let ada = gateway.register_user("ada@example.com").await;
    let grace = gateway.register_user("grace@example.com").await;
    let path_of = |user: &Value| {
        format!(
            "/v1/accounts/users/{}",
            user["id"].as_str().expect("test data")
        )
    };
    let (ada_path, grace_path) = (path_of(&ada), path_of(&grace));
    // Legacy spells both names differently from the service.
    for (path, user) in [(&ada_path, &ada), (&grace_path, &grace)] {
        let mut differing = user.clone();
        differing["full_name"] = Value::from("Legacy Spelling");
        legacy.script(path, Script::json(differing));
    }
    get_with_secrets(&gateway, &ada_path).await;
    get_with_secrets(&gateway, &grace_path).await;
    let before = summary_when(&gateway, "get-user", "two recorded mismatches", |s| {
        s["mismatched"] == 2
    })
    .await;
    eventually(Duration::from_secs(15), "two records", || async {
        (records(&gateway, "get-user").await == 2).then_some(())
    })
    .await;

    // The fix: legacy now answers Ada as the service does.
    legacy.script(&ada_path, Script::json(ada.clone()));

    let (status, stdout, stderr) = run_gateway(&[
        "replay",
        "--route",
        "get-user",
        "--since",
        "1h",
        "--admin-url",
        &gateway.admin_url(""),
    ])
    .await;
    assert!(status.success(), "{stdout}\n{stderr}");
    let summary_line = "route get-user: replayed 2 of 2 recorded mismatches: 1 fixed, 1 still differing, 0 newly differing, 0 refused, 0 failed";
    assert_eq!(
        stdout.trim_end().lines().last(),
        Some(summary_line),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fixed            GET {ada_path}?token=[redacted]")),
        "{stdout}"
    );
    assert!(stdout.contains("    /full_name fixed"), "{stdout}");
    assert!(
        stdout.contains(
            "    /full_name still differing: primary \"Legacy Spelling\" ≠ shadow \"Ada Lovelace\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: header authorization was redacted when recorded: sent without it"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");

    // The same through the admin API, per request and per field.
    let reply = gateway
        .admin(Method::POST, "/-/shadow/routes/get-user/replay?limit=10")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let report = reply.json();
    assert_eq!(report["summary"]["fixed"], 1, "{report}");
    assert_eq!(report["summary"]["still_differing"], 1, "{report}");
    let fixed = request_of(&report, &ada_path);
    assert_eq!(fixed["result"], "fixed", "{report}");
    assert_eq!(fixed["outcome"], "match", "{report}");
    assert_eq!(fixed["fields"][0]["path"], "/full_name", "{report}");
    assert_eq!(fixed["fields"][0]["result"], "fixed", "{report}");
    let still = request_of(&report, &grace_path);
    assert_eq!(still["result"], "still_differing", "{report}");
    assert_eq!(still["fields"][0]["result"], "still_differing", "{report}");
    assert_eq!(
        report["requests"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );

    // Writes are refused with the reason.
    let create = gateway
        .admin(Method::POST, "/-/shadow/routes/create-user/replay")
        .await
        .json();
    let refused = create["requests"].as_array().expect("requests");
    assert!(!refused.is_empty(), "{create}");
    for request in refused {
        assert_eq!(request["result"], "refused", "{create}");
        assert!(
            request["reason"]
                .as_str()
                .is_some_and(|r| r.contains("write")),
            "{create}"
        );
    }

    // Not traffic: the route's counts and records are as before the replays.
    let after = summary_when(&gateway, "get-user", "the summary", |_| true).await;
    assert_eq!(after["compared"], before["compared"], "{after}");
    assert_eq!(after["counts"], before["counts"], "{after}");
    assert_eq!(records(&gateway, "get-user").await, 2);

    // Bad input is a problem; an unknown or unshadowed route too.
    for (path, status, code) in [
        (
            "/-/shadow/routes/get-user/replay?since=soon",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        ),
        (
            "/-/shadow/routes/get-user/replay?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        ),
        (
            "/-/shadow/routes/nope/replay",
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            "/-/shadow/routes/accounts/replay",
            StatusCode::CONFLICT,
            "not-shadowed",
        ),
    ] {
        let reply = gateway.admin(Method::POST, path).await;
        test_support::assert_problem(reply.status, &reply.headers, &reply.body, status, code);
    }
}

#[tokio::test]
async fn a_fix_is_seen_by_replaying_the_recorded_mismatches_on_sqlite() {
    a_fix_is_seen_by_replaying_the_recorded_mismatches(None).await;
}

#[tokio::test]
async fn a_fix_is_seen_by_replaying_the_recorded_mismatches_on_postgres() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    a_fix_is_seen_by_replaying_the_recorded_mismatches(Some(database.url())).await;
}
