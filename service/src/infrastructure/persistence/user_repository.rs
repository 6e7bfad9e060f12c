//! [`UserRepository`] backed by SeaORM (SQLite or PostgreSQL).

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnAcquireErr, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, RuntimeErr, SqlErr,
    TransactionTrait, sqlx,
};
use uuid::Uuid;

use crate::application::{RepositoryError, UnitOfWork, UserRepository, Work};
use crate::domain::{Email, FullName, User, UserId};
use crate::infrastructure::availability::Availability;

use super::entity::user;
use super::sqlite_reads::SqliteReads;

/// The users store over a SeaORM connection pool, or over one transaction of it.
///
/// Every query first asks [`Availability`]: while the database is known to
/// be unreachable (or the host holds the service) it is refused at once; a
/// storage error makes the database suspect.
#[derive(Clone)]
pub(crate) struct SeaOrmUserRepository<C = DatabaseConnection> {
    db: Arc<C>,
    availability: Availability,
    /// `find_by_id` straight on the pool; `None` inside a transaction.
    by_id: Option<Arc<ByIdQuery>>,
}

impl SeaOrmUserRepository {
    /// Wraps a connection pool, watched by `availability`.
    pub(crate) fn new(db: DatabaseConnection, availability: Availability) -> Self {
        Self {
            by_id: ByIdQuery::on(&db).map(Arc::new),
            db: Arc::new(db),
            availability,
        }
    }
}

/// `find_by_id` on the pool, through sqlx directly, with its SQL built once.
///
/// This is the query a shadowed or migrated `GET /users/{id}` runs on every
/// request. Through SeaORM's connection it cost about as much again as the
/// database's own work: the `SELECT` was built anew each time, and the
/// connection's query future (one variant per backend compiled in) is large
/// and moved at each of its four layers (about 15 KB each). The SQL is
/// SeaORM's own (`Entity::find_by_id`, built for the pool's backend) and the
/// row is read by the entity's own `FromQueryResult`, so both paths read the
/// same columns into the same model; sqlx keeps the statement prepared per
/// connection, as it does for SeaORM's queries.
///
/// On a SQLite file, the read is first tried on the task's own thread
/// ([`SqliteReads`]), and runs on the pool only when that cannot answer.
struct ByIdQuery {
    sql: String,
    pool: Pool,
    sqlite_reads: Option<SqliteReads>,
}

/// The pool [`ByIdQuery`] runs on.
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl ByIdQuery {
    /// The query for `db`'s pool; `None` for a backend not compiled in.
    fn on(db: &DatabaseConnection) -> Option<Self> {
        let backend = db.get_database_backend();
        let pool = match backend {
            DbBackend::Sqlite => Pool::Sqlite(db.get_sqlite_connection_pool().clone()),
            DbBackend::Postgres => Pool::Postgres(db.get_postgres_connection_pool().clone()),
            _ => return None,
        };
        // The id is a placeholder here; each run binds its own.
        let sql = user::Entity::find_by_id(Uuid::nil()).build(backend).sql;
        let sqlite_reads = match &pool {
            Pool::Sqlite(pool) => Some(SqliteReads::on(pool.clone(), sql.clone())),
            Pool::Postgres(_) => None,
        };
        Some(Self {
            sql,
            pool,
            sqlite_reads,
        })
    }

    /// The user stored under `id`, if any.
    async fn fetch(&self, id: Uuid) -> Result<Option<user::Model>, DbErr> {
        if let Some(reads) = &self.sqlite_reads
            && let Some(found) = reads.user(id).await
        {
            return Ok(found);
        }
        self.fetch_on_pool(id).await
    }

    /// The user stored under `id`, read by the pool's connections.
    async fn fetch_on_pool(&self, id: Uuid) -> Result<Option<user::Model>, DbErr> {
        let sql = sqlx::AssertSqlSafe(self.sql.as_str());
        let row: Option<QueryResult> = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map(|row| row.map(QueryResult::from)),
            Pool::Postgres(pool) => sqlx::query(sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map(|row| row.map(QueryResult::from)),
        }
        .map_err(query_error)?;
        row.map(|row| user::Model::from_query_result(&row, ""))
            .transpose()
    }
}

