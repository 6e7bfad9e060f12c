//! Gateway settings: built-in defaults → optional `gateway.toml` → environment → command line.
//!
//! Environment: `GATEWAY_LISTEN`, `GATEWAY_ADMIN_LISTEN`, `GATEWAY_ROUTES`,
//! `GATEWAY_ADMIN_TOKEN`, nested keys with `__` (e.g.
//! `GATEWAY_SERVER__MAX_BODY_BYTES`, `GATEWAY_DATABASE__MAX_CONNECTIONS`),
//! and `DATABASE_URL`. The file is `--config`/`GATEWAY_CONFIG`, else
//! `./gateway.toml` when it exists.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use http::HeaderName;
use serde::{Deserialize, Serialize};

use crate::overrides::{Override, SideOptions};

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A source is unreadable, or a value has the wrong type (figment names the source).
    #[error(transparent)]
    Load(#[from] Box<figment::Error>),
    /// The values are well-typed but unusable together or alone.
    #[error("{0}")]
    Invalid(String),
}

/// Everything the gateway process is configured with (the route table aside).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Where the admin API (health, readiness, routes, reload) listens.
    pub admin_listen: SocketAddr,
    /// The route table file, watched and reloaded live.
    pub routes: PathBuf,
    /// Bearer token for the admin API; required when it listens beyond loopback.
    pub admin_token: Option<String>,
    /// Limits and timeouts of the client-facing server.
    pub server: ServerSettings,
    /// The new service's database.
    pub database: accounts::DatabaseSettings,
    /// The new service's HTTP limits.
    pub service: accounts::HttpSettings,
    /// Where shadow comparisons are recorded, and for how long.
    pub shadow_records: ShadowRecordSettings,
    /// What `/-/readyz` requires.
    pub readiness: ReadinessSettings,
    /// The request header testers use to force a side (`SIDE:SECRET`); off when absent.
    pub override_header: Option<String>,
    /// The secret the override header must carry; from `GATEWAY_OVERRIDE_SECRET`.
    pub override_secret: Option<String>,
    /// The response header naming the side that served; empty turns it off.
    pub served_by_header: String,
    /// The override and the served-by header, parsed from the three keys above by [`Settings::load`].
    #[serde(skip)]
    pub sides: SideOptions,
}

/// How shadow mismatch records are written and kept (per process; the mirroring itself is in routes.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowRecordSettings {
    /// Records waiting to be written; beyond it they are dropped and counted.
    pub queue: usize,
    /// The most mismatch records kept in the database.
    pub max_records: u64,
    /// Records older than this many seconds are deleted.
    pub max_age_secs: u64,
    /// Outcome counts (per route and minute) older than this many seconds are deleted.
    pub counts_max_age_secs: u64,
    /// The key sealing what redaction changed in a recorded request, so a
    /// replay resends it as received (32 bytes, hex or base64); none: not kept.
    pub seal_key: Option<Secret>,
}

/// A secret setting: its value is never shown in debug output.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl ShadowRecordSettings {
    /// [`ShadowRecordSettings::seal_key`], parsed.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] naming the variable when it is not a key.
    pub fn seal_key(&self) -> Result<Option<crate::shadow::seal::SealKey>, SettingsError> {
        self.seal_key
            .as_ref()
            .map(|Secret(text)| crate::shadow::seal::SealKey::parse(text))
            .transpose()
            .map_err(|err| {
                SettingsError::Invalid(format!("{err} (GATEWAY_SHADOW_RECORDS__SEAL_KEY)"))
            })
    }
}

impl Default for ShadowRecordSettings {
    fn default() -> Self {
        Self {
            queue: 1024,
            max_records: 100_000,
            max_age_secs: 7 * 24 * 3600,
            counts_max_age_secs: 30 * 24 * 3600,
            seal_key: None,
        }
    }
}

/// What `/-/readyz` checks and requires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessSettings {
    /// Whether an unreachable database makes the replica unready (503).
    ///
    /// Off by default: the database belongs to the new service only, and an
    /// unready replica leaves the load balancer, legacy traffic with it. Off,
    /// `/-/readyz` answers 200 with `"status": "degraded"`.
    pub require_database: bool,
    /// How long the database check may take, in milliseconds; past it the database counts as unreachable.
    pub database_timeout_ms: u64,
}

