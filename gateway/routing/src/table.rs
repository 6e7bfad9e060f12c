//! The validated route table: [`RouteTable`] parses and validates
//! `routes.toml`, orders the routes by precedence and resolves a request to
//! a route; [`RouteTableSummary`] is its view for the admin endpoint.
//!
//! # Precedence
//!
//! [`RouteTable::resolve`] tries the routes from the most specific to the
//! least, and the first whose path matches and whose methods include the
//! request's wins (a path match with another method falls through to the next
//! candidate; when none is left, `[defaults] target` answers):
//!
//! 1. exact paths (`path` without `{param}`);
//! 2. patterns (`path` with `{param}` segments): more segments first, then
//!    segment by segment from the left, a literal before a parameter
//!    (`/a/{x}` before `/{y}/b`);
//! 3. prefixes: more segments first (`/v1/orders` before `/v1` before `/`).
//!
//! Routes of equal specificity are tried in file order. The order is computed
//! once, when the table is parsed; a route that can never match is refused
//! (see `dead.rs`).

use std::collections::HashMap;
use std::path::Path;

use http::Method;
use serde::Serialize;

use crate::conditions::RequestFacts;
use crate::dead::report_dead_routes;
use crate::error::{LineIndex, Problem, RouteTableError};
use crate::fnv::stable_hash_hex;
use crate::legacy::{Balance, HealthPolicy, LegacySettings};
use crate::matcher::compare_specificity;
use crate::path::NormalizedPath;
use crate::route::Route;
use crate::shadowing::{ShadowSettings, shadow_settings};
use crate::spec::RoutesFile;
use crate::target::Target;
use crate::upstreams::{LEGACY, Sides, upstreams};
use crate::validate::build_route;

/// The outcome of [`RouteTable::resolve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution<'a> {
    /// The route that matched, or `None` when the default target answers.
    pub route: Option<&'a Route>,
    /// The side that answers: the route's target, or `[defaults] target`.
    pub target: Target,
    /// The upstream serving the legacy side, an index in
    /// [`RouteTable::upstreams`]: the route's, or the default's.
    pub upstream: usize,
}

/// A parsed and fully validated `routes.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTable {
    /// `legacy` first, then `[upstreams.*]` by name.
    upstreams: Vec<LegacySettings>,
    shadow: ShadowSettings,
    default_target: Target,
    /// The upstream of the legacy side when no route matches.
    default_upstream: usize,
    /// In file order.
    routes: Vec<Route>,
    /// Indices into `routes`, most specific first.
    priority: Vec<usize>,
    version: String,
}

impl RouteTable {
    /// Reads and parses the routes file at `path`.
    ///
    /// # Errors
    ///
    /// [`RouteTableError::Io`] when the file cannot be read (or is not UTF-8),
    /// [`RouteTableError::Invalid`] as for [`RouteTable::parse`].
    pub fn load(path: &Path) -> Result<Self, RouteTableError> {
        let source = std::fs::read_to_string(path).map_err(|source| RouteTableError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&source, path)
    }

