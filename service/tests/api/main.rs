//! HTTP tests of the accounts API, through the router `accounts::build` returns, on SQLite and
//! PostgreSQL; and the contract between its router and its OpenAPI document.

mod contract;
mod helpers;
mod users;
