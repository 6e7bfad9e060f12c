//! Requests whose writes never persist: the gateway's shadowed writes in
//! `writes = "rollback"` mode.
//!
//! A request carrying the [`RollbackWrites`] extension (set in-process by
//! the host; nothing on the wire can set it) is served by the same routes
//! with use cases wired to one [`Work`](crate::application::Work) of the
//! [`UnitOfWork`] port: one database transaction, rolled back once the
//! response body is complete. The answer is what the request would have got
//! for real (a taken address is a 409), and nothing it wrote is kept.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use tower::{Service, ServiceExt};

use super::{AppState, HttpSettings, routes};
use crate::application::{Clock, IdGenerator, UnitOfWork};
use crate::shared::AppError;

/// Marks a request whose writes must be rolled back: an `http::Extensions` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RollbackWrites;

/// What a rolled-back request is wired with.
#[derive(Clone)]
pub struct RollbackWiring {
    /// Where units of work begin.
    pub units: Arc<dyn UnitOfWork>,
    /// The clock of the use cases.
    pub clock: Arc<dyn Clock>,
    /// The id source of the use cases.
    pub ids: Arc<dyn IdGenerator>,
    /// The API's limits.
    pub http: HttpSettings,
}

/// The most bytes of a rolled-back response kept before the rollback (the service's answers are small).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Serves a [`RollbackWrites`] request inside a rolled-back unit of work; any other as usual.
pub(crate) async fn rolled_back(
    State(wiring): State<RollbackWiring>,
    request: Request,
    next: Next,
) -> Response {
    if !is_marked(&request) {
        return next.run(request).await;
    }
    serve_rolled_back(&wiring, request).await
}

/// Whether `request` carries [`RollbackWrites`].
fn is_marked(request: &Request) -> bool {
    request.extensions().get::<RollbackWrites>().is_some()
}

/// Serves `request` with the routes wired to a new unit of work of `wiring`,
/// rolled back once the response body is read.
pub(crate) async fn serve_rolled_back(wiring: &RollbackWiring, request: Request) -> Response {
    let work = match wiring.units.begin_rolled_back().await {
        Ok(work) => work,
        Err(err) => return AppError::Unavailable(Box::new(err)).into_response(),
    };
    let state = AppState::wire(work.users(), wiring.clock.clone(), wiring.ids.clone());
    let router: Router = routes(state, &wiring.http);
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // The body is read before the rollback, so that nothing of it depends on the transaction.
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await;
    let rolled_back = work.roll_back().await;
    match (body, rolled_back) {
        (Ok(bytes), Ok(())) => Response::from_parts(parts, Body::from(bytes)),
        (Err(err), _) => AppError::Unavailable(Box::new(err)).into_response(),
        (_, Err(err)) => AppError::Unavailable(Box::new(err)).into_response(),
    }
}

/// The API as one tower service, for a host calling it in-process: a
/// [`RollbackWrites`] request is served as [`rolled_back`] serves it, any
/// other goes straight to the routes.
///
/// The same answers as [`super::router`]'s, without its middleware on every
/// route: axum clones a route's boxed service for each request, once per
/// layer, and the middleware boxes its future and the rest of the chain
/// (about 4,000 instructions of an in-process read by id).
#[derive(Clone)]
pub struct AccountsService {
    routes: Router,
    rollback: Arc<RollbackWiring>,
}

impl AccountsService {
    /// `routes` (without the rollback middleware), rolling back with `rollback`.
    pub(crate) fn new(routes: Router, rollback: RollbackWiring) -> Self {
        Self {
            routes,
            rollback: Arc::new(rollback),
        }
    }
}

/// [`AccountsService`]'s future: the routes' own, or a boxed rolled-back one.
pub type AccountsFuture = futures_util::future::Either<
    RouteFuture<Infallible>,
    Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>,
>;

impl Service<Request> for AccountsService {
    type Response = Response;
    type Error = Infallible;
    type Future = AccountsFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !is_marked(&request) {
            return futures_util::future::Either::Left(self.routes.call(request));
        }
        let rollback = self.rollback.clone();
        futures_util::future::Either::Right(Box::pin(async move {
            Ok(serve_rolled_back(&rollback, request).await)
        }))
    }
}
