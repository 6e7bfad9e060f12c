//! Which comparisons count towards a route's results: the [`Window`].
//!
//! Outcome counts are kept per route and minute. What counts towards a
//! route's match rate is everything since the latest of
//!
//! - the moment the route's comparison rules came into force (a changed
//!   `ignore` rule is judged on new comparisons only),
//! - the route's last reset,
//! - `now - require.window`, when the route's `require` names a window.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;

/// Which comparisons count towards a route's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Comparisons counted in buckets that start at or after this instant; `None`: all of them.
    pub since: Option<DateTime<Utc>>,
    /// What set `since`.
    pub basis: WindowBasis,
    /// When the route's comparison rules came into force, if known.
    pub rules_since: Option<DateTime<Utc>>,
    /// When the route's results were last reset, if ever.
    pub reset_at: Option<DateTime<Utc>>,
    /// `require.window`, in humantime syntax, when the route names one.
    pub duration: Option<String>,
}

/// What set a [`Window`]'s start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowBasis {
    /// Nothing: every comparison ever counted.
    Everything,
    /// The route's comparison rules came into force.
    RulesChanged,
    /// An operator reset the route's results.
    Reset,
    /// `require.window` before now.
    Duration,
}

/// The window for a route whose rules are in force since `rules_since`, last reset at `reset_at`.
///
/// A `duration` counts whole minute buckets: the window starts at the
/// minute `now - duration` falls in. The latest candidate wins; a tie goes to
/// the reset, then the rules.
pub fn window(
    duration: Option<Duration>,
    rules_since: Option<DateTime<Utc>>,
    reset_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Window {
    let by_duration = duration
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d))
        .map(|start| {
            start
                .duration_trunc(chrono::Duration::minutes(1))
                .unwrap_or(start)
        });
    let candidates = [
        (reset_at, WindowBasis::Reset),
        (rules_since, WindowBasis::RulesChanged),
        (by_duration, WindowBasis::Duration),
    ];
    let (since, basis) = candidates
        .into_iter()
        .filter_map(|(at, basis)| at.map(|at| (at, basis)))
        // `max_by_key` keeps the last of equals: reverse so the first listed wins ties.
        .rev()
        .max_by_key(|(at, _)| *at)
        .map_or((None, WindowBasis::Everything), |(at, basis)| {
            (Some(at), basis)
        });
    Window {
        since,
        basis,
        rules_since,
        reset_at,
        duration: duration.map(|d| humantime::format_duration(d).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_starts_at_the_latest_restart_or_duration() {
        let now = at("2026-12-01T10:30:40Z");
        let everything = window(None, None, None, now);
        assert_eq!(
            (everything.since, everything.basis),
            (None, WindowBasis::Everything)
        );

        let rules = at("2026-12-01T09:00:00Z");
        let w = window(None, Some(rules), None, now);
        assert_eq!((w.since, w.basis), (Some(rules), WindowBasis::RulesChanged));

        let reset = at("2026-12-01T10:00:00.5Z");
        let w = window(None, Some(rules), Some(reset), now);
        assert_eq!((w.since, w.basis), (Some(reset), WindowBasis::Reset));

        // One hour back, to the whole minute: later than both restarts.
        let w = window(Some(Duration::from_secs(60)), Some(rules), Some(reset), now);
        assert_eq!(
            (w.since, w.basis),
            (Some(at("2026-12-01T10:29:00Z")), WindowBasis::Duration)
        );
        assert_eq!(w.duration.as_deref(), Some("1m"));

        // A reset newer than the duration's start wins.
        let w = window(
            Some(Duration::from_secs(3600)),
            Some(rules),
            Some(reset),
            now,
        );
        assert_eq!((w.since, w.basis), (Some(reset), WindowBasis::Reset));

        // Ties: the reset, then the rules.
        let w = window(None, Some(reset), Some(reset), now);
        assert_eq!(w.basis, WindowBasis::Reset);
    }
}
