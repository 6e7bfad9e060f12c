//! The OpenAPI document of the API, served at `/v1/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

/// The API description, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "project-alpha accounts API", description = "The accounts capability of the new backend."),
    paths(
        super::users::register_user,
        super::users::get_user,
        super::users::list_users,
        super::users::update_user,
        super::users::deactivate_user,
    ),
    components(schemas(super::problem::Problem)),
    tags((name = "accounts", description = "Users and their accounts"))
)]
pub(crate) struct ApiDoc;

/// `GET /v1/openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
