//! `migration import-users`, through the binary, on SQLite and PostgreSQL.
//!
//! Each test gets a fresh migrated database (test-support), writes an export
//! to a temporary directory, runs the command and checks its exit status,
//! its summary line, the `users` table and the rejects file.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use rstest::rstest;
use sea_orm::{ConnectionTrait, Statement};
use test_support::{Backend, TestDatabase};
use uuid::Uuid;

/// What one run of the command did.
#[derive(Debug)]
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The counts of the summary line, as `(read, inserted, updated, unchanged, rejected)`.
    fn counts(&self) -> (u64, u64, u64, u64, u64) {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("read="))
            .unwrap_or_else(|| panic!("no summary line in {self:?}"));
        let count = |key: &str| -> u64 {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        };
        assert!(line.contains(" elapsed="), "{line}");
        (
            count("read"),
            count("inserted"),
            count("updated"),
            count("unchanged"),
            count("rejected"),
        )
    }
}

fn import(url: &str, file: &Path, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_migration"))
        .args(["--database-url", url, "import-users"])
        .arg(file)
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running the migration binary");
    Run {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One row of `users`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    id: Uuid,
    email: String,
    email_canonical: String,
    full_name: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn users(url: &str) -> Vec<Stored> {
    let db = migration::connect(url).await.expect("connecting");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, email, email_canonical, full_name, is_active, created_at, updated_at FROM users",
        ))
        .await
        .expect("reading users");
    let mut users: Vec<Stored> = rows
        .iter()
        .map(|row| Stored {
            id: row.try_get("", "id").expect("id"),
            email: row.try_get("", "email").expect("email"),
            email_canonical: row.try_get("", "email_canonical").expect("email_canonical"),
            full_name: row.try_get("", "full_name").expect("full_name"),
            is_active: row.try_get("", "is_active").expect("is_active"),
            created_at: row.try_get("", "created_at").expect("created_at"),
            updated_at: row.try_get("", "updated_at").expect("updated_at"),
        })
        .collect();
    db.close().await.expect("closing");
    users.sort_by_key(|u| u.id);
    users
}

fn id(n: u128) -> String {
    Uuid::from_u128(n).to_string()
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a test timestamp")
        .with_timezone(&Utc)
}

/// A row of an export: six fields (is_active as `true`/`false`), or a line that cannot be parsed.
#[derive(Debug, Clone)]
enum Row {
    Fields([String; 6]),
    Malformed,
    Blank,
}

fn row(id: &str, email: &str, full_name: &str, active: &str, created: &str, updated: &str) -> Row {
    Row::Fields([id, email, full_name, active, created, updated].map(str::to_owned))
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Jsonl,
    Csv,
}

/// Writes `rows` as `users.jsonl` or `users.csv`; returns the path and each row's line number.
fn export(dir: &Path, format: Format, rows: &[Row]) -> (PathBuf, Vec<u64>) {
    let mut text = String::new();
    let mut lines = Vec::new();
    let mut line = 0;
    if matches!(format, Format::Csv) {
        text.push_str("id,email,full_name,is_active,created_at,updated_at\n");
        line += 1;
    }
    for row in rows {
        line += 1;
        lines.push(line);
        match (row, format) {
            (Row::Fields(f), Format::Jsonl) => {
                let object = serde_json::json!({
                    "id": f[0], "email": f[1], "full_name": f[2],
                    "is_active": f[3] == "true",
                    "created_at": f[4], "updated_at": f[5],
                });
                text.push_str(&object.to_string());
            }
            (Row::Fields(f), Format::Csv) => {
                let quoted: Vec<String> = f
                    .iter()
                    .map(|v| {
                        if v.contains([',', '"']) {
                            format!("\"{}\"", v.replace('"', "\"\""))
                        } else {
                            v.clone()
                        }
                    })
                    .collect();
                text.push_str(&quoted.join(","));
            }
            (Row::Malformed, Format::Jsonl) => text.push_str("{\"id\": oops"),
            (Row::Malformed, Format::Csv) => text.push_str("only,three,fields"),
            (Row::Blank, _) => {}
        }
        text.push('\n');
    }
    let name = match format {
        Format::Jsonl => "users.jsonl",
        Format::Csv => "users.csv",
    };
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the export");
    (path, lines)
}

/// The rejects file: `(line, reasons, raw)` per rejected row.
fn rejects(path: &Path) -> Vec<(u64, Vec<String>, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let reasons = value["reasons"]
                .as_array()
                .expect("reasons")
                .iter()
                .map(|r| r.as_str().expect("a reason").to_owned())
                .collect();
            (
                value["line"].as_u64().expect("line"),
                reasons,
                value["raw"].as_str().expect("raw").to_owned(),
            )
        })
        .collect()
}

fn rejects_path(export: &Path) -> PathBuf {
    let mut name = export.as_os_str().to_owned();
    name.push(".rejected.jsonl");
    PathBuf::from(name)
}

