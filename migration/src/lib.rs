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
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection};

mod m20261125_000001_create_users_table;
mod m20261125_000002_create_shadow_tables;

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
        ]
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The directory for a SQLite file could not be created.
    #[error("cannot create the directory {dir} for the SQLite database")]
    CreateDir {
        /// The directory.
        dir: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting or migrating failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Opens `url` for schema work; a SQLite file's directory is created first.
///
/// # Errors
///
/// [`MigrateError`] when the directory or the connection cannot be made.
pub async fn connect(url: &str) -> Result<DatabaseConnection, MigrateError> {
    if let Some(dir) = sqlite_file_dir(url) {
        std::fs::create_dir_all(dir).map_err(|source| MigrateError::CreateDir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).max_connections(1);
    Ok(Database::connect(options).await?)
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

fn sqlite_file_dir(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}
