//! Whether the database can be used now: fail fast while it cannot, and find out when it can again.
//!
//! A query that fails with a storage error makes the database *suspect*:
//! the watcher task pings it (bounded by the acquire timeout). If the ping
//! fails too, the database is *unreachable*: from then on every query is
//! refused at once ([`Availability::check`]) instead of waiting for the
//! pool's acquire timeout, and the watcher keeps pinging with backoff until
//! the database answers, then lets queries through again. No restart is
//! needed either way.
//!
//! The host may also *hold* the service (the gateway does while migrations
//! are pending): queries are refused until it releases it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

/// The first wait between two pings of an unreachable database; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two pings of an unreachable database.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The database's state, as [`Availability`] last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// Queries go through.
    Available,
    /// The host holds the service (for example until migrations are applied).
    Held(String),
    /// The last ping failed; queries are refused until one succeeds.
    Unreachable(String),
}

/// Why a query was refused without trying the database.
#[derive(Debug, thiserror::Error)]
#[error("the database is not available ({0}); retrying in the background")]
pub struct Refused(String);

/// The shared view of the database's availability (cheap to clone).
#[derive(Clone, Default)]
pub struct Availability {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Why the database is unreachable, when it is.
    unreachable: Mutex<Option<String>>,
    /// Why the host holds the service, when it does.
    held: Mutex<Option<String>>,
    /// Wakes the watcher: a query failed.
    suspect: Notify,
    /// The pool was closed: the watcher stops.
    closed: AtomicBool,
}

fn read(slot: &Mutex<Option<String>>) -> Option<String> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn write(slot: &Mutex<Option<String>>, value: Option<String>) -> Option<String> {
    std::mem::replace(
        &mut *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        value,
    )
}

impl Availability {
    /// The state now, without touching the database.
    pub fn state(&self) -> DatabaseState {
        if let Some(reason) = read(&self.inner.held) {
            return DatabaseState::Held(reason);
        }
        match read(&self.inner.unreachable) {
            Some(error) => DatabaseState::Unreachable(error),
            None => DatabaseState::Available,
        }
    }

    /// `Ok` when queries may go to the database now.
    ///
    /// # Errors
    ///
    /// [`Refused`] while the service is held or the database unreachable.
    pub fn check(&self) -> Result<(), Refused> {
        match self.state() {
            DatabaseState::Available => Ok(()),
            DatabaseState::Held(reason) | DatabaseState::Unreachable(reason) => {
                Err(Refused(reason))
            }
        }
    }

    /// A query failed with a storage error: the watcher checks whether the database is still there.
    pub fn suspect(&self) {
        self.inner.suspect.notify_one();
    }

    /// Refuses queries until [`Availability::release`], saying `reason`.
    pub fn hold(&self, reason: &str) {
        write(&self.inner.held, Some(reason.to_owned()));
    }

    /// Lets queries through again after [`Availability::hold`].
    pub fn release(&self) {
        write(&self.inner.held, None);
    }

    /// Stops the watcher (the pool is closing).
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.suspect.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    fn set_unreachable(&self, error: String) {
        if write(&self.inner.unreachable, Some(error.clone())).is_none() {
            tracing::warn!(%error, "the database is unreachable: service requests answer 503 at once until it is back; retrying in the background");
        }
    }

    fn set_reachable(&self) {
        if write(&self.inner.unreachable, None).is_some() {
            tracing::info!("the database is reachable again: service requests go through");
        }
    }
}

/// Pings `db`, at most `limit` long; the error as text.
pub(crate) async fn ping(db: &DatabaseConnection, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(crate::shared::ErrorChain(&err).to_string()),
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

/// Pings `db` once now, then watches it for as long as `availability` is open (see the module docs).
pub(crate) async fn watch(db: DatabaseConnection, availability: Availability, limit: Duration) {
    if let Err(error) = ping(&db, limit).await {
        availability.set_unreachable(error);
    }
    let watched = availability.clone();
    tokio::spawn(async move {
        loop {
            if read(&watched.inner.unreachable).is_none() {
                watched.inner.suspect.notified().await;
                if watched.is_closed() {
                    return;
                }
                match ping(&db, limit).await {
                    Ok(()) => continue,
                    Err(error) => watched.set_unreachable(error),
                }
            }
            let mut backoff = FIRST_BACKOFF;
            loop {
                tokio::time::sleep(backoff).await;
                if watched.is_closed() {
                    return;
                }
                match ping(&db, limit).await {
                    Ok(()) => break watched.set_reachable(),
                    Err(error) => {
                        tracing::debug!(%error, "the database is still unreachable");
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_refuses_queries_until_released() {
        let availability = Availability::default();
        assert_eq!(availability.state(), DatabaseState::Available);
        assert!(availability.check().is_ok());
        availability.hold("migrations pending");
        assert_eq!(
            availability.state(),
            DatabaseState::Held("migrations pending".to_owned())
        );
        let refused = availability.check().expect_err("held");
        assert!(
            refused.to_string().contains("migrations pending"),
            "{refused}"
        );
        availability.release();
        assert!(availability.check().is_ok());
    }

    #[test]
    fn an_unreachable_database_refuses_queries_until_it_is_reachable() {
        let availability = Availability::default();
        availability.set_unreachable("connection refused".to_owned());
        assert!(matches!(
            availability.state(),
            DatabaseState::Unreachable(e) if e == "connection refused"
        ));
        assert!(availability.check().is_err());
        availability.set_reachable();
        assert!(availability.check().is_ok());
    }
}
