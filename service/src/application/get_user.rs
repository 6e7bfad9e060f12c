//! Use case: read one user by id.

use std::sync::Arc;

use crate::domain::UserId;
use crate::shared::AppError;

use super::{RepositoryError, UserDto, UserRepository};

/// Everything that can go wrong while reading a user.
#[derive(Debug, thiserror::Error)]
pub enum GetUserError {
    /// No user has this id (or the id is not a valid id at all).
    #[error("user not found")]
    NotFound,
    /// The store failed.
    #[error("could not load the user")]
    Storage(#[source] RepositoryError),
}

impl From<GetUserError> for AppError {
    fn from(err: GetUserError) -> Self {
        match err {
            GetUserError::NotFound => Self::NotFound { resource: "user" },
            err @ GetUserError::Storage(_) => Self::Unavailable(err.into()),
        }
    }
}

/// Reads users by id.
#[derive(Clone)]
pub struct GetUserById {
    users: Arc<dyn UserRepository>,
}

impl GetUserById {
    /// Wires the use case to its port.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
    }

    /// Loads the user with the textual id `raw_id`.
    ///
    /// An id that is not a hyphenated UUID ([`UserId::parse_hyphenated`]) is
    /// simply an id no user has: [`GetUserError::NotFound`].
    ///
    /// # Errors
    ///
    /// [`GetUserError::NotFound`] or [`GetUserError::Storage`].
    #[tracing::instrument(name = "get_user_by_id", skip_all)]
    pub async fn execute(&self, raw_id: &str) -> Result<UserDto, GetUserError> {
        let id = UserId::parse_hyphenated(raw_id).ok_or(GetUserError::NotFound)?;
        match self.users.find_by_id(id).await {
            Ok(Some(user)) => Ok(UserDto::from(&user)),
            Ok(None) => Err(GetUserError::NotFound),
            Err(err) => Err(GetUserError::Storage(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::in_memory::{InMemoryUserRepository, sample_user};

    #[tokio::test]
    async fn finds_a_stored_user_and_reports_unknown_or_malformed_ids_as_not_found() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let user = sample_user(1, "ada@example.com");
        repo.insert(&user).await.unwrap();
        let get = GetUserById::new(repo.clone());

        let found = get.execute(&user.id().to_string()).await.unwrap();
        assert_eq!(found, UserDto::from(&user));

        for raw in ["00000000-0000-7000-8000-00000000ffff", "nope", ""] {
            let err = get.execute(raw).await.unwrap_err();
            assert!(
                matches!(err, GetUserError::NotFound),
                "{raw:?} gave {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_store_is_not_reported_as_not_found() {
        let repo = Arc::new(InMemoryUserRepository::default());
        repo.fail_next_call();
        let err = GetUserById::new(repo)
            .execute("00000000-0000-7000-8000-000000000001")
            .await
            .unwrap_err();
        assert!(matches!(err, GetUserError::Storage(_)), "got {err:?}");
    }
}