impl Default for ReadinessSettings {
    fn default() -> Self {
        Self {
            require_database: false,
            database_timeout_ms: 500,
        }
    }
}

impl ReadinessSettings {
    /// [`ReadinessSettings::database_timeout_ms`] as a duration.
    pub fn database_timeout(&self) -> Duration {
        Duration::from_millis(self.database_timeout_ms)
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("routes", &self.routes)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("server", &self.server)
            .field("database", &self.database)
            .field("service", &self.service)
            .field("shadow_records", &self.shadow_records)
            .field("readiness", &self.readiness)
            .field("override_header", &self.override_header)
            .field(
                "override_secret",
                &self.override_secret.as_ref().map(|_| "***"),
            )
            .field("served_by_header", &self.served_by_header)
            .field("sides", &self.sides)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9901)),
            routes: PathBuf::from("routes.toml"),
            admin_token: None,
            server: ServerSettings::default(),
            database: accounts::DatabaseSettings::default(),
            service: accounts::HttpSettings::default(),
            shadow_records: ShadowRecordSettings::default(),
            readiness: ReadinessSettings::default(),
            override_header: None,
            override_secret: None,
            served_by_header: "x-served-by".to_owned(),
            sides: SideOptions {
                forced: None,
                served_by: Some(HeaderName::from_static("x-served-by")),
            },
        }
    }
}

/// Limits of the client-facing server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// The largest request body forwarded or dispatched, in bytes; larger gets 413.
    pub max_body_bytes: u64,
    /// The most bytes of request head (request line and headers) accepted.
    pub max_header_bytes: usize,
    /// How long a client may take to send its request head, from its first
    /// byte, in seconds (slowloris guard).
    pub header_read_timeout_secs: u64,
    /// How long a keep-alive connection may sit idle between two requests,
    /// in seconds, before the gateway closes it. It MUST be longer than the
    /// idle timeout of the load balancer in front, so that the balancer,
    /// not the gateway, closes idle connections.
    pub keep_alive_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests before closing them, in seconds.
    pub shutdown_grace_secs: u64,
    /// Whether routes.toml is watched for changes (SIGHUP and `POST /-/reload` always work).
    pub watch_routes: bool,
    /// Whether one `access_log` event is logged per request.
    pub access_log: bool,
    /// Threads serving requests (like nginx's `worker_processes`); absent: one per CPU.
    pub workers: Option<std::num::NonZeroUsize>,
    /// TLS termination for clients; plain HTTP (and h2c) unless both files are set.
    pub tls: ServerTlsSettings,
}

/// The client listener's certificate and key (`server.tls.*`): both or neither.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTlsSettings {
    /// The PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of the chain's leaf.
    pub key_file: Option<PathBuf>,
    /// How often both files are read to notice a rotation, in milliseconds; 0 turns polling off (SIGHUP still reloads).
    pub watch_interval_ms: u64,
}

impl Default for ServerTlsSettings {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            watch_interval_ms: 2000,
        }
    }
}

impl ServerTlsSettings {
    /// The certificate and key files when TLS is on.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when only one of the two is set.
    pub fn files(&self) -> Result<Option<(&Path, &Path)>, SettingsError> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(SettingsError::Invalid(
                "server.tls.cert_file is set but server.tls.key_file is not (GATEWAY_SERVER__TLS__KEY_FILE): TLS needs both".to_owned(),
            )),
            (None, Some(_)) => Err(SettingsError::Invalid(
                "server.tls.key_file is set but server.tls.cert_file is not (GATEWAY_SERVER__TLS__CERT_FILE): TLS needs both".to_owned(),
            )),
        }
    }

    /// [`ServerTlsSettings::watch_interval_ms`] as a duration; `None` when polling is off.
    pub fn watch_interval(&self) -> Option<Duration> {
        (self.watch_interval_ms > 0).then(|| Duration::from_millis(self.watch_interval_ms))
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 75,
            shutdown_grace_secs: 30,
            watch_routes: true,
            access_log: true,
            workers: None,
            tls: ServerTlsSettings::default(),
        }
    }
}