/// An sqlx error as SeaORM reports the same failure of its own queries.
fn query_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => DbErr::Query(RuntimeErr::SqlxError(Arc::new(err))),
    }
}

impl<C> SeaOrmUserRepository<C> {
    /// `Ok` when the database may be queried now.
    fn available(&self) -> Result<(), RepositoryError> {
        self.availability
            .check()
            .map_err(|refused| RepositoryError::Unavailable(Box::new(refused)))
    }

    /// A storage error: the port's error, and the database becomes suspect.
    fn unavailable(&self, err: DbErr) -> RepositoryError {
        unavailable(&self.availability, err)
    }
}

/// [`UnitOfWork`] over a SeaORM connection pool: one database transaction per unit.
#[derive(Clone)]
pub(crate) struct SeaOrmUnitOfWork {
    db: DatabaseConnection,
    availability: Availability,
}

impl SeaOrmUnitOfWork {
    /// Wraps a connection pool, watched by `availability`.
    pub(crate) fn new(db: DatabaseConnection, availability: Availability) -> Self {
        Self { db, availability }
    }
}

#[async_trait]
impl UnitOfWork for SeaOrmUnitOfWork {
    async fn begin_rolled_back(&self) -> Result<Box<dyn Work>, RepositoryError> {
        self.availability
            .check()
            .map_err(|refused| RepositoryError::Unavailable(Box::new(refused)))?;
        let transaction = self
            .db
            .begin()
            .await
            .map_err(|err| unavailable(&self.availability, err))?;
        Ok(Box::new(SeaOrmWork {
            transaction: Arc::new(transaction),
            availability: self.availability.clone(),
        }))
    }
}

/// One transaction, always rolled back.
struct SeaOrmWork {
    transaction: Arc<DatabaseTransaction>,
    availability: Availability,
}

#[async_trait]
impl Work for SeaOrmWork {
    fn users(&self) -> Arc<dyn UserRepository> {
        Arc::new(SeaOrmUserRepository {
            db: self.transaction.clone(),
            availability: self.availability.clone(),
            by_id: None,
        })
    }

    async fn roll_back(self: Box<Self>) -> Result<(), RepositoryError> {
        match Arc::try_unwrap(self.transaction) {
            Ok(transaction) => transaction
                .rollback()
                .await
                .map_err(|err| unavailable(&self.availability, err)),
            // A repository outlived the request: the last one dropped rolls back.
            Err(_shared) => Ok(()),
        }
    }
}

/// A storage error: the port's error, and the database becomes suspect.
fn unavailable(availability: &Availability, err: DbErr) -> RepositoryError {
    availability.suspect();
    RepositoryError::Unavailable(Box::new(err))
}