    /// Parses and validates `source`, reporting problems against `file`.
    ///
    /// # Errors
    ///
    /// [`RouteTableError::Invalid`] with the TOML error when the text is not a
    /// well-typed routes file, otherwise with every semantic problem found,
    /// sorted by position.
    pub fn parse(source: &str, file: &Path) -> Result<Self, RouteTableError> {
        let index = LineIndex::new(source);
        let invalid = |mut problems: Vec<Problem>| {
            problems.sort_by_key(|problem| (problem.line, problem.column));
            RouteTableError::Invalid {
                file: file.to_path_buf(),
                problems,
            }
        };
        let spec: RoutesFile = match toml::from_str(source) {
            Ok(spec) => spec,
            Err(err) => {
                let offset = err.span().map_or(0, |span| span.start);
                // One line per problem: some TOML messages span lines.
                let message = err.message().trim().replace('\n', "; ");
                return Err(invalid(vec![index.problem(offset, message)]));
            }
        };

        let mut problems = Vec::new();
        let (names, upstreams) = upstreams(spec.legacy, spec.upstreams, &index, &mut problems);
        let sides = Sides { names: &names };
        let default_side = match spec.defaults.and_then(|d| d.into_inner().target) {
            Some(target) => sides.resolve(&target, &index, &mut problems),
            None => None,
        };
        let default_target = default_side.map_or(Target::Legacy, |side| side.target);
        let default_upstream = default_side
            .and_then(|side| side.upstream)
            .unwrap_or(LEGACY);
        let shadow = shadow_settings(spec.shadow, &index, &mut problems);

        let mut routes = Vec::with_capacity(spec.routes.len());
        let mut match_offsets = Vec::with_capacity(spec.routes.len());
        let mut first_lines: HashMap<String, usize> = HashMap::new();
        for entry in spec.routes {
            let line = index.position(entry.span().start).0;
            let entry = entry.into_inner();
            let name = entry.name.get_ref();
            if let Some(first) = first_lines.get(name) {
                problems.push(index.problem(
                    entry.name.span().start,
                    format!(
                        "duplicate route name {name:?}: the route at line {first} has it already"
                    ),
                ));
            } else {
                first_lines.insert(name.clone(), line);
            }
            let match_offset = entry.matcher.span().start;
            if let Some(route) = build_route(entry, line, &sides, &shadow, &index, &mut problems) {
                routes.push(route);
                match_offsets.push(match_offset);
            }
        }

        let priority = priority_order(&routes);
        report_dead_routes(&routes, &priority, &match_offsets, &index, &mut problems);

        let upstreams: Option<Vec<LegacySettings>> = upstreams.into_iter().collect();
        match upstreams {
            Some(upstreams) if problems.is_empty() => Ok(Self {
                upstreams,
                shadow,
                default_target,
                default_upstream,
                routes,
                priority,
                version: stable_hash_hex(source.as_bytes()),
            }),
            _ => Err(invalid(problems)),
        }
    }

