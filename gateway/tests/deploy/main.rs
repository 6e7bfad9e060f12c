//! The deployment files (`deploy/`) checked against the code.
//!
//! No build reads the Dockerfile, the compose file or the Kubernetes
//! manifests, so they drift silently when the code changes: a default port, a
//! setting's name, the probes' paths, the route table's format, the migration
//! command. These tests parse each file and hold it to the gateway's public
//! API ([`Settings::default`], [`Settings::load`], [`RouteTable::parse`]) and
//! to the other deployment files.
//!
//! Environment variables are checked by loading the settings the way the
//! process does, inside a [`figment::Jail`] that holds exactly the variables a
//! file sets: the settings reject unknown keys, so a misspelt `GATEWAY_*`
//! name fails to load.

mod compose;
mod dockerfile;
mod kubernetes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Jail;
use gateway::config::{Overrides, Settings};
use gateway_routing::RouteTable;
use serde::Deserialize;
use serde_json::Value;

/// Variables the gateway reads besides the `GATEWAY_*` settings.
const GATEWAY_READS: &[&str] = &["DATABASE_URL", "RUST_LOG"];

/// Variables the `migration` command line reads (each is an `env = "…"` of its CLI).
const MIGRATION_READS: &[&str] = &["DATABASE_URL"];

/// The repository's root directory.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway package sits in the workspace")
        .to_path_buf()
}

/// `deploy/PATH` in the repository.
fn deploy_path(path: &str) -> PathBuf {
    repo_root().join("deploy").join(path)
}

/// A file's text, or a panic naming it.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every document of a YAML file, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", path.display()))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// A string member, or a panic naming what is missing.
fn str_at<'a>(value: &'a Value, pointer: &str, what: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: no string at {pointer} in {value}"))
}

/// An integer member, or a panic naming what is missing.
fn u64_at(value: &Value, pointer: &str, what: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{what}: no integer at {pointer} in {value}"))
}

/// The route table in `text` (from `source`), validated as the gateway does.
fn parse_routes(text: &str, source: &str) -> RouteTable {
    RouteTable::parse(text, Path::new(source))
        .unwrap_or_else(|e| panic!("{source}: the route table is rejected:\n{e}"))
}

/// The settings the gateway process would load with exactly `vars` in its environment.
///
/// # Errors
///
/// A variable the gateway does not read, or figment's error for a value or a
/// `GATEWAY_*` name that maps to no setting.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Error"
)]
fn try_gateway_settings(vars: &[(String, String)]) -> Result<Settings, String> {
    if let Some((name, _)) = vars
        .iter()
        .find(|(name, _)| !name.starts_with("GATEWAY_") && !GATEWAY_READS.contains(&name.as_str()))
    {
        return Err(format!(
            "the gateway does not read {name} (it reads GATEWAY_* and {GATEWAY_READS:?})"
        ));
    }
    let mut loaded = None;
    let jailed = Jail::try_with(|jail| {
        jail.clear_env();
        for (name, value) in vars {
            jail.set_env(name, value);
        }
        loaded = Some(Settings::load(None, &Overrides::default()).map_err(|e| e.to_string()));
        Ok(())
    });
    if let Err(e) = jailed {
        return Err(format!("figment::Jail failed: {e}"));
    }
    loaded.unwrap_or_else(|| Err("the jail did not run".to_owned()))
}

/// [`try_gateway_settings`], panicking with `source` (the file) on any
/// problem, including those the gateway refuses to start with (an admin API
/// beyond loopback without a token).
fn gateway_settings(source: &str, vars: &[(String, String)]) -> Settings {
    try_gateway_settings(vars)
        .unwrap_or_else(|e| panic!("{source}: the gateway's environment is wrong: {e}"))
}

/// Checks the variables a file gives the `migration` command; panics naming `source`.
fn check_migration_environment(source: &str, vars: &[(String, String)]) {
    let cli = read(&repo_root().join("migration/src/main.rs"));
    for name in MIGRATION_READS {
        assert!(
            cli.contains(&format!("env = \"{name}\"")),
            "migration/src/main.rs no longer reads {name}: update MIGRATION_READS"
        );
    }
    for (name, _) in vars {
        assert!(
            MIGRATION_READS.contains(&name.as_str()),
            "{source}: `migration` does not read {name} (it reads {MIGRATION_READS:?})"
        );
    }
    assert!(
        vars.iter().any(|(name, _)| name == "DATABASE_URL"),
        "{source}: `migration` needs DATABASE_URL (else it migrates a SQLite file in the container)"
    );
}

/// `vars` with `overrides` applied on top (a container's environment: image ENV, then the manifest's).
fn overlay(vars: &[(String, String)], overrides: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = vars
        .iter()
        .filter(|(name, _)| !overrides.iter().any(|(other, _)| other == name))
        .cloned()
        .collect();
    merged.extend(overrides.iter().cloned());
    merged
}

/// The gateway's built-in defaults, which the deployment files must agree with.
fn defaults() -> (SocketAddr, SocketAddr) {
    let settings = Settings::default();
    (settings.listen, settings.admin_listen)
}

#[test]
fn a_setting_the_gateway_does_not_have_fails_to_load() {
    let good = [(
        "GATEWAY_DATABASE__RUN_MIGRATIONS".to_owned(),
        "false".to_owned(),
    )];
    let settings = try_gateway_settings(&good).expect("a real setting loads");
    assert!(!settings.database.run_migrations);

    for (name, value) in [
        ("GATEWAY_DATABSE__RUN_MIGRATIONS", "false"),
        ("GATEWAY_DATABASE__RUN_MIGRATION", "false"),
        ("GATEWAY_ADMIN_LISTENER", "0.0.0.0:9901"),
        ("GATEWAY_LISTEN", "not-an-address"),
        ("DATABASE_URI", "postgres://db/app"),
    ] {
        let vars = [(name.to_owned(), value.to_owned())];
        assert!(
            try_gateway_settings(&vars).is_err(),
            "{name}={value} should not load"
        );
    }
}
