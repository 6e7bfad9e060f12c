//! Everything the accounts service needs to be built, loaded with figment.
//!
//! Layers, later wins: built-in defaults → an optional TOML file →
//! environment (`ACCOUNTS_*`, `__` for nesting, e.g. `ACCOUNTS_DATABASE__MAX_CONNECTIONS`)
//! → `DATABASE_URL`. The gateway embeds [`DatabaseSettings`] and [`HttpSettings`]
//! in its own settings and loads them with its own prefix.
//!
//! Part of the composition root: it names both the `api`'s and the
//! `infrastructure`'s settings, which never name each other.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::api::HttpSettings;
use crate::infrastructure::settings::DatabaseSettings;

/// Everything the accounts service needs to be built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where users are stored.
    pub database: DatabaseSettings,
    /// Limits of the HTTP API.
    pub http: HttpSettings,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infrastructure::settings::DEFAULT_DATABASE_URL;
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
            jail.set_env("ACCOUNTS_DATABASE__ACQUIRE_TIMEOUT_SECS", "3");
            jail.set_env("DATABASE_URL", "postgres://app:secret@db:5432/accounts");
            let from_env =
                Settings::load(Some(Path::new("accounts.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(from_env.database.max_connections, 7);
            assert_eq!(
                from_env.database.acquire_timeout(),
                std::time::Duration::from_secs(3),
                "the older seconds setting still loads, and wins"
            );
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
}
