//! The HTTP surface of the accounts capability: routes under `/v1/accounts`, wire models, errors.
//!
//! Parses requests into use-case commands, calls the use cases, and turns
//! their results into responses. Serves the OpenAPI document of all this
//! (`openapi`) and the interactive documentation at `/docs` (`docs`).
//! Every error body is RFC 9457
//! `application/problem+json`, made in one place ([`problem`]). MUST NOT
//! reach into `infrastructure`.

mod docs;
mod extract;
mod formats;
mod models;
mod openapi;
pub mod problem;
mod rollback;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use serde::{Deserialize, Serialize};

use crate::application::{
    Clock, GetUserById, IdGenerator, ListUsers, RegisterUser, UpdateUser, UserRepository,
};

pub use rollback::{AccountsFuture, AccountsService, RollbackWiring, RollbackWrites};

/// The use cases the handlers call; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// `POST /v1/accounts/users`.
    pub register_user: RegisterUser,
    /// `GET /v1/accounts/users/{id}`.
    pub get_user: GetUserById,
    /// `GET /v1/accounts/users`.
    pub list_users: ListUsers,
    /// `PATCH /v1/accounts/users/{id}` and `POST …/deactivate`.
    pub update_user: UpdateUser,
}

impl AppState {
    /// Every use case over `users`, `clock` and `ids`.
    pub fn wire(
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            register_user: RegisterUser::new(users.clone(), clock.clone(), ids),
            get_user: GetUserById::new(users.clone()),
            list_users: ListUsers::new(users.clone()),
            update_user: UpdateUser::new(users, clock),
        }
    }
}

/// Limits of the accounts HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Builds the router of the accounts API with its middleware; requests
/// marked [`RollbackWrites`] run in a rolled-back unit of work of `rollback`.
pub fn router(state: AppState, http: &HttpSettings, rollback: RollbackWiring) -> Router {
    routes(state, http).layer(axum::middleware::from_fn_with_state(
        rollback,
        rollback::rolled_back,
    ))
}

/// The same API as [`router`], as one service for calling in-process
/// ([`AccountsService`]: no middleware layered on every route).
pub fn service(state: AppState, http: &HttpSettings, rollback: RollbackWiring) -> AccountsService {
    AccountsService::new(routes(state, http), rollback)
}

/// The routes with their middleware, over `state`.
///
/// The handlers share one `Arc` of it: axum clones the state for every
/// request, and one reference count is cheaper than the use cases' seven.
fn routes(state: AppState, http: &HttpSettings) -> Router {
    Router::new()
        .route(
            "/v1/accounts/users",
            post(users::register_user).get(users::list_users),
        )
        .route(
            "/v1/accounts/users/{id}",
            get(users::get_user).patch(users::update_user),
        )
        .route(
            "/v1/accounts/users/{id}/deactivate",
            post(users::deactivate_user),
        )
        .route(docs::OPENAPI_PATH, get(openapi::document))
        .merge(docs::routes())
        .fallback(problem::not_found_fallback)
        .with_state(Arc::new(state))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(axum::middleware::map_response(
            problem::problem_for_bare_errors,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_as_problem))
}
