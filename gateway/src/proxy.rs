//! The request path through the gateway: plan → send → finish.
//!
//! - **plan** ([`Gateway::plan`]): normalise the path, refuse a declared
//!   body over the limit, resolve the route in the table in force, and pick
//!   the side (the route's target, its canary's for this request's key, or
//!   what a tester forced with the secret). Nothing is sent yet.
//! - **send**: the request goes to its side through
//!   [`Upstreams::send`](crate::upstream::Upstreams::send), legacy and the
//!   in-process service alike. On a shadowed route the mirror is planned too
//!   (method, sample, size, permits, headroom and budget; every decision not to mirror
//!   is counted) and handed, with the same upstreams, to
//!   [`Shadowing::spawn`], which runs it detached.
//! - **finish**: metrics, the access log, the served-by and request-id headers.
//!
//! [`Gateway::handle`] never fails: every outcome is a response, and the
//! gateway's own failures become problem+json in [`crate::error`].

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{LengthLimitError, Limited};
use shadow_diff::{DropReason, ErrorReason, Outcome, SkipReason};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{Instrument, Span};

use crate::access_log::{self, AccessLine};
use crate::config::Settings;
use crate::error::GatewayError;
use crate::metrics;
use crate::overrides::SideOptions;
use crate::reload::{Active, RouteState};
use crate::request_id::{REQUEST_ID, request_id};
use crate::shadow::capture::{TeeBody, buffer_request};
use crate::shadow::mirror::Admission;
use crate::shadow::{MirrorJob, Shadowing};
use crate::telemetry;
use crate::upstream::{Call, ForwardContext, UpstreamError, Upstreams, is_upgrade_request};
use gateway_routing::{RequestFacts, ShadowPolicy, Target, normalize_path};

/// The route name of a request no route matched.
static DEFAULT_ROUTE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("(default)"));
/// The route name of a request refused before routing.
static UNROUTED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("(unrouted)"));

/// How the client reached the gateway; legacy is told in `X-Forwarded-Proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP/1.1 or h2c.
    Http,
    /// TLS terminated by the gateway.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The gateway's request handler: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Arc<RouteState>,
    shadowing: Arc<Shadowing>,
    max_body_bytes: u64,
    access_log: bool,
    sides: SideOptions,
}

/// Where one request goes, decided before anything is sent.
struct Plan {
    /// The route's name, `(default)` when none matched.
    route: Arc<str>,
    /// The upstream of the legacy side (an index in the table's upstreams).
    upstream: usize,
    /// The side that answers.
    target: Target,
    /// The normalised path and query, and what legacy is told.
    call: Call,
    /// How the route is mirrored, when it is.
    shadow: Option<Shadowed>,
}

/// What a mirror of a shadowed route needs from the plan.
struct Shadowed {
    /// The route's match, for grouping records.
    template: Arc<str>,
    /// The route's shadow table.
    policy: Arc<ShadowPolicy>,
    /// The normalised path (without the query).
    path: String,
}

/// Where a request went, for metrics and the access log.
struct Decision {
    /// The route's name, `(default)` when none matched, `(unrouted)` before routing.
    route: Arc<str>,
    /// `legacy`, `service`, or `gateway` when the gateway answered itself.
    target: &'static str,
    /// The upstream of the legacy side (an index in the table's upstreams).
    upstream: usize,
}

/// What the finish of a request needs to know of it.
#[derive(Clone, Copy)]
struct Answer<'a> {
    decision: &'a Decision,
    method: &'a Method,
    started: Instant,
    client_addr: SocketAddr,
    /// The request's span (disabled when nothing listens).
    span: &'a Span,
}

impl Decision {
    /// A request the gateway answered before routing it.
    fn unrouted() -> Self {
        Self {
            route: UNROUTED.clone(),
            target: "gateway",
            upstream: 0,
        }
    }
}

