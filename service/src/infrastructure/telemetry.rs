//! Logging setup for the binaries: JSON when not on a terminal, human-readable on one.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber once; later calls do nothing.
///
/// The level comes from `RUST_LOG` (default `info`, with sqlx and the
/// SeaORM internals at `warn`). Only binaries call this; `build` never
/// installs global state.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed, which is fine.
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    };
}