/// Good rows and one of each kind of bad row.
fn mixed_rows() -> Vec<Row> {
    vec![
        row(
            &id(1),
            "  Ada@Example.com ",
            "Ada Lovelace",
            "true",
            "2019-05-06T07:08:09.123456Z",
            "2020-01-02T03:04:05.000001+01:00",
        ),
        row(
            &id(2),
            "grace@example.com",
            "Grace Hopper",
            "false",
            "2018-01-01T00:00:00Z",
            "2018-06-01T12:00:00Z",
        ),
        row(
            "42",
            "bad-id@example.com",
            "Bad Id",
            "true",
            "2018-01-01T00:00:00Z",
            "2018-01-01T00:00:00Z",
        ),
        row(
            &id(4),
            "not-an-email",
            "Bad Email",
            "true",
            "2018-01-01T00:00:00Z",
            "2018-01-01T00:00:00Z",
        ),
        Row::Malformed,
        row(
            &id(6),
            "ADA@example.COM",
            "Ada Again",
            "true",
            "2018-01-01T00:00:00Z",
            "2018-01-01T00:00:00Z",
        ),
        row(
            &id(7),
            "late@example.com",
            "Bad Time",
            "true",
            "yesterday",
            "2018-01-01T00:00:00Z",
        ),
        row(
            &id(8),
            "clock@example.com",
            "Clock Skew",
            "true",
            "2021-03-03T03:03:03Z",
            "2021-01-01T00:00:00Z",
        ),
        Row::Blank,
        row(
            &id(10),
            "nameless@example.com",
            "   ",
            "true",
            "2018-01-01T00:00:00Z",
            "2018-01-01T00:00:00Z",
        ),
    ]
}

fn expected_users() -> Vec<Stored> {
    vec![
        Stored {
            id: Uuid::from_u128(1),
            email: "Ada@Example.com".to_owned(),
            email_canonical: "ada@example.com".to_owned(),
            full_name: "Ada Lovelace".to_owned(),
            is_active: true,
            created_at: at("2019-05-06T07:08:09.123456Z"),
            updated_at: at("2020-01-02T02:04:05.000001Z"),
        },
        Stored {
            id: Uuid::from_u128(2),
            email: "grace@example.com".to_owned(),
            email_canonical: "grace@example.com".to_owned(),
            full_name: "Grace Hopper".to_owned(),
            is_active: false,
            created_at: at("2018-01-01T00:00:00Z"),
            updated_at: at("2018-06-01T12:00:00Z"),
        },
        Stored {
            id: Uuid::from_u128(8),
            email: "clock@example.com".to_owned(),
            email_canonical: "clock@example.com".to_owned(),
            full_name: "Clock Skew".to_owned(),
            is_active: true,
            created_at: at("2021-03-03T03:03:03Z"),
            updated_at: at("2021-03-03T03:03:03Z"),
        },
    ]
}

#[rstest]
#[tokio::test]
async fn imports_good_rows_exactly_rejects_the_rest_with_reasons_and_a_rerun_changes_nothing(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(Format::Jsonl, Format::Csv)] format: Format,
) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rows = mixed_rows();
    let (file, lines) = export(dir.path(), format, &rows);

    let first = import(database.url(), &file, &[]);
    assert_eq!(first.status, Some(3), "rejects exit with 3: {first:?}");
    assert_eq!(first.counts(), (9, 3, 0, 0, 6), "blank lines are not rows");
    assert_eq!(
        users(database.url()).await,
        expected_users(),
        "legacy ids and timestamps kept"
    );

    let rejected = rejects(&rejects_path(&file));
    let rejected_lines: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(
        rejected_lines,
        [lines[2], lines[3], lines[4], lines[5], lines[6], lines[9]]
    );
    let expected_reasons = [
        "id: not a UUID",
        "email: must be an address of the form name@example.com",
        match format {
            Format::Jsonl => "malformed JSON",
            Format::Csv => "malformed CSV: expected 6 fields, found 3",
        },
        &format!(
            "email: the same address (ignoring case) is on line {}",
            lines[0]
        ),
        "created_at: not an RFC 3339 timestamp",
        "full_name: must not be empty",
    ];
    for ((line, reasons, _), expected) in rejected.iter().zip(expected_reasons) {
        assert_eq!(reasons.len(), 1, "line {line}: {reasons:?}");
        assert!(
            reasons[0].starts_with(expected),
            "line {line}: {reasons:?} should start with {expected:?}"
        );
    }
    let text = std::fs::read_to_string(&file).expect("the export");
    let physical: Vec<&str> = text.lines().collect();
    for (line, _, raw) in &rejected {
        let index = usize::try_from(*line).expect("a line number") - 1;
        assert_eq!(raw, physical[index], "raw text of line {line}");
    }

    let second = import(database.url(), &file, &[]);
    assert_eq!(second.status, Some(3), "{second:?}");
    assert_eq!(second.counts(), (9, 0, 0, 3, 6), "a rerun changes nothing");
    assert_eq!(users(database.url()).await, expected_users());
    assert_eq!(
        rejects(&rejects_path(&file)),
        rejected,
        "same rejects again"
    );

    let mut changed = rows;
    changed[1] = row(
        &id(2),
        "Grace@Example.com",
        "Rear Admiral Grace Hopper",
        "false",
        "2018-01-01T00:00:00Z",
        "2019-06-01T12:00:00Z",
    );
    export(dir.path(), format, &changed);
    let third = import(database.url(), &file, &[]);
    assert_eq!(third.counts(), (9, 0, 1, 2, 6), "{third:?}");
    let mut expected = expected_users();
    expected[1].email = "Grace@Example.com".to_owned();
    expected[1].full_name = "Rear Admiral Grace Hopper".to_owned();
    expected[1].updated_at = at("2019-06-01T12:00:00Z");
    assert_eq!(users(database.url()).await, expected);
}

