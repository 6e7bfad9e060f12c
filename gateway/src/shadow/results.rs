//! A route's shadow results as the fleet judges them: the counts in its window, every replica's.
//!
//! Outcome counts are kept per route and minute in the database (every
//! replica's). [`route_results`] reads the route's last reset, works out its
//! window with the pure [`gateway_routing::flip::window`] (since the rules
//! came into force, the reset, or `require.window`), and sums the counts in
//! it, the database's plus this replica's not yet written. Whether they earn
//! a flip is [`gateway_routing::flip::readiness`]. The admin summary,
//! `gateway status` (through the summary) and flip gating (on reload and at
//! start-up) all go through these functions, so they cannot disagree.

use chrono::{DateTime, Utc};
use gateway_routing::FlipRequirement;
use gateway_routing::flip::{Window, window};
use serde::Serialize;

use super::recorder::{Recorder, add_into, now};
use super::store::{OutcomeCounts, StoreError};

/// A route's results: its window and the outcome counts in it, every replica's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteResults {
    /// Which comparisons count.
    pub window: Window,
    /// Outcome label → count, within the window.
    pub counts: OutcomeCounts,
}

/// Reads `route`'s results for `require`, with its rules in force since `rules_since`.
///
/// The counts are the database's (every replica's, up to a second behind)
/// plus this replica's not yet written.
///
/// # Errors
///
/// [`StoreError`] when the database cannot be read.
pub async fn route_results(
    recorder: &Recorder,
    route: &str,
    require: &FlipRequirement,
    rules_since: Option<DateTime<Utc>>,
) -> Result<RouteResults, StoreError> {
    let store = recorder.store();
    let reset_at = store.resets().await?.remove(route);
    let window = window(require.window, rules_since, reset_at, now());
    let mut counts = store.counts_since(route, window.since).await?;
    add_into(&mut counts, &recorder.pending_since(route, window.since));
    Ok(RouteResults { window, counts })
}
