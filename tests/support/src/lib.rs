//! Helpers shared by every test suite: throwaway databases and problem+json assertions.
//!
//! Depends on no application crate (only `migration`, which owns the
//! schema), so any crate can use it as a dev-dependency without compiling
//! itself twice (rust-lang/cargo#6765).

mod database;
mod postgres;
mod problem;

pub use database::{Backend, TestDatabase};
pub use problem::assert_problem;
