//! The admin API, on its own listener: health, readiness, the route table, reload.
//!
//! `/-/healthz` and `/-/readyz` are open (for probes); every other endpoint
//! (`/-/routes`, `/-/reload`, `/-/metrics`, `/-/shadow…`, including
//! `POST /-/shadow/routes/{route}/reset` and `…/replay`)
//! requires `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>` when a token is set.
//! The console's pages (`/-/console/`, [`crate::console`]) take the same
//! token, or the cookie its login form sets.
//! The gateway refuses to bind the admin API beyond loopback without a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use accounts::Accounts;
use axum::extract::{Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header;
use serde_json::json;

use metrics_exporter_prometheus::PrometheusHandle;

mod error;

pub use error::AdminError;

use crate::console;

use crate::overrides::constant_time_eq;
use crate::reload::{ReloadOutcome, RouteState};
use crate::shadow::Shadowing;
use crate::shadow::replay::{self, ReplayOptions, ReplayReport};
use crate::shadow::results::{MAX_SERIES_MINUTES, minute_series, route_results};
use crate::shadow::store::MismatchRecord;
use crate::shadow::summary::{RouteSummary, summarise};

/// What the admin handlers can see.
#[derive(Clone)]
pub struct AdminState {
    /// The route table and its reload history.
    pub routes: Arc<RouteState>,
    /// The hosted service, for the readiness check.
    pub accounts: Accounts,
    /// The bearer token, if one is configured.
    pub token: Option<Arc<str>>,
    /// Renders the Prometheus metrics; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// Shadow statistics and records.
    pub shadowing: Arc<Shadowing>,
    /// Set once shutdown has begun: readiness then fails so load balancers stop sending.
    pub draining: Arc<AtomicBool>,
    /// What readiness requires.
    pub readiness: crate::config::ReadinessSettings,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let protected = Router::new()
        .route("/-/routes", get(routes))
        .route("/-/upstreams", get(upstreams))
        .route("/-/metrics", get(metrics))
        .route("/-/shadow", get(shadow_summaries))
        .route("/-/shadow/routes/{route}", get(shadow_summary))
        .route("/-/shadow/routes/{route}/reset", post(reset_results))
        .route("/-/shadow/routes/{route}/replay", post(replay_mismatches))
        .route("/-/shadow/routes/{route}/series", get(shadow_series))
        .route("/-/shadow/diffs", get(shadow_diffs))
        .route("/-/shadow/diffs/{id}", get(shadow_diff))
        .route("/-/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/-/healthz", get(healthz))
        .route("/-/readyz", get(readyz))
        .merge(protected)
        .merge(console::router(state.clone()))
        .fallback(|| async { AdminError::NotFound("no such admin endpoint".to_owned()) })
        .with_state(state)
}

async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    if has_bearer_token(request.headers(), expected) {
        return next.run(request).await;
    }
    AdminError::Unauthorized.into_response()
}

