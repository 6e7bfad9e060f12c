//! What `/-/readyz` reports: each dependency's check, bounded in time, and whether the replica is ready.
//!
//! The database belongs to the new service only. By default an unreachable
//! database leaves the replica *ready, degraded* (200): legacy routes do not
//! need it, and an unready replica would leave the load balancer with its
//! legacy traffic. `readiness.require_database = true` makes it unready
//! (503) instead, for deployments where every route is on the service.

use std::time::Duration;

use accounts::{Accounts, DatabaseState};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::ReadinessSettings;

/// One dependency's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `ok`, `unreachable` or `migrations-pending`.
    pub status: &'static str,
    /// Why it is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    fn ok() -> Self {
        Self {
            status: "ok",
            detail: None,
        }
    }

    fn failed(status: &'static str, detail: String) -> Self {
        Self {
            status,
            detail: Some(detail),
        }
    }

    /// Whether the dependency is usable.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The database's check: the service's own view when it already knows the
/// database is down or held (no query), else a ping bounded by `limit`.
pub async fn database(accounts: &Accounts, limit: Duration) -> Check {
    match accounts.database_state() {
        DatabaseState::Held(reason) => Check::failed("migrations-pending", reason),
        DatabaseState::Unreachable(error) => Check::failed("unreachable", error),
        DatabaseState::Available => match tokio::time::timeout(limit, accounts.ping()).await {
            Ok(Ok(())) => Check::ok(),
            outcome => {
                // The service's watcher takes over: it refuses queries at once if the ping fails too.
                accounts.availability().suspect();
                let detail = match outcome {
                    Ok(Err(err)) => crate::telemetry::ErrorChain(&err).to_string(),
                    _ => format!("no answer within {limit:?}"),
                };
                Check::failed("unreachable", detail)
            }
        },
    }
}

/// The readiness verdict: `Ok(body)` for 200, `Err(reason)` when the replica is unready.
///
/// # Errors
///
/// The database's failure, when `settings.require_database` is set and it is not `ok`.
pub fn verdict(
    settings: &ReadinessSettings,
    route_table_version: &str,
    database: &Check,
) -> Result<Value, String> {
    if !database.is_ok() && settings.require_database {
        return Err(format!(
            "the database is {}{} and readiness.require_database is set",
            database.status,
            database
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    Ok(json!({
        "status": if database.is_ok() { "ready" } else { "degraded" },
        "route_table_version": route_table_version,
        "database": database.status,
        "checks": {
            "route_table": { "status": "ok", "version": route_table_version },
            "database": database,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_degrades_unless_required() {
        let down = Check::failed("unreachable", "connection refused".to_owned());
        let lenient = ReadinessSettings::default();
        let body = verdict(&lenient, "v1", &down).expect("ready, degraded");
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["database"], "unreachable");
        assert_eq!(body["checks"]["database"]["detail"], "connection refused");
        assert_eq!(body["checks"]["route_table"]["version"], "v1");

        let strict = ReadinessSettings {
            require_database: true,
            ..ReadinessSettings::default()
        };
        let reason = verdict(&strict, "v1", &down).expect_err("unready");
        assert!(reason.contains("connection refused"), "{reason}");

        let body = verdict(&strict, "v1", &Check::ok()).expect("ready");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["database"], "ok");
    }
}
