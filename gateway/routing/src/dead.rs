//! Dead-route analysis: a route that can never match, because routes tried
//! before it take every request it would get (a same or wider path set,
//! conditions it meets whenever it matches, and together every one of its
//! methods), is refused, naming the route(s) that shadow it.

use http::Method;

use crate::error::{LineIndex, Problem};
use crate::matcher::covers;
use crate::route::Route;

/// Pushes a problem for every route that routes tried before it always take.
pub(crate) fn report_dead_routes(
    routes: &[Route],
    priority: &[usize],
    match_offsets: &[usize],
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) {
    for (rank, &victim_index) in priority.iter().enumerate() {
        let victim = &routes[victim_index];
        let earlier: Vec<&Route> = priority[..rank]
            .iter()
            .map(|&i| &routes[i])
            .filter(|route| {
                covers(&route.matcher, &victim.matcher)
                    && route.conditions.covers(&victim.conditions)
            })
            .collect();
        let takers = if let Some(&taker) = earlier
            .iter()
            .find(|route| methods_cover(route.methods(), victim.methods()))
        {
            vec![taker]
        } else if let Some(takers) = union_takers(&earlier, victim) {
            takers
        } else {
            continue;
        };
        let described: Vec<String> = takers
            .iter()
            .map(|taker| format!("{:?} (line {})", taker.name, taker.line))
            .collect();
        let message = match described.split_last() {
            Some((only, [])) => format!(
                "route {:?} can never match: route {only} takes every request it would get",
                victim.name
            ),
            Some((last, rest)) => format!(
                "route {:?} can never match: routes {} and {last} take every request it would get",
                victim.name,
                rest.join(", ")
            ),
            None => continue,
        };
        let offset = match_offsets.get(victim_index).copied().unwrap_or(0);
        problems.push(index.problem(offset, message));
    }
}

/// Whether method set `a` includes method set `b` (`None` = all methods).
fn methods_cover(a: Option<&[Method]>, b: Option<&[Method]>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => b.iter().all(|method| a.contains(method)),
    }
}

/// The earlier routes that together take each of `victim`'s methods, if they do.
fn union_takers<'a>(earlier: &[&'a Route], victim: &Route) -> Option<Vec<&'a Route>> {
    let mut takers: Vec<&'a Route> = Vec::new();
    for method in victim.methods()? {
        let taker = earlier.iter().find(|route| route.allows(method))?;
        if !takers.iter().any(|t| std::ptr::eq(*t, *taker)) {
            takers.push(taker);
        }
    }
    takers.sort_by_key(|route| route.line);
    Some(takers)
}
