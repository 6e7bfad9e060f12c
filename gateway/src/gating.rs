//! Flip gating: traffic moves towards the service only when shadow results earn it, fleet-wide.
//!
//! A route that declares `require = { match_rate, min_samples, window? }`
//! may only raise its service share (a target flip, or a larger canary
//! towards the service) beyond what it is already *allowed* when its
//! results ([`crate::shadow::results`]) meet the requirement. `force = true`
//! on the route lets the raise through anyway; that is logged. Lowering the
//! service share (a rollback) is never gated.
//!
//! What a route is allowed without new results is the higher of the share
//! the table in force gives it on this replica and the share the fleet last
//! accepted for it (recorded in the database by whichever replica accepted
//! it: [`shares_to_record`]). So a flip one replica accepted applies on every
//! replica that reloads or starts with it, and a replica that restarts, or is
//! added, with an unearned flip in its file cannot serve it: at start-up
//! such a route is *held* at its allowed share (see `reload.rs`), where a
//! reload would be refused.
//!
//! Everything here is pure: the callers read the results and the recorded
//! shares, and write what [`shares_to_record`] returns.

use std::collections::BTreeMap;

use gateway_routing::{Route, RouteTable, Target};
use crate::shadow::results::Readiness;
use crate::shadow::store::EarnedShare;

/// The service share `table` gives route `name`, or its default target's when it has no such route.
pub fn service_percent(table: &RouteTable, name: &str) -> f64 {
    table
        .routes()
        .iter()
        .find(|r| r.name() == name)
        .map_or_else(
            || default_percent(table.default_target()),
            Route::service_percent,
        )
}

fn default_percent(target: Target) -> f64 {
    match target {
        Target::Service => 100.0,
        Target::Legacy => 0.0,
    }
}

/// A gated route whose new share is above what it is allowed without new results.
#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    /// The route's name.
    pub route: String,
    /// What it is allowed: the higher of the share in force and the share the fleet accepted.
    pub allowed: f64,
    /// What the new table asks for.
    pub asked: f64,
}

/// The gated routes of `new` that ask for more service share than they are allowed.
///
/// `in_force` is the table this replica serves (`None` at start-up: then a
/// route the fleet has no record of is allowed its default target's share,
/// as a new route is on reload); `accepted` the shares the fleet recorded.
pub fn raises(
    in_force: Option<&RouteTable>,
    accepted: &BTreeMap<String, EarnedShare>,
    new: &RouteTable,
) -> Vec<Raise> {
    new.routes()
        .iter()
        .filter(|route| route.declared_require().is_some())
        .filter_map(|route| {
            let local = in_force.map_or_else(
                || default_percent(new.default_target()),
                |table| service_percent(table, route.name()),
            );
            let fleet = accepted
                .get(route.name())
                .map_or(0.0, |share| share.service_percent);
            let allowed = local.max(fleet);
            let asked = route.service_percent();
            (asked > allowed).then(|| Raise {
                route: route.name().to_owned(),
                allowed,
                asked,
            })
        })
        .collect()
}

/// What gating decided about one [`Raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The results meet the requirement.
    Earned,
    /// They fall short, but the route says `force = true`.
    Forced,
    /// They fall short: the raise is refused (on reload) or held back (at start-up).
    Refused,
}

/// One raise, decided, with the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ruling {
    /// The raise.
    pub raise: Raise,
    /// The decision.
    pub decision: Decision,
    /// One line for logs, `/-/routes` and the reload error, with the figures.
    pub message: String,
}

