//! The request path through the gateway: normalise, resolve, then forward to legacy or dispatch in-process.
//!
//! [`Gateway::handle`] never fails: every outcome is a response, and the
//! gateway's own failures become problem+json in [`crate::error`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderName, Request, Response, Uri, header};
use http_body_util::{LengthLimitError, Limited};
use shadow_diff::{DropReason, ErrorReason, Outcome, SkipReason};
use tower::ServiceExt;
use tracing::{Instrument, Span};

use crate::error::GatewayError;
use crate::metrics::{self, InFlight};
use crate::overrides::Override;
use crate::reload::{Active, RouteState};
use crate::request_id::{REQUEST_ID, request_id};
use crate::routes::ShadowPolicy;
use crate::routes::{Target, normalize_path};
use crate::shadow::capture::{TeeBody, buffer_request};
use crate::shadow::{MirrorJob, SendFn, Shadowing};
use crate::telemetry;
use crate::upstream::is_upgrade_request;
use crate::upstream::{ForwardContext, ForwardError};

/// The gateway's request handler: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Arc<RouteState>,
    shadowing: Arc<Shadowing>,
    service: axum::Router,
    max_body_bytes: u64,
    access_log: bool,
    sides: SideOptions,
}

/// How a request's side can be forced, and how the response says which side served.
#[derive(Debug, Clone, Default)]
pub struct SideOptions {
    /// The tester override, when configured.
    pub forced: Option<Override>,
    /// The response header naming the side that served, when not turned off.
    pub served_by: Option<HeaderName>,
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
        shadowing: Arc<Shadowing>,
        service: axum::Router,
        max_body_bytes: u64,
        access_log: bool,
        sides: SideOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                routes,
                shadowing,
                service,
                max_body_bytes,
                access_log,
                sides,
            }),
        }
    }

    /// Answers one client request.
    ///
    /// The route table is read once, at the start: a reload never changes
    /// the route of a request in flight. Everything happens in the request's
    /// span, `gateway.request` ([`telemetry::request_span`]).
    pub async fn handle(&self, request: Request<Body>, client_addr: SocketAddr) -> Response<Body> {
        let span = telemetry::request_span(&request);
        self.answer(request, client_addr).instrument(span).await
    }

    async fn answer(&self, mut request: Request<Body>, client_addr: SocketAddr) -> Response<Body> {
        let _in_flight = InFlight::start();
        let started = Instant::now();
        let id = request_id(request.headers());
        telemetry::record_request_id(&Span::current(), &id);
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
        telemetry::record_outcome(
            &Span::current(),
            &decision.route,
            decision.target,
            response.status(),
        );
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
        if let Some(name) = &self.inner.sides.served_by {
            response.headers_mut().insert(
                name.clone(),
                http::HeaderValue::from_static(decision.target),
            );
        }
        response.headers_mut().insert(REQUEST_ID, id);
        response
    }

    async fn route(
        &self,
        mut request: Request<Body>,
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
        // The side: the route's target, or its canary's for this request's
        // key, or what a tester forced with the secret.
        let mut target = resolution.target;
        if let Some(canary) = resolution.route.and_then(|route| route.canary()) {
            let key = canary
                .sticky
                .as_ref()
                .and_then(|k| k.of(request.headers(), client_addr.ip()));
            if canary.picks_canary(key.as_deref()) {
                target = canary.to;
            }
        }
        if let Some(forced) = &self.inner.sides.forced
            && let Some(side) = forced.take(request.headers_mut())
        {
            target = side;
        }
        decision.target = target.as_str();

        let request = request.map(|body| {
            Body::new(Limited::new(
                body,
                usize::try_from(limit).unwrap_or(usize::MAX),
            ))
        });
        let context = ForwardContext {
            client_addr,
            scheme: "http",
            request_id: id.clone(),
        };
        match resolution
            .route
            .and_then(|route| route.shadow().map(|policy| (route, policy.clone())))
        {
            Some((route, policy)) if !is_upgrade_request(request.headers()) => {
                let mirror = Mirror {
                    route: route.name(),
                    template: route.matcher().to_string(),
                    policy,
                    path: path.as_str(),
                    path_and_query,
                    context,
                };
                self.send_mirrored(active.clone(), target, request, mirror)
                    .await
            }
            _ => {
                self.send(&active, target, request, &path_and_query, &context)
                    .await
            }
        }
    }

    /// Sends `request` to one side and returns its response head (the body streams).
    async fn send(
        &self,
        active: &Active,
        target: Target,
        request: Request<Body>,
        path_and_query: &str,
        context: &ForwardContext,
    ) -> Result<Response<Body>, GatewayError> {
        let limit = self.inner.max_body_bytes;
        match target {
            Target::Legacy => {
                let span = telemetry::legacy_span(request.method());
                let result = active
                    .legacy
                    .forward(request, path_and_query, context)
                    .instrument(span.clone())
                    .await;
                telemetry::record_call(&span, &result, ForwardError::kind);
                result.map_err(|err| classify_forward_error(err, limit))
            }
            Target::Service => {
                let mut request = request;
                *request.uri_mut() =
                    Uri::try_from(path_and_query).map_err(|_| GatewayError::BadUri)?;
                let span = telemetry::service_span(request.method());
                let result = self
                    .inner
                    .service
                    .clone()
                    .oneshot(request)
                    .instrument(span.clone())
                    .await;
                telemetry::record_call(&span, &result, |never| match *never {});
                match result {
                    Ok(response) => Ok(response),
                    Err(never) => match never {},
                }
            }
        }
    }

    /// Sends `request` to the primary and, when the plan allows, mirrors it to the other side.
    ///
    /// Every decision not to mirror is counted with its reason; none waits.
    async fn send_mirrored(
        &self,
        active: Arc<Active>,
        target: Target,
        request: Request<Body>,
        mirror: Mirror<'_>,
    ) -> Result<Response<Body>, GatewayError> {
        let shadowing = &self.inner.shadowing;
        let settings = active.table.shadow_settings();
        let skip = if !mirror.policy.mirrors(request.method()) {
            Some(Outcome::Skipped(SkipReason::MethodNotMirrored))
        } else if mirror.policy.sample < 1.0 && rand::random::<f64>() >= mirror.policy.sample {
            Some(Outcome::Skipped(SkipReason::SampledOut))
        } else if declared_length(&request).is_some_and(|len| len > settings.max_body_bytes as u64)
        {
            Some(Outcome::Skipped(SkipReason::BodyTooLarge))
        } else {
            None
        };
        if let Some(outcome) = skip {
            return self
                .send_unmirrored(&active, target, request, &mirror, outcome)
                .await;
        }
        // Clients first: no mirror while the workers have no time to spare.
        let permit = active.shadow_permits.clone().try_acquire_owned();
        let Some(permit) = permit
            .ok()
            .filter(|_| shadowing.has_headroom(settings.max_busy))
        else {
            let outcome = Outcome::Dropped(DropReason::Overloaded);
            return self
                .send_unmirrored(&active, target, request, &mirror, outcome)
                .await;
        };

        let (parts, body) = request.into_parts();
        let buffered = buffer_request(body, settings.max_body_bytes)
            .await
            .map_err(|err| classify_body_error(&err, self.inner.max_body_bytes))?;
        let (method, uri, version, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.version,
            parts.headers.clone(),
        );
        let request = Request::from_parts(parts, buffered.primary);
        let Some(copy) = buffered.copy else {
            let outcome = Outcome::Skipped(SkipReason::BodyTooLarge);
            return self
                .send_unmirrored(&active, target, request, &mirror, outcome)
                .await;
        };

        let started = Instant::now();
        let response = match self
            .send(
                &active,
                target,
                request,
                &mirror.path_and_query,
                &mirror.context,
            )
            .await
        {
            Ok(response) => response,
            Err(err) => {
                shadowing.count(mirror.route, Outcome::Error(ErrorReason::PrimaryFailed));
                return Err(err);
            }
        };
        let primary_latency = started.elapsed();
        let (response_parts, body) = response.into_parts();
        let (tee, primary_body) = TeeBody::new(body, settings.max_body_bytes);

        let gateway = self.clone();
        let (send_active, path_and_query, context) = (
            active.clone(),
            mirror.path_and_query.clone(),
            mirror.context.clone(),
        );
        let send: SendFn = Arc::new(move |side, request| {
            let (gateway, active, path_and_query, context) = (
                gateway.clone(),
                send_active.clone(),
                path_and_query.clone(),
                context.clone(),
            );
            Box::pin(async move {
                gateway
                    .send(&active, side, request, &path_and_query, &context)
                    .await
            })
        });
        shadowing.spawn(MirrorJob {
            route: mirror.route.to_owned(),
            template: mirror.template,
            request_id: mirror.context.request_id.to_str().unwrap_or("-").to_owned(),
            path: mirror.path.to_owned(),
            primary_side: target,
            policy: mirror.policy,
            timeout: settings.timeout,
            max_body_bytes: settings.max_body_bytes,
            redact: settings.redact.clone(),
            method,
            uri,
            version,
            headers,
            body: copy,
            primary_status: response_parts.status,
            primary_headers: response_parts.headers.clone(),
            primary_latency,
            primary_body,
            permit,
            send,
        });
        Ok(Response::from_parts(response_parts, Body::new(tee)))
    }
}

impl Gateway {
    /// Counts why `request` is not mirrored, then sends it to the primary alone.
    async fn send_unmirrored(
        &self,
        active: &Active,
        target: Target,
        request: Request<Body>,
        mirror: &Mirror<'_>,
        outcome: Outcome,
    ) -> Result<Response<Body>, GatewayError> {
        self.inner.shadowing.count(mirror.route, outcome);
        self.send(
            active,
            target,
            request,
            &mirror.path_and_query,
            &mirror.context,
        )
        .await
    }
}

/// What a mirrored request needs besides the request itself.
struct Mirror<'a> {
    route: &'a str,
    template: String,
    policy: Arc<ShadowPolicy>,
    path: &'a str,
    path_and_query: String,
    context: ForwardContext,
}

/// A request body that failed while being buffered for a mirror.
fn classify_body_error(err: &axum::Error, limit: u64) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.is::<LengthLimitError>() {
            return GatewayError::BodyTooLarge { limit };
        }
        source = cause.source();
    }
    GatewayError::BodyRead
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
