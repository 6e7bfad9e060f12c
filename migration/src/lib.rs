//! The database schema's history (sea-orm-migration) and the tools to apply it.
//!
//! Migrations are append-only and import no service code: they are frozen
//! history, and legacy and the new service run side by side, so every change
//! is expand/contract. The gateway applies pending migrations at start-up
//! (configurable) through [`migrate_up`]; operators use the `migration` CLI.
//!
//! Replicas start together: on PostgreSQL, [`migrate_up`] holds the advisory
//! lock [`MIGRATION_LOCK_KEY`] while it migrates, so one process applies the
//! pending migrations and the others wait, then find none pending.
//!
//! The CLI also backfills users from a legacy export (`import-users`). That
//! command lives in the binary and validates rows with the accounts domain.
//! This library names the service only to open a database as the service
//! does ([`connect`] uses `accounts::connect_database`); the migrations
//! themselves name no service code (`frozen.rs` is a test that reads the
//! migration files).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

mod m20261125_000001_create_users_table;
mod m20261125_000002_create_shadow_tables;
mod m20261201_000003_create_fleet_result_tables;
mod m20261201_000004_add_mismatch_exchange;
mod m20261201_000005_add_mismatch_request_body;
mod m20261201_000006_add_mismatch_sealed_request;

#[cfg(test)]
mod frozen;

pub use sea_orm_migration::MigratorTrait;

/// Every migration of the schema, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users_table::Migration),
            Box::new(m20261125_000002_create_shadow_tables::Migration),
            Box::new(m20261201_000003_create_fleet_result_tables::Migration),
            Box::new(m20261201_000004_add_mismatch_exchange::Migration),
            Box::new(m20261201_000005_add_mismatch_request_body::Migration),
            Box::new(m20261201_000006_add_mismatch_sealed_request::Migration),
        ]
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be opened (a SQLite file's directory, or the connection).
    #[error(transparent)]
    Connect(#[from] accounts::ConnectError),
    /// A migration failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Opens `url` for schema work, as the service opens its database (a SQLite
/// file's directory is created, WAL and a busy timeout are set), with one connection.
///
/// # Errors
///
/// [`MigrateError`] when the directory or the connection cannot be made.
pub async fn connect(url: &str) -> Result<DatabaseConnection, MigrateError> {
    let settings = accounts::DatabaseSettings {
        url: url.to_owned(),
        max_connections: 1,
        ..accounts::DatabaseSettings::default()
    };
    Ok(accounts::connect_database(&settings).await?)
}

/// The PostgreSQL advisory lock (`pg_advisory_lock`) that [`migrate_up`]
/// holds while it migrates: the ASCII of `gwmigrat`.
///
/// It MUST stay the same from one release to the next, so that old and new
/// replicas of a rolling start exclude each other; nothing else on the
/// database may take it.
pub const MIGRATION_LOCK_KEY: i64 = 0x6777_6d69_6772_6174;

/// Applies every pending migration to the database at `url`, then disconnects.
///
/// Safe to run from several processes at once: on PostgreSQL the migrations
/// run under the session advisory lock [`MIGRATION_LOCK_KEY`], taken and
/// released on the one connection of [`connect`]'s pool (a session lock is
/// its connection's), and released on failure too (closing the connection
/// would release it anyway). A SQLite file has one host, whose writers its
/// busy timeout serialises: no lock there.
///
/// # Errors
///
/// [`MigrateError`] when connecting, locking or a migration fails.
pub async fn migrate_up(url: &str) -> Result<(), MigrateError> {
    let db = connect(url).await?;
    let migrated = match db.get_database_backend() {
        DbBackend::Postgres => migrate_up_locked(&db).await,
        _ => Migrator::up(&db, None).await,
    };
    let closed = db.close().await;
    migrated?;
    closed?;
    Ok(())
}

/// [`Migrator::up`] under [`MIGRATION_LOCK_KEY`], on `db`'s single connection.
async fn migrate_up_locked(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .await?;
    let migrated = Migrator::up(db, None).await;
    let unlocked = db
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .await;
    migrated?;
    unlocked?;
    Ok(())
}

#[cfg(test)]
mod tests;
