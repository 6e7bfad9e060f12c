//! HTTP tests of the accounts API, through the service `accounts::build` returns (as the
//! gateway calls it), on SQLite and PostgreSQL; rolled-back writes through it and through its
//! router; and the contract between its router and its OpenAPI document.

mod contract;
mod helpers;
mod rollback;
mod users;
