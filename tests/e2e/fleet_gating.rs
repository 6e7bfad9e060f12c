//! Replicas on one PostgreSQL are interchangeable: a flip holds for the
//! fleet whichever replica starts or reloads, and results are judged over a
//! window (since the rules changed, or a reset) that every replica shares.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;
use test_support::{Backend, LegacyStub, Script, TestDatabase};

use crate::harness::{GatewayProcess, Launch, run_gateway};
use crate::lifecycle::lifecycle_routes;

const REQUIRE: &str = "require = { match_rate = 0.9, min_samples = 3 }";

/// The `get-user` route served by legacy and mirrored to the service, with `shadow_extra` in its shadow table.
fn shadowed(legacy_url: &str, shadow_extra: &str) -> String {
    lifecycle_routes(
        legacy_url,
        &format!("target = \"legacy\"\nshadow = {{ to = \"service\"{shadow_extra} }}\n{REQUIRE}"),
    )
}

/// The `get-user` route flipped to the service, mirrored back to legacy.
fn flipped(legacy_url: &str) -> String {
    lifecycle_routes(
        legacy_url,
        &format!("target = \"service\"\nshadow = {{ to = \"legacy\" }}\n{REQUIRE}"),
    )
}

/// A replica on the shared database, reloaded only when a test says so.
fn replica(routes: &str, database: &TestDatabase) -> Launch {
    Launch::new(routes)
        .env("DATABASE_URL", database.url())
        .without_file_watch()
}

/// Two replicas of the shadowed route on a fresh PostgreSQL database, and a user.
struct Fleet {
    database: TestDatabase,
    legacy: LegacyStub,
    a: GatewayProcess,
    b: GatewayProcess,
    /// The user registered through `a`.
    user: Value,
    /// `GET` this user: the `get-user` route.
    path: String,
}

impl Fleet {
    /// `None` when PostgreSQL tests are opted out of.
    async fn start(email: &str) -> Option<Self> {
        let database = TestDatabase::create(Backend::Postgres).await?;
        let legacy = LegacyStub::start().await;
        let a = replica(&shadowed(&legacy.url(), ""), &database)
            .start()
            .await;
        let b = replica(&shadowed(&legacy.url(), ""), &database)
            .start()
            .await;
        let user = a.register_user(email).await;
        let path = format!(
            "/v1/accounts/users/{}",
            user["id"].as_str().expect("test data")
        );
        Some(Self {
            database,
            legacy,
            a,
            b,
            user,
            path,
        })
    }
}

/// `get-user`'s summary on `gateway`, once `ready` holds for it.
async fn summary_when(
    gateway: &GatewayProcess,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    crate::shadow::summary_when(gateway, "get-user", what, ready).await
}

