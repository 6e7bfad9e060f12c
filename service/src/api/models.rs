//! Wire models of the accounts API (JSON), separate from the domain on purpose.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::application::{UserDto, UserPage};

/// Body of `POST /v1/accounts/users` (documentation; parsed field by field).
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the wire format for OpenAPI; the handler reads fields one by one to report every problem"
)]
pub(crate) struct RegisterUserRequest {
    /// The email address; trimmed; unique regardless of case.
    #[schema(example = "ada@example.com")]
    email: String,
    /// The full name; trimmed; 1 to 200 characters.
    #[schema(example = "Ada Lovelace")]
    full_name: String,
    /// Whether the account starts active; default `true`.
    is_active: Option<bool>,
}

/// Body of `PATCH /v1/accounts/users/{id}`: only the fields present change.
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the wire format for OpenAPI; the handler reads fields one by one to report every problem"
)]
pub(crate) struct UpdateUserRequest {
    /// A new full name.
    full_name: Option<String>,
    /// Activate or deactivate the account.
    is_active: Option<bool>,
}

/// A user as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    /// The user's id (UUID).
    id: String,
    /// The email address as registered.
    email: String,
    /// The full name.
    full_name: String,
    /// Whether the account is active.
    is_active: bool,
    /// RFC 3339 UTC timestamp of registration.
    created_at: String,
    /// RFC 3339 UTC timestamp of the last change.
    updated_at: String,
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
pub(crate) struct UserPageResponse {
    /// The users, in ascending id order.
    items: Vec<UserResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
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