impl Gateway {
    /// A gateway routing with `routes`, mirroring through `shadowing`, limited as `settings` say.
    pub fn new(routes: Arc<RouteState>, shadowing: Arc<Shadowing>, settings: &Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                routes,
                shadowing,
                max_body_bytes: settings.server.max_body_bytes,
                access_log: settings.server.access_log,
                sides: settings.sides.clone(),
            }),
        }
    }

    /// Answers one client request.
    ///
    /// The route table is read once, at the start: a reload never changes
    /// the route of a request in flight. Everything happens in the request's
    /// span, `gateway.request` ([`telemetry::request_span`]).
    pub async fn handle(
        &self,
        request: Request<Body>,
        client_addr: SocketAddr,
        scheme: Scheme,
    ) -> Response<Body> {
        let span = telemetry::request_span(&request);
        // The span is handed down rather than looked up again with
        // `Span::current()`, which asks the subscriber even when it is off.
        self.answer(request, client_addr, scheme, span.clone())
            .instrument(span)
            .await
    }

    async fn answer(
        &self,
        mut request: Request<Body>,
        client_addr: SocketAddr,
        scheme: Scheme,
        span: Span,
    ) -> Response<Body> {
        let started = Instant::now();
        let active = self.inner.routes.current();
        let _in_flight = active.request_metrics.in_flight();
        let id = request_id(request.headers());
        telemetry::record_request_id(&span, &id);
        // Room, at once, for what the gateway adds on the way to legacy
        // (the id, `X-Forwarded-For`, `-Proto` and `-Host`), instead of
        // growing the parsed headers' map at each addition.
        request.headers_mut().reserve(4);
        request.headers_mut().insert(REQUEST_ID, id.clone());
        let method = request.method().clone();
        let (decision, result) = match self.plan(&active, &mut request, client_addr, scheme, &id) {
            Ok(plan) => {
                let decision = Decision {
                    route: plan.route.clone(),
                    target: plan.target.as_str(),
                    upstream: plan.upstream,
                };
                (decision, self.send(active.clone(), plan, request).await)
            }
            Err(err) => (Decision::unrouted(), Err(err)),
        };
        let answer = Answer {
            decision: &decision,
            method: &method,
            started,
            client_addr,
            span: &span,
        };
        self.finish(result, &active, &answer, id)
    }

    /// Decides the route and the side of `request`, taking the tester
    /// override's header off it.
    fn plan(
        &self,
        active: &Active,
        request: &mut Request<Body>,
        client_addr: SocketAddr,
        scheme: Scheme,
        id: &HeaderValue,
    ) -> Result<Plan, GatewayError> {
        let path = normalize_path(request.uri().path())?;
        let limit = self.inner.max_body_bytes;
        if declared_length(request).is_some_and(|len| len > limit) {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| request.uri().authority().map(http::uri::Authority::as_str));
        let facts = RequestFacts {
            host,
            headers: Some(request.headers()),
            query: request.uri().query(),
        };
        let resolution = active
            .table
            .resolve_request(request.method(), &path, &facts);
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
        let shadow = resolution
            .route
            .filter(|_| !is_upgrade_request(request.headers()))
            .and_then(|route| {
                route.shadow().map(|policy| Shadowed {
                    template: route.template().clone(),
                    policy: policy.clone(),
                    path: path.as_str().to_owned(),
                })
            });
        Ok(Plan {
            route: resolution
                .route
                .map_or_else(|| DEFAULT_ROUTE.clone(), |r| r.shared_name().clone()),
            target,
            upstream: resolution.upstream,
            call: Call::new(
                resolution.route,
                resolution.upstream,
                &path,
                request.uri().query(),
                ForwardContext {
                    client_addr,
                    scheme: scheme.as_str(),
                    request_id: id.clone(),
                },
            ),
            shadow,
        })
    }

    /// Sends the planned request to its side, mirrored when the plan says so.
    async fn send(
        &self,
        active: Arc<Active>,
        plan: Plan,
        request: Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        let limit = usize::try_from(self.inner.max_body_bytes).unwrap_or(usize::MAX);
        let request = request.map(|body| Body::new(Limited::new(body, limit)));
        let admitted = plan.shadow.as_ref().map(|shadowed| {
            (
                shadowed,
                self.admit_mirror(&active, &plan, shadowed, &request),
            )
        });
        match admitted {
            // Boxed: the mirrored path's future would otherwise make every
            // request's future (boxed per request by the server) larger.
            Some((shadowed, Ok(admitted))) => {
                Box::pin(self.send_mirrored(&active, &plan, shadowed, admitted, request)).await
            }
            Some((_, Err(unmirrored))) => {
                self.inner.shadowing.count(&plan.route, unmirrored);
                self.send_primary(&active.upstreams, plan.target, request, &plan.call)
                    .await
            }
            None => {
                self.send_primary(&active.upstreams, plan.target, request, &plan.call)
                    .await
            }
        }
    }

    /// Whether `request` of a shadowed route is mirrored: the route's policy,
    /// its sample, the body's declared size, the mirrors in flight and, while
    /// the workers are busy, the comparison budget decide. Every refusal is
    /// an outcome to count; none waits. Decided before anything is buffered
    /// or boxed, so that a refused request (most of them at saturation)
    /// costs little more than an unshadowed one.
    fn admit_mirror(
        &self,
        active: &Arc<Active>,
        plan: &Plan,
        shadowed: &Shadowed,
        request: &Request<Body>,
    ) -> Result<(OwnedSemaphorePermit, Admission), Outcome> {
        let settings = active.table.shadow_settings();
        let policy = &shadowed.policy;
        if !policy.mirrors_from(plan.target, request.method()) {
            return Err(Outcome::Skipped(SkipReason::MethodNotMirrored));
        }
        if policy.sample < 1.0 && rand::random::<f64>() >= policy.sample {
            return Err(Outcome::Skipped(SkipReason::SampledOut));
        }
        if declared_length(request).is_some_and(|len| len > settings.max_body_bytes as u64) {
            return Err(Outcome::Skipped(SkipReason::BodyTooLarge));
        }
        // Clients first: while the workers have no time to spare, only the
        // budget admits mirrors. A slot among `max_in_flight` is taken once
        // admitted (giving one back takes the semaphore's lock); without
        // one, the budget's reservation goes back as it drops.
        let admission = self
            .inner
            .shadowing
            .admit(settings.max_busy, settings.budget)
            .ok_or(Outcome::Dropped(DropReason::Overloaded))?;
        let permit = active
            .shadow_permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Outcome::Dropped(DropReason::Overloaded))?;
        Ok((permit, admission))
    }

    /// Sends `request` to `target` alone.
    async fn send_primary(
        &self,
        upstreams: &Upstreams,
        target: Target,
        request: Request<Body>,
        call: &Call,
    ) -> Result<Response<Body>, GatewayError> {
        upstreams
            .send(target, request, call)
            .await
            .map_err(|err| self.classify(err))
    }

    /// Sends `request` to the primary and mirrors it to the other side, as
    /// [`Self::admit_mirror`] admitted it: a body larger than the limit
    /// without a declared length is found here, and counted, not mirrored.
    async fn send_mirrored(
        &self,
        active: &Arc<Active>,
        plan: &Plan,
        shadowed: &Shadowed,
        (permit, admission): (OwnedSemaphorePermit, Admission),
        request: Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        let shadowing = &self.inner.shadowing;
        let settings = active.table.shadow_settings();
        let policy = &shadowed.policy;
        let unmirrored = |outcome: Outcome, request: Request<Body>| {
            shadowing.count(&plan.route, outcome);
            self.send_primary(&active.upstreams, plan.target, request, &plan.call)
        };

        let (parts, body) = request.into_parts();
        let buffered = buffer_request(body, settings.max_body_bytes)
            .await
            .map_err(|err| self.classify_body_error(&err))?;
        let (method, uri, version, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.version,
            parts.headers.clone(),
        );
        let request = Request::from_parts(parts, buffered.primary);
        let Some(copy) = buffered.copy else {
            return unmirrored(Outcome::Skipped(SkipReason::BodyTooLarge), request).await;
        };

        let started = Instant::now();
        let response = self
            .send_primary(&active.upstreams, plan.target, request, &plan.call)
            .await
            .inspect_err(|_| {
                shadowing.count(&plan.route, Outcome::Error(ErrorReason::PrimaryFailed));
            })?;
        let primary_latency = started.elapsed();
        let (response_parts, body) = response.into_parts();
        let (tee, primary_body) = TeeBody::new(body, settings.max_body_bytes);
        shadowing.spawn(MirrorJob {
            route: plan.route.to_string(),
            template: shadowed.template.clone(),
            request_id: plan
                .call
                .context
                .request_id
                .to_str()
                .unwrap_or("-")
                .to_owned(),
            path: shadowed.path.clone(),
            primary_side: plan.target,
            policy: policy.clone(),
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
            reservation: admission.into_reservation(),
            upstreams: active.upstreams.clone(),
            call: plan.call.clone(),
        });
        Ok(Response::from_parts(response_parts, Body::new(tee)))
    }

    /// Counts, logs and marks the answer; turns a failure into the gateway's problem+json.
    fn finish(
        &self,
        result: Result<Response<Body>, GatewayError>,
        active: &Active,
        answer: &Answer<'_>,
        id: HeaderValue,
    ) -> Response<Body> {
        let Answer {
            decision,
            method,
            started,
            client_addr,
            span,
        } = *answer;
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                if let GatewayError::Legacy(forward) = &err {
                    let upstream = active
                        .upstreams
                        .legacy
                        .get(decision.upstream)
                        .map_or("legacy", |upstream| upstream.name());
                    metrics::record_upstream_error(upstream, forward.kind());
                }
                let (status, code) = err.status_and_code();
                if status.is_server_error() {
                    tracing::warn!(
                        error = %telemetry::ErrorChain(&err),
                        code,
                        route = %decision.route,
                        request_id = id.to_str().unwrap_or("-"),
                        "gateway answered with an error"
                    );
                }
                err.into_response()
            }
        };
        let elapsed = started.elapsed();
        active
            .request_metrics
            .record(&decision.route, decision.target, response.status(), elapsed);
        telemetry::record_outcome(span, &decision.route, decision.target, response.status());
        if self.inner.access_log {
            access_log::log(&AccessLine {
                method,
                route: &decision.route,
                side: decision.target,
                status: response.status(),
                duration: elapsed,
                request_id: id.to_str().unwrap_or("-"),
                response_bytes: http_body::Body::size_hint(response.body()).exact(),
                client: client_addr.ip(),
            });
        }
        if let Some(name) = &self.inner.sides.served_by {
            response
                .headers_mut()
                .insert(name.clone(), HeaderValue::from_static(decision.target));
        }
        response.headers_mut().insert(REQUEST_ID, id);
        response
    }

    /// A side's failure as the client sees it: a body that outgrew the limit
    /// while streaming is the client's 413, not legacy's 502.
    fn classify(&self, err: UpstreamError) -> GatewayError {
        if caused_by_length_limit(&err) {
            return GatewayError::BodyTooLarge {
                limit: self.inner.max_body_bytes,
            };
        }
        match err {
            UpstreamError::Legacy(err) => GatewayError::Legacy(err),
            UpstreamError::BadUri => GatewayError::BadUri,
        }
    }

    /// A request body that failed while being buffered for a mirror.
    fn classify_body_error(&self, err: &axum::Error) -> GatewayError {
        if caused_by_length_limit(err) {
            GatewayError::BodyTooLarge {
                limit: self.inner.max_body_bytes,
            }
        } else {
            GatewayError::BodyRead
        }
    }
}

/// Whether `err` or one of its sources is the body limit's.
fn caused_by_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(cause) = source {
        if cause.is::<LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The `Content-Length` the client declared, if any.
fn declared_length(request: &Request<Body>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
