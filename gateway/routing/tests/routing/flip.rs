//! The flip decision through its public API: raises gated on results,
//! rollbacks and `force`, what the fleet accepted, the shares recorded, and
//! held routes.

use std::collections::BTreeMap;

use gateway_routing::flip::{Decision, Raise, Ruling, decide, raises, readiness, shares_to_record};
use gateway_routing::{RouteTable, Target};

use crate::fixtures::{Routes, parse};

/// Outcome label → count.
type Counts = BTreeMap<String, u64>;

/// A table whose one route, "get-user", has these lines after its `match`.
fn table(get_user: &str) -> RouteTable {
    parse(
        &Routes::new()
            .route("get-user", "{ path = \"/u/{id}\" }", &[get_user])
            .build(),
    )
}

fn counts(matched: u64, mismatched: u64) -> Counts {
    Counts::from([
        ("match".to_owned(), matched),
        ("mismatch".to_owned(), mismatched),
        ("error_shadow_failed".to_owned(), 50),
    ])
}

/// The fleet accepted `percent` for "get-user".
fn accepted(percent: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([("get-user".to_owned(), percent)])
}

const REQUIRE: &str = "require = { match_rate = 0.99, min_samples = 100 }";

/// The rulings of moving from `old` to `new` with these results.
fn gate(old: Option<&RouteTable>, new: &RouteTable, fleet: f64, c: &Counts) -> Vec<Ruling> {
    raises(old, &accepted(fleet), new)
        .into_iter()
        .map(|raise| {
            let route = new
                .routes()
                .iter()
                .find(|r| r.name() == raise.route)
                .expect("a raise names a route of the new table");
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
        &Counts::new(),
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
