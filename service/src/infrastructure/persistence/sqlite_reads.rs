//! Reads of one user by id from a SQLite file, on the calling thread.
//!
//! sqlx runs every SQLite connection on a thread of its own: each query is a
//! message to that thread and an answer back, so on a busy core it costs a
//! wake-up and two context switches, and a lone query finds that thread's
//! caches cold (counted: 60 µs of the thread's CPU for a query that costs
//! 11 µs in a stream). SQLite itself answers a primary-key read of cached
//! pages in a few microseconds, less than the hop. So the pool's
//! `find_by_id` reads here first, through rusqlite on read-only connections
//! of its own (WAL mode: readers never wait for the writer), without
//! leaving the task's thread.
//!
//! This path only ever answers what the pool would answer: whatever it
//! cannot do at once is left to the pool ([`SqliteReads::user`] returns
//! `None`), which reports errors as every other query does — the file cannot
//! be opened, SQLite would have to wait for a lock (its busy timeout here is
//! zero, so a task's thread never sleeps on one), a stored value is in a form
//! sqlx decodes but this path does not read (a timestamp not in RFC 3339, an
//! id stored as text). The file read is the one the pool has open, as
//! SQLite names it; an in-memory database is the pool's alone.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row, Statement};
use sea_orm::sqlx::{self, SqlitePool};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::entity::user;

/// Connections kept open between reads: one per thread reading at once is enough.
const MAX_IDLE: usize = 16;

/// Read-only connections to the pool's SQLite file, and the query that reads a user by id.
pub(super) struct SqliteReads {
    pool: SqlitePool,
    /// The pool's database file, as SQLite names it (`None`: in memory); asked once.
    file: OnceCell<Option<PathBuf>>,
    sql: String,
    /// Where each column is in `sql`'s rows: found once, from the first statement.
    columns: OnceLock<Option<Columns>>,
    idle: Mutex<Vec<Connection>>,
}

/// The index of each of a user row's columns in the query's result.
///
/// A column looked up by name is a scan of every column's name (decoded
/// as UTF-8 and compared without case) for each value read: the seven of
/// a user cost more than the read itself. The query is fixed, so its
/// columns are too.
#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    email: usize,
    email_canonical: usize,
    full_name: usize,
    is_active: usize,
    created_at: usize,
    updated_at: usize,
}

impl Columns {
    /// The columns of `statement`'s rows, or `None` if one is missing.
    fn of(statement: &Statement<'_>) -> Option<Self> {
        let index = |name: &str| statement.column_index(name).ok();
        Some(Self {
            id: index("id")?,
            email: index("email")?,
            email_canonical: index("email_canonical")?,
            full_name: index("full_name")?,
            is_active: index("is_active")?,
            created_at: index("created_at")?,
            updated_at: index("updated_at")?,
        })
    }
}

impl SqliteReads {
    /// Reads of the file `pool` opens, by `sql` (SeaORM's `find_by_id`, one bound id).
    pub(super) fn on(pool: SqlitePool, sql: String) -> Self {
        Self {
            pool,
            file: OnceCell::new(),
            sql,
            columns: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Reads of `file`, as if `pool` had named it.
    #[cfg(test)]
    pub(super) fn of_file(pool: SqlitePool, sql: String, file: PathBuf) -> Self {
        let reads = Self::on(pool, sql);
        let _ = reads.file.set(Some(file));
        reads
    }

    /// The user stored under `id` (`Some(None)`: there is none), or `None`
    /// when this path cannot tell at once and the pool must.
    pub(super) async fn user(&self, id: Uuid) -> Option<Option<user::Model>> {
        let file = self.file().await?;
        let connection = self.checkout(file)?;
        let read = read_user(&connection, &self.sql, &self.columns, id);
        self.checkin(connection);
        read
    }

    /// The pool's database file, asked of the pool itself the first time
    /// (so that both read the same file, however the URL named it); `None`
    /// for an in-memory database, or while the pool cannot answer.
    pub(super) async fn file(&self) -> Option<&Path> {
        let file = self
            .file
            .get_or_try_init(|| async {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&self.pool)
                        .await?;
                Ok::<_, sqlx::Error>((!file.is_empty()).then(|| PathBuf::from(file)))
            })
            .await
            .ok()?;
        file.as_deref()
    }

    /// An idle connection, or a new one to `file`.
    fn checkout(&self, file: &Path) -> Option<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        idle.or_else(|| open(file))
    }

    /// Keeps `connection` for the next read, up to [`MAX_IDLE`] of them.
    fn checkin(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}

/// A read-only connection to `file` that never waits for a lock.
fn open(file: &Path) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(file, flags).ok()?;
    connection.busy_timeout(Duration::ZERO).ok()?;
    Some(connection)
}

/// Runs `sql` for `id` on `connection`, its rows' `columns` found once;
/// `None` on any error or a value this path does not read.
fn read_user(
    connection: &Connection,
    sql: &str,
    columns: &OnceLock<Option<Columns>>,
    id: Uuid,
) -> Option<Option<user::Model>> {
    let mut statement = connection.prepare_cached(sql).ok()?;
    let columns = (*columns.get_or_init(|| Columns::of(&statement)))?;
    // sqlx binds a UUID as its 16 bytes.
    let mut rows = statement.query([id.as_bytes().as_slice()]).ok()?;
    match rows.next().ok()? {
        None => Some(None),
        Some(row) => model(row, columns).map(Some),
    }
}

/// A row as sqlx decodes it for SeaORM, for the forms sqlx's encoders write.
fn model(row: &Row<'_>, columns: Columns) -> Option<user::Model> {
    let text = |index: usize| match row.get_ref(index).ok()? {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    let timestamp = |index: usize| {
        DateTime::parse_from_rfc3339(text(index)?)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    };
    let id = match row.get_ref(columns.id).ok()? {
        ValueRef::Blob(bytes) => Uuid::from_slice(bytes).ok()?,
        _ => return None,
    };
    let is_active = match row.get_ref(columns.is_active).ok()? {
        ValueRef::Integer(flag) => flag != 0,
        _ => return None,
    };
    Some(user::Model {
        id,
        email: text(columns.email)?.to_owned(),
        email_canonical: text(columns.email_canonical)?.to_owned(),
        full_name: text(columns.full_name)?.to_owned(),
        is_active,
        created_at: timestamp(columns.created_at)?,
        updated_at: timestamp(columns.updated_at)?,
    })
}
