//! Handlers of `/v1/accounts/users`, and how each appears in the OpenAPI document.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value};

use crate::application::{ListUsersQuery, RegisterUserCommand, UpdateUserCommand};
use crate::shared::{AppError, FieldProblem};

use super::AppState;
use super::extract::{Fields, JsonObject};
use super::formats::UserIdFormat;
use super::models::{
    ListUsersParams, RegisterUserRequest, UpdateUserRequest, UserPageResponse, UserResponse,
};
use super::openapi::problems::{
    BadBody, BadPath, BadPathOrBody, EmailTaken, InvalidListing, InvalidRegistration,
    InvalidUpdate, PayloadTooLarge, Unavailable, UnsupportedMediaType, UserNotFound,
};

/// The description of the `{id}` of a path.
const USER_ID: &str = "The user's id, as in its `id` and `Location`. Text that is not a \
                       hyphenated UUID names no user (404).";

/// The registration in a `POST` body, or every problem of it.
///
/// Members other than `email`, `full_name` and `is_active` are ignored.
pub(crate) fn register_command(
    body: Map<String, Value>,
) -> Result<RegisterUserCommand, Vec<FieldProblem>> {
    let mut fields = Fields::new(body);
    let command = RegisterUserCommand {
        email: fields.string("email"),
        full_name: fields.string("full_name"),
        is_active: fields.boolean("is_active"),
    };
    if fields.problems.is_empty() {
        return Ok(command);
    }
    // Report type problems together with the rule problems of the other fields.
    let mut problems = fields.problems.clone();
    problems.extend(
        command
            .problems()
            .into_iter()
            .filter(|p| !fields.has_problem(&p.field)),
    );
    Err(problems)
}

/// The change in a `PATCH` body, or every problem of it; unknown members are problems.
pub(crate) fn update_command(
    body: Map<String, Value>,
) -> Result<UpdateUserCommand, Vec<FieldProblem>> {
    let mut fields = Fields::new(body);
    let command = UpdateUserCommand {
        full_name: fields.string("full_name"),
        is_active: fields.boolean("is_active"),
    };
    fields.reject_unknown();
    if fields.problems.is_empty() {
        Ok(command)
    } else {
        Err(fields.problems)
    }
}

/// Register a user.
///
/// The email address and the full name are trimmed. An address can be
/// registered once, whatever its case. `Location` names the new user.
#[utoipa::path(
    post,
    path = "/v1/accounts/users",
    request_body(content = RegisterUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered: the new user.", body = UserResponse,
            headers(("Location" = String, description = "The new user's URL: `/v1/accounts/users/{id}`."))),
        (status = 400, response = BadBody),
        (status = 409, response = EmailTaken),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidRegistration),
        (status = 503, response = Unavailable),
    ),
    tag = "accounts"
)]
pub(crate) async fn register_user(
    State(state): State<Arc<AppState>>,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, AppError> {
    let command = register_command(body).map_err(AppError::Validation)?;
    let user = state.register_user.execute(command).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::try_from(format!("/v1/accounts/users/{}", user.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(UserResponse::from(user))))
}

/// Read a user.
#[utoipa::path(
    get,
    path = "/v1/accounts/users/{id}",
    params(("id" = UserIdFormat, Path, description = USER_ID)),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 400, response = BadPath),
        (status = 404, response = UserNotFound),
        (status = 503, response = Unavailable),
    ),
    tag = "accounts"
)]
pub(crate) async fn get_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, AppError> {
    let user = state.get_user.execute(&id).await?;
    Ok(Json(user.into()))
}

/// List users, a page at a time.
///
/// Users come in ascending id order (which is registration order: ids are
/// UUIDv7). Follow `next_cursor` until it is `null`; pages stay consistent
/// while users are added.
#[utoipa::path(
    get,
    path = "/v1/accounts/users",
    params(ListUsersParams),
    responses(
        (status = 200, description = "A page of users.", body = UserPageResponse),
        (status = 422, response = InvalidListing),
        (status = 503, response = Unavailable),
    ),
    tag = "accounts"
)]
pub(crate) async fn list_users(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<UserPageResponse>, AppError> {
    let limit = match params.get("limit").map(|raw| raw.parse::<u64>()) {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(_)) => {
            return Err(AppError::Validation(vec![FieldProblem::new(
                "limit",
                "invalid-type",
                "must be a whole number",
            )]));
        }
    };
    let query = ListUsersQuery {
        cursor: params.get("cursor").cloned(),
        limit,
    };
    let page = state.list_users.execute(query).await?;
    Ok(Json(page.into()))
}

/// Change a user's full name or active flag.
///
/// Only the members present change; setting a value it already has changes
/// nothing, not even `updated_at`. The body is checked before the user is
/// looked up.
#[utoipa::path(
    patch,
    path = "/v1/accounts/users/{id}",
    params(("id" = UserIdFormat, Path, description = USER_ID)),
    request_body(content = UpdateUserRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, changed.", body = UserResponse),
        (status = 400, response = BadPathOrBody),
        (status = 404, response = UserNotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidUpdate),
        (status = 503, response = Unavailable),
    ),
    tag = "accounts"
)]
pub(crate) async fn update_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<UserResponse>, AppError> {
    let command = update_command(body).map_err(AppError::Validation)?;
    let user = state.update_user.execute(&id, command).await?;
    Ok(Json(user.into()))
}

/// Deactivate a user.
///
/// Idempotent: deactivating an inactive user changes nothing. No body is
/// read.
#[utoipa::path(
    post,
    path = "/v1/accounts/users/{id}/deactivate",
    params(("id" = UserIdFormat, Path, description = USER_ID)),
    responses(
        (status = 200, description = "The user, inactive.", body = UserResponse),
        (status = 400, response = BadPath),
        (status = 404, response = UserNotFound),
        (status = 503, response = Unavailable),
    ),
    tag = "accounts"
)]
pub(crate) async fn deactivate_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, AppError> {
    let user = state
        .update_user
        .execute(&id, UpdateUserCommand::deactivate())
        .await?;
    Ok(Json(user.into()))
}