impl ServerSettings {
    /// [`ServerSettings::header_read_timeout_secs`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// [`ServerSettings::keep_alive_timeout_secs`] as a duration.
    pub fn keep_alive_timeout(&self) -> Duration {
        Duration::from_secs(self.keep_alive_timeout_secs)
    }

    /// How many worker threads serve requests: [`ServerSettings::workers`], else one per CPU.
    pub fn worker_threads(&self) -> usize {
        self.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            std::num::NonZeroUsize::get,
        )
    }

    /// [`ServerSettings::shutdown_grace_secs`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Whether `key` (a `GATEWAY_` variable without its prefix) is one of the
/// variables Kubernetes puts into every pod of a namespace that has a
/// Service named `gateway` (`GATEWAY_SERVICE_HOST`, `GATEWAY_PORT_80_TCP`, …):
/// they are not settings, and an unknown key would stop the gateway.
fn is_kubernetes_service_link(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "port"
        || key.starts_with("port_")
        || key == "service_host"
        || key == "service_port"
        || key.starts_with("service_port_")
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// The placeholder of `deploy/k8s/secret.example.yaml`, refused as a token.
const PLACEHOLDER_TOKEN: &str = "CHANGE-ME";

/// Refuses an admin token that is too short to resist guessing, or the example's placeholder.
fn check_admin_token(token: &str) -> Result<(), SettingsError> {
    if token.trim().eq_ignore_ascii_case(PLACEHOLDER_TOKEN) {
        return Err(SettingsError::Invalid(format!(
            "GATEWAY_ADMIN_TOKEN is the placeholder {PLACEHOLDER_TOKEN:?} of deploy/k8s/secret.example.yaml: set a real token (e.g. `openssl rand -hex 32`)"
        )));
    }
    if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        return Err(SettingsError::Invalid(format!(
            "GATEWAY_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters (it has {}): use e.g. `openssl rand -hex 32`",
            token.chars().count()
        )));
    }
    Ok(())
}

/// Values given on the command line; each wins over every other source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--admin-listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// `--routes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<PathBuf>,
}