/// Turns a row back into a domain value, re-checking the domain's rules.
fn to_domain(row: user::Model) -> Result<User, RepositoryError> {
    let corrupt = |what: String| {
        RepositoryError::Unavailable(format!("stored user {} has {what}", row.id).into())
    };
    let email = Email::parse(&row.email).map_err(|e| corrupt(format!("an invalid email: {e}")))?;
    let full_name = FullName::parse(&row.full_name)
        .map_err(|e| corrupt(format!("an invalid full name: {e}")))?;
    Ok(User::restore(
        UserId::from_uuid(row.id),
        email,
        full_name,
        row.is_active,
        row.created_at,
        row.updated_at,
    ))
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync + 'static> UserRepository for SeaOrmUserRepository<C> {
    async fn insert(&self, user: &User) -> Result<(), RepositoryError> {
        self.available()?;
        let row = user::ActiveModel {
            id: Set(user.id().as_uuid()),
            email: Set(user.email().as_str().to_owned()),
            email_canonical: Set(user.email().canonical()),
            full_name: Set(user.full_name().as_str().to_owned()),
            is_active: Set(user.is_active()),
            created_at: Set(user.created_at()),
            updated_at: Set(user.updated_at()),
        };
        match user::Entity::insert(row)
            .exec_without_returning(&*self.db)
            .await
        {
            Ok(_) => Ok(()),
            // The unique index on `email_canonical` is the only unique
            // constraint a fresh UUIDv7 can hit.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(RepositoryError::DuplicateEmail)
            }
            Err(err) => Err(self.unavailable(err)),
        }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        self.available()?;
        let row = match &self.by_id {
            Some(by_id) => by_id.fetch(id.as_uuid()).await,
            // In a transaction. `.all`, not `.one`: `.one` adds a bound
            // `LIMIT ?`, and SQLite (as bundled, with STAT4) prepares a
            // statement again on every run whose LIMIT is a rebound
            // parameter. The primary key matches one row at most.
            None => user::Entity::find_by_id(id.as_uuid())
                .all(&*self.db)
                .await
                .map(|rows| rows.into_iter().next()),
        }
        .map_err(|err| self.unavailable(err))?;
        row.map(to_domain).transpose()
    }

    async fn list(&self, after: Option<UserId>, limit: u64) -> Result<Vec<User>, RepositoryError> {
        self.available()?;
        let mut query = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(user::Column::Id.gt(after.as_uuid()));
        }
        let rows = query
            .all(&*self.db)
            .await
            .map_err(|err| self.unavailable(err))?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn update(&self, user: &User) -> Result<(), RepositoryError> {
        self.available()?;
        let row = user::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(user.id().as_uuid()),
            full_name: Set(user.full_name().as_str().to_owned()),
            is_active: Set(user.is_active()),
            updated_at: Set(user.updated_at()),
            ..Default::default()
        };
        match row.update(&*self.db).await {
            Ok(_) => Ok(()),
            Err(DbErr::RecordNotUpdated) => Err(RepositoryError::NotFound),
            Err(err) => Err(self.unavailable(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The [`UserRepository`] contract, on a real SQLite file and a real PostgreSQL database.

    use chrono::{TimeZone, Utc};
    use rstest::rstest;
    use sea_orm::ConnectionTrait;
    use test_support::{Backend, TestDatabase};
    use uuid::Uuid;

    use super::*;
    use crate::infrastructure::database::connect;
    use crate::infrastructure::settings::DatabaseSettings;

    async fn repository(backend: Backend) -> Option<(SeaOrmUserRepository, TestDatabase)> {
        let database = TestDatabase::create(backend).await?;
        let settings = DatabaseSettings {
            url: database.url().to_owned(),
            ..DatabaseSettings::default()
        };
        let db = connect(&settings).await.expect("connecting");
        Some((
            SeaOrmUserRepository::new(db, Availability::default()),
            database,
        ))
    }

    /// The pool's read by id.
    fn by_id(repo: &SeaOrmUserRepository) -> &ByIdQuery {
        repo.by_id
            .as_deref()
            .expect("a pool reads by id through sqlx")
    }

    /// The read in place of a SQLite pool.
    fn in_place(by_id: &ByIdQuery) -> &SqliteReads {
        by_id
            .sqlite_reads
            .as_ref()
            .expect("a SQLite pool reads in place")
    }

    fn user(n: u128, email: &str) -> User {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
            + chrono::Duration::microseconds(123_456);
        User::register(
            UserId::from_uuid(Uuid::from_u128(n)),
            Email::parse(email).unwrap(),
            FullName::parse("Test User").unwrap(),
            true,
            at,
        )
    }

    #[rstest]
    #[tokio::test]
    async fn round_trips_a_user_exactly(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        let ada = user(1, "Ada@Example.com");
        repo.insert(&ada).await.unwrap();
        assert_eq!(
            repo.find_by_id(ada.id()).await.unwrap(),
            Some(ada),
            "microsecond timestamps survive"
        );
        assert_eq!(
            repo.find_by_id(UserId::from_uuid(Uuid::from_u128(2)))
                .await
                .unwrap(),
            None
        );
    }

    #[rstest]
    #[tokio::test]
    async fn the_pools_point_read_is_seaorms_own_query(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        let by_id = by_id(&repo);
        let ada = user(1, "Ada@Example.com");
        repo.insert(&ada).await.unwrap();
        let id = ada.id().as_uuid();
        let seaorm = user::Entity::find_by_id(id).one(&*repo.db).await.unwrap();
        assert!(seaorm.is_some());
        assert_eq!(by_id.fetch(id).await.unwrap(), seaorm);
        assert_eq!(by_id.fetch_on_pool(id).await.unwrap(), seaorm);
        assert_eq!(by_id.fetch(Uuid::from_u128(2)).await.unwrap(), None);
        if backend == Backend::Sqlite {
            let reads = in_place(by_id);
            assert_eq!(
                reads.user(id).await,
                Some(seaorm),
                "read in place, as SeaORM reads it"
            );
            assert_eq!(reads.user(Uuid::from_u128(2)).await, Some(None));
        } else {
            assert!(by_id.sqlite_reads.is_none());
        }
    }

    #[tokio::test]
    async fn a_read_in_place_sees_every_committed_write() {
        let Some((repo, _db)) = repository(Backend::Sqlite).await else {
            return;
        };
        let reads = in_place(by_id(&repo));
        let mut ada = user(1, "ada@example.com");
        assert_eq!(reads.user(ada.id().as_uuid()).await, Some(None));
        repo.insert(&ada).await.unwrap();
        let id = ada.id().as_uuid();
        let stored = || async {
            reads
                .user(id)
                .await
                .expect("read in place")
                .map(|row| to_domain(row).unwrap())
        };
        assert_eq!(stored().await.as_ref(), Some(&ada));
        // The connection that read is reused: it must not keep its old snapshot.
        ada.rename(
            FullName::parse("Ada Lovelace").unwrap(),
            ada.updated_at() + chrono::Duration::seconds(1),
        );
        repo.update(&ada).await.unwrap();
        assert_eq!(stored().await.as_ref(), Some(&ada));
    }

    #[tokio::test]
    async fn what_cannot_be_read_in_place_is_read_by_the_pool() {
        let Some((repo, _db)) = repository(Backend::Sqlite).await else {
            return;
        };
        let by_id = by_id(&repo);
        let reads = in_place(by_id);
        // sqlx also reads timestamps SQLite writes itself (`datetime('now')`: no `T`, no offset).
        let id = Uuid::from_u128(7);
        repo.db
            .execute_unprepared(&format!(
                "INSERT INTO users VALUES (x'{}', 'b@example.com', 'b@example.com', 'B', 1, \
                 '2026-03-04 05:06:07.5', '2026-03-04T05:06:07.5+00:00')",
                id.simple()
            ))
            .await
            .unwrap();
        assert_eq!(reads.user(id).await, None, "left to the pool");
        let row = by_id.fetch(id).await.unwrap().expect("the pool reads it");
        assert_eq!(
            row.created_at,
            Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
                + chrono::Duration::milliseconds(500)
        );
        assert_eq!(row.updated_at, row.created_at);
    }

    #[tokio::test]
    async fn an_in_memory_database_is_read_by_the_pool_alone() {
        let settings = DatabaseSettings {
            url: "sqlite::memory:".to_owned(),
            ..DatabaseSettings::default()
        };
        let db = connect(&settings).await.expect("connecting");
        let repo = SeaOrmUserRepository::new(db, Availability::default());
        let by_id = by_id(&repo);
        let reads = in_place(by_id);
        assert_eq!(reads.file().await, None, "no file to read");
        assert_eq!(
            reads.user(Uuid::from_u128(1)).await,
            None,
            "left to the pool"
        );
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_opened_is_left_to_the_pool() {
        let Some((repo, _db)) = repository(Backend::Sqlite).await else {
            return;
        };
        let by_id = by_id(&repo);
        let reads = in_place(by_id);
        let file = reads.file().await.expect("a file").to_owned();
        assert!(file.is_absolute() && file.exists(), "{}", file.display());
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.db");
        let elsewhere = SqliteReads::of_file(
            sqlx::SqlitePool::connect_lazy(&format!("sqlite://{}", gone.display())).unwrap(),
            by_id.sql.clone(),
            gone,
        );
        assert_eq!(elsewhere.user(Uuid::from_u128(1)).await, None);
    }

    #[rstest]
    #[tokio::test]
    async fn the_unique_index_rejects_the_same_address_in_any_case(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        repo.insert(&user(1, "ada@example.com")).await.unwrap();
        let err = repo.insert(&user(2, "ADA@example.COM")).await.unwrap_err();
        assert!(
            matches!(err, RepositoryError::DuplicateEmail),
            "got {err:?}"
        );
    }

    #[rstest]
    #[tokio::test]
    async fn lists_in_id_order_after_a_cursor(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        for n in [5, 1, 3, 2, 4] {
            repo.insert(&user(n, &format!("u{n}@example.com")))
                .await
                .unwrap();
        }
        let ids = |users: Vec<User>| {
            users
                .iter()
                .map(|u| u.id().as_uuid().as_u128())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(repo.list(None, 3).await.unwrap()), [1, 2, 3]);
        assert_eq!(
            ids(repo
                .list(Some(UserId::from_uuid(Uuid::from_u128(3))), 10)
                .await
                .unwrap()),
            [4, 5]
        );
    }

    #[rstest]
    #[tokio::test]
    async fn update_saves_mutable_fields_and_reports_missing_users(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        let mut ada = user(1, "ada@example.com");
        repo.insert(&ada).await.unwrap();
        let later = ada.created_at() + chrono::Duration::seconds(60);
        ada.rename(FullName::parse("Ada Lovelace").unwrap(), later);
        ada.set_active(false, later);
        repo.update(&ada).await.unwrap();
        assert_eq!(repo.find_by_id(ada.id()).await.unwrap(), Some(ada));

        let err = repo
            .update(&user(9, "ghost@example.com"))
            .await
            .unwrap_err();
        assert!(matches!(err, RepositoryError::NotFound), "got {err:?}");
    }

    #[rstest]
    #[tokio::test]
    async fn a_corrupt_row_is_unavailable_not_a_panic(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        let ada = user(1, "ada@example.com");
        repo.insert(&ada).await.unwrap();
        repo.db
            .execute_unprepared("UPDATE users SET email = 'not an email'")
            .await
            .unwrap();
        let err = repo.find_by_id(ada.id()).await.unwrap_err();
        assert!(
            matches!(err, RepositoryError::Unavailable(_)),
            "got {err:?}"
        );
    }

    #[rstest]
    #[tokio::test]
    async fn a_rolled_back_unit_of_work_sees_its_writes_and_keeps_none(
        #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    ) {
        let Some((repo, _db)) = repository(backend).await else {
            return;
        };
        repo.insert(&user(1, "ada@example.com")).await.unwrap();
        let units = SeaOrmUnitOfWork::new((*repo.db).clone(), Availability::default());
        let work = units.begin_rolled_back().await.unwrap();
        let inside = work.users();
        let grace = user(2, "grace@example.com");
        inside.insert(&grace).await.unwrap();
        assert_eq!(
            inside.find_by_id(grace.id()).await.unwrap(),
            Some(grace.clone())
        );
        let err = inside
            .insert(&user(3, "ADA@example.com"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepositoryError::DuplicateEmail),
            "got {err:?}"
        );
        drop(inside);
        work.roll_back().await.unwrap();
        assert_eq!(repo.find_by_id(grace.id()).await.unwrap(), None);
        assert_eq!(repo.list(None, 10).await.unwrap().len(), 1);
    }
}
