//! The new backend, as a library: the accounts capability in clean/hexagonal layers.
//!
//! Layers, dependencies pointing inwards:
//! - [`domain`]: the `User` aggregate and its value objects; pure.
//! - [`application`]: use cases, their DTOs, and the ports they need.
//! - [`infrastructure`]: settings, the database, the SeaORM adapter, logging.
//! - [`api`]: axum routes under `/v1/accounts`, wire models, problem+json.
//! - [`shared`]: the application error family.
//!
//! [`build`] is the one wiring path: the gateway calls it to host the
//! service in-process, and the tests call it too. A request carrying the
//! [`RollbackWrites`] extension runs inside one database transaction that is
//! always rolled back (the gateway's shadowed writes in `writes = "rollback"`
//! mode): its answer is real, its writes are not kept.

pub mod api;
pub mod application;
pub mod domain;
pub mod infrastructure;
pub mod shared;

mod settings;

#[cfg(test)]
mod layering;

use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;

use crate::api::{AppState, RollbackWiring};
use crate::application::{Clock, IdGenerator, SystemClock, UserRepository, UuidV7Generator};
use crate::infrastructure::persistence::{SeaOrmUnitOfWork, SeaOrmUserRepository};

pub use crate::api::problem::{PROBLEM_JSON, Problem};
pub use crate::api::{AccountsFuture, AccountsService, HttpSettings, RollbackWrites};
pub use crate::infrastructure::availability::{Availability, DatabaseState};
pub use crate::infrastructure::database::DatabaseUnavailable;
pub use crate::infrastructure::database::{
    ConnectError, connect as connect_database, connect_lazy as connect_database_lazy,
};
pub use crate::infrastructure::settings::DatabaseSettings;
pub use crate::settings::Settings;
pub use crate::shared::ErrorChain;

/// The built service: its router and the resources it holds.
#[derive(Clone)]
pub struct Accounts {
    router: Router,
    service: AccountsService,
    database: DatabaseConnection,
    availability: Availability,
    max_connections: u32,
}

/// Usage of the database connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl Accounts {
    /// The HTTP surface, to be served on a socket or called in-process with `oneshot`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The same surface as one tower service, cheaper to call in-process
    /// than [`Accounts::router`] (the same answers: [`AccountsService`]).
    pub fn service(&self) -> AccountsService {
        self.service.clone()
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    ///
    /// The database's error when it does not.
    pub async fn ping(&self) -> Result<(), DatabaseUnavailable> {
        self.database
            .ping()
            .await
            .map_err(DatabaseUnavailable::from)
    }

    /// The database's availability as the service last saw it (no query is made).
    pub fn database_state(&self) -> DatabaseState {
        self.availability.state()
    }

    /// The service's view of the database's availability: the host holds
    /// and releases it (the gateway does while migrations are pending), and
    /// makes the database suspect when a check of its own failed.
    pub fn availability(&self) -> &Availability {
        &self.availability
    }

    /// How many database connections the pool holds, and how many of them are idle.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle) = infrastructure::database::pool_usage(&self.database);
        PoolStats {
            open,
            idle,
            max: self.max_connections,
        }
    }

    /// Closes the connection pool; in-flight queries finish first.
    ///
    /// # Errors
    ///
    /// [`DatabaseUnavailable`] when closing fails.
    pub async fn close(self) -> Result<(), DatabaseUnavailable> {
        self.availability.close();
        self.database
            .close()
            .await
            .map_err(DatabaseUnavailable::from)
    }
}

/// Opens the database's pool and wires every use case to its adapters.
///
/// The pool connects lazily and the database is pinged once (within the
/// acquire timeout): an unreachable database is not an error here. Its
/// queries are refused at once until a background ping reaches it (see
/// [`Availability`]), so a host can start and serve without it.
///
/// Does not apply migrations: the `migration` crate owns the schema and the
/// host (the gateway, or a migration job) runs it first.
///
/// # Errors
///
/// [`ConnectError`] when the URL is unusable or a SQLite directory cannot be created.
pub async fn build(settings: &Settings) -> Result<Accounts, ConnectError> {
    let database = infrastructure::database::connect_lazy(&settings.database).await?;
    let availability = Availability::default();
    infrastructure::availability::watch(
        database.clone(),
        availability.clone(),
        settings.database.acquire_timeout(),
    )
    .await;
    let users: Arc<dyn UserRepository> = Arc::new(SeaOrmUserRepository::new(
        database.clone(),
        availability.clone(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
    let rollback = RollbackWiring {
        units: Arc::new(SeaOrmUnitOfWork::new(
            database.clone(),
            availability.clone(),
        )),
        clock: clock.clone(),
        ids: ids.clone(),
        http: settings.http.clone(),
    };
    let state = AppState::wire(users, clock, ids);
    Ok(Accounts {
        router: api::router(state.clone(), &settings.http, rollback.clone()),
        service: api::service(state, &settings.http, rollback),
        database,
        availability,
        max_connections: settings.database.max_connections,
    })
}