    /// Picks the route for a request without allocating: the first, in
    /// [`RouteTable::by_priority`] order, whose path and methods match.
    ///
    /// Exact paths come first, then patterns (more segments first, then a
    /// literal before a parameter from the left), then prefixes (more segments
    /// first); equals in file order. No match means `[defaults] target`.
    pub fn resolve(&self, method: &Method, path: &NormalizedPath) -> Resolution<'_> {
        self.resolve_request(method, path, &RequestFacts::default())
    }

    /// [`RouteTable::resolve`] for a request with a host, headers and a
    /// query, which routes with `host`, `header` or `query` conditions match
    /// on. Routes with more conditions are tried first (a route for one
    /// tenant before the route for everyone), then by path as above.
    pub fn resolve_request(
        &self,
        method: &Method,
        path: &NormalizedPath,
        facts: &RequestFacts<'_>,
    ) -> Resolution<'_> {
        let route = self
            .by_priority()
            .find(|route| route.matches_request(method, path, facts));
        Resolution {
            route,
            target: route.map_or(self.default_target, Route::target),
            upstream: route.map_or(self.default_upstream, Route::upstream),
        }
    }

    /// The settings of the upstream `legacy` (`[legacy]`).
    pub fn legacy(&self) -> &LegacySettings {
        &self.upstreams[LEGACY]
    }

    /// Every upstream: `legacy` first, then `[upstreams.*]` by name. A
    /// route's [`Route::upstream`] and a [`Resolution::upstream`] index it.
    pub fn upstreams(&self) -> &[LegacySettings] {
        &self.upstreams
    }

    /// The upstream serving the legacy side when no route matches (`legacy`
    /// unless `[defaults] target` names another).
    pub fn default_upstream(&self) -> usize {
        self.default_upstream
    }

    /// What answers when no route matches (`[defaults] target`, default `legacy`).
    pub fn default_target(&self) -> Target {
        self.default_target
    }

    /// The names of the routes whose requests reach upstream `index`
    /// ([`Route::reaches_legacy`]), in file order, then `(default)` when
    /// requests no route matches go there.
    pub fn routes_reaching(&self, index: usize) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .routes
            .iter()
            .filter(|route| route.upstream() == index && route.reaches_legacy())
            .map(Route::name)
            .collect();
        if self.default_upstream == index && self.default_target == Target::Legacy {
            names.push("(default)");
        }
        names
    }

    /// The routes in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes in the order [`RouteTable::resolve`] tries them.
    pub fn by_priority(&self) -> impl Iterator<Item = &Route> {
        self.priority.iter().filter_map(|&i| self.routes.get(i))
    }

    /// The `[shadow]` limits shared by every route's mirroring.
    pub fn shadow_settings(&self) -> &ShadowSettings {
        &self.shadow
    }

    /// A stable hash of the source text (FNV-1a, 16 hex digits), the same in every process.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// This table with route `name` replaced by `route` (same name, same
    /// match: the precedence order stays valid). Unknown names change nothing.
    #[must_use]
    pub fn with_route(&self, route: Route) -> RouteTable {
        let mut table = self.clone();
        if let Some(slot) = table
            .routes
            .iter_mut()
            .find(|r| r.name == route.name && r.matcher == route.matcher)
        {
            *slot = route;
        }
        table
    }

    /// A serialisable view of the table for the admin endpoint.
    pub fn summary(&self) -> RouteTableSummary<'_> {
        RouteTableSummary {
            version: &self.version,
            legacy: LegacySummary::of(self.legacy()),
            upstreams: self.upstreams.iter().map(LegacySummary::of).collect(),
            default_target: self.default_target,
            default_upstream: self.upstreams[self.default_upstream].name(),
            shadow: &self.shadow,
            routes: &self.routes,
            evaluation_order: self.by_priority().map(Route::name).collect(),
        }
    }
}

/// The table as the admin endpoint shows it (serialise it, e.g. as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct RouteTableSummary<'a> {
    /// [`RouteTable::version`].
    version: &'a str,
    /// The upstream `legacy`, durations in humantime syntax.
    legacy: LegacySummary,
    /// [`RouteTable::upstreams`], `legacy` first.
    upstreams: Vec<LegacySummary>,
    /// [`RouteTable::default_target`].
    default_target: Target,
    /// The name of [`RouteTable::default_upstream`].
    default_upstream: &'a str,
    /// [`RouteTable::shadow_settings`].
    shadow: &'a ShadowSettings,
    /// The routes in file order: name, target, line, methods (absent = all), match kind and value.
    routes: &'a [Route],
    /// Route names in the order they are tried.
    evaluation_order: Vec<&'a str>,
}

/// [`LegacySettings`] for display.
#[derive(Debug, Clone, Serialize)]
struct LegacySummary {
    name: String,
    /// The first address (the only one unless `urls` lists several).
    url: String,
    urls: Vec<String>,
    connect_timeout: String,
    timeout: String,
    balance: Balance,
    health: HealthPolicy,
}

impl LegacySummary {
    fn of(settings: &LegacySettings) -> Self {
        Self {
            name: settings.name().to_owned(),
            url: settings.url().to_string(),
            urls: settings.urls().iter().map(ToString::to_string).collect(),
            connect_timeout: humantime::format_duration(settings.connect_timeout()).to_string(),
            timeout: humantime::format_duration(settings.timeout()).to_string(),
            balance: settings.balance(),
            health: settings.health(),
        }
    }
}

/// Indices of `routes`, most specific first: more conditions first, then
/// the more specific path, ties in file order.
fn priority_order(routes: &[Route]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by(|&a, &b| {
        routes[b]
            .conditions
            .count()
            .cmp(&routes[a].conditions.count())
            .then_with(|| compare_specificity(&routes[a].matcher, &routes[b].matcher))
            .then(a.cmp(&b))
    });
    order
}
