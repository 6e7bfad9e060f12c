//! Use case: register a new user.

use std::sync::Arc;

use crate::domain::{Email, FullName, User};
use crate::shared::{AppError, FieldProblem};

use super::{Clock, IdGenerator, RepositoryError, UserDto, UserRepository};

/// Input of [`RegisterUser`], as received from any driving adapter.
///
/// Fields are optional so that a missing field is reported as such, together
/// with every other problem of the request.
#[derive(Debug, Clone, Default)]
pub struct RegisterUserCommand {
    /// The email address, untrimmed.
    pub email: Option<String>,
    /// The full name, untrimmed.
    pub full_name: Option<String>,
    /// Whether the account starts active; defaults to `true`.
    pub is_active: Option<bool>,
}

impl RegisterUserCommand {
    /// Every problem of the command, in field order; empty when it is valid.
    pub fn problems(&self) -> Vec<FieldProblem> {
        self.parse().err().unwrap_or_default()
    }

    fn parse(&self) -> Result<(Email, FullName), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let email = match self.email.as_deref().map(Email::parse) {
            None => {
                problems.push(FieldProblem::new("email", "required", "is required"));
                None
            }
            Some(Err(err)) => {
                problems.push(FieldProblem::new("email", "invalid-email", err));
                None
            }
            Some(Ok(email)) => Some(email),
        };
        let full_name = match self.full_name.as_deref().map(FullName::parse) {
            None => {
                problems.push(FieldProblem::new("full_name", "required", "is required"));
                None
            }
            Some(Err(err)) => {
                problems.push(FieldProblem::new("full_name", "invalid-full-name", err));
                None
            }
            Some(Ok(name)) => Some(name),
        };
        match (email, full_name) {
            (Some(email), Some(full_name)) => Ok((email, full_name)),
            _ => Err(problems),
        }
    }
}

/// Everything that can go wrong while registering a user.
#[derive(Debug, thiserror::Error)]
pub enum RegisterUserError {
    /// One or more fields are missing or break a rule; all are listed.
    #[error("invalid registration")]
    Invalid(Vec<FieldProblem>),
    /// Another user already holds the address.
    #[error("email address is already registered")]
    EmailTaken,
    /// The store failed.
    #[error("could not store the new user")]
    Storage(#[source] RepositoryError),
}

impl From<RegisterUserError> for AppError {
    fn from(err: RegisterUserError) -> Self {
        match err {
            RegisterUserError::Invalid(problems) => Self::Validation(problems),
            RegisterUserError::EmailTaken => Self::Conflict {
                code: "email-taken",
                detail: "a user with this email address already exists".to_owned(),
            },
            err @ RegisterUserError::Storage(_) => Self::Unavailable(err.into()),
        }
    }
}

/// Registers users. Cheap to clone; holds only its ports.
#[derive(Clone)]
pub struct RegisterUser {
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl RegisterUser {
    /// Wires the use case to its ports.
    pub fn new(
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { users, clock, ids }
    }

    /// Validates every field, creates the user and stores it.
    ///
    /// # Errors
    ///
    /// [`RegisterUserError::Invalid`] listing every field problem,
    /// [`RegisterUserError::EmailTaken`], or [`RegisterUserError::Storage`].
    #[tracing::instrument(name = "register_user", skip_all)]
    pub async fn execute(
        &self,
        command: RegisterUserCommand,
    ) -> Result<UserDto, RegisterUserError> {
        let (email, full_name) = command.parse().map_err(RegisterUserError::Invalid)?;
        let user = User::register(
            self.ids.next_id(),
            email,
            full_name,
            command.is_active.unwrap_or(true),
            self.clock.now(),
        );
        match self.users.insert(&user).await {
            Ok(()) => Ok(UserDto::from(&user)),
            Err(RepositoryError::DuplicateEmail) => Err(RegisterUserError::EmailTaken),
            Err(err @ (RepositoryError::NotFound | RepositoryError::Unavailable(_))) => {
                Err(RegisterUserError::Storage(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::in_memory::{FixedClock, InMemoryUserRepository, SequentialIds};

    fn use_case(repo: &Arc<InMemoryUserRepository>) -> RegisterUser {
        RegisterUser::new(
            repo.clone(),
            Arc::new(FixedClock::default()),
            Arc::new(SequentialIds::default()),
        )
    }

    fn command(email: &str, full_name: &str) -> RegisterUserCommand {
        RegisterUserCommand {
            email: Some(email.to_owned()),
            full_name: Some(full_name.to_owned()),
            is_active: None,
        }
    }

    #[tokio::test]
    async fn registers_a_valid_user_trimmed_and_active_by_default() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let user = use_case(&repo)
            .execute(command(" Ada@Example.com ", " Ada "))
            .await
            .unwrap();
        assert_eq!(user.email, "Ada@Example.com");
        assert_eq!(user.full_name, "Ada");
        assert!(user.is_active);
        assert_eq!(user.created_at, FixedClock::default().now());
        assert_eq!(repo.len(), 1, "the user must be stored");
    }

    #[tokio::test]
    async fn lists_every_field_problem_at_once() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let err = use_case(&repo)
            .execute(RegisterUserCommand {
                email: Some("not-an-email".to_owned()),
                full_name: None,
                is_active: Some(true),
            })
            .await
            .unwrap_err();
        let RegisterUserError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err:?}");
        };
        let fields: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect();
        assert_eq!(
            fields,
            [("email", "invalid-email"), ("full_name", "required")]
        );
        assert_eq!(repo.len(), 0, "nothing is stored on invalid input");
    }

    #[tokio::test]
    async fn a_second_registration_of_the_same_address_in_other_case_is_a_conflict() {
        let repo = Arc::new(InMemoryUserRepository::default());
        let register = use_case(&repo);
        register
            .execute(command("ada@example.com", "Ada"))
            .await
            .unwrap();
        let err = register
            .execute(command("ADA@example.COM", "Ada 2"))
            .await
            .unwrap_err();
        assert!(matches!(err, RegisterUserError::EmailTaken), "got {err:?}");
        assert!(matches!(
            AppError::from(err),
            AppError::Conflict {
                code: "email-taken",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_failing_store_is_reported_as_unavailable() {
        let repo = Arc::new(InMemoryUserRepository::default());
        repo.fail_next_call();
        let err = use_case(&repo)
            .execute(command("ada@example.com", "Ada"))
            .await
            .unwrap_err();
        assert!(matches!(AppError::from(err), AppError::Unavailable(_)));
    }
}
