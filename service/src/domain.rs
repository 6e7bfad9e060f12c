//! The accounts domain: pure business rules with no framework, I/O or wire format.
//!
//! Everything here is constructed through `parse` (raw input) or `restore`
//! (already-validated stored data), so holding a value is proof it is valid.
//! This module MUST NOT import axum, sea_orm, figment, serde or tracing; the
//! `layering` test in `lib.rs` enforces it.

mod email;
mod full_name;
mod user;

pub use email::{Email, EmailError};
pub use full_name::{FullName, FullNameError};
pub use user::{User, UserId};
