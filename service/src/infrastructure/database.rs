//! Opening the database: SQLite (embedded default) or PostgreSQL.

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

use super::settings::DatabaseSettings;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The directory for a SQLite file could not be created.
    #[error("cannot create the directory {dir} for the SQLite database")]
    CreateDir {
        /// The directory.
        dir: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed the connection.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// SeaORM's error.
        #[source]
        source: DbErr,
    },
}

/// The database failed a health check or a close; the cause is its source.
#[derive(Debug, thiserror::Error)]
#[error("the database does not answer")]
pub struct DatabaseUnavailable(#[source] DbErr);

impl From<DbErr> for DatabaseUnavailable {
    fn from(err: DbErr) -> Self {
        Self(err)
    }
}

/// Connections open in `database`'s pool, and how many of them are idle.
pub fn pool_usage(database: &DatabaseConnection) -> (u32, u32) {
    let (open, idle) = match database.get_database_backend() {
        DbBackend::Postgres => {
            let pool = database.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Sqlite => {
            let pool = database.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        // MySQL is not compiled in.
        _ => (0, 0),
    };
    (open, u32::try_from(idle).unwrap_or(u32::MAX))
}

/// Opens a connection pool as `settings` say, connecting at once.
///
/// For a SQLite file URL the parent directory is created first, and the file
/// is opened in WAL mode with a busy timeout so that readers do not block the
/// writer. sqlx's per-statement logging is off: it logs every query at INFO.
///
/// # Errors
///
/// [`ConnectError`] naming the redacted URL, when the database cannot be
/// reached within the acquire timeout.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, ConnectError> {
    open(settings, false).await
}

/// Opens a connection pool as [`connect`] does, but lazily: connections are
/// made when queries need them, so an unreachable database is not an error
/// here, and the pool reconnects by itself once the database is back.
///
/// # Errors
///
/// [`ConnectError`] when the URL is unusable or a SQLite directory cannot be created.
pub async fn connect_lazy(settings: &DatabaseSettings) -> Result<DatabaseConnection, ConnectError> {
    open(settings, true).await
}

async fn open(settings: &DatabaseSettings, lazy: bool) -> Result<DatabaseConnection, ConnectError> {
    if let Some(dir) = sqlite_parent_dir(&settings.url) {
        std::fs::create_dir_all(dir).map_err(|source| ConnectError::CreateDir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        .connect_timeout(settings.acquire_timeout())
        .connect_lazy(lazy)
        .sqlx_logging(false);
    if settings.url.starts_with("sqlite:") {
        // sqlx pings a pooled connection on every checkout by default: a
        // round trip to the connection's worker thread, and back, before each
        // query. An embedded SQLite file has no server, proxy or firewall to
        // drop a connection, so the ping can only succeed; PostgreSQL keeps it.
        options.test_before_acquire(false);
    }
    options.map_sqlx_sqlite_opts(|opts| {
        opts.pragma("journal_mode", "WAL")
            .busy_timeout(Duration::from_secs(5))
    });
    Database::connect(options)
        .await
        .map_err(|source| ConnectError::Connect {
            url: settings.redacted_url(),
            source,
        })
}

/// The directory holding a file-backed SQLite database, if the URL names one.
fn sqlite_parent_dir(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_are_not_pinged_on_checkout_postgres_ones_are() {
        let settings = |url: &str| DatabaseSettings {
            url: url.to_owned(),
            ..DatabaseSettings::default()
        };
        let sqlite = connect_lazy(&settings("sqlite::memory:"))
            .await
            .expect("an in-memory SQLite pool");
        let pool = sqlite.get_sqlite_connection_pool();
        assert!(!pool.options().get_test_before_acquire());
        // Lazy: no server is needed to read the pool's options.
        let postgres = connect_lazy(&settings("postgres://user@127.0.0.1:9/none"))
            .await
            .expect("a lazy PostgreSQL pool");
        let pool = postgres.get_postgres_connection_pool();
        assert!(pool.options().get_test_before_acquire());
    }

    #[test]
    fn sqlite_parent_dir_is_found_only_for_files_in_a_directory() {
        let cases = [
            ("sqlite://data/x.sqlite?mode=rwc", Some("data")),
            ("sqlite:///var/lib/app/x.db", Some("/var/lib/app")),
            ("sqlite:x.db", None),
            ("sqlite::memory:", None),
            ("postgres://u@h/db", None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                sqlite_parent_dir(url),
                expected.map(Path::new),
                "url {url:?}"
            );
        }
    }
}
