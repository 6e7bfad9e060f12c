//! Test doubles for the ports: an in-memory repository, a fixed clock, sequential ids.
//!
//! Honest fakes for use-case unit tests; the real adapters are tested
//! against SQLite and PostgreSQL in `tests/`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::domain::{Email, FullName, User, UserId};

use super::{Clock, IdGenerator, RepositoryError, UserRepository};

/// A [`UserRepository`] over a map, with the same uniqueness rule as the database.
#[derive(Default)]
pub(crate) struct InMemoryUserRepository {
    users: Mutex<BTreeMap<UserId, User>>,
    fail_next: AtomicBool,
}

impl InMemoryUserRepository {
    /// Makes the next call fail as an unavailable store would.
    pub(crate) fn fail_next_call(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    pub(crate) fn len(&self) -> usize {
        self.users.lock().unwrap().len()
    }

    fn check_failure(&self) -> Result<(), RepositoryError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable("store is down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl UserRepository for InMemoryUserRepository {
    async fn insert(&self, user: &User) -> Result<(), RepositoryError> {
        self.check_failure()?;
        let mut users = self.users.lock().unwrap();
        if users
            .values()
            .any(|u| u.email().canonical() == user.email().canonical())
        {
            return Err(RepositoryError::DuplicateEmail);
        }
        users.insert(user.id(), user.clone());
        Ok(())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        self.check_failure()?;
        Ok(self.users.lock().unwrap().get(&id).cloned())
    }

    async fn list(&self, after: Option<UserId>, limit: u64) -> Result<Vec<User>, RepositoryError> {
        self.check_failure()?;
        let users = self.users.lock().unwrap();
        Ok(users
            .values()
            .filter(|u| after.is_none_or(|a| u.id() > a))
            .take(usize::try_from(limit).unwrap())
            .cloned()
            .collect())
    }

    async fn update(&self, user: &User) -> Result<(), RepositoryError> {
        self.check_failure()?;
        match self.users.lock().unwrap().get_mut(&user.id()) {
            Some(stored) => {
                *stored = user.clone();
                Ok(())
            }
            None => Err(RepositoryError::NotFound),
        }
    }
}

/// A clock stopped at a fixed instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedClock(DateTime<Utc>);

impl FixedClock {
    pub(crate) fn at_offset_seconds(seconds: i64) -> Self {
        Self(Self::default().0 + chrono::Duration::seconds(seconds))
    }
}

impl Default for FixedClock {
    fn default() -> Self {
        Self(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Ids 1, 2, 3, … as UUIDs.
#[derive(Debug, Default)]
pub(crate) struct SequentialIds(AtomicU64);

impl IdGenerator for SequentialIds {
    fn next_id(&self) -> UserId {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        UserId::from_uuid(Uuid::from_u128(u128::from(n)))
    }
}

/// A valid user with id `n`.
pub(crate) fn sample_user(n: u64, email: &str) -> User {
    User::register(
        UserId::from_uuid(Uuid::from_u128(u128::from(n) + 1000)),
        Email::parse(email).unwrap(),
        FullName::parse("Sample User").unwrap(),
        true,
        FixedClock::default().now(),
    )
}
