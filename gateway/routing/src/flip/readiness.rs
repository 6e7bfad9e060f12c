//! The one readiness rule: whether a route's outcome counts earn a flip
//! ([`readiness`]), with the figures behind the decision ([`Readiness`]).

use std::collections::BTreeMap;

use serde::Serialize;
use shadow_diff::Outcome;

use crate::shadowing::FlipRequirement;

/// Whether results earn a flip, with the figures behind the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Whether the results meet the requirement.
    pub ready: bool,
    /// Comparisons made: matched + mismatched.
    pub compared: u64,
    /// Comparisons that matched, differed only in form (`format_only`), or
    /// only where ignored or noise.
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
/// `counts` maps [`Outcome::label`]s to counts. Only compared outcomes count
/// ([`Outcome::is_compared`]); ignored-only and format-only comparisons
/// count as matches (in the latter the answers agree, only written
/// differently); unknown labels are skipped. Zero comparisons are never ready.
pub fn readiness(require: FlipRequirement, counts: &BTreeMap<String, u64>) -> Readiness {
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

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
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
            // Answers that agree but for the form of a value agree.
            (
                &[("match", 5), ("format_only", 995)][..],
                require(0.999, 1000),
                true,
                Some(1.0),
            ),
            (
                &[("format_only", 998), ("mismatch", 2)][..],
                require(0.999, 1000),
                false,
                Some(0.998),
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
        let zero = readiness(require(0.99, 1), &BTreeMap::new());
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
}
