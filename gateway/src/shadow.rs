//! Shadowing: mirror a route's requests to the side that does not serve it, compare, count, record.
//!
//! The primary (the route's `target`) always answers the client, exactly as
//! without shadowing. The proxy plans a mirror per request
//! ([`crate::proxy`]): methods not mirrored, sampled-out requests, requests beyond
//! `[shadow] max_in_flight` and bodies above `max_body_bytes` are counted
//! with their reason and never wait. A mirrored request runs in a detached
//! task ([`Shadowing::spawn`], [`mirror`]), sent through the same upstreams, bounded by `[shadow] timeout`; a failure or panic there
//! never reaches the client. The two answers are captured ([`capture`]) and
//! compared by the pure [`shadow_diff`] crate, which also documents the
//! comparison rules; every attempt ends in exactly one
//! [`shadow_diff::Outcome`], counted in Prometheus and in the
//! database; mismatches are logged once and recorded ([`store`]) through a
//! bounded queue ([`recorder`]).

pub mod budget;
pub mod capture;
pub mod database_cpu;
mod entity;
pub mod exchange;
pub mod headroom;
pub mod mirror;
pub mod recorder;
pub mod replay;
pub mod results;
pub mod seal;
pub mod stats;
pub mod store;
pub mod summary;
pub mod tally;

pub use mirror::{MirrorJob, Shadowing};
