//! Use case: change a user's full name or active flag (partial update, deactivation).

use std::sync::Arc;

use crate::domain::{FullName, UserId};
use crate::shared::{AppError, FieldProblem};

use super::{Clock, RepositoryError, UserDto, UserRepository};

/// Input of [`UpdateUser`]: only the fields that are `Some` change.
#[derive(Debug, Clone, Default)]
pub struct UpdateUserCommand {
    /// A new full name, untrimmed.
    pub full_name: Option<String>,
    /// Activate (`true`) or deactivate (`false`) the account.
    pub is_active: Option<bool>,
}

impl UpdateUserCommand {
    /// The command that deactivates an account and changes nothing else.
    pub fn deactivate() -> Self {
        Self {
            full_name: None,
            is_active: Some(false),
        }
    }
}

/// Everything that can go wrong while updating a user.
#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    /// No user has this id.
    #[error("user not found")]
    NotFound,
    /// One or more fields break a rule; all are listed.
    #[error("invalid update")]
    Invalid(Vec<FieldProblem>),
    /// The store failed.
    #[error("could not update the user")]
    Storage(#[source] RepositoryError),
}

impl From<UpdateUserError> for AppError {
    fn from(err: UpdateUserError) -> Self {
        match err {
            UpdateUserError::NotFound => Self::NotFound { resource: "user" },
            UpdateUserError::Invalid(problems) => Self::Validation(problems),
            err @ UpdateUserError::Storage(_) => Self::Unavailable(err.into()),
        }
    }
}

/// Applies partial updates to users.
#[derive(Clone)]
pub struct UpdateUser {
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl UpdateUser {
    /// Wires the use case to its ports.
    pub fn new(users: Arc<dyn UserRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { users, clock }
    }

    /// Validates the command, then applies it to the user with id `raw_id`.
    ///
    /// Setting a field to its current value changes nothing, not even `updated_at`.
    ///
    /// # Errors
    ///
    /// [`UpdateUserError::Invalid`] before anything is read,
    /// [`UpdateUserError::NotFound`] for unknown ids and ids that are not
    /// hyphenated UUIDs,
    /// [`UpdateUserError::Storage`] when the store fails.
    #[tracing::instrument(name = "update_user", skip_all)]
    pub async fn execute(
        &self,
        raw_id: &str,
        command: UpdateUserCommand,
    ) -> Result<UserDto, UpdateUserError> {
        let full_name = match command
            .full_name
            .as_deref()
            .map(FullName::parse)
            .transpose()
        {
            Ok(name) => name,
            Err(err) => {
                return Err(UpdateUserError::Invalid(vec![FieldProblem::new(
                    "full_name",
                    "invalid-full-name",
                    err,
                )]));
            }
        };
        let id = UserId::parse_hyphenated(raw_id).ok_or(UpdateUserError::NotFound)?;
        let mut user = match self.users.find_by_id(id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(UpdateUserError::NotFound),
            Err(err) => return Err(UpdateUserError::Storage(err)),
        };
        let before = user.clone();
        let now = self.clock.now();
        if let Some(full_name) = full_name {
            user.rename(full_name, now);
        }
        if let Some(is_active) = command.is_active {
            user.set_active(is_active, now);
        }
        if user != before {
            match self.users.update(&user).await {
                Ok(()) => {}
                Err(RepositoryError::NotFound) => return Err(UpdateUserError::NotFound),
                Err(err) => return Err(UpdateUserError::Storage(err)),
            }
        }
        Ok(UserDto::from(&user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::in_memory::{FixedClock, InMemoryUserRepository, sample_user};

    #[tokio::test]
    async fn renames_and_deactivates_and_moves_updated_at() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let user = sample_user(1, "ada@example.com");
        repo.insert(&user).await.unwrap();
        let clock = FixedClock::at_offset_seconds(3600);
        let update = UpdateUser::new(repo.clone(), Arc::new(clock));

        let changed = update
            .execute(
                &user.id().to_string(),
                UpdateUserCommand {
                    full_name: Some(" Ada L. ".to_owned()),
                    is_active: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(changed.full_name, "Ada L.");
        assert!(changed.is_active);
        assert_eq!(changed.updated_at, clock.now());

        let deactivated = update
            .execute(&user.id().to_string(), UpdateUserCommand::deactivate())
            .await
            .unwrap();
        assert!(!deactivated.is_active);
        let stored = repo.find_by_id(user.id()).await.unwrap().unwrap();
        assert!(!stored.is_active(), "the change must be stored");
        assert_eq!(stored.full_name().as_str(), "Ada L.");
    }

    #[tokio::test]
    async fn rejects_an_invalid_name_and_unknown_ids() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let user = sample_user(1, "ada@example.com");
        repo.insert(&user).await.unwrap();
        let update = UpdateUser::new(repo.clone(), Arc::new(FixedClock::default()));

        let err = update
            .execute(
                &user.id().to_string(),
                UpdateUserCommand {
                    full_name: Some("  ".to_owned()),
                    is_active: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, UpdateUserError::Invalid(p) if p[0].field == "full_name"),
            "got {err:?}"
        );

        let err = update
            .execute("not-an-id", UpdateUserCommand::deactivate())
            .await
            .unwrap_err();
        assert!(matches!(err, UpdateUserError::NotFound), "got {err:?}");
        let stored = repo.find_by_id(user.id()).await.unwrap().unwrap();
        assert_eq!(stored, user, "nothing changed");
    }
}
