//! A fresh database per test, migrated or empty, on SQLite or PostgreSQL.

use std::fmt;

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database};

use crate::postgres;

/// Which database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory (the embedded default).
    Sqlite,
    /// A database of its own on a throwaway PostgreSQL cluster (or on `TEST_DATABASE_URL`).
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A database that exists for one test: created empty, migrated unless asked not to, dropped afterwards.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(
            dead_code,
            reason = "held so the directory lives as long as the database"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// Creates and migrates a database on `backend`.
    ///
    /// Returns `None` only for PostgreSQL when the developer opted out with
    /// `TEST_SKIP_POSTGRES=1` outside CI; the skip is printed, never silent.
    ///
    /// # Panics
    ///
    /// When the database cannot be created or migrated, or PostgreSQL is
    /// missing (the message says how to install it).
    pub async fn create(backend: Backend) -> Option<Self> {
        let db = Self::create_empty(backend).await?;
        let conn = migration::connect(&db.url)
            .await
            .expect("connecting to the test database");
        migration::Migrator::up(&conn, None)
            .await
            .expect("migrating the test database");
        conn.close()
            .await
            .expect("closing the migration connection");
        Some(db)
    }

    /// Creates a database on `backend` with nothing in it, not even the
    /// migrations' own table: what a fleet's first start-up finds.
    ///
    /// Returns `None` as [`create`](Self::create) does.
    ///
    /// # Panics
    ///
    /// When the database cannot be created, or PostgreSQL is missing.
    pub async fn create_empty(backend: Backend) -> Option<Self> {
        let db = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory for SQLite");
                let url = format!("sqlite://{}/test.sqlite?mode=rwc", dir.path().display());
                Self {
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let server = postgres::server()?;
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(server.admin_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.admin_url));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
                admin.close().await.expect("closing the admin connection");
                Self {
                    url: server.database_url(&name),
                    cleanup: Cleanup::Postgres {
                        admin_url: server.admin_url.clone(),
                        name,
                    },
                }
            }
        };
        Some(db)
    }

    /// The SeaORM URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        // Drop cannot be async: drop the database from a short-lived runtime
        // on its own thread, forcing off connections the test left open.
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await.ok()?;
                let result = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("test-support: could not drop a test database; it is left on the server");
        }
    }
}
