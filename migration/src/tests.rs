//! Migrating real databases: concurrent start-ups, and an upgrade that keeps what was counted.

use rstest::rstest;
use sea_orm_migration::sea_orm::Statement;
use test_support::{Backend, TestDatabase};

use super::*;

/// Upgrading keeps what was counted: the totals of `shadow_outcome_counts`
/// become one bucket each in `shadow_outcome_buckets`.
#[rstest]
#[tokio::test]
async fn the_per_minute_counts_start_with_the_totals_counted_before(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(database) = TestDatabase::create_empty(backend).await else {
        return;
    };
    let db = connect(database.url()).await.expect("connecting");
    Migrator::up(&db, Some(2))
        .await
        .expect("the first two migrations");
    db.execute_unprepared(
        "INSERT INTO shadow_outcome_counts (route, outcome, count, updated_at) VALUES \
         ('get-user', 'match', 41, '2026-11-30 10:00:00+00:00'), \
         ('get-user', 'mismatch', 2, '2026-11-30 10:00:00+00:00'), \
         ('orders', 'match', 5, '2026-11-29 08:00:00+00:00')",
    )
    .await
    .expect("counts of the previous release");
    Migrator::up(&db, None).await.expect("the rest");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT route, outcome, count FROM shadow_outcome_buckets ORDER BY route, outcome",
        ))
        .await
        .expect("reading the buckets");
    let buckets: Vec<(String, String, i64)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "route").expect("route"),
                row.try_get("", "outcome").expect("outcome"),
                row.try_get("", "count").expect("count"),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            ("get-user", "match", 41),
            ("get-user", "mismatch", 2),
            ("orders", "match", 5)
        ]
        .map(|(r, o, n)| (r.to_owned(), o.to_owned(), n))
    );
    db.close().await.expect("closing");
}

/// Replicas start together on a fresh database: each runs its start-up
/// migration, and none may fail on another's half-made schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_of_a_fresh_postgres_database_all_succeed() {
    let Some(database) = TestDatabase::create_empty(Backend::Postgres).await else {
        return;
    };
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = database.url().to_owned();
        runs.spawn(async move { migrate_up(&url).await });
    }
    while let Some(run) = runs.join_next().await {
        if let Err(err) = run.expect("a migration task panicked") {
            panic!("a concurrent migration failed: {err:?}");
        }
    }
    let db = connect(database.url()).await.expect("connecting");
    let pending = Migrator::get_pending_migrations(&db)
        .await
        .expect("reading the applied migrations");
    assert!(pending.is_empty(), "{} still pending", pending.len());
    db.close().await.expect("closing");
}

/// Upgrading keeps the mismatch records of the previous release: they gain
/// an empty `request` and `exchange`, and new rows can fill both.
#[rstest]
#[tokio::test]
async fn mismatch_records_of_the_previous_release_survive_with_no_request_or_answers(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(database) = TestDatabase::create_empty(backend).await else {
        return;
    };
    let db = connect(database.url()).await.expect("connecting");
    Migrator::up(&db, Some(3))
        .await
        .expect("the previous release's schema");
    let columns = "id, route, template, method, path, request_id, recorded_at, outcome, \
                   primary_side, primary_status, shadow_status, primary_latency_ms, \
                   shadow_latency_ms, differences";
    let values = "'2026-11-30 10:00:00+00:00', 'mismatch', 'legacy', 200, 404, 1.5, 2.5, '{}'";
    db.execute_unprepared(&format!(
        "INSERT INTO shadow_mismatches ({columns}) VALUES \
         ('0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a', 'get-user', 't', 'GET', '/u/1', 'r1', {values})"
    ))
    .await
    .expect("a record of the previous release");
    Migrator::up(&db, None).await.expect("the rest");
    db.execute_unprepared(&format!(
        "INSERT INTO shadow_mismatches ({columns}, request, exchange) VALUES \
         ('0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0b', 'get-user', 't', 'GET', '/u/2', 'r2', {values}, \
          '{{\"method\":\"GET\"}}', '{{}}')"
    ))
    .await
    .expect("a record of this release");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT request_id, request FROM shadow_mismatches ORDER BY request_id",
        ))
        .await
        .expect("reading the records");
    let records: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "request_id").expect("request_id"),
                row.try_get("", "request").expect("request"),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            ("r1".to_owned(), None),
            ("r2".to_owned(), Some(r#"{"method":"GET"}"#.to_owned()))
        ]
    );
    db.close().await.expect("closing");
}
