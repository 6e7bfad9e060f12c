//! The strangler-fig gateway: the one stable hostname clients hit.
//!
//! Per request, the route table (`routes.toml`, see [`gateway_routing`]) decides
//! whether the request is forwarded to the legacy backend over HTTP
//! ([`upstream`]) or dispatched in-process to the new service's router
//! ([`proxy`]). The table reloads live ([`reload`]); the admin API
//! ([`admin`]) and its web console ([`console`]) show it. `main.rs` only wires these together ([`app`]).

mod access_log;
pub mod admin;
pub mod app;
mod batched_writes;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
pub mod metrics;
pub mod overrides;
mod pem;
pub mod proxy;
pub mod readiness;
pub mod reload;
pub mod replay;
pub mod request_id;
pub mod server;
pub mod shadow;
mod small_writes;
pub mod status;
pub mod telemetry;
pub mod upstream;