#[rstest]
#[tokio::test]
async fn an_address_held_by_another_id_is_rejected_and_the_rest_of_its_batch_imports(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let t = "2018-01-01T00:00:00Z";
    let (file, _) = export(
        dir.path(),
        Format::Jsonl,
        &[row(&id(1), "ada@example.com", "Ada", "true", t, t)],
    );
    let clean = import(database.url(), &file, &[]);
    assert_eq!(clean.status, Some(0), "no rejects exit with 0: {clean:?}");
    assert_eq!(clean.counts(), (1, 1, 0, 0, 0));
    assert!(!rejects_path(&file).exists(), "no rejects, no rejects file");
    let before = users(database.url()).await;

    let (file, lines) = export(
        dir.path(),
        Format::Jsonl,
        &[
            row(&id(10), "x10@example.com", "Ten", "true", t, t),
            row(&id(11), "ADA@Example.com", "Impostor", "true", t, t),
            row(&id(12), "x12@example.com", "Twelve", "true", t, t),
            row(&id(13), "x13@example.com", "Thirteen", "true", t, t),
            row(&id(14), "x14@example.com", "Fourteen", "true", t, t),
        ],
    );
    let run = import(database.url(), &file, &["--batch-size", "3"]);
    assert_eq!(run.status, Some(3), "{run:?}");
    assert_eq!(run.counts(), (5, 4, 0, 0, 1));
    let rejected = rejects(&rejects_path(&file));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, lines[1]);
    assert!(
        rejected[0].1[0].contains("belongs to another user") && rejected[0].1[0].contains(&id(1)),
        "{:?}",
        rejected[0].1
    );

    let after = users(database.url()).await;
    let ids: Vec<Uuid> = after.iter().map(|u| u.id).collect();
    assert_eq!(
        ids,
        [1, 10, 12, 13, 14].map(Uuid::from_u128),
        "the clash's batch-mates and the next batch are imported"
    );
    assert_eq!(
        after[0], before[0],
        "the holder of the address is untouched"
    );
}

#[tokio::test]
async fn pending_migrations_are_applied_first_and_the_format_flag_beats_the_extension() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}/fresh/db.sqlite?mode=rwc", dir.path().display());
    let t = "2018-01-01T00:00:00Z";
    let (csv, _) = export(
        dir.path(),
        Format::Csv,
        &[row(
            &id(1),
            "ada@example.com",
            "Ada, Countess",
            "true",
            t,
            t,
        )],
    );
    let txt = dir.path().join("users.txt");
    std::fs::rename(&csv, &txt).expect("renaming");

    let refused = import(&url, &txt, &[]);
    assert_eq!(refused.status, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("--format"), "{refused:?}");

    let custom = dir.path().join("bad-rows.jsonl");
    let usage = import(&url, &txt, &["--format", "csv", "--rejects"]);
    assert_eq!(
        usage.status,
        Some(2),
        "a bad command line exits with 2: {usage:?}"
    );
    let run = import(
        &url,
        &txt,
        &[
            "--format",
            "csv",
            "--rejects",
            custom.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.status, Some(0), "{run:?}");
    let every_migration = <migration::Migrator as migration::MigratorTrait>::migrations().len();
    assert!(
        run.stderr
            .contains(&format!("applied {every_migration} pending migration(s)")),
        "{run:?}"
    );
    assert_eq!(run.counts(), (1, 1, 0, 0, 0));
    assert_eq!(users(&url).await[0].full_name, "Ada, Countess");
    assert!(!custom.exists());
}

#[tokio::test]
async fn an_unreadable_export_fails_with_status_1_and_says_why() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.jsonl");
    let run = import(database.url(), &missing, &[]);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(run.stderr.contains("cannot open"), "{run:?}");

    let bad_header = dir.path().join("users.csv");
    std::fs::write(&bad_header, "id,email,name\n1,a@example.com,A\n").expect("writing");
    let run = import(database.url(), &bad_header, &[]);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(run.stderr.contains("unknown column \"name\""), "{run:?}");
    assert!(users(database.url()).await.is_empty());
}
