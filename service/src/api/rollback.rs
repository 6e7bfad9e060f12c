//! Requests whose writes never persist: the gateway's shadowed writes in
//! `writes = "rollback"` mode.
//!
//! A request carrying the [`RollbackWrites`] extension (set in-process by
//! the host; nothing on the wire can set it) is served by the same routes
//! with use cases wired to one [`Work`](crate::application::Work) of the
//! [`UnitOfWork`] port: one database transaction, rolled back once the
//! response body is complete. The answer is what the request would have got
//! for real (a taken address is a 409), and nothing it wrote is kept.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

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
    if request.extensions().get::<RollbackWrites>().is_none() {
        return next.run(request).await;
    }
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
