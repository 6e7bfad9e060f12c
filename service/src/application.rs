//! Use cases of the accounts capability, their input and output, and the ports they need.
//!
//! Depends on `domain` and `shared` only. MUST NOT import axum, sea_orm,
//! figment or serde: driving adapters (`api`) and driven adapters
//! (`infrastructure`) depend on this module, never the other way round.

mod dto;
mod get_user;
mod list_users;
mod ports;
mod register_user;
mod update_user;

#[cfg(test)]
pub(crate) mod in_memory;

pub use dto::{UserDto, UserPage};
pub use get_user::{GetUserById, GetUserError};
pub use list_users::{ListUsers, ListUsersError, ListUsersQuery};
pub use ports::{
    Clock, IdGenerator, RepositoryError, SystemClock, UnitOfWork, UserRepository, UuidV7Generator,
    Work,
};
pub use register_user::{RegisterUser, RegisterUserCommand, RegisterUserError};
pub use update_user::{UpdateUser, UpdateUserCommand, UpdateUserError};