impl Settings {
    /// Loads and checks the settings; `config` is the file to read (absent
    /// file: skipped unless named explicitly).
    ///
    /// Past this point the settings are usable as they are: the admin API
    /// beyond loopback has a token, and the override and served-by headers
    /// are parsed into [`Settings::sides`].
    ///
    /// # Errors
    ///
    /// [`SettingsError::Load`]: figment's error, naming the source (file,
    /// variable) of a bad value, or a missing explicitly named file;
    /// [`SettingsError::Invalid`]: an admin API beyond loopback without a
    /// token, an override without a good secret, an invalid header name,
    /// a TLS certificate without its key or the reverse.
    pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut settings = Self::read(config, overrides)?;
        settings.sides = settings.parse_sides()?;
        settings.server.tls.files()?;
        if let Some(token) = &settings.admin_token {
            check_admin_token(token)?;
        }
        settings.shadow_records.seal_key()?;
        if !settings.admin_listen.ip().is_loopback() && settings.admin_token.is_none() {
            return Err(SettingsError::Invalid(format!(
                "the admin API would listen on {} (beyond loopback) without a token: set GATEWAY_ADMIN_TOKEN, or bind it to 127.0.0.1",
                settings.admin_listen
            )));
        }
        Ok(settings)
    }

    /// The override and served-by settings, parsed.
    fn parse_sides(&self) -> Result<SideOptions, SettingsError> {
        let invalid = |message: String| SettingsError::Invalid(message);
        let forced = match (&self.override_header, &self.override_secret) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "override_header is set but GATEWAY_OVERRIDE_SECRET is not: the override needs a shared secret"
                        .to_owned(),
                ));
            }
            (Some(_), Some(secret)) if secret.len() < 16 => {
                return Err(invalid(
                    "GATEWAY_OVERRIDE_SECRET must be at least 16 characters".to_owned(),
                ));
            }
            (Some(name), Some(secret)) => Some(Override::new(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| invalid(format!("invalid override_header {name:?}")))?,
                secret.clone(),
            )),
        };
        let served_by = match self.served_by_header.as_str() {
            "" => None,
            name => Some(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| invalid(format!("invalid served_by_header {name:?}")))?,
            ),
        };
        Ok(SideOptions { forced, served_by })
    }

    /// The layered sources, merged and typed, not checked: for the commands
    /// that only need a path or an address from them (`check`, `status`).
    ///
    /// # Errors
    ///
    /// As [`SettingsError::Load`].
    pub(crate) fn read(
        config: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        match config {
            Some(file) if !file.exists() => {
                return Err(Box::new(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    file.display()
                ))));
            }
            Some(file) => figment = figment.merge(Toml::file_exact(file)),
            None if Path::new("gateway.toml").exists() => {
                figment = figment.merge(Toml::file_exact("gateway.toml"))
            }
            None => {}
        }
        figment
            .merge(
                Env::prefixed("GATEWAY_")
                    .split("__")
                    .ignore(&["config", "admin_url"])
                    .filter(|key| !is_kubernetes_service_link(key.as_str())),
            )
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    /// The new service's settings, as the gateway hosts it.
    pub fn accounts(&self) -> accounts::Settings {
        accounts::Settings {
            database: self.database.clone(),
            http: self.service.clone(),
        }
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
    fn command_line_beats_environment_beats_file_beats_defaults() {
        Jail::expect_with(|jail| {
            let defaults =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(defaults.listen, "0.0.0.0:8080".parse().unwrap());
            assert_eq!(defaults.admin_listen, "127.0.0.1:9901".parse().unwrap());
            assert_eq!(defaults.routes, PathBuf::from("routes.toml"));
            assert_eq!(
                defaults.database.url,
                accounts::infrastructure::settings::DEFAULT_DATABASE_URL
            );

            jail.create_file(
                "gateway.toml",
                "listen = \"127.0.0.1:1000\"\nadmin_listen = \"127.0.0.1:1001\"\n[server]\nmax_body_bytes = 5\n",
            )?;
            let from_file =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(from_file.listen.port(), 1000);
            assert_eq!(from_file.server.max_body_bytes, 5);

            jail.set_env("GATEWAY_LISTEN", "127.0.0.1:2000");
            jail.set_env("GATEWAY_SERVER__MAX_BODY_BYTES", "7");
            jail.set_env("GATEWAY_CONFIG", "gateway.toml");
            jail.set_env("DATABASE_URL", "postgres://u:pw@db/app");
            let from_env =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(from_env.listen.port(), 2000);
            assert_eq!(
                from_env.admin_listen.port(),
                1001,
                "the file still counts for what env leaves alone"
            );
            assert_eq!(from_env.server.max_body_bytes, 7);
            assert_eq!(from_env.database.url, "postgres://u:pw@db/app");

            let overrides = Overrides {
                listen: Some("127.0.0.1:3000".parse().unwrap()),
                ..Overrides::default()
            };
            let from_cli = Settings::load(None, &overrides).map_err(|e| e.to_string())?;
            assert_eq!(from_cli.listen.port(), 3000);
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures must return figment::Error"
    )]
    fn kubernetes_service_links_are_not_settings() {
        Jail::expect_with(|jail| {
            for (name, value) in [
                ("GATEWAY_SERVICE_HOST", "10.0.0.1"),
                ("GATEWAY_SERVICE_PORT", "80"),
                ("GATEWAY_SERVICE_PORT_HTTP", "80"),
                ("GATEWAY_PORT", "tcp://10.0.0.1:80"),
                ("GATEWAY_PORT_80_TCP_ADDR", "10.0.0.1"),
            ] {
                jail.set_env(name, value);
            }
            jail.set_env("GATEWAY_SERVICE__MAX_BODY_BYTES", "1234");
            let settings =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(settings.service.max_body_bytes, 1234);
            jail.set_env("GATEWAY_PORTS", "1");
            assert!(
                Settings::load(None, &Overrides::default()).is_err(),
                "other unknown keys are still refused"
            );
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures must return figment::Error"
    )]
    fn unknown_keys_and_a_missing_named_file_are_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:1\"\n")?;
            let err =
                Settings::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("lisen"), "{err}");
            let err =
                Settings::load(Some(Path::new("absent.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("absent.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures must return figment::Error"
    )]
    fn loading_parses_the_sides_and_refuses_unusable_values() {
        Jail::expect_with(|jail| {
            let defaults =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert!(defaults.sides.forced.is_none());
            assert_eq!(
                defaults.sides.served_by.as_ref().map(HeaderName::as_str),
                Some("x-served-by")
            );
            let mut refused = |vars: &[(&str, &str)], expected: &str| {
                for (name, value) in vars {
                    jail.set_env(name, value);
                }
                let err = Settings::load(None, &Overrides::default())
                    .expect_err("unusable settings load");
                assert!(
                    matches!(err, SettingsError::Invalid(_)) && err.to_string().contains(expected),
                    "{vars:?}: {err}"
                );
                jail.clear_env();
            };
            refused(
                &[("GATEWAY_ADMIN_LISTEN", "0.0.0.0:9901")],
                "(beyond loopback) without a token",
            );
            refused(
                &[("GATEWAY_OVERRIDE_HEADER", "x-force-side")],
                "needs a shared secret",
            );
            refused(
                &[("GATEWAY_ADMIN_TOKEN", "fifteen-chars!!")],
                "at least 16 characters (it has 15)",
            );
            refused(
                &[("GATEWAY_ADMIN_TOKEN", "CHANGE-ME")],
                "placeholder \"CHANGE-ME\" of deploy/k8s/secret.example.yaml",
            );
            refused(
                &[
                    ("GATEWAY_OVERRIDE_HEADER", "x-force-side"),
                    ("GATEWAY_OVERRIDE_SECRET", "short"),
                ],
                "at least 16 characters",
            );
            refused(
                &[
                    ("GATEWAY_OVERRIDE_HEADER", "bad header"),
                    ("GATEWAY_OVERRIDE_SECRET", "0123456789abcdef"),
                ],
                "invalid override_header",
            );
            refused(
                &[("GATEWAY_SERVED_BY_HEADER", "bad header")],
                "invalid served_by_header",
            );
            refused(
                &[("GATEWAY_SERVER__TLS__CERT_FILE", "/certs/tls.crt")],
                "server.tls.key_file is not (GATEWAY_SERVER__TLS__KEY_FILE)",
            );
            refused(
                &[("GATEWAY_SERVER__TLS__KEY_FILE", "/certs/tls.key")],
                "server.tls.cert_file is not (GATEWAY_SERVER__TLS__CERT_FILE)",
            );
            assert_eq!(
                defaults.server.worker_threads(),
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                "one worker per CPU by default"
            );
            jail.set_env("GATEWAY_SERVER__WORKERS", "0");
            let zero = Settings::load(None, &Overrides::default()).expect_err("zero workers");
            assert!(
                zero.to_string().to_lowercase().contains("workers"),
                "{zero}"
            );
            jail.set_env("GATEWAY_SERVER__WORKERS", "1");
            jail.set_env("GATEWAY_ADMIN_LISTEN", "0.0.0.0:9901");
            jail.set_env("GATEWAY_ADMIN_TOKEN", "a-token-of-20-chars!");
            jail.set_env("GATEWAY_OVERRIDE_HEADER", "x-force-side");
            jail.set_env("GATEWAY_OVERRIDE_SECRET", "0123456789abcdef");
            jail.set_env("GATEWAY_SERVED_BY_HEADER", "");
            assert!(
                defaults
                    .server
                    .tls
                    .files()
                    .map_err(|e| e.to_string())?
                    .is_none(),
                "plain HTTP by default"
            );
            jail.set_env("GATEWAY_SERVER__TLS__CERT_FILE", "/certs/tls.crt");
            jail.set_env("GATEWAY_SERVER__TLS__KEY_FILE", "/certs/tls.key");
            jail.set_env("GATEWAY_SERVER__TLS__WATCH_INTERVAL_MS", "0");
            let usable = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                usable.server.tls.files().map_err(|e| e.to_string())?,
                Some((Path::new("/certs/tls.crt"), Path::new("/certs/tls.key")))
            );
            assert_eq!(
                usable.server.tls.watch_interval(),
                None,
                "0 turns polling off"
            );
            assert!(usable.sides.forced.is_some());
            assert!(
                usable.sides.served_by.is_none(),
                "an empty name turns it off"
            );
            Ok(())
        });
    }

    #[test]
    fn debug_output_hides_the_admin_token() {
        let settings = Settings {
            admin_token: Some("s3cret".to_owned()),
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
