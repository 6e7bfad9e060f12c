//! Use case: list users a page at a time (cursor pagination).

use std::sync::Arc;

use crate::domain::UserId;
use crate::shared::{AppError, FieldProblem};

use super::{RepositoryError, UserDto, UserPage, UserRepository};

/// Input of [`ListUsers`].
#[derive(Debug, Clone, Default)]
pub struct ListUsersQuery {
    /// The opaque cursor from a previous page's `next_cursor`, if any.
    pub cursor: Option<String>,
    /// How many users to return; defaults to [`ListUsers::DEFAULT_LIMIT`].
    pub limit: Option<u64>,
}

impl ListUsersQuery {
    /// Every problem of the query, in parameter order; empty when it is valid.
    pub fn problems(&self) -> Vec<FieldProblem> {
        self.parse().err().unwrap_or_default()
    }

    /// The page size and the id to start after, or every problem.
    fn parse(&self) -> Result<(u64, Option<UserId>), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let limit = self.limit.unwrap_or(ListUsers::DEFAULT_LIMIT);
        if !(1..=ListUsers::MAX_LIMIT).contains(&limit) {
            problems.push(FieldProblem::new(
                "limit",
                "out-of-range",
                format_args!("must be between 1 and {}", ListUsers::MAX_LIMIT),
            ));
        }
        let after = match self.cursor.as_deref() {
            None => None,
            Some(raw) => {
                let parsed = UserId::parse_hyphenated(raw);
                if parsed.is_none() {
                    problems.push(FieldProblem::new(
                        "cursor",
                        "invalid-cursor",
                        "is not a cursor this service issued",
                    ));
                }
                parsed
            }
        };
        if problems.is_empty() {
            Ok((limit, after))
        } else {
            Err(problems)
        }
    }
}

/// Everything that can go wrong while listing users.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// The cursor or limit is not acceptable; all problems are listed.
    #[error("invalid listing parameters")]
    Invalid(Vec<FieldProblem>),
    /// The store failed.
    #[error("could not list users")]
    Storage(#[source] RepositoryError),
}

impl From<ListUsersError> for AppError {
    fn from(err: ListUsersError) -> Self {
        match err {
            ListUsersError::Invalid(problems) => Self::Validation(problems),
            err @ ListUsersError::Storage(_) => Self::Unavailable(err.into()),
        }
    }
}

/// Lists users in a stable order (ascending id), a page at a time.
#[derive(Clone)]
pub struct ListUsers {
    users: Arc<dyn UserRepository>,
}

impl ListUsers {
    /// Page size when the caller names none.
    pub const DEFAULT_LIMIT: u64 = 50;
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u64 = 500;

    /// Wires the use case to its port.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
    }

    /// Returns the page after `query.cursor`.
    ///
    /// The cursor is the id of the last user of the previous page, so pages
    /// stay consistent while users are added.
    ///
    /// # Errors
    ///
    /// [`ListUsersError::Invalid`] for a cursor that is not a hyphenated UUID
    /// ([`UserId::parse_hyphenated`]) or a limit outside
    /// `1..=MAX_LIMIT`, [`ListUsersError::Storage`] when the store fails.
    #[tracing::instrument(name = "list_users", skip_all)]
    pub async fn execute(&self, query: ListUsersQuery) -> Result<UserPage, ListUsersError> {
        let (limit, after) = query.parse().map_err(ListUsersError::Invalid)?;

        // One extra row tells whether another page follows.
        let mut users = self
            .users
            .list(after, limit + 1)
            .await
            .map_err(ListUsersError::Storage)?;
        let has_more = users.len() as u64 > limit;
        users.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if has_more {
            users.last().map(|u| u.id())
        } else {
            None
        };
        Ok(UserPage {
            items: users.iter().map(UserDto::from).collect(),
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::in_memory::{InMemoryUserRepository, sample_user};

    #[tokio::test]
    async fn walks_every_user_exactly_once_across_pages() {
        let repo = Arc::new(InMemoryUserRepository::default());
        for n in 0..7 {
            repo.insert(&sample_user(n, &format!("u{n}@example.com")))
                .await
                .unwrap();
        }
        let list = ListUsers::new(repo);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list
                .execute(ListUsersQuery {
                    cursor,
                    limit: Some(3),
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|u| u.email.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).map(|n| format!("u{n}@example.com")).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn rejects_bad_limits_and_cursors_together() {
        let list = ListUsers::new(Arc::new(InMemoryUserRepository::default()));
        let err = list
            .execute(ListUsersQuery {
                cursor: Some("xyz".to_owned()),
                limit: Some(0),
            })
            .await
            .unwrap_err();
        let ListUsersError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err:?}");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor"]);
    }
}
