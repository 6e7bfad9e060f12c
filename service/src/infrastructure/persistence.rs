//! SeaORM persistence: the `users` entity and the [`UserRepository`](crate::application::UserRepository) adapter.
//!
//! The only module that knows SQL. Rows become domain values here, parsed
//! again on the way in: a stored row that no longer satisfies the domain's
//! rules is reported as an unavailable store, never passed on.

pub(crate) mod entity;
mod sqlite_reads;
mod user_repository;

pub(crate) use user_repository::{SeaOrmUnitOfWork, SeaOrmUserRepository};