/// Asserts `gateway` serves `get-user` from legacy, held below the file's 100 %.
async fn assert_held(gateway: &GatewayProcess, path: &str) {
    let doc = gateway.routes_doc().await;
    let held = doc["held"].as_array().expect("a list of held routes");
    assert_eq!(held.len(), 1, "{doc}");
    assert_eq!(held[0]["route"], "get-user", "{doc}");
    assert_eq!(held[0]["file_service_percent"], 100.0, "{doc}");
    assert_eq!(held[0]["service_percent"], 0.0, "{doc}");
    let route = &doc["table"]["routes"][1];
    assert_eq!(
        (&route["name"], &route["target"]),
        (&Value::from("get-user"), &Value::from("legacy")),
        "{doc}"
    );
    assert!(gateway.get(path).await.is_from_legacy());
    gateway
        .log_line("the hold, logged as an error", |l| {
            l.contains("\"level\":\"ERROR\"")
                && l.contains("route held at its earned service share")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_or_a_new_replica_cannot_serve_an_unearned_flip_and_an_earned_one_applies_everywhere()
 {
    let Some(Fleet {
        database,
        legacy,
        a,
        b,
        user,
        path,
    }) = Fleet::start("fleet-flip@example.com").await
    else {
        return;
    };
    legacy.script(&path, Script::json(user.clone()));

    // B restarts with an unearned flip in its file; C is added with it.
    drop(b);
    let b = replica(&flipped(&legacy.url()), &database).start().await;
    assert_held(&b, &path).await;
    let c = replica(&flipped(&legacy.url()), &database).start().await;
    assert_held(&c, &path).await;
    let (status, out, err) = run_gateway(&["status", "--admin-url", &b.admin_url("")]).await;
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("0% HELD (file: 100%)") && out.contains("HELD AT THE EARNED SHARE"),
        "{out}"
    );
    // A reload of the same unearned file is refused: the hold stays.
    assert_eq!(b.reload().await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b.get(&path).await.is_from_legacy());
    assert!(
        a.routes_doc().await["held"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    // A earns the flip (three matching comparisons) and takes it.
    for _ in 0..3 {
        assert!(a.get(&path).await.is_from_legacy());
    }
    summary_when(&a, "three comparisons", |s| s["compared"] == 3).await;
    a.write_routes(&flipped(&legacy.url()));
    let accepted = a.reload().await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert!(!a.get(&path).await.is_from_legacy());

    // Forget the results: from here only the fleet's record can allow the flip.
    let reset = a
        .admin(Method::POST, "/-/shadow/routes/get-user/reset")
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    let summary = summary_when(&b, "the reset", |s| s["window"]["basis"] == "reset").await;
    assert_eq!(summary["compared"], 0, "{summary}");

    // The held replica follows on its next reload; a new one starts with it.
    let reloaded = b.reload().await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    assert!(
        b.routes_doc().await["held"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    assert!(!b.get(&path).await.is_from_legacy());
    let d = replica(&flipped(&legacy.url()), &database).start().await;
    let doc = d.routes_doc().await;
    assert!(doc["held"].as_array().is_some_and(Vec::is_empty), "{doc}");
    assert!(!d.get(&path).await.is_from_legacy());
    assert!(
        !d.stderr().contains("route held"),
        "nothing is held on the new replica:\n{}",
        d.stderr()
    );
    // C was not reloaded: it still holds, and nothing else changed it.
    assert_held(&c, &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_count_from_a_reset_or_a_rules_change_on_every_replica() {
    let Some(Fleet {
        database: _database,
        legacy,
        a,
        b,
        user,
        path,
    }) = Fleet::start("fleet-window@example.com").await
    else {
        return;
    };
    let mut drifted = user.clone();
    drifted["full_name"] = "Someone Else".into();
    let get_three = || async {
        for _ in 0..3 {
            assert!(a.get(&path).await.is_from_legacy());
        }
    };

    // Three mismatches on A, seen on B.
    legacy.script(&path, Script::json(drifted.clone()));
    get_three().await;
    let summary = summary_when(&b, "three mismatches on B", |s| s["compared"] == 3).await;
    assert_eq!(summary["mismatched"], 3, "{summary}");
    assert_eq!(summary["verdict"]["ready"], false, "{summary}");
    assert_eq!(summary["window"]["basis"], "rules-changed", "{summary}");

    // The field is fixed; the old mismatches still weigh.
    legacy.script(&path, Script::json(user.clone()));
    get_three().await;
    let summary = summary_when(&b, "six comparisons", |s| s["compared"] == 6).await;
    assert_eq!(summary["match_rate"], 0.5, "{summary}");
    assert_eq!(summary["verdict"]["ready"], false, "{summary}");

    // A reset on B: every replica starts again from it, and nothing is deleted.
    let reset = b
        .admin(Method::POST, "/-/shadow/routes/get-user/reset")
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    let reset_at = reset.json()["reset_at"].clone();
    for replica in [&a, &b] {
        let summary = summary_when(replica, "the reset", |s| s["compared"] == 0).await;
        assert_eq!(summary["window"]["basis"], "reset", "{summary}");
        assert_eq!(summary["window"]["reset_at"], reset_at, "{summary}");
        assert_eq!(summary["top_fields"], Value::Array(Vec::new()), "{summary}");
    }
    let diffs = a.admin(Method::GET, "/-/shadow/diffs?route=get-user").await;
    assert_eq!(
        diffs.json()["items"].as_array().map(Vec::len),
        Some(3),
        "the mismatch records are kept: {diffs:?}"
    );
    // Other replicas learn of a reset within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    get_three().await;
    for replica in [&a, &b] {
        let summary = summary_when(replica, "three matches after the reset", |s| {
            s["compared"] == 3
        })
        .await;
        assert_eq!(summary["match_rate"], 1.0, "{summary}");
        assert_eq!(summary["verdict"]["ready"], true, "{summary}");
    }

    // Drift again, then an ignore rule for the field: judged on new comparisons only.
    legacy.script(&path, Script::json(drifted));
    get_three().await;
    summary_when(&b, "three more mismatches", |s| s["mismatched"] == 3).await;
    let ignoring = shadowed(&legacy.url(), ", ignore = [\"/full_name\"]");
    for replica in [&a, &b] {
        replica.write_routes(&ignoring);
        assert_eq!(replica.reload().await.status, StatusCode::OK);
        let summary = summary_when(replica, "the rules change", |s| {
            s["window"]["basis"] == "rules-changed" && s["compared"] == 0
        })
        .await;
        assert_eq!(summary["verdict"]["ready"], false, "{summary}");
    }
    let (on_a, on_b) = (
        a.admin(Method::GET, "/-/shadow/routes/get-user")
            .await
            .json(),
        b.admin(Method::GET, "/-/shadow/routes/get-user")
            .await
            .json(),
    );
    assert_eq!(
        on_a["window"]["since"], on_b["window"]["since"],
        "the replica that reloaded second agrees on when the rules changed"
    );
    get_three().await;
    for replica in [&a, &b] {
        let summary = summary_when(replica, "three ignored-only comparisons", |s| {
            s["compared"] == 3
        })
        .await;
        assert_eq!(summary["counts"]["ignored_only"], 3, "{summary}");
        assert_eq!(summary["verdict"]["ready"], true, "{summary}");
    }
}
