//! The accounts service as an upstream: [`accounts::AccountsService`] called in-process.
//!
//! No socket and no serialisation: the request, with its path and query
//! replaced by the normalised ones, is handed to the service with `oneshot`,
//! inside a `gateway.service` span (the service's use-case and SQL spans
//! nest under it). The service is infallible: every answer, errors included,
//! is the service's own response.

use axum::body::Body;
use http::{Request, Response, Uri};
use tower::ServiceExt;
use tracing::Instrument;

use super::UpstreamError;
use crate::telemetry;

/// The in-process accounts service; cheap to clone.
#[derive(Clone)]
pub struct AccountsUpstream {
    service: accounts::AccountsService,
}

impl AccountsUpstream {
    /// Dispatches to `service` (`accounts::build(…)?.service()`).
    pub fn new(service: accounts::AccountsService) -> Self {
        Self { service }
    }

    /// Calls the service with `request` at `path_and_query`.
    ///
    /// # Errors
    ///
    /// [`UpstreamError::BadUri`] when `path_and_query` is not a URI again.
    pub async fn dispatch(
        &self,
        mut request: Request<Body>,
        path_and_query: &str,
    ) -> Result<Response<Body>, UpstreamError> {
        *request.uri_mut() = Uri::try_from(path_and_query).map_err(|_| UpstreamError::BadUri)?;
        crate::shadow::database_cpu::count_service_dispatch();
        let span = telemetry::service_span(request.method());
        let result = self
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
