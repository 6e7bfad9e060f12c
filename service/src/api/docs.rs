//! Interactive documentation at `/docs`: Swagger UI, served from assets compiled into the binary.
//!
//! The assets come from the `utoipa-swagger-ui-vendored` crate (no download
//! at build time, no CDN at run time); the page reads the document from
//! [`OPENAPI_PATH`] and sends "Try it out" requests to the host that served
//! it, so through the gateway it exercises the real API. Swagger UI's
//! online validator badge is off: the page makes no request beyond its
//! host.

use axum::Router;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the page is: `/docs` redirects to `/docs/`.
pub(crate) const DOCS_PATH: &str = "/docs";

/// Where the document is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi.json";

/// The routes of the page and its assets.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let config = Config::new([OPENAPI_PATH])
        .validator_url("none")
        .try_it_out_enabled(true)
        .display_request_duration(true)
        .display_operation_id(true);
    SwaggerUi::new(DOCS_PATH).config(config).into()
}