/// Decides `raise` of `route` on its `readiness` ([`crate::shadow::results::readiness`]).
pub fn decide(route: &Route, raise: Raise, readiness: &Readiness) -> Ruling {
    let require = readiness.require;
    let rate = readiness
        .match_rate
        .map_or_else(|| "-".to_owned(), |r| format!("{r:.4}"));
    let message = format!(
        "route \"{}\": raising the service share from {}% to {}% needs a match rate of at least {} over at least {} comparisons; recorded: {} comparisons, match rate {rate}",
        raise.route,
        raise.allowed,
        raise.asked,
        require.match_rate,
        require.min_samples,
        readiness.compared,
    );
    let decision = if readiness.ready {
        Decision::Earned
    } else if route.force() {
        Decision::Forced
    } else {
        Decision::Refused
    };
    Ruling {
        raise,
        decision,
        message,
    }
}

/// The shares to record for the fleet once `accepted_table` is in force on this replica.
///
/// On reload (`in_force` is the table it replaces): every route whose share
/// changed, up or down, and every route the fleet has no record of. At
/// start-up (`in_force` is `None`): routes without a record, and routes
/// whose share rose above their record (earned, forced or not gated); a
/// lower share is not recorded, since a starting replica may hold an older
/// file than the fleet.
pub fn shares_to_record(
    in_force: Option<&RouteTable>,
    accepted: &BTreeMap<String, EarnedShare>,
    accepted_table: &RouteTable,
) -> Vec<(String, f64)> {
    accepted_table
        .routes()
        .iter()
        .filter_map(|route| {
            let share = route.service_percent();
            let recorded = accepted.get(route.name()).map(|s| s.service_percent);
            let record = match (in_force, recorded) {
                (_, None) => true,
                (Some(old), Some(_)) => service_percent(old, route.name()) != share,
                (None, Some(recorded)) => share > recorded,
            };
            record.then(|| (route.name().to_owned(), share))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::Utc;

    use super::*;
    use crate::shadow::results::readiness;
    use crate::shadow::store::OutcomeCounts;

    fn table(get_user: &str) -> RouteTable {
        let source = format!(
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"get-user\"\nmatch = {{ path = \"/u/{{id}}\" }}\n{get_user}\n"
        );
        RouteTable::parse(&source, Path::new("routes.toml")).unwrap()
    }

    fn counts(matched: u64, mismatched: u64) -> OutcomeCounts {
        OutcomeCounts::from([
            ("match".to_owned(), matched),
            ("mismatch".to_owned(), mismatched),
            ("error_shadow_failed".to_owned(), 50),
        ])
    }

    fn accepted(percent: f64) -> BTreeMap<String, EarnedShare> {
        BTreeMap::from([(
            "get-user".to_owned(),
            EarnedShare {
                service_percent: percent,
                table_version: "v".to_owned(),
                accepted_at: Utc::now(),
                trigger: "admin".to_owned(),
            },
        )])
    }

    const REQUIRE: &str = "require = { match_rate = 0.99, min_samples = 100 }";

    /// The rulings of moving from `old` to `new` with these results.
    fn gate(
        old: Option<&RouteTable>,
        new: &RouteTable,
        fleet: f64,
        c: &OutcomeCounts,
    ) -> Vec<Ruling> {
        raises(old, &accepted(fleet), new)
            .into_iter()
            .map(|raise| {
                let route = new
                    .routes()
                    .iter()
                    .find(|r| r.name() == raise.route)
                    .unwrap();
                decide(route, raise, &readiness(route.require(), c))
            })
            .collect()
    }

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
            let rulings = gate(Some(&old), &new, 0.0, &counts(matched, mismatched));
            assert_eq!(rulings.len(), 1);
            assert_eq!(
                rulings[0].decision == Decision::Earned,
                allowed,
                "{matched}/{mismatched}: {rulings:?}"
            );
        }
        let refused = &gate(Some(&old), &new, 0.0, &counts(10, 0))[0];
        assert_eq!(refused.decision, Decision::Refused);
        assert!(
            refused.message.contains("from 0% to 100%")
                && refused.message.contains("recorded: 10 comparisons"),
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
        assert_eq!(raises(Some(&five), &accepted(0.0), &ten).len(), 1);
        assert!(
            raises(Some(&ten), &accepted(0.0), &five).is_empty(),
            "lowering the share is a rollback"
        );
        assert!(raises(Some(&ten), &accepted(0.0), &ten).is_empty());
    }

    #[test]
    fn without_require_nothing_is_gated_and_force_lets_a_flip_through() {
        let old = table("target = \"legacy\"");
        assert!(raises(Some(&old), &BTreeMap::new(), &table("target = \"service\"")).is_empty());
        let forced = gate(
            Some(&old),
            &table(&format!("target = \"service\"\n{REQUIRE}\nforce = true")),
            0.0,
            &OutcomeCounts::new(),
        );
        assert_eq!(forced[0].decision, Decision::Forced);
    }

    #[test]
    fn what_the_fleet_accepted_is_allowed_everywhere_and_at_start_up() {
        let legacy = table(&format!("target = \"legacy\"\n{REQUIRE}"));
        let service = table(&format!("target = \"service\"\n{REQUIRE}"));
        // Another replica accepted the flip: this one may follow without results.
        assert!(raises(Some(&legacy), &accepted(100.0), &service).is_empty());
        assert!(raises(None, &accepted(100.0), &service).is_empty());
        // A start-up with no record allows the default target's share only.
        let start = raises(None, &BTreeMap::new(), &service);
        assert_eq!(
            start,
            vec![Raise {
                route: "get-user".to_owned(),
                allowed: 0.0,
                asked: 100.0
            }]
        );
        // A record of a smaller share allows that share.
        assert_eq!(raises(None, &accepted(5.0), &service)[0].allowed, 5.0);
    }

    #[test]
    fn shares_are_recorded_on_change_and_at_start_up_only_upwards() {
        let legacy = table("target = \"legacy\"");
        let service = table("target = \"service\"");
        // Reload: a change either way is recorded; no change is not.
        assert_eq!(
            shares_to_record(Some(&legacy), &accepted(0.0), &service),
            vec![("get-user".to_owned(), 100.0)]
        );
        assert_eq!(
            shares_to_record(Some(&service), &accepted(100.0), &legacy),
            vec![("get-user".to_owned(), 0.0)]
        );
        assert!(shares_to_record(Some(&service), &accepted(100.0), &service).is_empty());
        // Start-up: a missing record is seeded, a raise recorded, a lower share not.
        assert_eq!(
            shares_to_record(None, &BTreeMap::new(), &legacy),
            vec![("get-user".to_owned(), 0.0)]
        );
        assert_eq!(
            shares_to_record(None, &accepted(0.0), &service),
            vec![("get-user".to_owned(), 100.0)]
        );
        assert!(shares_to_record(None, &accepted(100.0), &legacy).is_empty());
    }

    #[test]
    fn a_held_route_serves_its_allowed_share() {
        let canary = table(&format!(
            "target = \"legacy\"\ncanary = {{ to = \"service\", percent = 50, sticky = \"header:x-user\" }}\n{REQUIRE}"
        ));
        let route = &canary.routes()[0];
        let held = route.with_service_share_at_most(10.0);
        assert_eq!(held.service_percent(), 10.0);
        assert_eq!(
            held.canary().and_then(|c| c.sticky.clone()),
            route.canary().and_then(|c| c.sticky.clone())
        );
        assert_eq!(route.with_service_share_at_most(0.0).canary(), None);

        let flipped = table(&format!(
            "target = \"service\"\nshadow = {{ to = \"legacy\" }}\n{REQUIRE}"
        ));
        let route = &flipped.routes()[0];
        let held = route.with_service_share_at_most(0.0);
        assert_eq!(held.target(), Target::Legacy);
        assert_eq!(held.service_percent(), 0.0);
        assert_eq!(
            held.shadow().map(|s| s.to),
            Some(Target::Service),
            "the mirror turns to the side that no longer answers"
        );
        assert_eq!(route.with_service_share_at_most(100.0), route.clone());
    }
}
