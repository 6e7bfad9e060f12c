//! Ports: capabilities the use cases need and the infrastructure provides.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use crate::domain::{User, UserId};
use crate::shared::BoxError;

/// Failure reported by a [`UserRepository`].
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Another user already holds this email address (compared case-insensitively).
    #[error("email address is already registered")]
    DuplicateEmail,
    /// The user to update does not exist.
    #[error("user not found")]
    NotFound,
    /// The store failed, or holds data that no longer parses.
    #[error("user store is unavailable")]
    Unavailable(#[source] BoxError),
}

/// Persistence for [`User`] aggregates.
///
/// Implementations MUST enforce email uniqueness on [`crate::domain::Email::canonical`]
/// atomically (a unique index), so that concurrent registrations of one
/// address leave exactly one user.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a newly registered user.
    ///
    /// # Errors
    ///
    /// MUST return [`RepositoryError::DuplicateEmail`] when the address is
    /// taken, [`RepositoryError::Unavailable`] for anything else.
    async fn insert(&self, user: &User) -> Result<(), RepositoryError>;

    /// Loads a user, or `Ok(None)` when the id is unknown.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::Unavailable`] when the store cannot be queried or a
    /// stored row no longer satisfies the domain's rules.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError>;

    /// Lists up to `limit` users in ascending id order, starting after `after`.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::Unavailable`] as for [`UserRepository::find_by_id`].
    async fn list(&self, after: Option<UserId>, limit: u64) -> Result<Vec<User>, RepositoryError>;

    /// Saves the mutable fields (full name, active flag, `updated_at`) of an existing user.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::NotFound`] when the user does not exist,
    /// [`RepositoryError::Unavailable`] for anything else.
    async fn update(&self, user: &User) -> Result<(), RepositoryError>;
}

/// A request-scoped unit of work: the repositories one request uses, over
/// one transaction of the store.
///
/// The use cases take their repositories from a unit of work when a request
/// asks that its writes not persist (a shadowed write, compared but never
/// kept): everything done through [`Work::users`] is undone by
/// [`Work::roll_back`], and MUST be invisible to every other unit of work
/// and request meanwhile (the store's transaction isolation), while the
/// store's constraints (the email's uniqueness) apply inside it as they do
/// outside.
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Begins a unit of work whose writes are always undone.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::Unavailable`] when the store cannot begin one.
    async fn begin_rolled_back(&self) -> Result<Box<dyn Work>, RepositoryError>;
}

/// One unit of work, begun by [`UnitOfWork::begin_rolled_back`].
#[async_trait]
pub trait Work: Send + Sync {
    /// The users, as seen and written inside this unit of work.
    fn users(&self) -> Arc<dyn UserRepository>;

    /// Ends the unit of work, undoing every write made through it.
    ///
    /// Dropping a unit of work without calling this undoes its writes too.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::Unavailable`] when the store reports a failure (its writes are not kept either way).
    async fn roll_back(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// The source of "now" for use cases, so tests can control time.
pub trait Clock: Send + Sync {
    /// The current instant, with at most microsecond precision (what every supported database keeps).
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Truncate so that what a create returns equals what a later read returns.
        Utc::now().trunc_subsecs(6)
    }
}

/// The source of ids for new users.
pub trait IdGenerator: Send + Sync {
    /// A fresh, never-used id.
    fn next_id(&self) -> UserId;
}

/// Generates time-ordered UUIDv7 ids, so id order is roughly creation order.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn next_id(&self) -> UserId {
        UserId::from_uuid(Uuid::now_v7())
    }
}