/// Whether `headers` carry `Authorization: Bearer <expected>` (compared in constant time).
pub(crate) fn has_bearer_token(headers: &http::HeaderMap, expected: &str) -> bool {
    // The scheme is case-insensitive (RFC 9110, section 11.1).
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// `GET /-/healthz`: the process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /-/readyz`: each dependency's check within a bounded time (see [`crate::readiness`]).
async fn readyz(State(state): State<AdminState>) -> Result<Json<serde_json::Value>, AdminError> {
    if state.draining.load(Ordering::SeqCst) {
        return Err(AdminError::Draining);
    }
    let version = state.routes.current().table.version().to_owned();
    let database =
        crate::readiness::database(&state.accounts, state.readiness.database_timeout()).await;
    crate::readiness::verdict(&state.readiness, &version, &database)
        .map(Json)
        .map_err(AdminError::NotReady)
}

/// `GET /-/metrics`: every series in the Prometheus text format.
async fn metrics(State(state): State<AdminState>) -> Response {
    let Some(handle) = &state.metrics else {
        return AdminError::NotFound("metrics are not enabled in this process".to_owned())
            .into_response();
    };
    crate::metrics::set_pool(state.accounts.pool_stats());
    crate::metrics::set_log_lines_dropped(crate::telemetry::dropped_log_lines());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// `GET /-/routes`: the table in force, its version, load time and reload history.
async fn routes(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let active = state.routes.current();
    Json(json!({
        "file": state.routes.path().display().to_string(),
        "loaded_at": active.loaded_at,
        "table": active.table.summary(),
        "held": active.held,
        "reloads": state.routes.stats(),
    }))
}

/// `GET /-/upstreams`: each legacy upstream of the table in force, with its
/// addresses' health.
async fn upstreams(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let active = state.routes.current();
    Json(json!({
        "version": active.table.version(),
        "upstreams": upstream_views(&active),
    }))
}

/// One legacy upstream as `/-/upstreams` and the console show it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct UpstreamView {
    /// `legacy` or the `[upstreams]` key.
    pub(crate) name: String,
    /// `round_robin` or `least_requests`.
    pub(crate) balance: &'static str,
    /// Failures in a row that eject an address.
    pub(crate) failures: u32,
    /// How long an ejected address is skipped (humantime).
    pub(crate) eject: String,
    /// The routes whose legacy side it serves (`(default)` for unmatched requests).
    pub(crate) routes: Vec<String>,
    /// Each address with its health.
    pub(crate) addresses: Vec<crate::upstream::AddressReport>,
}

/// The legacy upstreams of `active`, in the table's order.
pub(crate) fn upstream_views(active: &crate::reload::Active) -> Vec<UpstreamView> {
    let table = &active.table;
    table
        .upstreams()
        .iter()
        .enumerate()
        .map(|(index, settings)| {
            let routes = table
                .routes_reaching(index)
                .into_iter()
                .map(str::to_owned)
                .collect();
            UpstreamView {
                name: settings.name().to_owned(),
                balance: settings.balance().as_str(),
                failures: settings.health().failures,
                eject: humantime::format_duration(settings.health().eject).to_string(),
                routes,
                addresses: active
                    .upstreams
                    .legacy
                    .get(index)
                    .map(crate::upstream::LegacyUpstream::health)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// `POST /-/reload`: re-reads routes.toml now.
async fn reload(State(state): State<AdminState>) -> Result<Json<ReloadOutcome>, AdminError> {
    let outcome = state
        .routes
        .reload("admin")
        .await
        .map_err(AdminError::ReloadRefused)?;
    Ok(Json(outcome))
}

/// How many recent records the summary reads to find the fields that differ most.
const RECENT_RECORDS: u64 = 1000;

/// Summaries of every shadowed route of the table in force (or only `name`).
pub(crate) async fn summaries(
    state: &AdminState,
    name: Option<&str>,
) -> Result<Vec<RouteSummary>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let active = state.routes.current();
    let mut out = Vec::new();
    for route in active.table.routes() {
        if name.is_some_and(|n| n != route.name()) {
            continue;
        }
        let results = route_results(
            recorder,
            route.name(),
            &route.require(),
            active.rules_since.get(route.name()).copied(),
        )
        .await?;
        if route.shadow().is_none() && results.counts.is_empty() {
            continue;
        }
        let recent = recorder
            .store()
            .list(Some(route.name()), None, RECENT_RECORDS)
            .await?;
        out.push(summarise(
            route,
            results,
            &recent,
            state.shadowing.stats().snapshot(route.name(), 10),
        ));
    }
    Ok(out)
}

/// `POST /-/shadow/routes/{route}/reset`: from now on, only newer comparisons count for the route.
///
/// The reset is recorded in the database with its time, so every replica's
/// summary and flip gating start again from it; nothing is deleted.
async fn reset_results(
    State(state): State<AdminState>,
    Path(route): Path<String>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let known = state
        .routes
        .current()
        .table
        .routes()
        .iter()
        .any(|r| r.name() == route);
    if !known {
        return Err(AdminError::NotFound(format!(
            "no route {route:?} in the table in force"
        )));
    }
    let at = crate::shadow::recorder::now();
    recorder.store().reset(&route, at).await?;
    recorder.restart(&route, at);
    tracing::info!(route, reset_at = %at, "shadow results reset");
    Ok(Json(json!({ "route": route, "reset_at": at })))
}

/// Query of `POST /-/shadow/routes/{route}/replay`.
#[derive(Debug, serde::Deserialize)]
struct ReplayQuery {
    since: Option<String>,
    limit: Option<u64>,
}

/// `POST /-/shadow/routes/{route}/replay?since=&limit=`: resends the route's
/// newest recorded mismatches (default 50, at most 500, optionally only
/// those of the last `since`, e.g. `30m`) to both sides and compares them
/// with the rules in force ([`crate::shadow::replay`]); not counted as shadow outcomes.
async fn replay_mismatches(
    State(state): State<AdminState>,
    Path(route): Path<String>,
    query: Result<Query<ReplayQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReplayReport>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let Ok(Query(query)) = query else {
        return Err(AdminError::InvalidQuery(
            "`since` must be a duration such as 30m, `limit` a number".to_owned(),
        ));
    };
    let limit = query.limit.unwrap_or(replay::DEFAULT_LIMIT);
    if !(1..=replay::MAX_LIMIT).contains(&limit) {
        return Err(AdminError::InvalidQuery(format!(
            "`limit` must be between 1 and {}",
            replay::MAX_LIMIT
        )));
    }
    let since = match query.since.as_deref().map(humantime::parse_duration) {
        None => None,
        Some(Ok(since)) => Some(since),
        Some(Err(err)) => {
            return Err(AdminError::InvalidQuery(format!(
                "`since` is not a duration such as 30m or 2h: {err}"
            )));
        }
    };
    let active = state.routes.current();
    let options = ReplayOptions { since, limit };
    let report = replay::replay(
        recorder.store(),
        &active,
        state.shadowing.stats(),
        &route,
        options,
    )
    .await?;
    Ok(Json(report))
}

/// `GET /-/shadow`: every shadowed route's results and verdict, and what the comparison budget spent.
async fn shadow_summaries(
    State(state): State<AdminState>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let routes = summaries(&state, None).await?;
    let budget = state.routes.current().table.shadow_settings().budget;
    Ok(Json(json!({
        "routes": routes,
        "budget": state.shadowing.budget_report(budget),
    })))
}

/// `GET /-/shadow/routes/{route}`: one route's results and verdict.
async fn shadow_summary(
    State(state): State<AdminState>,
    Path(route): Path<String>,
) -> Result<Json<RouteSummary>, AdminError> {
    summaries(&state, Some(&route))
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no route {route:?} with shadow results in the table in force"
            ))
        })
}

