//! The one outcome every shadow attempt ends in, with stable metric labels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How one shadow attempt ended. Every attempt ends in exactly one outcome,
/// so counting outcomes by [`Outcome::label`] accounts for all of them:
/// nothing is skipped silently and ignored differences are never counted as
/// matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Both answers were compared and nothing differed.
    Match,
    /// At least one difference was neither ignored by a rule nor known noise.
    Mismatch,
    /// Differences existed, but every one matched an ignore rule or learned noise.
    IgnoredOnly,
    /// The answers agree, but some value was written in another form (an
    /// instant in another timestamp format, a number as a string), and
    /// nothing differed otherwise.
    FormatOnly,
    /// The answers were not compared, on purpose.
    Skipped(SkipReason),
    /// The shadow request was not sent because the gateway was protecting itself.
    Dropped(DropReason),
    /// A side failed, so there was nothing to compare.
    Error(ErrorReason),
}

/// Why a comparison was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A body exceeded the route's buffering limit.
    BodyTooLarge,
    /// The request was not in the route's shadow sample.
    SampledOut,
    /// The route does not mirror this method (writes are opt-in).
    MethodNotMirrored,
}

/// Why a shadow request was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The route's shadow concurrency limit was reached.
    Overloaded,
}

/// Which side failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// The shadow side returned no response (connection error, panic, ...).
    ShadowFailed,
    /// The shadow side did not answer within its timeout.
    ShadowTimedOut,
    /// The primary side failed, so the shadow answer has nothing to be compared with.
    PrimaryFailed,
}

impl Outcome {
    /// Every outcome, in a fixed order (for pre-registering metric series).
    pub const ALL: [Outcome; 11] = [
        Outcome::Match,
        Outcome::Mismatch,
        Outcome::IgnoredOnly,
        Outcome::FormatOnly,
        Outcome::Skipped(SkipReason::BodyTooLarge),
        Outcome::Skipped(SkipReason::SampledOut),
        Outcome::Skipped(SkipReason::MethodNotMirrored),
        Outcome::Dropped(DropReason::Overloaded),
        Outcome::Error(ErrorReason::ShadowFailed),
        Outcome::Error(ErrorReason::ShadowTimedOut),
        Outcome::Error(ErrorReason::PrimaryFailed),
    ];

    /// The stable metric label value. These strings are a contract with
    /// dashboards and alerts: never rename one.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::IgnoredOnly => "ignored_only",
            Outcome::FormatOnly => "format_only",
            Outcome::Skipped(SkipReason::BodyTooLarge) => "skipped_body_too_large",
            Outcome::Skipped(SkipReason::SampledOut) => "skipped_sampled_out",
            Outcome::Skipped(SkipReason::MethodNotMirrored) => "skipped_method_not_mirrored",
            Outcome::Dropped(DropReason::Overloaded) => "dropped_overloaded",
            Outcome::Error(ErrorReason::ShadowFailed) => "error_shadow_failed",
            Outcome::Error(ErrorReason::ShadowTimedOut) => "error_shadow_timed_out",
            Outcome::Error(ErrorReason::PrimaryFailed) => "error_primary_failed",
        }
    }

    /// Whether the two answers were actually compared (match, mismatch,
    /// ignored-only or format-only), i.e. whether the attempt counts towards
    /// a match rate.
    #[must_use]
    pub fn is_compared(&self) -> bool {
        matches!(
            self,
            Outcome::Match | Outcome::Mismatch | Outcome::IgnoredOnly | Outcome::FormatOnly
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A string that is not one of the [`Outcome`] labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shadow outcome label")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    /// Parses a label produced by [`Outcome::label`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.label() == s)
            .ok_or_else(|| UnknownOutcome(s.to_owned()))
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = String::deserialize(deserializer)?;
        label.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Fails to compile when a variant is added without updating `ALL`'s
    /// positions here, and fails at run time when `ALL` is out of step.
    fn position(outcome: Outcome) -> usize {
        match outcome {
            Outcome::Match => 0,
            Outcome::Mismatch => 1,
            Outcome::IgnoredOnly => 2,
            Outcome::FormatOnly => 3,
            Outcome::Skipped(SkipReason::BodyTooLarge) => 4,
            Outcome::Skipped(SkipReason::SampledOut) => 5,
            Outcome::Skipped(SkipReason::MethodNotMirrored) => 6,
            Outcome::Dropped(DropReason::Overloaded) => 7,
            Outcome::Error(ErrorReason::ShadowFailed) => 8,
            Outcome::Error(ErrorReason::ShadowTimedOut) => 9,
            Outcome::Error(ErrorReason::PrimaryFailed) => 10,
        }
    }

    #[test]
    fn all_lists_every_outcome_once() {
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(position(outcome), i, "{outcome:?}");
        }
    }

    #[test]
    fn labels_are_unique_and_metric_safe() {
        let labels: HashSet<&str> = Outcome::ALL.iter().map(Outcome::label).collect();
        assert_eq!(labels.len(), Outcome::ALL.len(), "duplicate label");
        for label in labels {
            assert!(
                !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn labels_are_the_documented_contract() {
        let labels: Vec<&str> = Outcome::ALL.iter().map(Outcome::label).collect();
        assert_eq!(
            labels,
            [
                "match",
                "mismatch",
                "ignored_only",
                "format_only",
                "skipped_body_too_large",
                "skipped_sampled_out",
                "skipped_method_not_mirrored",
                "dropped_overloaded",
                "error_shadow_failed",
                "error_shadow_timed_out",
                "error_primary_failed",
            ]
        );
    }

    #[test]
    fn labels_round_trip_through_parse_and_serde() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.label().parse::<Outcome>(), Ok(outcome));
            assert_eq!(outcome.to_string(), outcome.label());
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.label()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome);
        }
        assert_eq!(
            "equal".parse::<Outcome>(),
            Err(UnknownOutcome("equal".into()))
        );
        assert!(serde_json::from_str::<Outcome>("\"nope\"").is_err());
    }

    #[test]
    fn only_compared_outcomes_count_towards_a_match_rate() {
        let compared: Vec<Outcome> = Outcome::ALL
            .into_iter()
            .filter(Outcome::is_compared)
            .collect();
        assert_eq!(
            compared,
            [
                Outcome::Match,
                Outcome::Mismatch,
                Outcome::IgnoredOnly,
                Outcome::FormatOnly
            ]
        );
    }
}
