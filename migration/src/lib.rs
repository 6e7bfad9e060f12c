//! The database schema's history (sea-orm-migration) and the tools to apply it.
//!
//! Migrations are append-only and import no service code: they are frozen
//! history, and legacy and the new service run side by side, so every change
//! is expand/contract. The gateway applies pending migrations at start-up
//! (configurable) through [`migrate_up`]; operators use the `migration` CLI.
//!
//! The CLI also backfills users from a legacy export (`import-users`). That
//! command lives in the binary and validates rows with the accounts domain;
//! this library, and every migration in particular, names no service code
//! (`frozen.rs` is a test that reads the migration files).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseConnection;

mod m20261125_000001_create_users_table;
mod m20261125_000002_create_shadow_tables;
mod m20261201_000003_create_fleet_result_tables;

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

/// Applies every pending migration to the database at `url`, then disconnects.
///
/// # Errors
///
/// [`MigrateError`] when connecting or a migration fails.
pub async fn migrate_up(url: &str) -> Result<(), MigrateError> {
    let db = connect(url).await?;
    Migrator::up(&db, None).await?;
    db.close().await?;
    Ok(())
}
