//! Driven adapters: settings, the database connection, the SeaORM repository, logging.
//!
//! Implements the ports of `application`; knows SQL and configuration
//! formats so that nothing else has to. MUST NOT import `api`.

pub mod database;
pub(crate) mod persistence;
pub mod settings;
