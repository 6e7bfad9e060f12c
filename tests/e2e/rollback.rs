//! Writes shadowed without side effects: `writes = "rollback"` mirrors
//! registrations to the service inside a transaction that is always rolled
//! back, on PostgreSQL, beside a replica that registers users for real.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::Value;
use test_support::{Backend, LegacyStub, TestDatabase};

use crate::harness::{GatewayProcess, Launch, eventually};
use crate::shadow::summary_when;

/// The key sealing the originals of `mirrors`' records (a test value).
const SEAL_KEY: &str = "5ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea1";

/// Legacy serves registrations; each is mirrored to the service, rolled back.
fn mirroring(legacy_url: &str) -> String {
    test_support::RoutesToml::new(legacy_url)
        // Every mirror runs, however busy the test machine is.
        .shadow_setting("max_busy = 1.0")
        .accounts_to_service()
        .route(
            "create-user",
            "path = \"/v1/accounts/users\", methods = [\"POST\"]",
            "target = \"legacy\"\nshadow = { to = \"service\", methods = [\"POST\"], writes = \"rollback\" }",
        )
        .build()
}

/// The shadow statuses of `create-user`'s records, oldest first.
async fn shadow_statuses(gateway: &GatewayProcess) -> Vec<u64> {
    let reply = gateway
        .admin(Method::GET, "/-/shadow/diffs?route=create-user&limit=500")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let mut statuses: Vec<u64> = reply.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["shadow_status"].as_u64())
        .collect();
    statuses.reverse();
    statuses
}

/// Registers `emails` through `gateway`, `at_once` at a time; the statuses.
async fn register_all(gateway: &GatewayProcess, emails: &[String], at_once: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for chunk in emails.chunks(at_once) {
        let replies = join_all(chunk.iter().map(|e| gateway.register_user_reply(e))).await;
        statuses.extend(replies.iter().map(|r| r.status.as_u16()));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_registrations_are_compared_and_rolled_back_while_real_ones_persist() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let legacy = LegacyStub::start().await;
    let mirrors = Launch::new(mirroring(&legacy.url()))
        .env("DATABASE_URL", database.url())
        // What redaction takes out of a record is sealed, so a replay resends it.
        .env("GATEWAY_SHADOW_RECORDS__SEAL_KEY", SEAL_KEY)
        .start()
        .await;
    // A replica whose registrations go to the service for real.
    let real = Launch::new(
        test_support::RoutesToml::new(&legacy.url())
            .accounts_to_service()
            .build(),
    )
    .env("DATABASE_URL", database.url())
    .start()
    .await;

    // A taken address answers 409 in the mirror, as it would for real.
    real.register_user("taken@example.com").await;
    let reply = mirrors.register_user_reply("taken@example.com").await;
    assert!(
        reply.is_from_legacy(),
        "legacy answers the client: {reply:?}"
    );
    eventually(
        Duration::from_secs(15),
        "the duplicate's record",
        || async { (shadow_statuses(&mirrors).await == [409]).then_some(()) },
    )
    .await;

    // 200 mirrored registrations while 50 real ones run on the other replica.
    let mirrored: Vec<String> = (0..200).map(|n| format!("mirror{n}@example.com")).collect();
    let kept: Vec<String> = (0..50).map(|n| format!("real{n}@example.com")).collect();
    let (mirrored_statuses, kept_statuses) = tokio::join!(
        register_all(&mirrors, &mirrored, 8),
        register_all(&real, &kept, 4)
    );
    assert!(
        mirrored_statuses.iter().all(|s| *s == 200),
        "legacy (the stub's echo) answers every client: {mirrored_statuses:?}"
    );
    assert!(kept_statuses.iter().all(|s| *s == 201), "{kept_statuses:?}");

    // Every mirror was compared: none dropped, failed or timed out.
    let summary = summary_when(&mirrors, "create-user", "201 comparisons", |s| {
        s["compared"] == 201
    })
    .await;
    let counts = summary["counts"].as_object().expect("counts");
    assert!(
        counts.keys().all(|k| k == "mismatch"),
        "the stub's echo differs from the service's user, and nothing else happened: {summary}"
    );
    let statuses = eventually(Duration::from_secs(15), "201 records", || async {
        let statuses = shadow_statuses(&mirrors).await;
        (statuses.len() == 201).then_some(statuses)
    })
    .await;
    assert_eq!(statuses[0], 409);
    assert!(
        statuses[1..].iter().all(|s| *s == 201),
        "the service created every mirrored user inside its transaction: {statuses:?}"
    );

    // Replaying the writes uses the same mode: the service alone, rolled
    // back, against legacy's answer as recorded. The redacted email is
    // unsealed and resent as received, so the service creates the user again
    // (201, as recorded) instead of refusing "[redacted]" (422).
    let reply = mirrors
        .admin(Method::POST, "/-/shadow/routes/create-user/replay?limit=5")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let report = reply.json();
    assert_eq!(report["summary"]["replayed"], 5, "{report}");
    assert_eq!(report["summary"]["still_differing"], 5, "{report}");
    for request in report["requests"].as_array().into_iter().flatten() {
        assert_eq!(request["method"], "POST", "{report}");
        let notes = request["notes"].to_string();
        assert!(notes.contains("resent as received"), "{report}");
        assert!(!notes.contains("JSON members"), "{report}");
        let status = request["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["path"] == "status"))
            .unwrap_or_else(|| panic!("the status still differs: {report}"));
        assert_eq!(status["shadow"], "201", "{report}");
    }
    assert!(
        !report.to_string().contains("@example.com"),
        "the unsealed addresses are resent, never shown: {report}"
    );

    // Nothing a mirror or a replay wrote persists; every real registration does.
    let page = real.get("/v1/accounts/users?limit=500").await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let stored: BTreeSet<String> = page.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect();
    let mut expected: BTreeSet<String> = kept.into_iter().collect();
    expected.insert("taken@example.com".to_owned());
    assert_eq!(stored, expected);
    assert!(
        page.json()["next_cursor"] == Value::Null,
        "one page holds every user"
    );
}
