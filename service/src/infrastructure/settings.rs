//! Settings of the database adapter: where the database is and how the pool behaves.
//!
//! Loaded as part of [`crate::Settings`]; the gateway embeds
//! [`DatabaseSettings`] in its own settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The embedded default database: a SQLite file under `./data`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/project-alpha.sqlite?mode=rwc";

/// The default of [`DatabaseSettings::acquire_timeout_ms`]: a service request
/// that meets an unreachable database gets its 503 within a second.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 800;

/// Database connection settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A SeaORM URL: `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection, in milliseconds:
    /// while the database is unreachable this bounds a request's wait before
    /// its 503 (later requests are refused at once).
    pub acquire_timeout_ms: u64,
    /// The same in seconds (the older setting); when set, it wins over `acquire_timeout_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_timeout_secs: Option<u64>,
    /// Whether to apply pending migrations when the process starts.
    pub run_migrations: bool,
}

// Hand-written so that a password in the URL never reaches a log.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
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
            acquire_timeout_ms: DEFAULT_ACQUIRE_TIMEOUT_MS,
            acquire_timeout_secs: None,
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
        self.acquire_timeout_secs.map_or_else(
            || Duration::from_millis(self.acquire_timeout_ms),
            Duration::from_secs,
        )
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

    #[test]
    fn the_acquire_timeout_is_800_ms_unless_the_older_seconds_setting_is_given() {
        let defaults = DatabaseSettings::default();
        assert_eq!(defaults.acquire_timeout(), Duration::from_millis(800));
        let millis = DatabaseSettings {
            acquire_timeout_ms: 250,
            ..DatabaseSettings::default()
        };
        assert_eq!(millis.acquire_timeout(), Duration::from_millis(250));
        let seconds = DatabaseSettings {
            acquire_timeout_secs: Some(5),
            ..millis
        };
        assert_eq!(seconds.acquire_timeout(), Duration::from_secs(5));
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
