//! Output of the use cases, independent of any wire format.

use chrono::{DateTime, Utc};

use crate::domain::{User, UserId};

/// A user as use cases hand it to driving adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDto {
    /// The user's id.
    pub id: UserId,
    /// The email address as registered.
    pub email: String,
    /// The full name.
    pub full_name: String,
    /// Whether the account is active.
    pub is_active: bool,
    /// When the user registered.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserDto {
    fn from(user: &User) -> Self {
        Self {
            id: user.id(),
            email: user.email().as_str().to_owned(),
            full_name: user.full_name().as_str().to_owned(),
            is_active: user.is_active(),
            created_at: user.created_at(),
            updated_at: user.updated_at(),
        }
    }
}

/// One page of a user listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The users on this page, in ascending id order.
    pub items: Vec<UserDto>,
    /// Where the next page starts, or `None` on the last page.
    pub next_cursor: Option<UserId>,
}
