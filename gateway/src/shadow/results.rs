//! A route's shadow results as the fleet judges them: the window, the counts in it, and the one readiness rule.
//!
//! Outcome counts are kept per route and minute in the database (every
//! replica's). What counts towards a route's match rate is the window:
//! everything since the latest of
//!
//! - the moment the route's comparison rules came into force (a changed
//!   `ignore` rule is judged on new comparisons only),
//! - the route's last reset (`POST /-/shadow/routes/{route}/reset`),
//! - `now - require.window`, when the route's `require` names a window.
//!
//! [`route_results`] reads the window and its counts, and [`readiness`]
//! decides whether they earn a flip. The admin summary, `gateway status`
//! (through the summary) and flip gating (on reload and at start-up) all go
//! through these two functions, so they cannot disagree.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use shadow_diff::Outcome;

use super::recorder::{Recorder, add_into, now};
use super::store::{OutcomeCounts, StoreError};
use gateway_routing::FlipRequirement;

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

/// Whether results earn a flip, with the figures behind the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Whether the results meet the requirement.
    pub ready: bool,
    /// Comparisons made: matched + mismatched.
    pub compared: u64,
    /// Comparisons that matched, or differed only where ignored or noise.
    pub matched: u64,
    /// Comparisons with a real difference.
    pub mismatched: u64,
    /// `matched / compared`, or `None` before the first comparison.
    pub match_rate: Option<f64>,
    /// Why, in words.
    pub reason: String,
    /// The requirement applied.
    pub require: FlipRequirement,
}

/// The one readiness rule: at least `min_samples` comparisons, and a match rate of at least `match_rate`.
///
/// Only compared outcomes count ([`Outcome::is_compared`]); ignored-only
/// differences count as matches. Zero comparisons are never ready.
pub fn readiness(require: FlipRequirement, counts: &OutcomeCounts) -> Readiness {
    let (mut compared, mut mismatched) = (0, 0);
    for (label, n) in counts {
        let Ok(outcome) = label.parse::<Outcome>() else {
            continue;
        };
        if outcome.is_compared() {
            compared += n;
        }
        if outcome == Outcome::Mismatch {
            mismatched += n;
        }
    }
    let matched = compared - mismatched;
    let match_rate = (compared > 0).then(|| matched as f64 / compared as f64);
    let (ready, reason) = match match_rate {
        None => (
            false,
            format!(
                "no comparisons yet (of the {} required)",
                require.min_samples
            ),
        ),
        Some(_) if compared < require.min_samples => (
            false,
            format!(
                "{compared} of the {} comparisons required so far",
                require.min_samples
            ),
        ),
        Some(rate) if rate >= require.match_rate => (
            true,
            format!(
                "match rate {rate:.4} over {compared} comparisons meets {}",
                require.match_rate
            ),
        ),
        Some(rate) => (
            false,
            format!(
                "match rate {rate:.4} over {compared} comparisons is below {}",
                require.match_rate
            ),
        ),
    };
    Readiness {
        ready,
        compared,
        matched,
        mismatched,
        match_rate,
        reason,
        require,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn require(match_rate: f64, min_samples: u64) -> FlipRequirement {
        FlipRequirement {
            match_rate,
            min_samples,
            window: None,
        }
    }

    fn counts(pairs: &[(&str, u64)]) -> OutcomeCounts {
        pairs.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect()
    }

    #[test]
    fn readiness_needs_enough_samples_and_a_high_enough_rate() {
        let cases = [
            (&[][..], require(0.99, 10), false, None),
            (&[("match", 5)][..], require(0.99, 10), false, Some(1.0)),
            (
                &[("match", 99), ("mismatch", 1)][..],
                require(0.99, 10),
                true,
                Some(0.99),
            ),
            (
                &[("match", 98), ("mismatch", 2)][..],
                require(0.99, 10),
                false,
                Some(0.98),
            ),
            (
                &[("match", 5), ("ignored_only", 5)][..],
                require(1.0, 10),
                true,
                Some(1.0),
            ),
            // Errors, skips and drops are not comparisons; unknown labels are ignored.
            (
                &[
                    ("match", 10),
                    ("error_shadow_failed", 50),
                    ("skipped_sampled_out", 7),
                    ("with_noise", 3),
                ][..],
                require(1.0, 10),
                true,
                Some(1.0),
            ),
            (
                &[("error_shadow_failed", 50)][..],
                require(0.5, 1),
                false,
                None,
            ),
        ];
        for (pairs, req, ready, rate) in cases {
            let r = readiness(req, &counts(pairs));
            assert_eq!(r.ready, ready, "{pairs:?}: {}", r.reason);
            assert_eq!(r.match_rate, rate, "{pairs:?}");
            assert_eq!(r.compared, r.matched + r.mismatched);
        }
        let zero = readiness(require(0.99, 1), &OutcomeCounts::new());
        assert_eq!(
            (zero.ready, zero.compared, zero.match_rate),
            (false, 0, None)
        );
        assert!(
            zero.reason.contains("no comparisons yet"),
            "{}",
            zero.reason
        );
    }

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
