//! Helpers shared by every test suite: throwaway databases, a legacy backend
//! stub on a real socket, problem+json assertions, and a test CA for TLS.
//!
//! Depends on no application crate (only `migration`, which owns the
//! schema), so any crate can use it as a dev-dependency without compiling
//! itself twice (rust-lang/cargo#6765).

mod database;
mod legacy;
mod pki;
mod postgres;
mod problem;
mod routes;

pub use database::{Backend, TestDatabase};
pub use legacy::{LEGACY_HEADER, LEGACY_USER_EMAIL, LegacyStub, Script, checksum, pattern_body};
pub use pki::{Leaf, TestCa};
pub use postgres::PostgresServer;
pub use problem::assert_problem;
pub use routes::RoutesToml;
