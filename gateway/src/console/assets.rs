//! The console's stylesheet and script, compiled into the binary.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::admin::AdminError;

/// The stylesheet.
const CSS: &str = include_str!("assets/console.css");
/// The script: copy buttons, nothing the pages need to be read.
const JS: &str = include_str!("assets/console.js");

/// `GET /-/console/assets/{file}`.
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return AdminError::NotFound("no such console asset".to_owned()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
