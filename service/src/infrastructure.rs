//! Driven adapters: the database's settings and connection, the SeaORM repository.
//!
//! Implements the ports of `application`; knows SQL and configuration
//! formats so that nothing else has to. MUST NOT import `api`.

pub mod availability;
pub mod database;
pub(crate) mod persistence;
pub mod settings;
