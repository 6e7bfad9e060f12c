//! The sides a request can be sent to: legacy over HTTP/1.1, the accounts service in-process.
//!
//! [`Upstreams::send`] is the one way a request reaches a side, for the
//! client's request and for a mirror alike. The gateway builds one
//! [`LegacyUpstream`] per upstream of the route table (`[legacy]` and each
//! `[upstreams.NAME]`) from its settings ([`ClientSettings`]), and one
//! [`AccountsUpstream`] per process. The legacy side of a request goes to
//! the upstream its [`Call::upstream`] names, over that upstream's addresses
//! (balanced, with passive health and failover: `balance.rs`, `legacy.rs`).
//!
//! # Contract (legacy)
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
//! - Connections are pooled per address and kept alive (90 s idle), and
//!   driven by the request using them, never by a task of their own
//!   (`pool.rs`). A request is never retried once a byte of it may have
//!   reached legacy, but for a bodiless idempotent one whose connection died
//!   before the response head: once, on another address of its upstream.
//! - `Upgrade` requests (WebSocket) are passed through (`upgrade.rs`); the
//!   gateway's server must use `serve_connection_with_upgrades`.

mod accounts;
mod balance;
mod headers;
mod legacy;
mod pool;
mod tls;
mod upgrade;

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use tracing::Instrument;

use crate::telemetry;
use gateway_routing::{NormalizedPath, Route, SideRewrite, Target};

pub use accounts::AccountsUpstream;
pub use balance::AddressHealth;
pub use legacy::{
    AddressReport, AddressSettings, ClientSettings, ForwardContext, ForwardError, LegacyUpstream,
};
pub use tls::TlsClient;
pub use upgrade::is_upgrade_request;

/// Why a side gave no response head.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Legacy could not be reached, answered too late, or the URI was unusable.
    #[error(transparent)]
    Legacy(#[from] ForwardError),
    /// The normalised path and query do not form a URI again (for the service).
    #[error("the request URI cannot be rebuilt")]
    BadUri,
}

/// Where a request goes besides its side: the normalised path and query, and the forwarding context.
#[derive(Debug, Clone)]
pub struct Call {
    /// The normalised path, with the client's query.
    pub path_and_query: String,
    /// What legacy receives instead, when the route rewrites it.
    pub legacy: Option<SideCall>,
    /// What the service receives instead, when the route rewrites it.
    pub service: Option<SideCall>,
    /// The upstream of the legacy side: an index in the table's upstreams
    /// ([`gateway_routing::Resolution::upstream`]).
    pub upstream: usize,
    /// The client's address, the scheme and the request id.
    pub context: ForwardContext,
}

/// One side's rewritten request: its path and query, and its header edits.
#[derive(Debug, Clone)]
pub struct SideCall {
    /// The rewritten path, with the client's query.
    pub path_and_query: String,
    /// The route's rewrite for this side (its header edits apply on sending).
    pub rewrite: SideRewrite,
}

impl Call {
    /// The call for a request to `path` (normalised) with `query`, matched by
    /// `route`: each side's rewrite of the route, if it has one, applies, and
    /// the legacy side goes to `upstream` (the route's, or the default's).
    pub fn new(
        route: Option<&Route>,
        upstream: usize,
        path: &NormalizedPath,
        query: Option<&str>,
        context: ForwardContext,
    ) -> Self {
        let with_query = |path: &NormalizedPath| match query {
            Some(query) => format!("{}?{query}", path.to_uri_path()),
            None => path.to_uri_path().into_owned(),
        };
        let side = |side: Target| {
            let route = route?;
            let rewrite = route.rewrite(side)?;
            Some(SideCall {
                path_and_query: with_query(&rewrite.path_for(route.matcher(), path)),
                rewrite: rewrite.clone(),
            })
        };
        Self {
            path_and_query: with_query(path),
            legacy: side(Target::Legacy),
            service: side(Target::Service),
            upstream,
            context,
        }
    }

    /// The path and query `target` receives, and its header edits if any.
    fn for_side(&self, target: Target) -> (&str, Option<&SideRewrite>) {
        let side = match target {
            Target::Legacy => self.legacy.as_ref(),
            Target::Service => self.service.as_ref(),
        };
        match side {
            Some(side) => (side.path_and_query.as_str(), Some(&side.rewrite)),
            None => (self.path_and_query.as_str(), None),
        }
    }
}

/// Both sides, as the route table in force configures them; cheap to clone.
#[derive(Clone)]
pub struct Upstreams {
    /// The legacy upstreams of the table, in its order (`legacy` first).
    pub legacy: Arc<[LegacyUpstream]>,
    /// The accounts service, in-process.
    pub accounts: AccountsUpstream,
}

impl Upstreams {
    /// Sends `request` to `target` and returns its response head (the body streams).
    ///
    /// # Errors
    ///
    /// [`UpstreamError`] when the side gives no response head; any response,
    /// 5xx included, is `Ok`.
    pub async fn send(
        &self,
        target: Target,
        mut request: Request<Body>,
        call: &Call,
    ) -> Result<Response<Body>, UpstreamError> {
        let (path_and_query, rewrite) = call.for_side(target);
        if let Some(rewrite) = rewrite {
            rewrite.apply_headers(request.headers_mut());
        }
        match target {
            Target::Legacy => {
                let Some(legacy) = self.legacy.get(call.upstream).or(self.legacy.first()) else {
                    return Err(UpstreamError::Legacy(ForwardError::InvalidUri {
                        uri: String::new(),
                        reason: "the route table has no legacy upstream".to_owned(),
                    }));
                };
                let span = telemetry::legacy_span(request.method());
                let result = legacy
                    .forward(request, path_and_query, &call.context)
                    .instrument(span.clone())
                    .await;
                telemetry::record_call(&span, &result, ForwardError::kind);
                Ok(result?)
            }
            Target::Service => self.accounts.dispatch(request, path_and_query).await,
        }
    }
}
