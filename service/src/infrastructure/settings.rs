//! Settings of the accounts service, loaded with figment.
//!
//! Layers, later wins: built-in defaults → an optional TOML file →
//! environment (`ACCOUNTS_*`, `__` for nesting, e.g. `ACCOUNTS_DATABASE__MAX_CONNECTIONS`)
//! → `DATABASE_URL`. The gateway embeds [`DatabaseSettings`] and [`HttpSettings`]
//! in its own settings and loads them with its own prefix.

use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The embedded default database: a SQLite file under `./data`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/project-alpha.sqlite?mode=rwc";

/// Everything the accounts service needs to be built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where users are stored.
    pub database: DatabaseSettings,
    /// Limits of the HTTP API.
    pub http: HttpSettings,
}

/// Database connection settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A SeaORM URL: `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection, in seconds.
    pub acquire_timeout_secs: u64,
    /// Whether to apply pending migrations when the process starts.
    pub run_migrations: bool,
}

// Hand-written so that a password in the URL never reaches a log.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("run_migrations", &self.run_migrations)
            .finish()
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            max_connections: 10,
            acquire_timeout_secs: 5,
            run_migrations: true,
        }
    }
}

impl DatabaseSettings {
    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// How long a request waits for a pooled connection.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.acquire_timeout_secs)
    }
}

/// Limits of the accounts HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Settings {
    /// Loads settings from defaults, then `file` if given and present, then the environment.
    ///
    /// # Errors
    ///
    /// figment's error, which names the source (file or variable) of a bad value.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("ACCOUNTS_").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .extract()
            .map_err(Box::new)
    }
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures must return figment::Error"
    )]
    fn defaults_then_file_then_environment() {
        Jail::expect_with(|jail| {
            let defaults = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(defaults.database.url, DEFAULT_DATABASE_URL);

            jail.create_file(
                "accounts.toml",
                "[database]\nurl = \"sqlite://file.db\"\nmax_connections = 3\n",
            )?;
            let from_file =
                Settings::load(Some(Path::new("accounts.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(from_file.database.url, "sqlite://file.db");
            assert_eq!(from_file.database.max_connections, 3);

            jail.set_env("ACCOUNTS_DATABASE__MAX_CONNECTIONS", "7");
            jail.set_env("DATABASE_URL", "postgres://app:secret@db:5432/accounts");
            let from_env =
                Settings::load(Some(Path::new("accounts.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(from_env.database.max_connections, 7);
            assert_eq!(
                from_env.database.url,
                "postgres://app:secret@db:5432/accounts"
            );
            assert!(
                !format!("{from_env:?}").contains("secret"),
                "Debug must not print the password"
            );
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures must return figment::Error"
    )]
    fn a_missing_file_is_not_an_error_but_an_unknown_key_is() {
        Jail::expect_with(|jail| {
            assert!(Settings::load(Some(Path::new("absent.toml"))).is_ok());
            jail.create_file("bad.toml", "[database]\nurll = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(
                err.to_string().contains("urll"),
                "error should name the key: {err}"
            );
            Ok(())
        });
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        let cases = [
            (
                "postgres://app:s3cret@db:5432/accounts",
                "postgres://app:***@db:5432/accounts",
            ),
            (
                "postgres://app@db/accounts",
                "postgres://app:***@db/accounts",
            ),
            (
                "sqlite://data/x.sqlite?mode=rwc",
                "sqlite://data/x.sqlite?mode=rwc",
            ),
            ("not a url", "not a url"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "url {url:?}");
        }
    }
}
