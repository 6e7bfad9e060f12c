//! HTTP tests of the accounts API, through the router `accounts::build` returns, on SQLite and PostgreSQL.

mod helpers;
mod users;
