//! End-to-end tests through the gateway binary.
//!
//! Every test starts the real `gateway` process on ephemeral ports
//! ([`harness::Launch`]), in front of a legacy stub on a real socket
//! ([`test_support::LegacyStub`]) and with the accounts service in-process on
//! a SQLite file of its own (PostgreSQL where a test says so). One test
//! binary, one module per concern.

mod admin;
mod api_docs;
mod browser;
mod console;
mod dispatch;
mod fleet;
mod fleet_gating;
mod forwarding;
mod harness;
mod instants;
mod keep_alive;
mod lifecycle;
mod matching;
mod operations;
mod outage;
mod paths;
mod reload;
mod replay;
mod rollback;
mod shadow;
mod shutdown;
mod tls;
mod upstreams;
