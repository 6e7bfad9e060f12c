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
//!
//! [`minute_series`] reads the same counts minute by minute for the
//! console's chart, each minute's figures counted by the same rule.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, Utc};
use gateway_routing::FlipRequirement;
use gateway_routing::flip::{Window, readiness, window};
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
/// plus this replica's not yet written, each counted once even while a
/// flush moves them ([`Recorder::counts_guard`]).
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
    let _counting = recorder.counts_guard().await;
    let mut counts = store.counts_since(route, window.since).await?;
    add_into(&mut counts, &recorder.pending_since(route, window.since));
    Ok(RouteResults { window, counts })
}

/// One minute of a route's comparisons, every replica's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinutePoint {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Comparisons made in it: matched + mismatched (as [`readiness`] counts them).
    pub compared: u64,
    /// Comparisons with a real difference.
    pub mismatched: u64,
    /// `mismatched / compared`, or `None` in a minute without comparisons.
    pub mismatch_rate: Option<f64>,
    /// Every outcome label with its count in the minute.
    pub counts: OutcomeCounts,
}

/// The longest series [`minute_series`] reads: a day.
pub const MAX_SERIES_MINUTES: u32 = 24 * 60;

/// `route`'s comparisons per minute over the last `minutes` minutes (at most
/// [`MAX_SERIES_MINUTES`]), oldest first, every minute present (zero when
/// nothing was compared): the database's counts, summed over every replica,
/// plus this replica's not yet written. A bucket that starts within a minute
/// (a reset) counts in that minute.
///
/// # Errors
///
/// [`StoreError`] when the database cannot be read.
pub async fn minute_series(
    recorder: &Recorder,
    route: &str,
    require: &FlipRequirement,
    minutes: u32,
) -> Result<Vec<MinutePoint>, StoreError> {
    let minutes = minutes.clamp(1, MAX_SERIES_MINUTES);
    let minute = chrono::Duration::minutes(1);
    let this_minute = now().duration_trunc(minute).unwrap_or_else(|_| now());
    let start = this_minute - minute * i32::try_from(minutes - 1).unwrap_or(0);
    let mut by_minute: BTreeMap<DateTime<Utc>, OutcomeCounts> = (0..minutes)
        .map(|n| {
            (
                start + minute * i32::try_from(n).unwrap_or(0),
                OutcomeCounts::new(),
            )
        })
        .collect();
    let (stored, pending) = {
        let _counting = recorder.counts_guard().await;
        let stored = recorder.store().buckets_since(route, start).await?;
        (stored, recorder.pending_buckets(route))
    };
    for (bucket, counts) in stored.iter().chain(&pending) {
        let at = bucket.duration_trunc(minute).unwrap_or(*bucket);
        if let Some(into) = by_minute.get_mut(&at) {
            add_into(into, counts);
        }
    }
    Ok(by_minute
        .into_iter()
        .map(|(minute, counts)| {
            let figures = readiness(*require, &counts);
            MinutePoint {
                minute,
                compared: figures.compared,
                mismatched: figures.mismatched,
                mismatch_rate: (figures.compared > 0)
                    .then(|| figures.mismatched as f64 / figures.compared as f64),
                counts,
            }
        })
        .collect())
}