/// Query of `GET /-/shadow/routes/{route}/series`.
#[derive(Debug, serde::Deserialize)]
struct SeriesQuery {
    minutes: Option<u32>,
}

/// `GET /-/shadow/routes/{route}/series?minutes=`: the route's comparisons
/// and mismatch rate per minute (default the last 180 minutes), summed over every replica.
async fn shadow_series(
    State(state): State<AdminState>,
    Path(route): Path<String>,
    query: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let range = || format!("`minutes` must be between 1 and {MAX_SERIES_MINUTES}");
    let Ok(Query(query)) = query else {
        return Err(AdminError::InvalidQuery(range()));
    };
    let minutes = query.minutes.unwrap_or(console::CHART_MINUTES);
    if !(1..=MAX_SERIES_MINUTES).contains(&minutes) {
        return Err(AdminError::InvalidQuery(range()));
    }
    let active = state.routes.current();
    let found = active.table.routes().iter().find(|r| r.name() == route);
    let Some(found) = found else {
        return Err(AdminError::NotFound(format!(
            "no route {route:?} in the table in force"
        )));
    };
    let series = minute_series(recorder, &route, &found.require(), minutes).await?;
    Ok(Json(json!({ "route": route, "minutes": series })))
}

/// Query of `GET /-/shadow/diffs`.
#[derive(Debug, serde::Deserialize)]
struct DiffsQuery {
    route: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

/// `GET /-/shadow/diffs?route=&cursor=&limit=`: recorded mismatches, newest first.
async fn shadow_diffs(
    State(state): State<AdminState>,
    Query(query): Query<DiffsQuery>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AdminError::InvalidQuery(
            "`limit` must be between 1 and 500".to_owned(),
        ));
    }
    let cursor = match query.cursor.as_deref().map(uuid::Uuid::try_parse) {
        None => None,
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(_)) => {
            return Err(AdminError::InvalidQuery(
                "`cursor` is not a cursor this API issued".to_owned(),
            ));
        }
    };
    let records = recorder
        .store()
        .list(query.route.as_deref(), cursor, limit)
        .await?;
    let next_cursor = (records.len() as u64 == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(Json(
        json!({ "items": records, "next_cursor": next_cursor }),
    ))
}

/// `GET /-/shadow/diffs/{id}`: one recorded mismatch in full.
async fn shadow_diff(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<MismatchRecord>, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let not_found = || AdminError::NotFound("no such record".to_owned());
    let id = uuid::Uuid::try_parse(&id).map_err(|_| not_found())?;
    recorder
        .store()
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use crate::overrides::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
