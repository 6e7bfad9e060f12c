//! Flip gating: a reload that moves traffic towards the service must be earned by shadow results.
//!
//! A route that declares `require = { match_rate, min_samples }` may only
//! raise its service share (a target flip, or a larger canary towards the
//! service) when its recorded comparisons, summed over every replica, meet
//! the requirement. `force = true` on the route lets the reload through
//! anyway; that is logged. Lowering the service share (a rollback) is never
//! gated.

use std::collections::BTreeMap;

use crate::routes::{Route, RouteTable, Target};
use crate::shadow::Outcome;

/// Route → outcome label → count, as the shadow store keeps them.
pub type Counts = BTreeMap<String, BTreeMap<String, u64>>;

/// What gating decided about one reload.
#[derive(Debug, Default, PartialEq)]
pub struct Gate {
    /// Why the reload is refused, one line per route; empty when it may go ahead.
    pub refused: Vec<String>,
    /// Flips let through by `force = true` although their results fall short.
    pub forced: Vec<String>,
}

/// The service share the table gives `route` (by name), or its default target's when it has no such route.
fn service_percent(table: &RouteTable, name: &str) -> f64 {
    table
        .routes()
        .iter()
        .find(|r| r.name() == name)
        .map_or_else(
            || match table.default_target() {
                Target::Service => 100.0,
                Target::Legacy => 0.0,
            },
            Route::service_percent,
        )
}

/// Checks every route of `new` that gives the service more traffic than `old` did.
pub fn check(old: &RouteTable, new: &RouteTable, counts: &Counts) -> Gate {
    let mut gate = Gate::default();
    for route in new.routes() {
        let Some(require) = route.declared_require() else {
            continue;
        };
        let (before, after) = (service_percent(old, route.name()), route.service_percent());
        if after <= before {
            continue;
        }
        let outcomes = counts.get(route.name());
        let count = |o: Outcome| {
            outcomes
                .and_then(|m| m.get(o.label()))
                .copied()
                .unwrap_or(0)
        };
        let matched = count(Outcome::Match) + count(Outcome::IgnoredOnly);
        let compared = matched + count(Outcome::Mismatch);
        let rate = if compared == 0 {
            0.0
        } else {
            matched as f64 / compared as f64
        };
        if compared >= require.min_samples && rate >= require.match_rate {
            continue;
        }
        let line = format!(
            "route \"{}\": raising the service share from {before}% to {after}% needs a match rate of at least {} over at least {} comparisons; recorded: {compared} comparisons, match rate {rate:.4}",
            route.name(),
            require.match_rate,
            require.min_samples,
        );
        if route.force() {
            gate.forced.push(line);
        } else {
            gate.refused.push(format!(
                "{line} (set `force = true` on the route to flip anyway)"
            ));
        }
    }
    gate
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn table(get_user: &str) -> RouteTable {
        let source = format!(
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"get-user\"\nmatch = {{ path = \"/u/{{id}}\" }}\n{get_user}\n"
        );
        RouteTable::parse(&source, Path::new("routes.toml")).unwrap()
    }

    fn counts(matched: u64, mismatched: u64) -> Counts {
        let mut outcomes = BTreeMap::new();
        outcomes.insert("match".to_owned(), matched);
        outcomes.insert("mismatch".to_owned(), mismatched);
        outcomes.insert("error_shadow_failed".to_owned(), 50);
        BTreeMap::from([("get-user".to_owned(), outcomes)])
    }

    const REQUIRE: &str = "require = { match_rate = 0.99, min_samples = 100 }";

    #[test]
    fn a_flip_needs_enough_matching_comparisons() {
        let old = table(&format!("target = \"legacy\"\n{REQUIRE}"));
        let new = table(&format!("target = \"service\"\n{REQUIRE}"));
        let cases = [
            (0, 0, false),
            (99, 0, false),
            (98, 2, false),
            (99, 1, true),
            (198, 2, true),
            (1000, 0, true),
        ];
        for (matched, mismatched, allowed) in cases {
            let gate = check(&old, &new, &counts(matched, mismatched));
            assert_eq!(
                gate.refused.is_empty(),
                allowed,
                "{matched}/{mismatched}: {gate:?}"
            );
        }
        let refused = check(&old, &new, &counts(10, 0)).refused;
        assert!(
            refused[0].contains("from 0% to 100%")
                && refused[0].contains("recorded: 10 comparisons"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_larger_canary_is_gated_and_a_rollback_is_not() {
        let five = table(&format!(
            "target = \"legacy\"\ncanary = {{ to = \"service\", percent = 5 }}\n{REQUIRE}"
        ));
        let ten = table(&format!(
            "target = \"legacy\"\ncanary = {{ to = \"service\", percent = 10 }}\n{REQUIRE}"
        ));
        assert_eq!(check(&five, &ten, &counts(0, 0)).refused.len(), 1);
        assert!(
            check(&ten, &five, &counts(0, 0)).refused.is_empty(),
            "lowering the share is a rollback"
        );
        assert!(check(&ten, &ten, &counts(0, 0)).refused.is_empty());
    }

    #[test]
    fn without_require_nothing_is_gated_and_force_lets_a_flip_through() {
        let old = table("target = \"legacy\"");
        assert_eq!(
            check(&old, &table("target = \"service\""), &Counts::new()),
            Gate::default()
        );
        let forced = check(
            &old,
            &table(&format!("target = \"service\"\n{REQUIRE}\nforce = true")),
            &Counts::new(),
        );
        assert!(forced.refused.is_empty());
        assert_eq!(forced.forced.len(), 1);
    }
}
