//! The flip decision: whether traffic may move towards the service, fleet-wide.
//!
//! A route that declares `require = { match_rate, min_samples, window? }`
//! may only raise its service share (a target flip, or a larger canary
//! towards the service) beyond what it is already *allowed* ([`raises`])
//! when its shadow results meet the requirement ([`readiness`], on the
//! counts of its [`window`]); `force = true` on the route lets the raise
//! through anyway ([`decide`]). Lowering the service share (a rollback) is
//! never gated.
//!
//! What a route is allowed without new results is the higher of the share
//! the table in force gives it on this replica and the share the fleet last
//! accepted for it (recorded by whichever replica accepted it:
//! [`shares_to_record`]). So a flip one replica accepted applies on every
//! replica that reloads or starts with it, and a replica that restarts, or is
//! added, with an unearned flip in its file cannot serve it: at start-up
//! such a route is *held* at its allowed share
//! ([`Route::with_service_share_at_most`]), where a reload would be refused.
//!
//! Everything here is pure: the gateway reads the outcome counts and the
//! recorded shares from its database, calls these functions (on reload, at
//! start-up, and for the admin summary, so they cannot disagree), and
//! records what [`shares_to_record`] returns.
//!
//! - `flip.rs`: [`raises`], [`decide`] and [`shares_to_record`];
//! - `flip/window.rs`: [`window`], which comparisons count;
//! - `flip/readiness.rs`: [`readiness`], the one readiness rule.

mod readiness;
mod window;

use std::collections::BTreeMap;

use crate::route::Route;
use crate::table::RouteTable;
use crate::target::Target;

pub use readiness::{Readiness, readiness};
pub use window::{Window, WindowBasis, window};

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
/// as a new route is on reload); `accepted` the service share, in percent,
/// the fleet recorded for each route.
pub fn raises(
    in_force: Option<&RouteTable>,
    accepted: &BTreeMap<String, f64>,
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
            let fleet = accepted.get(route.name()).copied().unwrap_or(0.0);
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

/// Decides `raise` of `route` on its `readiness` ([`readiness`]).
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
    accepted: &BTreeMap<String, f64>,
    accepted_table: &RouteTable,
) -> Vec<(String, f64)> {
    accepted_table
        .routes()
        .iter()
        .filter_map(|route| {
            let share = route.service_percent();
            let recorded = accepted.get(route.name()).copied();
            let record = match (in_force, recorded) {
                (_, None) => true,
                (Some(old), Some(_)) => service_percent(old, route.name()) != share,
                (None, Some(recorded)) => share > recorded,
            };
            record.then(|| (route.name().to_owned(), share))
        })
        .collect()
}
