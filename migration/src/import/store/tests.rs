//! The batch writer on a real SQLite file and a real PostgreSQL database.

use chrono::{TimeZone, Utc};
use rstest::rstest;
use test_support::{Backend, TestDatabase};

use super::*;

fn candidate(line: u64, n: u128, email: &str) -> Candidate {
    let at = Utc
        .with_ymd_and_hms(2018, 1, 2, 3, 4, 5)
        .single()
        .expect("a date");
    Candidate {
        line,
        raw: format!("row {line}"),
        record: Record {
            id: Uuid::from_u128(n),
            email: email.to_owned(),
            email_canonical: email.to_lowercase(),
            full_name: "Someone".to_owned(),
            is_active: true,
            created_at: at,
            updated_at: at,
        },
    }
}

async fn database(backend: Backend) -> Option<(DatabaseConnection, TestDatabase)> {
    let database = TestDatabase::create(backend).await?;
    let db = migration::connect(database.url())
        .await
        .expect("connecting");
    Some((db, database))
}

#[rstest]
#[tokio::test]
async fn a_refusal_the_pre_check_missed_rejects_only_the_offending_row(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((db, _database)) = database(backend).await else {
        return;
    };
    let first = write_batch(
        &db,
        vec![candidate(1, 1, "taken@example.com")],
        &mut Mode::Careful,
    )
    .await
    .expect("first batch");
    assert_eq!(first.inserted, 1);

    // As if another writer took the address after the pre-check: skip it.
    let rows = vec![
        (candidate(2, 2, "free@example.com"), Change::Insert),
        (candidate(3, 3, "TAKEN@example.com"), Change::Insert),
        (candidate(4, 4, "also-free@example.com"), Change::Insert),
    ];
    let mut written = Written::default();
    write_changes(&db, rows, &mut written)
        .await
        .expect("the batch survives");

    assert_eq!(written.inserted, 2, "{written:?}");
    let lines: Vec<u64> = written.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3]);
    let count = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users",
        ))
        .await
        .expect("counting")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("a count");
    assert_eq!(count, 3);
}

#[rstest]
#[tokio::test]
async fn the_pre_check_classifies_rows_and_rejects_an_address_held_by_another_id(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((db, _database)) = database(backend).await else {
        return;
    };
    let mut mode = Mode::for_table(&db).await.expect("a mode");
    assert_eq!(mode, Mode::InsertOnly, "an empty table");
    write_batch(
        &db,
        vec![
            candidate(1, 1, "one@example.com"),
            candidate(2, 2, "two@example.com"),
        ],
        &mut mode,
    )
    .await
    .expect("first batch");
    let mut mode = Mode::for_table(&db).await.expect("a mode");
    assert_eq!(mode, Mode::Careful, "a table with users");

    let mut renamed = candidate(2, 2, "two@example.com");
    renamed.record.full_name = "Renamed".to_owned();
    let written = write_batch(
        &db,
        vec![
            candidate(1, 1, "one@example.com"),
            renamed,
            candidate(3, 3, "One@Example.com"),
            candidate(4, 4, "four@example.com"),
        ],
        &mut mode,
    )
    .await
    .expect("second batch");
    assert_eq!(
        (written.inserted, written.updated, written.unchanged),
        (1, 1, 1)
    );
    assert_eq!(written.rejects.len(), 1);
    assert_eq!(written.rejects[0].line, 3);
    assert!(
        written.rejects[0].reasons[0].contains(&Uuid::from_u128(1).to_string()),
        "names the holder: {:?}",
        written.rejects[0]
    );
}

#[rstest]
#[tokio::test]
async fn a_refused_insert_only_batch_is_rewritten_carefully_and_later_ones_stay_careful(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((db, _database)) = database(backend).await else {
        return;
    };
    let mut mode = Mode::for_table(&db).await.expect("a mode");
    assert_eq!(mode, Mode::InsertOnly);
    let first = write_batch(&db, vec![candidate(1, 1, "ada@example.com")], &mut mode)
        .await
        .expect("first batch");
    assert_eq!((first.inserted, mode), (1, Mode::InsertOnly));

    // As if another writer had stored id 1 and ada@ meanwhile.
    let second = write_batch(
        &db,
        vec![
            candidate(2, 2, "grace@example.com"),
            candidate(3, 3, "Ada@Example.com"),
            candidate(4, 1, "ada@example.com"),
        ],
        &mut mode,
    )
    .await
    .expect("second batch");
    assert_eq!(mode, Mode::Careful);
    assert_eq!(
        (second.inserted, second.updated, second.unchanged),
        (1, 0, 1),
        "{second:?}"
    );
    let lines: Vec<u64> = second.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3]);
}
