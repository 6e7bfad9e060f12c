//! Writing one batch to `users`: classify each row against the database, then upsert in one transaction.
//!
//! When `users` is empty as the import starts (a first backfill), batches
//! are plain multi-row `INSERT`s without lookups ([`Mode::InsertOnly`]):
//! every row is new, since the file holds each id and address once. The
//! first batch the database refuses (a concurrent writer took an id or an
//! address) is rolled back and written the careful way, as is every batch
//! after it ([`Mode::Careful`]):
//!
//! 1. Two queries (per 4000 rows) read the stored users that share an id,
//!    and the holders of the lower-cased addresses, with the batch.
//! 2. A row whose address belongs to a user with another id is rejected; a
//!    row equal to its stored user is `unchanged`; the rest are `inserted`
//!    or `updated`. The check sees the database as it is before the batch,
//!    so an address freed by another row of the same run is still taken.
//! 3. The inserted and updated rows go in multi-row
//!    `INSERT … ON CONFLICT (id) DO UPDATE` statements, one transaction for
//!    the batch. Should the unique index on `email_canonical` still refuse
//!    one (a concurrent writer), the transaction is rolled back and the rows
//!    are written one by one, so that only the offending rows are rejected.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, DeriveIden, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::validate::Record;
use super::{Candidate, Reject};

/// Rows per statement: 7 bind parameters each stays under SQLite's limit of 32766
/// (PostgreSQL's is 65535); a lookup binds 1 per row.
const ROWS_PER_STATEMENT: usize = 4000;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailCanonical,
    FullName,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

/// What writing a batch did.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) inserted: u64,
    pub(super) updated: u64,
    pub(super) unchanged: u64,
    /// Rows the database refused (an address another user holds), in batch order.
    pub(super) rejects: Vec<Reject>,
}

/// Whether a row to write is new or changes a stored user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Insert,
    Update,
}

impl Written {
    fn count(&mut self, change: Change) {
        match change {
            Change::Insert => self.inserted += 1,
            Change::Update => self.updated += 1,
        }
    }
}

/// How batches are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `users` was empty at the start and nothing has been refused: insert without lookups.
    InsertOnly,
    /// Look up ids and addresses first; upsert new and changed rows.
    Careful,
}

impl Mode {
    /// [`Mode::InsertOnly`] when `users` is empty, else [`Mode::Careful`].
    ///
    /// # Errors
    ///
    /// The database's error.
    pub(super) async fn for_table(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let any = Query::select()
            .column(Users::Id)
            .from(Users::Table)
            .limit(1)
            .to_owned();
        Ok(match db.query_one(&any).await? {
            None => Self::InsertOnly,
            Some(_) => Self::Careful,
        })
    }
}

/// Writes `batch` idempotently: inserts new users, updates changed ones, leaves equal ones alone.
///
/// Switches `mode` to [`Mode::Careful`] for good when an insert-only batch is refused.
///
/// # Errors
///
/// The database's error for anything but a refused id or address; the
/// batch's transaction is rolled back then, and earlier batches stay committed.
pub(super) async fn write_batch(
    db: &DatabaseConnection,
    batch: Vec<Candidate>,
    mode: &mut Mode,
) -> Result<Written, DbErr> {
    if *mode == Mode::InsertOnly {
        let records = batch.iter().map(|candidate| &candidate.record);
        match in_one_transaction(db, records, Conflict::Fail).await {
            Ok(()) => {
                return Ok(Written {
                    inserted: batch.len() as u64,
                    ..Written::default()
                });
            }
            Err(err) if is_unique_violation(&err) => *mode = Mode::Careful,
            Err(err) => return Err(err),
        }
    }
    let stored = Stored::load(db, &batch).await?;
    let mut written = Written::default();
    let mut to_write = Vec::with_capacity(batch.len());
    for candidate in batch {
        let record = &candidate.record;
        if let Some(owner) = stored.owners.get(&record.email_canonical)
            && *owner != record.id
        {
            written.rejects.push(Reject {
                line: candidate.line,
                reasons: vec![format!(
                    "email: the address (ignoring case) belongs to another user in the database, {owner}"
                )],
                raw: candidate.raw,
            });
            continue;
        }
        match stored.users.get(&record.id) {
            Some(user) if user == record => written.unchanged += 1,
            Some(_) => to_write.push((candidate, Change::Update)),
            None => to_write.push((candidate, Change::Insert)),
        }
    }
    write_changes(db, to_write, &mut written).await?;
    Ok(written)
}

/// The stored users sharing an id or an address with a batch.
struct Stored {
    users: HashMap<Uuid, Record>,
    /// Lower-cased address → the id of the user holding it.
    owners: HashMap<String, Uuid>,
}

