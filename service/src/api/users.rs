//! Handlers of `/v1/accounts/users`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use crate::application::{ListUsersQuery, RegisterUserCommand, UpdateUserCommand};
use crate::shared::{AppError, FieldProblem};

use super::AppState;
use super::extract::{Fields, JsonObject};
use super::models::{UserPageResponse, UserResponse};
use super::problem::Problem;

/// `POST /v1/accounts/users`: registers a user.
#[utoipa::path(
    post,
    path = "/v1/accounts/users",
    request_body(content = super::models::RegisterUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; `Location` names the new user", body = UserResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email address is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, all listed in `errors`", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "accounts"
)]
pub(crate) async fn register_user(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, AppError> {
    let mut fields = Fields::new(body);
    let command = RegisterUserCommand {
        email: fields.string("email"),
        full_name: fields.string("full_name"),
        is_active: fields.boolean("is_active"),
    };
    if !fields.problems.is_empty() {
        // Report type problems together with the rule problems of the other fields.
        let mut problems = fields.problems.clone();
        problems.extend(
            command
                .problems()
                .into_iter()
                .filter(|p| !fields.has_problem(&p.field)),
        );
        return Err(AppError::Validation(problems));
    }
    let user = state.register_user.execute(command).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::try_from(format!("/v1/accounts/users/{}", user.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(UserResponse::from(user))))
}

/// `GET /v1/accounts/users/{id}`: reads one user.
#[utoipa::path(
    get,
    path = "/v1/accounts/users/{id}",
    params(("id" = String, Path, description = "The user's id (UUID); anything else is 404")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "accounts"
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, AppError> {
    let user = state.get_user.execute(&id).await?;
    Ok(Json(user.into()))
}

/// `GET /v1/accounts/users`: lists users a page at a time.
#[utoipa::path(
    get,
    path = "/v1/accounts/users",
    params(
        ("limit" = Option<u64>, Query, description = "Page size, 1 to 500, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserPageResponse),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "accounts"
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
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

/// `PATCH /v1/accounts/users/{id}`: changes the full name or the active flag.
#[utoipa::path(
    patch,
    path = "/v1/accounts/users/{id}",
    params(("id" = String, Path, description = "The user's id (UUID)")),
    request_body(content = super::models::UpdateUserRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields, all listed", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "accounts"
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<UserResponse>, AppError> {
    let mut fields = Fields::new(body);
    let command = UpdateUserCommand {
        full_name: fields.string("full_name"),
        is_active: fields.boolean("is_active"),
    };
    fields.reject_unknown();
    if !fields.problems.is_empty() {
        return Err(AppError::Validation(fields.problems));
    }
    let user = state.update_user.execute(&id, command).await?;
    Ok(Json(user.into()))
}

/// `POST /v1/accounts/users/{id}/deactivate`: deactivates an account (idempotent).
#[utoipa::path(
    post,
    path = "/v1/accounts/users/{id}/deactivate",
    params(("id" = String, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "The deactivated user", body = UserResponse),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "accounts"
)]
pub(crate) async fn deactivate_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, AppError> {
    let user = state
        .update_user
        .execute(&id, UpdateUserCommand::deactivate())
        .await?;
    Ok(Json(user.into()))
}
