//! The request path through the gateway: normalise, resolve, then forward to legacy or dispatch in-process.
//!
//! [`Gateway::handle`] never fails: every outcome is a response, and the
//! gateway's own failures become problem+json in [`crate::error`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::IntoResponse;
use http::{Request, Response, Uri, header};
use http_body_util::{LengthLimitError, Limited};
use tower::ServiceExt;

use crate::error::GatewayError;
use crate::metrics::{self, InFlight};
use crate::reload::RouteState;
use crate::request_id::{REQUEST_ID, request_id};
use crate::routes::{Target, normalize_path};
use crate::upstream::{ForwardContext, ForwardError};

/// The gateway's request handler: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Arc<RouteState>,
    service: axum::Router,
    max_body_bytes: u64,
    access_log: bool,
}

/// Where a request went, for metrics and the access log.
struct Decision {
    /// The route's name, `(default)` when none matched, `(unrouted)` before routing.
    route: String,
    /// `legacy`, `service`, or `gateway` when the gateway answered itself.
    target: &'static str,
}

impl Gateway {
    /// A gateway routing with `routes` and hosting `service` in-process.
    pub fn new(
        routes: Arc<RouteState>,
        service: axum::Router,
        max_body_bytes: u64,
        access_log: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                routes,
                service,
                max_body_bytes,
                access_log,
            }),
        }
    }

    /// Answers one client request.
    ///
    /// The route table is read once, at the start: a reload never changes
    /// the route of a request in flight.
    pub async fn handle(
        &self,
        mut request: Request<Body>,
        client_addr: SocketAddr,
    ) -> Response<Body> {
        let _in_flight = InFlight::start();
        let started = Instant::now();
        let id = request_id(request.headers());
        request.headers_mut().insert(REQUEST_ID, id.clone());
        let method = request.method().clone();
        let mut decision = Decision {
            route: "(unrouted)".to_owned(),
            target: "gateway",
        };
        let mut response = match self.route(request, client_addr, &id, &mut decision).await {
            Ok(response) => response,
            Err(err) => {
                if let GatewayError::Legacy(forward) = &err {
                    metrics::record_upstream_error(forward.kind());
                }
                err.into_response()
            }
        };
        let elapsed = started.elapsed();
        metrics::record_request(&decision.route, decision.target, response.status(), elapsed);
        if self.inner.access_log {
            tracing::info!(
                target: "access_log",
                method = %method,
                route = %decision.route,
                side = decision.target,
                status = response.status().as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                request_id = id.to_str().unwrap_or("-"),
                response_bytes = http_body::Body::size_hint(response.body()).exact(),
                client = %client_addr.ip(),
            );
        }
        response.headers_mut().insert(REQUEST_ID, id);
        response
    }

    async fn route(
        &self,
        request: Request<Body>,
        client_addr: SocketAddr,
        id: &http::HeaderValue,
        decision: &mut Decision,
    ) -> Result<Response<Body>, GatewayError> {
        let path = normalize_path(request.uri().path())?;
        let limit = self.inner.max_body_bytes;
        if declared_length(&request).is_some_and(|len| len > limit) {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{}?{query}", path.to_uri_path()),
            None => path.to_uri_path().into_owned(),
        };
        let active = self.inner.routes.current();
        let resolution = active.table.resolve(request.method(), &path);
        decision.route = resolution
            .route
            .map_or("(default)", |r| r.name())
            .to_owned();
        decision.target = resolution.target.as_str();

        let request = request.map(|body| {
            Body::new(Limited::new(
                body,
                usize::try_from(limit).unwrap_or(usize::MAX),
            ))
        });
        match resolution.target {
            Target::Legacy => {
                let context = ForwardContext {
                    client_addr,
                    scheme: "http",
                    request_id: id.clone(),
                };
                active
                    .legacy
                    .forward(request, &path_and_query, &context)
                    .await
                    .map_err(|err| classify_forward_error(err, limit))
            }
            Target::Service => {
                let mut request = request;
                *request.uri_mut() =
                    Uri::try_from(path_and_query).map_err(|_| GatewayError::BadUri)?;
                let response = match self.inner.service.clone().oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok(response)
            }
        }
    }
}

/// The `Content-Length` the client declared, if any.
fn declared_length(request: &Request<Body>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A body that outgrew the limit while streaming is the client's 413, not legacy's 502.
fn classify_forward_error(err: ForwardError, limit: u64) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(cause) = source {
        if cause.is::<LengthLimitError>() {
            return GatewayError::BodyTooLarge { limit };
        }
        source = cause.source();
    }
    GatewayError::Legacy(err)
}
