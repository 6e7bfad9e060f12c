//! Forwarding requests to the legacy backend over HTTP/1.1.
//!
//! The gateway builds one [`LegacyUpstream`] per legacy backend from the
//! route table's legacy settings ([`ClientSettings`]) and calls [`LegacyUpstream::forward`] for
//! every request routed to legacy.
//!
//! # Contract
//!
//! - Bodies stream both ways; nothing here buffers them. Whatever shadowing
//!   needs to buffer, it buffers itself, bounded.
//! - Any response from legacy is passed through (5xx included), minus its
//!   hop-by-hop headers. Only a missing response head is a [`ForwardError`]:
//!   `Connect` and `Io` are 502, `Timeout` is 504, `InvalidUri` is 500; the
//!   gateway maps them to problem+json in one place and marks the response as
//!   its own. [`ForwardError::kind`] is the metrics label. This module does
//!   not log failures; the gateway logs them once.
//! - Header hygiene (`headers.rs`): hop-by-hop headers (`Connection`,
//!   `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`,
//!   `Proxy-Authorization`, `TE` except `TE: trailers`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`) and every header named in `Connection`
//!   are removed in both directions. Towards legacy, the client's IP is
//!   appended to `X-Forwarded-For`; `X-Forwarded-Proto`, `X-Forwarded-Host`
//!   (the client's `Host`, or the URI authority for HTTP/2) and
//!   `X-Request-Id` are set, overwriting the client's values because the
//!   gateway is the edge; `Host` becomes legacy's authority; `traceparent`
//!   and `tracestate` pass untouched here, and are replaced by the legacy
//!   call's span context when tracing is on (`legacy.rs`).
//! - Connections are pooled and kept alive (90 s idle). A request is never
//!   retried once a byte of it may have reached legacy.
//! - `Upgrade` requests (WebSocket) are passed through (`upgrade.rs`); the
//!   gateway's server must use `serve_connection_with_upgrades`.

mod headers;
mod legacy;
mod upgrade;

#[cfg(test)]
mod tests;

pub use legacy::{ClientSettings, ForwardContext, ForwardError, LegacyUpstream};
pub use upgrade::is_upgrade_request;
