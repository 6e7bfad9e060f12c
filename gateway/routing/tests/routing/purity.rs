//! The crate depends on no runtime: no async runtime, HTTP server or client,
//! database or telemetry crate, directly or through another dependency. It
//! may depend on the pure `shadow-diff`, never the other way round.

use std::path::Path;
use std::process::{Command, Stdio};

/// Package families the route table must never depend on: `tokio` also bans
/// `tokio-util`, `sea-orm` also bans `sea-orm-migration`, and so on.
const RUNTIME: &[&str] = &[
    "tokio",
    "hyper",
    "axum",
    "sea-orm",
    "sea-orm-migration",
    "sqlx",
    "tracing",
    "opentelemetry",
];

/// Whether `package` is `banned` or one of its family (`banned-…`, `banned_…`).
fn in_family(package: &str, banned: &str) -> bool {
    package
        .strip_prefix(banned)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
}

/// The names of every package `package` depends on through `edges` (this
/// platform), from the lock file, without the network; `package` itself is
/// the first. (`--target all` would need the sources of other platforms'
/// dependencies, which an offline machine may not have; the banned crates
/// are not platform-specific.)
///
/// `cargo tree` builds nothing, so the variables Cargo sets for this test
/// process cannot trigger a rebuild and are passed on as they are.
fn dependencies(package: &str, edges: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--package", package, "--edges", edges])
        .args(["--prefix", "none", "--offline", "--locked"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_route_table_depends_on_no_runtime_crate() {
    let packages = dependencies("gateway-routing", "normal");
    assert!(
        packages.iter().any(|p| p == "toml"),
        "the dependency list was read: {packages:?}"
    );
    let runtime: Vec<&String> = packages
        .iter()
        .filter(|package| RUNTIME.iter().any(|banned| in_family(package, banned)))
        .collect();
    assert!(
        runtime.is_empty(),
        "gateway-routing must stay pure, but depends on {runtime:?}"
    );
}

#[test]
fn the_comparison_does_not_depend_on_the_route_table() {
    // Every kind of edge: even a dev-dependency would turn Diff ← Routes around.
    let packages = dependencies("shadow-diff", "normal,build,dev");
    assert!(
        packages.iter().any(|p| p == "serde_json"),
        "the dependency list was read: {packages:?}"
    );
    assert!(
        !packages.iter().any(|p| p == "gateway-routing"),
        "shadow-diff must not depend on gateway-routing: {packages:?}"
    );
}

#[test]
fn families_match_whole_names_only() {
    assert!(in_family("tokio", "tokio"));
    assert!(in_family("tokio-util", "tokio"));
    assert!(in_family("opentelemetry_sdk", "opentelemetry"));
    assert!(!in_family("tokiofake", "tokio"));
    assert!(!in_family("serde", "tokio"));
}
