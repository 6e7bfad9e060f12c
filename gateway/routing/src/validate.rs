//! Turning one `[[routes]]` entry ([`RouteSpec`]) into a [`Route`]: its
//! name, `match`, `methods`, `shadow`, `require`, `canary` and `force`, with
//! every problem pushed at its position.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use toml::Spanned;

use crate::canary::{CanaryPolicy, StickyKey};
use crate::conditions::{Conditions, PresentMarker, Required, parse_host};
use crate::error::{LineIndex, Problem};
use crate::matcher::{Matcher, parse_path, parse_prefix};
use crate::rewrite::{Rewrites, SideRewrite, parse_path_rewrite};
use crate::route::Route;
use crate::shadowing::{ShadowSettings, flip_requirement, shadow_policy};
use crate::spec::{CanarySpec, MatchSpec, RewriteSpec, RouteSpec, SideName, SideRewriteSpec};
use crate::target::Target;
use crate::upstreams::{LEGACY, Side, Sides};
use crate::values::parse_methods;

/// Longest route name: names are metrics labels.
const MAX_NAME_LEN: usize = 64;

/// Validates one route, pushing its problems; `None` when it cannot be built.
pub(crate) fn build_route(
    spec: RouteSpec,
    line: usize,
    sides: &Sides<'_>,
    shadow_settings: &ShadowSettings,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Route> {
    let name = spec.name.get_ref();
    if !is_valid_name(name) {
        problems.push(index.problem(
            spec.name.span().start,
            format!(
                "invalid route name {name:?}: use 1 to {MAX_NAME_LEN} characters from a-z, 0-9, '-' and '_', starting with a letter or digit"
            ),
        ));
    }

    let match_offset = spec.matcher.span().start;
    let MatchSpec {
        path,
        prefix,
        methods,
        host,
        header,
        query,
    } = spec.matcher.into_inner();
    let conditions = conditions(host, header, query, index, problems);
    let matcher = match (path, prefix) {
        (Some(path), None) => parse_path(path.get_ref())
            .map_err(|message| problems.push(index.problem(path.span().start, message)))
            .ok(),
        (None, Some(prefix)) => parse_prefix(prefix.get_ref())
            .map_err(|message| problems.push(index.problem(prefix.span().start, message)))
            .ok(),
        (Some(_), Some(_)) => {
            problems.push(index.problem(
                match_offset,
                "`match` has both `path` and `prefix`: use exactly one",
            ));
            None
        }
        (None, None) => {
            problems.push(index.problem(
                match_offset,
                "`match` needs a `path` (exact or with `{param}`s) or a `prefix`",
            ));
            None
        }
    };
    let rewrites = match (spec.rewrite, &matcher) {
        (Some(rewrite), Some(matcher)) => rewrites(rewrite, matcher, index, problems),
        (None, _) => Some(Rewrites::default()),
        (Some(_), None) => None,
    };
    let methods = match methods {
        None => Some(None),
        Some(methods) => parse_methods(methods, index, problems).map(Some),
    };

    let target = sides.resolve(&spec.target, index, problems);
    let shadow_to = spec.shadow.as_ref().map(|shadow| {
        (
            &shadow.get_ref().to,
            sides.resolve(&shadow.get_ref().to, index, problems),
        )
    });
    let canary_to = spec.canary.as_ref().map(|canary| {
        (
            &canary.get_ref().to,
            sides.resolve(&canary.get_ref().to, index, problems),
        )
    });
    let upstream = legacy_upstream(
        [(&spec.target, target)]
            .into_iter()
            .chain(shadow_to)
            .chain(canary_to),
        sides,
        index,
        problems,
    );
    let methods = methods?;
    let target = target?.target;
    let shadow_to = shadow_to.map(|(_, side)| side);
    let canary_to = canary_to.map(|(_, side)| side);
    let shadow = match (spec.shadow, shadow_to) {
        (Some(shadow), Some(Some(to))) => shadow_policy(
            shadow,
            to.target,
            target,
            methods.as_deref(),
            shadow_settings.max_body_bytes,
            index,
            problems,
        )
        .map(Arc::new),
        _ => None,
    };
    let require = match spec.require {
        None => None,
        Some(require) => flip_requirement(require, index, problems),
    };
    let canary = match (spec.canary, canary_to) {
        // Problems are reported; the route is still built so later checks can run.
        (Some(canary), Some(Some(to))) => canary_policy(canary, to.target, target, index, problems),
        _ => None,
    };
    let matcher = matcher?;
    Some(Route {
        name: Arc::from(spec.name.into_inner()),
        template: Arc::from(matcher.to_string()),
        matcher,
        conditions: conditions?,
        rewrites: rewrites?,
        methods,
        target,
        upstream: upstream?,
        upstream_name: sides.names.get(upstream?)?.clone(),
        line,
        shadow,
        require,
        canary,
        force: spec.force.is_some_and(|f| f.into_inner()),
    })
}

/// The upstream serving a route's legacy side: the one its `target`,
/// `shadow.to` or `canary.to` names (`legacy` when they name none); two
/// different ones are a problem. `None` when a name did not resolve.
fn legacy_upstream<'s>(
    named: impl Iterator<Item = (&'s Spanned<SideName>, Option<Side>)>,
    sides: &Sides<'_>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<usize> {
    let mut chosen: Option<usize> = None;
    let mut resolved = true;
    for (name, side) in named {
        let Some(side) = side else {
            resolved = false;
            continue;
        };
        let Some(upstream) = side.upstream else {
            continue;
        };
        match chosen {
            Some(first) if first != upstream => {
                let first_name = sides.names.get(first).map_or("", String::as_str);
                problems.push(index.problem(
                    name.span().start,
                    format!(
                        "the route's legacy side is served by upstream {first_name:?} already: a route names one upstream"
                    ),
                ));
                resolved = false;
            }
            Some(_) => {}
            None => chosen = Some(upstream),
        }
    }
    resolved.then_some(chosen.unwrap_or(LEGACY))
}

/// Headers a rewrite may not set or remove: the gateway sets them itself.
const GATEWAY_HEADERS: [&str; 8] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// Validates a route's `rewrite`, pushing its problems.
fn rewrites(
    spec: RewriteSpec,
    matcher: &Matcher,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Rewrites> {
    let before = problems.len();
    let mut side = |spec: Option<SideRewriteSpec>| {
        spec.map(|spec| side_rewrite(spec, matcher, index, problems))
    };
    let rewrites = Rewrites {
        legacy: side(spec.legacy),
        service: side(spec.service),
    };
    (problems.len() == before).then_some(rewrites)
}

fn side_rewrite(
    spec: SideRewriteSpec,
    matcher: &Matcher,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> SideRewrite {
    let path = spec.path.and_then(|path| {
        parse_path_rewrite(path.get_ref(), matcher)
            .map_err(|message| problems.push(index.problem(path.span().start, message)))
            .ok()
    });
    let mut set_headers = Vec::new();
    let mut remove_headers = Vec::new();
    for (name, value) in spec
        .set_headers
        .map(Spanned::into_inner)
        .unwrap_or_default()
    {
        let Some(header) = rewrite_header(&name, value.span().start, index, problems) else {
            continue;
        };
        match HeaderValue::from_str(value.get_ref()) {
            Ok(header_value) if value.get_ref().is_ascii() => {
                set_headers.push((header, header_value))
            }
            _ => problems.push(index.problem(
                value.span().start,
                format!(
                    "invalid header value {:?}: use visible ASCII",
                    value.get_ref()
                ),
            )),
        }
    }
    for name in spec
        .remove_headers
        .map(Spanned::into_inner)
        .unwrap_or_default()
    {
        if let Some(header) = rewrite_header(name.get_ref(), name.span().start, index, problems) {
            remove_headers.push(header);
        }
    }
    SideRewrite {
        path,
        set_headers,
        remove_headers,
    }
}

/// A header name a rewrite sets or removes, or its problem.
fn rewrite_header(
    raw: &str,
    at: usize,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<HeaderName> {
    let lower = raw.to_ascii_lowercase();
    match HeaderName::from_bytes(lower.as_bytes()) {
        Ok(_) if GATEWAY_HEADERS.contains(&lower.as_str()) => {
            problems.push(index.problem(
                at,
                format!("header {raw:?} is the gateway's own: a rewrite cannot change it"),
            ));
            None
        }
        Ok(name) => Some(name),
        Err(_) => {
            problems.push(index.problem(at, format!("invalid header name {raw:?}")));
            None
        }
    }
}

/// A header or query condition's table: `name = "value"` or `name = true`.
type ConditionTable = Spanned<BTreeMap<String, Spanned<toml::Value>>>;

/// Validates `match`'s `host`, `header` and `query`, pushing their problems.
fn conditions(
    host: Option<Spanned<String>>,
    header: Option<ConditionTable>,
    query: Option<ConditionTable>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Conditions> {
    let before = problems.len();
    let host = host.and_then(|host| {
        parse_host(host.get_ref())
            .map_err(|message| problems.push(index.problem(host.span().start, message)))
            .ok()
    });
    let mut headers = Vec::new();
    for (name, value) in entries(header, "header", index, problems) {
        let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
            problems
                .push(index.problem(value.span().start, format!("invalid header name {name:?}")));
            continue;
        };
        if let Some(required) = required(&value, "header", index, problems) {
            if let Required::Equals(text) = &required
                && !text
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
            {
                problems.push(index.problem(
                    value.span().start,
                    format!("invalid header value {text:?}: use visible ASCII"),
                ));
                continue;
            }
            headers.push((header_name, required));
        }
    }
    let mut query_conditions = Vec::new();
    for (name, value) in entries(query, "query", index, problems) {
        if let Some(required) = required(&value, "query", index, problems) {
            query_conditions.push((name, required));
        }
    }
    (problems.len() == before).then_some(Conditions {
        host,
        headers,
        query: query_conditions,
    })
}

/// The entries of a `header`/`query` table; an empty table is a problem.
fn entries(
    table: Option<ConditionTable>,
    key: &str,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Spanned<toml::Value>)> {
    let Some(table) = table else {
        return Vec::new();
    };
    if table.get_ref().is_empty() {
        problems.push(index.problem(
            table.span().start,
            format!("`{key}` is empty: name at least one, or leave `{key}` out"),
        ));
    }
    table
        .into_inner()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase_if(key == "header"), value))
        .collect()
}

trait LowercaseIf {
    fn to_ascii_lowercase_if(self, lower: bool) -> String;
}

impl LowercaseIf for String {
    fn to_ascii_lowercase_if(self, lower: bool) -> String {
        if lower {
            self.to_ascii_lowercase()
        } else {
            self
        }
    }
}

/// `"value"` → that value; `true` → present; anything else is a problem.
fn required(
    value: &Spanned<toml::Value>,
    key: &str,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Required> {
    match value.get_ref() {
        toml::Value::String(text) => Some(Required::Equals(text.clone())),
        toml::Value::Boolean(true) => Some(Required::Present(PresentMarker)),
        _ => {
            problems.push(index.problem(
                value.span().start,
                format!("a `{key}` condition is a string (the exact value) or `true` (present with any value)"),
            ));
            None
        }
    }
}

/// Validates a route's `canary`, pushing its problems.
fn canary_policy(
    spec: Spanned<CanarySpec>,
    to: Target,
    target: Target,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<CanaryPolicy> {
    let spec = spec.into_inner();
    let before = problems.len();
    if to == target {
        problems.push(index.problem(
            spec.to.span().start,
            format!("`canary.to` is \"{to}\", which already serves the route: send the share to the other side"),
        ));
    }
    let percent = *spec.percent.get_ref();
    if !(0.0..=100.0).contains(&percent) {
        problems.push(index.problem(
            spec.percent.span().start,
            "`percent` must be between 0 and 100",
        ));
    }
    let sticky = match &spec.sticky {
        None => None,
        Some(raw) => match StickyKey::parse(raw.get_ref()) {
            Ok(key) => Some(key),
            Err(message) => {
                problems.push(index.problem(raw.span().start, message));
                None
            }
        },
    };
    (problems.len() == before).then(|| CanaryPolicy::new(to, percent, sticky))
}

/// Whether `name` is `[a-z0-9][a-z0-9_-]*` and at most [`MAX_NAME_LEN`] long.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= MAX_NAME_LEN
}