impl Stored {
    async fn load(db: &DatabaseConnection, batch: &[Candidate]) -> Result<Self, DbErr> {
        let mut stored = Self {
            users: HashMap::new(),
            owners: HashMap::new(),
        };
        // Two queries, not one with `OR`: PostgreSQL plans the `OR` of two
        // long `IN` lists as a sequential scan.
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let ids = chunk.iter().map(|c| c.record.id);
            let query = Query::select()
                .columns([
                    Users::Id,
                    Users::Email,
                    Users::EmailCanonical,
                    Users::FullName,
                    Users::IsActive,
                    Users::CreatedAt,
                    Users::UpdatedAt,
                ])
                .from(Users::Table)
                .and_where(Expr::col(Users::Id).is_in(ids))
                .to_owned();
            for row in db.query_all(&query).await? {
                let user = Record {
                    id: row.try_get("", "id")?,
                    email: row.try_get("", "email")?,
                    email_canonical: row.try_get("", "email_canonical")?,
                    full_name: row.try_get("", "full_name")?,
                    is_active: row.try_get("", "is_active")?,
                    created_at: row.try_get("", "created_at")?,
                    updated_at: row.try_get("", "updated_at")?,
                };
                stored.owners.insert(user.email_canonical.clone(), user.id);
                stored.users.insert(user.id, user);
            }

            let addresses = chunk.iter().map(|c| c.record.email_canonical.clone());
            let query = Query::select()
                .columns([Users::Id, Users::EmailCanonical])
                .from(Users::Table)
                .and_where(Expr::col(Users::EmailCanonical).is_in(addresses))
                .to_owned();
            for row in db.query_all(&query).await? {
                stored
                    .owners
                    .insert(row.try_get("", "email_canonical")?, row.try_get("", "id")?);
            }
        }
        Ok(stored)
    }
}

/// Upserts the rows in one transaction, or row by row when the unique index refuses one.
async fn write_changes(
    db: &DatabaseConnection,
    rows: Vec<(Candidate, Change)>,
    written: &mut Written,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let records = rows.iter().map(|(candidate, _)| &candidate.record);
    match in_one_transaction(db, records, Conflict::Update).await {
        Ok(()) => {
            for (_, change) in &rows {
                written.count(*change);
            }
            Ok(())
        }
        Err(err) if is_unique_violation(&err) => {
            for (candidate, change) in rows {
                match db
                    .execute(&insert([&candidate.record], Conflict::Update)?)
                    .await
                {
                    Ok(_) => written.count(change),
                    Err(err) if is_unique_violation(&err) => written.rejects.push(Reject {
                        line: candidate.line,
                        reasons: vec![
                            "email: the address (ignoring case) belongs to another user in the database (refused by the unique index)"
                                .to_owned(),
                        ],
                        raw: candidate.raw,
                    }),
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// What an `INSERT` does with a row whose id is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    /// Fail: the statement (and its transaction) is refused.
    Fail,
    /// Update every other column: an upsert.
    Update,
}

/// Inserts `records` in statements of [`ROWS_PER_STATEMENT`] rows, all in one transaction.
async fn in_one_transaction<'a>(
    db: &DatabaseConnection,
    records: impl Iterator<Item = &'a Record>,
    conflict: Conflict,
) -> Result<(), DbErr> {
    let records: Vec<&Record> = records.collect();
    let txn = db.begin().await?;
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let statement = insert(chunk.iter().copied(), conflict)?;
        if let Err(err) = txn.execute(&statement).await {
            // The statement's error is the one worth reporting; a failed
            // rollback leaves nothing committed either.
            let _ = txn.rollback().await;
            return Err(err);
        }
    }
    txn.commit().await
}

/// `INSERT INTO users … VALUES (…), (…)`, with `ON CONFLICT (id) DO UPDATE SET` every other column for an upsert.
fn insert<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    conflict: Conflict,
) -> Result<InsertStatement, DbErr> {
    let mut insert = Query::insert();
    insert.into_table(Users::Table).columns([
        Users::Id,
        Users::Email,
        Users::EmailCanonical,
        Users::FullName,
        Users::IsActive,
        Users::CreatedAt,
        Users::UpdatedAt,
    ]);
    for record in records {
        insert
            .values([
                record.id.into(),
                record.email.clone().into(),
                record.email_canonical.clone().into(),
                record.full_name.clone().into(),
                record.is_active.into(),
                record.created_at.into(),
                record.updated_at.into(),
            ])
            .map_err(|e| DbErr::Custom(format!("building the insert: {e}")))?;
    }
    if conflict == Conflict::Update {
        insert.on_conflict(
            OnConflict::column(Users::Id)
                .update_columns([
                    Users::Email,
                    Users::EmailCanonical,
                    Users::FullName,
                    Users::IsActive,
                    Users::CreatedAt,
                    Users::UpdatedAt,
                ])
                .to_owned(),
        );
    }
    Ok(insert)
}

/// Refreshes PostgreSQL's planner statistics for `users` after a bulk write.
///
/// Until autovacuum gets to it, the planner may plan a later run's lookups
/// (long `IN` lists) as sequential scans of a table it thinks is small.
/// SQLite needs no statistics for them; nothing is done there.
///
/// # Errors
///
/// The database's error.
pub(super) async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE users").await?;
    }
    Ok(())
}

fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests;
