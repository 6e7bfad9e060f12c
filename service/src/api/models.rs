//! Wire models of the accounts API (JSON), separate from the domain on purpose.
//!
//! The request models and parameters only describe the wire format for the
//! OpenAPI document: the handlers read bodies field by field, so that every
//! problem of a request is reported at once.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::formats::{EmailFormat, FullNameFormat, UserIdFormat};
use crate::application::{UserDto, UserPage};

/// Body of `POST /v1/accounts/users`. Members other than these are ignored.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "is_active": true
}))]
#[expect(
    dead_code,
    reason = "describes the wire format for OpenAPI; the handler reads fields one by one to report every problem"
)]
pub(crate) struct RegisterUserRequest {
    /// The email address.
    #[schema(value_type = EmailFormat)]
    email: String,
    /// The full name.
    #[schema(value_type = FullNameFormat)]
    full_name: String,
    /// Whether the account starts active; absent or `null` is `true`.
    is_active: Option<bool>,
}

/// Body of `PATCH /v1/accounts/users/{id}`: only the members present (and not `null`) change.
///
/// Any other member is refused (422, `unknown-field`), `email` included:
/// an address cannot be changed.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "full_name": "Ada King, Countess of Lovelace" }))]
#[expect(
    dead_code,
    reason = "describes the wire format for OpenAPI; the handler reads fields one by one to report every problem"
)]
pub(crate) struct UpdateUserRequest {
    /// A new full name.
    #[schema(value_type = Option<FullNameFormat>)]
    full_name: Option<String>,
    /// Activate (`true`) or deactivate (`false`) the account.
    is_active: Option<bool>,
}

/// The query of `GET /v1/accounts/users`. Other parameters are ignored.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query for OpenAPI; the handler reads it as text to report every problem"
)]
pub(crate) struct ListUsersParams {
    /// The page size.
    // The bounds and the default are `ListUsers`'s; the contract test holds them to it.
    #[param(minimum = 1, maximum = 500, default = 50, example = 10)]
    limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page. Absent: the first page.
    cursor: Option<UserIdFormat>,
}

/// A user as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = user_example)]
pub(crate) struct UserResponse {
    /// The user's id.
    #[schema(value_type = UserIdFormat)]
    id: String,
    /// The email address as registered (trimmed, case kept).
    email: String,
    /// The full name (trimmed).
    full_name: String,
    /// Whether the account is active.
    is_active: bool,
    /// When the user registered.
    #[schema(value_type = DateTime<Utc>)]
    created_at: String,
    /// When the user last changed; equal to `created_at` until then.
    #[schema(value_type = DateTime<Utc>)]
    updated_at: String,
}

/// The user of the examples.
fn user_example() -> Value {
    json!({
        "id": "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "is_active": true,
        "created_at": "2026-01-05T09:30:00.123456Z",
        "updated_at": "2026-01-05T09:30:00.123456Z"
    })
}

/// A page of one user, with more to come.
fn user_page_example() -> Value {
    json!({
        "items": [user_example()],
        "next_cursor": "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a"
    })
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<UserDto> for UserResponse {
    fn from(user: UserDto) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            full_name: user.full_name,
            is_active: user.is_active,
            created_at: timestamp(user.created_at),
            updated_at: timestamp(user.updated_at),
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = user_page_example)]
pub(crate) struct UserPageResponse {
    /// The users, in ascending id order; at most `limit` of them.
    items: Vec<UserResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(value_type = Option<UserIdFormat>, required = true)]
    next_cursor: Option<String>,
}

impl From<UserPage> for UserPageResponse {
    fn from(page: UserPage) -> Self {
        Self {
            items: page.items.into_iter().map(UserResponse::from).collect(),
            next_cursor: page.next_cursor.map(|id| id.to_string()),
        }
    }
}
