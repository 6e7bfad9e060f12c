//! The in-file rule, the first row with an id or an address wins, checked
//! against an index on disk, so memory stays bounded whatever the file's size.
//!
//! The ids and lower-cased addresses admitted so far, with their lines, live
//! in a SQLite file in a temporary directory (removed when the import ends),
//! with a small page cache; each batch looks up only its own keys. A
//! rejected row claims nothing.

use std::collections::HashMap;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait, Value,
};

use super::validate::duplicate_reasons;
use super::{Candidate, Reject};

/// Keys per lookup or insert statement (SQLite allows 32,766 parameters).
const KEYS_PER_STATEMENT: usize = 2000;

/// The ids and addresses admitted so far in this import.
pub(super) struct Seen {
    db: DatabaseConnection,
    _dir: tempfile::TempDir,
}

impl Seen {
    /// A new, empty index in a temporary directory.
    ///
    /// # Errors
    ///
    /// When the directory or the SQLite file cannot be created.
    pub(super) async fn open() -> Result<Self, DbErr> {
        let dir = tempfile::Builder::new()
            .prefix("import-users-seen-")
            .tempdir()
            .map_err(|e| DbErr::Custom(format!("creating the duplicate index's directory: {e}")))?;
        let url = format!("sqlite://{}/seen.sqlite?mode=rwc", dir.path().display());
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(1)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                // Scratch data: no journal, no fsync, an 8 MiB page cache.
                opts.pragma("journal_mode", "OFF")
                    .pragma("synchronous", "OFF")
                    .pragma("cache_size", "-8192")
            });
        let db = Database::connect(options).await?;
        db.execute_unprepared(
            "CREATE TABLE seen_ids (id TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE seen_emails (email TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .await?;
        Ok(Self { db, _dir: dir })
    }

    /// Splits `candidates` (in line order) into those admitted and the
    /// rejects of rows whose id or address an earlier row has, then records
    /// the admitted ones' keys.
    ///
    /// # Errors
    ///
    /// When the index cannot be read or written.
    pub(super) async fn admit(
        &self,
        candidates: Vec<Candidate>,
    ) -> Result<(Vec<Candidate>, Vec<Reject>), DbErr> {
        let ids: Vec<String> = candidates.iter().map(|c| c.record.id.to_string()).collect();
        let emails: Vec<String> = candidates
            .iter()
            .map(|c| c.record.email_canonical.clone())
            .collect();
        let mut first_ids = self.lines("seen_ids", "id", &ids).await?;
        let mut first_emails = self.lines("seen_emails", "email", &emails).await?;

        let mut admitted = Vec::with_capacity(candidates.len());
        let mut rejects = Vec::new();
        for ((candidate, id), email) in candidates.into_iter().zip(ids).zip(emails) {
            let reasons = duplicate_reasons(
                first_ids.get(&id).copied(),
                first_emails.get(&email).copied(),
            );
            if reasons.is_empty() {
                first_ids.insert(id, candidate.line);
                first_emails.insert(email, candidate.line);
                admitted.push(candidate);
            } else {
                rejects.push(Reject {
                    line: candidate.line,
                    reasons,
                    raw: candidate.raw,
                });
            }
        }
        self.record(&admitted).await?;
        Ok((admitted, rejects))
    }

    /// The line of every key of `keys` already in `table`.
    async fn lines(
        &self,
        table: &str,
        column: &str,
        keys: &[String],
    ) -> Result<HashMap<String, u64>, DbErr> {
        let mut lines = HashMap::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql =
                format!("SELECT {column}, line FROM {table} WHERE {column} IN ({placeholders})");
            let values = chunk.iter().map(|key| Value::from(key.as_str()));
            let statement = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
            for row in self.db.query_all_raw(statement).await? {
                let key: String = row.try_get_by_index(0)?;
                let line: i64 = row.try_get_by_index(1)?;
                lines.insert(key, u64::try_from(line).unwrap_or_default());
            }
        }
        Ok(lines)
    }

    /// Adds the keys of `admitted`, in one transaction.
    async fn record(&self, admitted: &[Candidate]) -> Result<(), DbErr> {
        let transaction = self.db.begin().await?;
        for chunk in admitted.chunks(KEYS_PER_STATEMENT / 2) {
            let ids = chunk.iter().map(|c| (c.record.id.to_string(), c.line));
            transaction
                .execute_raw(insert("seen_ids", "id", ids))
                .await?;
            let emails = chunk
                .iter()
                .map(|c| (c.record.email_canonical.clone(), c.line));
            transaction
                .execute_raw(insert("seen_emails", "email", emails))
                .await?;
        }
        transaction.commit().await
    }
}

/// `INSERT INTO table (column, line)` of every `(key, line)` of `rows`.
fn insert(table: &str, column: &str, rows: impl Iterator<Item = (String, u64)>) -> Statement {
    let mut values = Vec::new();
    for (key, line) in rows {
        values.push(Value::from(key));
        values.push(Value::from(i64::try_from(line).unwrap_or(i64::MAX)));
    }
    let placeholders = vec!["(?,?)"; values.len() / 2].join(",");
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!("INSERT INTO {table} ({column}, line) VALUES {placeholders}"),
        values,
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::import::validate::Record;

    fn candidate(line: u64, id: u128, email: &str) -> Candidate {
        Candidate {
            line,
            raw: format!("row {line}"),
            record: Record {
                id: Uuid::from_u128(id),
                email: email.to_owned(),
                email_canonical: email.to_lowercase(),
                full_name: "Ada".to_owned(),
                is_active: true,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            },
        }
    }

    #[tokio::test]
    async fn the_first_row_with_an_id_or_an_address_wins_across_batches() {
        let seen = Seen::open().await.expect("an index");
        let (admitted, rejects) = seen
            .admit(vec![
                candidate(3, 1, "ada@example.com"),
                candidate(4, 2, "ADA@example.com"),
                candidate(5, 1, "other@example.com"),
            ])
            .await
            .expect("a batch");
        assert_eq!(admitted.iter().map(|c| c.line).collect::<Vec<_>>(), [3]);
        assert_eq!(rejects.len(), 2);
        assert!(rejects[0].reasons[0].contains("line 3"), "{rejects:?}");
        assert!(rejects[1].reasons[0].starts_with("id:"), "{rejects:?}");

        // A later batch: the rejected rows claimed nothing; line 3 still wins.
        let (admitted, rejects) = seen
            .admit(vec![
                candidate(6, 2, "other@example.com"),
                candidate(7, 3, "Ada@Example.com"),
                candidate(8, 1, "fresh@example.com"),
            ])
            .await
            .expect("another batch");
        assert_eq!(admitted.iter().map(|c| c.line).collect::<Vec<_>>(), [6]);
        assert_eq!(rejects.len(), 2);
        assert_eq!(rejects[0].line, 7);
        assert!(rejects[0].reasons[0].contains("line 3"), "{rejects:?}");
        assert_eq!(rejects[1].line, 8);
        assert!(rejects[1].reasons[0].contains("line 3"), "{rejects:?}");
    }
}
