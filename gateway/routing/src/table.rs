//! The validated route table: parsing `routes.toml`, validation, precedence
//! and resolution of a request to a route.
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
//! once, when the table is parsed.
//!
//! # Dead routes
//!
//! A route that can never match because routes tried before it take every
//! request it would get (same or wider path set, and together every one of
//! its methods) is refused, naming the route(s) that shadow it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Uri};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use super::canary::{CanaryPolicy, StickyKey};
use super::error::LineIndex;
use super::shadowing::{
    FlipRequirement, ShadowPolicy, ShadowSettings, flip_requirement, shadow_policy, shadow_settings,
};
use super::spec::{CanarySpec, LegacySpec, MatchSpec, RouteSpec, RoutesFile};
use super::{NormalizedPath, Problem, RouteTableError};

/// `[legacy] connect_timeout` when absent.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// `[legacy] timeout` when absent.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest route name: names are metrics labels.
const MAX_NAME_LEN: usize = 64;

/// Which side answers a request: the legacy backend or the new service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Forwarded over HTTP to the legacy backend.
    Legacy,
    /// Dispatched in-process to the new service.
    Service,
}

impl Target {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::Legacy => Self::Service,
            Self::Service => Self::Legacy,
        }
    }

    /// The name used in `routes.toml`, logs and metrics: `legacy` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Service => "service",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how to reach the legacy backend (`[legacy]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySettings {
    url: Uri,
    connect_timeout: Duration,
    timeout: Duration,
}

impl LegacySettings {
    /// The base URL: `http`, with a host, maybe a path prefix, no query.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// How long to wait for a TCP connection (default 2 s, never zero).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long to wait for the response head (default 30 s, never zero).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this (decoded) text.
    Literal(String),
    /// `{name}`: matches any one non-empty segment.
    Param(String),
}

impl Segment {
    /// Whether this is a `{param}`.
    fn is_param(&self) -> bool {
        matches!(self, Self::Param(_))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(text) => f.write_str(text),
            Self::Param(name) => write!(f, "{{{name}}}"),
        }
    }
}

/// What paths a route matches; always written as a normalised absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// `path` without parameters: this path only (`/a/` is not `/a`).
    Exact(String),
    /// `path` with parameters: the segments of `/` + the segments joined by `/`.
    Pattern(Vec<Segment>),
    /// `prefix`: this path and every path below it, on segment boundaries.
    Prefix(String),
}

impl Matcher {
    /// `exact`, `pattern` or `prefix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Exact(_) => "exact",
            Self::Pattern(_) => "pattern",
            Self::Prefix(_) => "prefix",
        }
    }

    /// Whether the normalised (decoded) `path` is matched, whatever the method.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => path == exact,
            Self::Pattern(segments) => pattern_matches(segments, path),
            Self::Prefix(prefix) => prefix_matches(prefix, path),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(path) | Self::Prefix(path) => f.write_str(path),
            Self::Pattern(segments) => {
                for segment in segments {
                    write!(f, "/{segment}")?;
                }
                Ok(())
            }
        }
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Matcher", 2)?;
        fields.serialize_field("kind", self.kind())?;
        fields.serialize_field("value", &self.to_string())?;
        fields.end()
    }
}

/// Whether `path` has exactly the pattern's segments.
fn pattern_matches(segments: &[Segment], path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut parts = rest.split('/');
    for segment in segments {
        let Some(part) = parts.next() else {
            return false;
        };
        let fits = match segment {
            Segment::Literal(text) => part == text,
            Segment::Param(_) => !part.is_empty(),
        };
        if !fits {
            return false;
        }
    }
    parts.next().is_none()
}

/// Whether `path` is `prefix` or below it (`/v1/orders` matches `/v1/orders/x`, not `/v1/ordersX`).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The segments of a prefix: none for `/`.
fn prefix_segments(prefix: &str) -> impl Iterator<Item = &str> {
    prefix
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
        .into_iter()
        .flat_map(|rest| rest.split('/'))
}

/// One `[[routes]]` entry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    name: String,
    matcher: Matcher,
    methods: Option<Vec<Method>>,
    target: Target,
    line: usize,
    shadow: Option<Arc<ShadowPolicy>>,
    require: Option<FlipRequirement>,
    canary: Option<CanaryPolicy>,
    force: bool,
}

impl Route {
    /// The route's unique name (`[a-z0-9][a-z0-9_-]*`, at most 64 characters).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The paths the route matches.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// The methods matched, uppercase and without duplicates; `None` means all.
    pub fn methods(&self) -> Option<&[Method]> {
        self.methods.as_deref()
    }

    /// The side that answers the route's requests.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The line of the route's `[[routes]]` header in the file (1-based).
    pub fn line(&self) -> usize {
        self.line
    }

    /// How the route is mirrored, if it is.
    pub fn shadow(&self) -> Option<&Arc<ShadowPolicy>> {
        self.shadow.as_ref()
    }

    /// How a share of the route's requests goes to the other side, if it does.
    pub fn canary(&self) -> Option<&CanaryPolicy> {
        self.canary.as_ref()
    }

    /// The share of the route's requests the service answers, in percent.
    pub fn service_percent(&self) -> f64 {
        let canary = self.canary.as_ref().map_or(0.0, |c| c.percent);
        match self.target {
            Target::Service => 100.0 - canary,
            Target::Legacy => canary,
        }
    }

    /// This route with its service share lowered to at most `percent` (a flip not yet earned).
    ///
    /// A legacy-served route keeps its canary, with the smaller share (none
    /// at 0 %). A service-served route is served by legacy instead, with a
    /// canary of `percent` to the service (keeping the file's sticky key) and
    /// its mirror, if any, turned towards the service. A route already at or
    /// below `percent` is returned unchanged.
    #[must_use]
    pub fn with_service_share_at_most(&self, percent: f64) -> Route {
        let percent = percent.clamp(0.0, 100.0);
        if self.service_percent() <= percent {
            return self.clone();
        }
        let sticky = self.canary.as_ref().and_then(|c| c.sticky.clone());
        let canary = (percent > 0.0).then(|| CanaryPolicy::new(Target::Service, percent, sticky));
        let shadow = self.shadow.as_ref().map(|shadow| {
            if shadow.to == Target::Legacy {
                Arc::new(ShadowPolicy {
                    to: Target::Service,
                    ..ShadowPolicy::clone(shadow)
                })
            } else {
                shadow.clone()
            }
        });
        Route {
            target: Target::Legacy,
            canary,
            shadow,
            ..self.clone()
        }
    }

    /// The `require` the file declares, if it does: only then are flips gated.
    pub fn declared_require(&self) -> Option<FlipRequirement> {
        self.require
    }

    /// Whether a reload may raise the service share without meeting `require`.
    pub fn force(&self) -> bool {
        self.force
    }

    /// What its shadow results must show before the route is ready to flip (defaults apply when absent).
    pub fn require(&self) -> FlipRequirement {
        self.require.unwrap_or_default()
    }

    /// Whether the route's method set includes `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }

    /// Whether the route matches this request (method and normalised path).
    pub fn matches(&self, method: &Method, path: &NormalizedPath) -> bool {
        self.matcher.matches(path.as_str()) && self.allows(method)
    }
}

impl Serialize for Route {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let methods: Option<Vec<&str>> = self
            .methods
            .as_ref()
            .map(|methods| methods.iter().map(Method::as_str).collect());
        let mut fields = serializer.serialize_struct("Route", 9)?;
        fields.serialize_field("name", &self.name)?;
        fields.serialize_field("target", &self.target)?;
        fields.serialize_field("line", &self.line)?;
        fields.serialize_field("methods", &methods)?;
        fields.serialize_field("match", &self.matcher)?;
        fields.serialize_field("shadow", &self.shadow)?;
        fields.serialize_field("require", &self.require())?;
        fields.serialize_field("canary", &self.canary)?;
        fields.serialize_field("service_percent", &self.service_percent())?;
        fields.end()
    }
}

/// The outcome of [`RouteTable::resolve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution<'a> {
    /// The route that matched, or `None` when the default target answers.
    pub route: Option<&'a Route>,
    /// The side that answers: the route's target, or `[defaults] target`.
    pub target: Target,
}

/// A parsed and fully validated `routes.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTable {
    legacy: LegacySettings,
    shadow: ShadowSettings,
    default_target: Target,
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
        let legacy = legacy_settings(spec.legacy.into_inner(), &index, &mut problems);
        let default_target = spec
            .defaults
            .and_then(|defaults| defaults.into_inner().target)
            .map_or(Target::Legacy, Spanned::into_inner);
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
            if let Some(route) = build_route(entry, line, &shadow, &index, &mut problems) {
                routes.push(route);
                match_offsets.push(match_offset);
            }
        }

        let priority = priority_order(&routes);
        report_dead_routes(&routes, &priority, &match_offsets, &index, &mut problems);

        match legacy {
            Some(legacy) if problems.is_empty() => Ok(Self {
                legacy,
                shadow,
                default_target,
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
        let route = self.by_priority().find(|route| route.matches(method, path));
        Resolution {
            route,
            target: route.map_or(self.default_target, Route::target),
        }
    }

    /// The legacy backend's settings.
    pub fn legacy(&self) -> &LegacySettings {
        &self.legacy
    }

    /// What answers when no route matches (`[defaults] target`, default `legacy`).
    pub fn default_target(&self) -> Target {
        self.default_target
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
            legacy: LegacySummary {
                url: self.legacy.url.to_string(),
                connect_timeout: humantime::format_duration(self.legacy.connect_timeout)
                    .to_string(),
                timeout: humantime::format_duration(self.legacy.timeout).to_string(),
            },
            default_target: self.default_target,
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
    /// The legacy backend, durations in humantime syntax.
    legacy: LegacySummary,
    /// [`RouteTable::default_target`].
    default_target: Target,
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
    url: String,
    connect_timeout: String,
    timeout: String,
}

/// Validates `[legacy]`, pushing its problems.
fn legacy_settings(
    spec: LegacySpec,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<LegacySettings> {
    let url = parse_legacy_url(spec.url.get_ref())
        .map_err(|message| problems.push(index.problem(spec.url.span().start, message)))
        .ok();
    let connect_timeout = duration_setting(
        spec.connect_timeout.as_ref(),
        "connect_timeout",
        DEFAULT_CONNECT_TIMEOUT,
        index,
        problems,
    );
    let timeout = duration_setting(
        spec.timeout.as_ref(),
        "timeout",
        DEFAULT_TIMEOUT,
        index,
        problems,
    );
    Some(LegacySettings {
        url: url?,
        connect_timeout: connect_timeout?,
        timeout: timeout?,
    })
}

/// Checks the legacy base URL: `http://host[:port][/base]`.
fn parse_legacy_url(raw: &str) -> Result<Uri, String> {
    // `http::Uri` silently drops a fragment: look for it first.
    if raw.contains('#') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not have a fragment ('#')"
        ));
    }
    let uri: Uri = raw
        .parse()
        .map_err(|err| format!("invalid legacy url {raw:?}: {err}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err("https upstreams are not supported yet".to_owned()),
        Some(other) => {
            return Err(format!(
                "invalid legacy url {raw:?}: scheme `{other}` is not supported, use http://"
            ));
        }
        None => {
            return Err(format!(
                "invalid legacy url {raw:?}: it must be absolute, like \"http://127.0.0.1:8000\""
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("invalid legacy url {raw:?}: it has no host"));
    };
    if authority.host().is_empty() {
        return Err(format!("invalid legacy url {raw:?}: it has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not contain credentials"
        ));
    }
    if raw.contains('?') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not have a query"
        ));
    }
    Ok(uri)
}

/// Parses an optional positive humantime duration, pushing its problem.
pub(super) fn duration_setting(
    value: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Duration> {
    let Some(value) = value else {
        return Some(default);
    };
    let raw = value.get_ref();
    let message = match humantime::parse_duration(raw) {
        Ok(duration) if !duration.is_zero() => return Some(duration),
        Ok(_) => format!("`{key}` must be greater than zero"),
        Err(err) => {
            format!("invalid duration {raw:?} for `{key}`: {err} (write e.g. \"2s\" or \"500ms\")")
        }
    };
    problems.push(index.problem(value.span().start, message));
    None
}

/// Validates one route, pushing its problems; `None` when it cannot be built.
fn build_route(
    spec: RouteSpec,
    line: usize,
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
    } = spec.matcher.into_inner();
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
    let methods = match methods {
        None => Some(None),
        Some(methods) => parse_methods(methods, index, problems).map(Some),
    };

    let target = spec.target.into_inner();
    let methods = methods?;
    let shadow = match spec.shadow {
        None => None,
        Some(shadow) => shadow_policy(
            shadow,
            target,
            methods.as_deref(),
            shadow_settings.max_body_bytes,
            index,
            problems,
        )
        .map(Arc::new),
    };
    let require = match spec.require {
        None => None,
        Some(require) => flip_requirement(require, index, problems),
    };
    let canary = match spec.canary {
        None => None,
        // Problems are reported; the route is still built so later checks can run.
        Some(canary) => canary_policy(canary, target, index, problems),
    };
    Some(Route {
        name: spec.name.into_inner(),
        matcher: matcher?,
        methods,
        target,
        line,
        shadow,
        require,
        canary,
        force: spec.force.is_some_and(|f| f.into_inner()),
    })
}

/// Validates a route's `canary`, pushing its problems.
fn canary_policy(
    spec: Spanned<CanarySpec>,
    target: Target,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<CanaryPolicy> {
    let spec = spec.into_inner();
    let before = problems.len();
    let to = *spec.to.get_ref();
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

/// Uppercases, checks and dedupes a `methods` list, pushing its problems.
pub(super) fn parse_methods(
    methods: Spanned<Vec<Spanned<String>>>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<Method>> {
    if methods.get_ref().is_empty() {
        problems.push(index.problem(
            methods.span().start,
            "`methods` is empty: list at least one method, or leave `methods` out to match every method",
        ));
        return None;
    }
    let mut parsed: Vec<Method> = Vec::with_capacity(methods.get_ref().len());
    let mut valid = true;
    for method in methods.into_inner() {
        match Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes()) {
            Ok(m) if !parsed.contains(&m) => parsed.push(m),
            Ok(_) => {}
            Err(_) => {
                valid = false;
                problems.push(index.problem(
                    method.span().start,
                    format!(
                        "invalid HTTP method {:?}: a method is a token like \"GET\" or \"PURGE\"",
                        method.get_ref()
                    ),
                ));
            }
        }
    }
    valid.then_some(parsed)
}

/// Parses `match.path`: an exact path, or a pattern when it has `{param}`s.
fn parse_path(raw: &str) -> Result<Matcher, String> {
    let segments = parse_segments(raw, "path")?;
    if segments.iter().any(Segment::is_param) {
        Ok(Matcher::Pattern(segments))
    } else {
        Ok(Matcher::Exact(raw.to_owned()))
    }
}

/// Parses `match.prefix`: a normalised path without parameters or trailing slash.
fn parse_prefix(raw: &str) -> Result<Matcher, String> {
    let segments = parse_segments(raw, "prefix")?;
    if segments.iter().any(Segment::is_param) {
        return Err(format!(
            "invalid prefix {raw:?}: a prefix cannot have `{{param}}` segments (use `path` for patterns)"
        ));
    }
    if raw != "/" && raw.ends_with('/') {
        return Err(format!(
            "invalid prefix {raw:?}: a prefix must not end with '/' ({:?} already matches every path below it)",
            raw.trim_end_matches('/')
        ));
    }
    Ok(Matcher::Prefix(raw.to_owned()))
}

/// Checks that `raw` is a normalised absolute path with well-formed `{param}`s
/// and splits it into segments.
fn parse_segments(raw: &str, what: &str) -> Result<Vec<Segment>, String> {
    let fail = |reason: &str| Err(format!("invalid {what} {raw:?}: {reason}"));
    let Some(rest) = raw.strip_prefix('/') else {
        return fail("it must start with '/'");
    };
    if raw.contains(['?', '#']) {
        return fail("it must not contain '?' or '#' (routes match the path only)");
    }
    if raw.contains('%') {
        return fail(
            "it must not contain percent-escapes (requests are decoded before matching: write the decoded characters)",
        );
    }
    if raw.contains(|c: char| c == '\\' || c.is_control()) {
        return fail("it must not contain a backslash or control characters");
    }
    let mut segments = Vec::new();
    let mut parts = rest.split('/').peekable();
    while let Some(part) = parts.next() {
        if part.is_empty() && parts.peek().is_some() {
            return fail("it must not contain '//'");
        }
        if part == "." || part == ".." {
            return fail("it must not contain '.' or '..' segments");
        }
        if !part.contains(['{', '}']) {
            segments.push(Segment::Literal(part.to_owned()));
            continue;
        }
        let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            return fail("a `{param}` must be a whole segment, like \"/users/{id}\"");
        };
        if !is_identifier(name) {
            return fail(&format!(
                "parameter name {name:?} is not an identifier (letters, digits and '_', not starting with a digit)"
            ));
        }
        if segments.contains(&Segment::Param(name.to_owned())) {
            return fail(&format!("parameter `{{{name}}}` appears twice"));
        }
        segments.push(Segment::Param(name.to_owned()));
    }
    Ok(segments)
}

/// Whether `name` is `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Orders two matchers by specificity: `Less` when `a` is tried first.
fn compare_specificity(a: &Matcher, b: &Matcher) -> Ordering {
    match (a, b) {
        (Matcher::Exact(_), Matcher::Exact(_)) => Ordering::Equal,
        (Matcher::Exact(_), _) | (Matcher::Pattern(_), Matcher::Prefix(_)) => Ordering::Less,
        (_, Matcher::Exact(_)) | (Matcher::Prefix(_), Matcher::Pattern(_)) => Ordering::Greater,
        (Matcher::Pattern(a), Matcher::Pattern(b)) => b.len().cmp(&a.len()).then_with(|| {
            // Left to right, a literal (false) before a parameter (true).
            a.iter()
                .map(Segment::is_param)
                .cmp(b.iter().map(Segment::is_param))
        }),
        (Matcher::Prefix(a), Matcher::Prefix(b)) => {
            prefix_segments(b).count().cmp(&prefix_segments(a).count())
        }
    }
}

/// Indices of `routes`, most specific first, ties in file order.
fn priority_order(routes: &[Route]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by(|&a, &b| {
        compare_specificity(&routes[a].matcher, &routes[b].matcher).then(a.cmp(&b))
    });
    order
}

/// Whether every path `b` matches is matched by `a`.
fn covers(a: &Matcher, b: &Matcher) -> bool {
    match (a, b) {
        (_, Matcher::Exact(path)) => a.matches(path),
        (Matcher::Pattern(a), Matcher::Pattern(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|pair| match pair {
                    (Segment::Param(_), Segment::Param(_)) => true,
                    (Segment::Param(_), Segment::Literal(text)) => !text.is_empty(),
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    (Segment::Literal(_), Segment::Param(_)) => false,
                })
        }
        (Matcher::Prefix(prefix), Matcher::Pattern(segments)) => {
            let wanted: Vec<&str> = prefix_segments(prefix).collect();
            wanted.len() <= segments.len()
                && wanted
                    .iter()
                    .zip(segments)
                    .all(|(w, s)| matches!(s, Segment::Literal(text) if text == w))
        }
        (Matcher::Prefix(a), Matcher::Prefix(b)) => prefix_matches(a, b),
        (Matcher::Exact(_), _) | (Matcher::Pattern(_), Matcher::Prefix(_)) => false,
    }
}

/// Pushes a problem for every route that routes tried before it always take.
fn report_dead_routes(
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
            .filter(|route| covers(&route.matcher, &victim.matcher))
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

/// 64-bit FNV-1a of `bytes` as 16 hex digits: stable across runs and processes.
pub(crate) fn stable_hash_hex(bytes: &[u8]) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize_path;
    use proptest::prelude::*;

    const FILE: &str = "routes.toml";

    fn parse(source: &str) -> RouteTable {
        RouteTable::parse(source, Path::new(FILE)).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The problems of an invalid file, as `line:column: message`.
    fn problems(source: &str) -> Vec<String> {
        match RouteTable::parse(source, Path::new(FILE)) {
            Err(RouteTableError::Invalid { file, problems }) => {
                assert_eq!(file, Path::new(FILE));
                problems.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected an invalid table, got {other:?}"),
        }
    }

    /// A file whose only route (header at line 4) has `match = {body}` on line 6.
    fn one_route(body: &str) -> String {
        format!(
            "[legacy]\nurl = \"http://127.0.0.1:8000\"\n\n[[routes]]\nname = \"r\"\nmatch = {body}\ntarget = \"legacy\"\n"
        )
    }

    /// A file with `[legacy]` made of `lines` and no route.
    fn legacy(lines: &str) -> String {
        format!("[legacy]\n{lines}\n")
    }

    const SAMPLE: &str = r#"# The route table operators edit.
[legacy]
url = "http://127.0.0.1:8000/base"
connect_timeout = "2s"
timeout = "30s"

[defaults]
target = "legacy"

[[routes]]
name = "create-user"
match = { path = "/v1/accounts/users", methods = ["POST"] }
target = "service"

[[routes]]
name = "get-user"
match = { path = "/v1/accounts/users/{id}", methods = ["get", "HEAD", "GET"] }
target = "legacy"

[[routes]]
name = "orders"
match = { prefix = "/v1/orders" }
target = "legacy"
"#;

    #[test]
    fn parses_the_sample_file() {
        let table = parse(SAMPLE);
        assert_eq!(
            table.legacy().url().to_string(),
            "http://127.0.0.1:8000/base"
        );
        assert_eq!(table.legacy().url().path(), "/base");
        assert_eq!(table.legacy().connect_timeout(), Duration::from_secs(2));
        assert_eq!(table.legacy().timeout(), Duration::from_secs(30));
        assert_eq!(table.default_target(), Target::Legacy);

        let routes = table.routes();
        let names: Vec<&str> = routes.iter().map(Route::name).collect();
        assert_eq!(names, ["create-user", "get-user", "orders"]);
        assert_eq!(
            routes[0].matcher(),
            &Matcher::Exact("/v1/accounts/users".into())
        );
        assert_eq!(routes[0].methods(), Some(&[Method::POST][..]));
        assert_eq!(routes[0].target(), Target::Service);
        assert_eq!(routes[0].line(), 10);
        assert_eq!(
            routes[1].matcher(),
            &Matcher::Pattern(vec![
                Segment::Literal("v1".into()),
                Segment::Literal("accounts".into()),
                Segment::Literal("users".into()),
                Segment::Param("id".into()),
            ])
        );
        assert_eq!(routes[1].matcher().to_string(), "/v1/accounts/users/{id}");
        // Uppercased and deduplicated, in the order written.
        assert_eq!(routes[1].methods(), Some(&[Method::GET, Method::HEAD][..]));
        assert_eq!(routes[2].matcher(), &Matcher::Prefix("/v1/orders".into()));
        assert_eq!(routes[2].methods(), None);
        assert_eq!(routes[2].line(), 20);

        assert_eq!(table.version().len(), 16);
        assert_eq!(table.version(), parse(SAMPLE).version());
        assert_ne!(
            table.version(),
            parse(&SAMPLE.replace("30s", "31s")).version()
        );
    }

    #[test]
    fn defaults_apply_when_absent() {
        let table = parse("[legacy]\nurl = \"http://legacy\"\n");
        assert_eq!(table.legacy().connect_timeout(), Duration::from_secs(2));
        assert_eq!(table.legacy().timeout(), Duration::from_secs(30));
        assert_eq!(table.default_target(), Target::Legacy);
        assert!(table.routes().is_empty());
        let table = parse("[legacy]\nurl = \"http://legacy\"\n[defaults]\n");
        assert_eq!(table.default_target(), Target::Legacy);
    }

    #[test]
    fn version_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors: stable whatever the process.
        assert_eq!(stable_hash_hex(b""), "cbf29ce484222325");
        assert_eq!(stable_hash_hex(b"a"), "af63dc4c8601ec8c");
        assert_eq!(stable_hash_hex(b"foobar"), "85944171f73967e8");
    }

    const PRECEDENCE: &str = r#"[legacy]
url = "http://legacy:8000"

[defaults]
target = "service"

[[routes]]
name = "v1"
match = { prefix = "/v1" }
target = "service"

[[routes]]
name = "orders"
match = { prefix = "/v1/orders" }
target = "legacy"

[[routes]]
name = "user-by-id"
match = { path = "/v1/users/{id}" }
target = "service"

[[routes]]
name = "user-me"
match = { path = "/v1/users/me", methods = ["GET"] }
target = "legacy"

[[routes]]
name = "user-action"
match = { path = "/v1/users/{id}/{action}" }
target = "legacy"

[[routes]]
name = "any-kind-x"
match = { path = "/v1/{kind}/x" }
target = "legacy"

[[routes]]
name = "create-user"
match = { path = "/v1/users", methods = ["POST"] }
target = "service"

[[routes]]
name = "list-users"
match = { path = "/v1/users", methods = ["GET", "HEAD"] }
target = "legacy"

[[routes]]
name = "first-tie"
match = { path = "/v2/{a}/b", methods = ["GET"] }
target = "legacy"

[[routes]]
name = "second-tie"
match = { path = "/v2/{b}/b", methods = ["GET", "POST"] }
target = "service"

[[routes]]
name = "slash"
match = { path = "/v3/" }
target = "legacy"
"#;

    #[test]
    fn resolves_the_most_specific_route() {
        let table = parse(PRECEDENCE);
        let cases: &[(Method, &str, Option<&str>, Target)] = &[
            // Exact beats pattern; another method falls through to the pattern.
            (Method::GET, "/v1/users/me", Some("user-me"), Target::Legacy),
            (
                Method::POST,
                "/v1/users/me",
                Some("user-by-id"),
                Target::Service,
            ),
            (
                Method::GET,
                "/v1/users/42",
                Some("user-by-id"),
                Target::Service,
            ),
            // A literal beats a parameter, left to right.
            (
                Method::GET,
                "/v1/users/x",
                Some("user-by-id"),
                Target::Service,
            ),
            (
                Method::GET,
                "/v1/things/x",
                Some("any-kind-x"),
                Target::Legacy,
            ),
            (
                Method::GET,
                "/v1/users/42/disable",
                Some("user-action"),
                Target::Legacy,
            ),
            // Pattern beats prefix; no pattern has four segments.
            (
                Method::GET,
                "/v1/users/42/disable/now",
                Some("v1"),
                Target::Service,
            ),
            // Exact paths split by method, and a third method falls through.
            (
                Method::POST,
                "/v1/users",
                Some("create-user"),
                Target::Service,
            ),
            (
                Method::HEAD,
                "/v1/users",
                Some("list-users"),
                Target::Legacy,
            ),
            (Method::DELETE, "/v1/users", Some("v1"), Target::Service),
            // `{id}` needs a non-empty segment; `/v1/users/` is not `/v1/users`.
            (Method::GET, "/v1/users/", Some("v1"), Target::Service),
            // The longer prefix wins, on segment boundaries.
            (Method::GET, "/v1/orders", Some("orders"), Target::Legacy),
            (Method::GET, "/v1/orders/", Some("orders"), Target::Legacy),
            (
                Method::PUT,
                "/v1/orders/7/items",
                Some("orders"),
                Target::Legacy,
            ),
            (Method::GET, "/v1/ordersX", Some("v1"), Target::Service),
            (Method::GET, "/v1", Some("v1"), Target::Service),
            // Equal specificity: file order, then method fall-through.
            (Method::GET, "/v2/x/b", Some("first-tie"), Target::Legacy),
            (Method::POST, "/v2/x/b", Some("second-tie"), Target::Service),
            // A trailing slash is significant.
            (Method::GET, "/v3/", Some("slash"), Target::Legacy),
            (Method::GET, "/v3", None, Target::Service),
            // Nothing matches: the default target.
            (Method::GET, "/v10", None, Target::Service),
            (Method::GET, "/", None, Target::Service),
            (Method::PUT, "/v2/x/b", None, Target::Service),
            // Matching is on the normalised path.
            (
                Method::GET,
                "/v1/orders/../users/me",
                Some("user-me"),
                Target::Legacy,
            ),
            (
                Method::GET,
                "//v1//users/%6de",
                Some("user-me"),
                Target::Legacy,
            ),
            (
                Method::GET,
                "/v1/users/me/%2e%2e/%2e%2e/orders",
                Some("orders"),
                Target::Legacy,
            ),
        ];
        for (method, raw, expected, target) in cases {
            let path = normalize_path(raw).unwrap();
            let resolution = table.resolve(method, &path);
            assert_eq!(
                resolution.route.map(Route::name),
                *expected,
                "{method} {raw}"
            );
            assert_eq!(resolution.target, *target, "{method} {raw}");
        }
        let order: Vec<&str> = table.by_priority().map(Route::name).collect();
        assert_eq!(
            order,
            [
                "user-me",
                "create-user",
                "list-users",
                "slash",
                "user-action",
                "user-by-id",
                "any-kind-x",
                "first-tie",
                "second-tie",
                "orders",
                "v1",
            ]
        );
    }

    #[test]
    fn root_prefix_and_default_target_legacy() {
        let table = parse(
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"all\"\nmatch = { prefix = \"/\", methods = [\"GET\"] }\ntarget = \"service\"\n",
        );
        let get = table.resolve(&Method::GET, &normalize_path("/anything/at/all").unwrap());
        assert_eq!(get.route.map(Route::name), Some("all"));
        assert_eq!(get.target, Target::Service);
        let post = table.resolve(&Method::POST, &normalize_path("/").unwrap());
        assert_eq!(
            post,
            Resolution {
                route: None,
                target: Target::Legacy
            }
        );
    }

    #[test]
    fn reports_each_problem_at_its_position() {
        let long_name = "a".repeat(65);
        let cases: Vec<(String, &str)> = vec![
            // [legacy]
            (legacy("url = \"https://legacy:8443\""), "2:7: https upstreams are not supported yet"),
            (legacy("url = \"ftp://legacy\""), "2:7: invalid legacy url \"ftp://legacy\": scheme `ftp` is not supported, use http://"),
            (legacy("url = \"127.0.0.1:8000\""), "2:7: invalid legacy url \"127.0.0.1:8000\": it must be absolute, like \"http://127.0.0.1:8000\""),
            (legacy("url = \"/base\""), "2:7: invalid legacy url \"/base\": it must be absolute, like \"http://127.0.0.1:8000\""),
            (legacy("url = \"http://l/?a=1\""), "2:7: invalid legacy url \"http://l/?a=1\": it must not have a query"),
            (legacy("url = \"http://l/#top\""), "2:7: invalid legacy url \"http://l/#top\": it must not have a fragment ('#')"),
            (legacy("url = \"http://user:pw@l\""), "2:7: invalid legacy url \"http://user:pw@l\": it must not contain credentials"),
            (legacy("url = \"http://l a\""), "2:7: invalid legacy url \"http://l a\": invalid uri character"),
            (legacy("url = \"http://l\"\nconnect_timeout = \"0s\""), "3:19: `connect_timeout` must be greater than zero"),
            (legacy("url = \"http://l\"\ntimeout = \"soon\""), "3:11: invalid duration \"soon\" for `timeout`: expected number at 0 (write e.g. \"2s\" or \"500ms\")"),
            // Shadowing.
            (legacy("url = \"http://l\"\n\n[shadow]\nmax_in_flight = 0"), "5:17: `max_in_flight` must be greater than zero"),
            (legacy("url = \"http://l\"\n\n[shadow]\ntimeout = \"later\""), "5:11: invalid duration \"later\" for `timeout`: expected number at 0 (write e.g. \"2s\" or \"500ms\")"),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nshadow = { to = \"legacy\" }\n".into(),
                "7:17: `shadow.to` is \"legacy\", which already serves the route: mirror to the other side",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nshadow = { to = \"service\", sample = 1.5 }\n".into(),
                "7:37: `sample` must be between 0.0 and 1.0",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nshadow = { to = \"service\", ignore = [\"created_at\"] }\n".into(),
                "7:38: invalid ignore rule: ignore rule `created_at` must start with `/`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nshadow = { to = \"service\", methods = [\"POST\"], detect_noise = true }\n".into(),
                "7:10: `detect_noise` sends each mirrored request to the primary twice: it is allowed only when `shadow.methods` lists safe methods (GET, HEAD, OPTIONS)",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nrequire = { match_rate = 1.5, min_samples = 0 }\n".into(),
                "7:26: `match_rate` must be above 0.0 and at most 1.0\n7:45: `min_samples` must be at least 1",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nrequire = { match_rate = 0.9, min_samples = 1, window = \"90s\" }\n".into(),
                "7:57: `window` counts whole minutes (results are kept per minute): write e.g. \"30m\" or \"1h\"",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\nrequire = { match_rate = 0.9, min_samples = 1, window = \"soon\" }\n".into(),
                "7:57: invalid duration \"soon\" for `window`: expected number at 0 (write e.g. \"2s\" or \"500ms\")",
            ),
            // Canary.
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ncanary = { to = \"legacy\", percent = 5 }\ntarget = \"legacy\"\n".into(),
                "6:17: `canary.to` is \"legacy\", which already serves the route: send the share to the other side",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ncanary = { to = \"service\", percent = 150 }\ntarget = \"legacy\"\n".into(),
                "6:38: `percent` must be between 0 and 100",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ncanary = { to = \"service\", percent = 5, sticky = \"user\" }\ntarget = \"legacy\"\n".into(),
                "6:50: invalid `sticky` \"user\": use \"header:NAME\", \"cookie:NAME\" or \"ip\"",
            ),
            // Names.
            (one_route("{ path = \"/a\" }").replace("\"r\"", "\"Create User\""), "5:8: invalid route name \"Create User\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"),
            (one_route("{ path = \"/a\" }").replace("\"r\"", "\"-r\""), "5:8: invalid route name \"-r\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"),
            (one_route("{ path = \"/a\" }").replace("\"r\"", &format!("\"{long_name}\"")), "5:8: invalid route name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"),
            // Methods.
            (one_route("{ path = \"/a\", methods = [\"GET\", \"B@D\"] }"), "6:42: invalid HTTP method \"B@D\": a method is a token like \"GET\" or \"PURGE\""),
            (one_route("{ path = \"/a\", methods = [\"\"] }"), "6:35: invalid HTTP method \"\": a method is a token like \"GET\" or \"PURGE\""),
            (one_route("{ path = \"/a\", methods = [] }"), "6:34: `methods` is empty: list at least one method, or leave `methods` out to match every method"),
            // Path and prefix syntax.
            (one_route("{ path = \"a/b\" }"), "6:18: invalid path \"a/b\": it must start with '/'"),
            (one_route("{ path = \"\" }"), "6:18: invalid path \"\": it must start with '/'"),
            (one_route("{ path = \"/a/../b\" }"), "6:18: invalid path \"/a/../b\": it must not contain '.' or '..' segments"),
            (one_route("{ path = \"/a/.\" }"), "6:18: invalid path \"/a/.\": it must not contain '.' or '..' segments"),
            (one_route("{ path = \"/a//b\" }"), "6:18: invalid path \"/a//b\": it must not contain '//'"),
            (one_route("{ path = \"//\" }"), "6:18: invalid path \"//\": it must not contain '//'"),
            (one_route("{ path = \"/a?x=1\" }"), "6:18: invalid path \"/a?x=1\": it must not contain '?' or '#' (routes match the path only)"),
            (one_route("{ path = \"/a#x\" }"), "6:18: invalid path \"/a#x\": it must not contain '?' or '#' (routes match the path only)"),
            (one_route("{ path = \"/a%20b\" }"), "6:18: invalid path \"/a%20b\": it must not contain percent-escapes (requests are decoded before matching: write the decoded characters)"),
            (one_route("{ path = \"/a\\\\b\" }"), "6:18: invalid path \"/a\\\\b\": it must not contain a backslash or control characters"),
            (one_route("{ path = \"/users/id{id}\" }"), "6:18: invalid path \"/users/id{id}\": a `{param}` must be a whole segment, like \"/users/{id}\""),
            (one_route("{ path = \"/users/{id\" }"), "6:18: invalid path \"/users/{id\": a `{param}` must be a whole segment, like \"/users/{id}\""),
            (one_route("{ path = \"/users/{1d}\" }"), "6:18: invalid path \"/users/{1d}\": parameter name \"1d\" is not an identifier (letters, digits and '_', not starting with a digit)"),
            (one_route("{ path = \"/users/{}\" }"), "6:18: invalid path \"/users/{}\": parameter name \"\" is not an identifier (letters, digits and '_', not starting with a digit)"),
            (one_route("{ path = \"/{id}/x/{id}\" }"), "6:18: invalid path \"/{id}/x/{id}\": parameter `{id}` appears twice"),
            (one_route("{ prefix = \"v1\" }"), "6:20: invalid prefix \"v1\": it must start with '/'"),
            (one_route("{ prefix = \"/v1/\" }"), "6:20: invalid prefix \"/v1/\": a prefix must not end with '/' (\"/v1\" already matches every path below it)"),
            (one_route("{ prefix = \"/v1/{id}\" }"), "6:20: invalid prefix \"/v1/{id}\": a prefix cannot have `{param}` segments (use `path` for patterns)"),
            (one_route("{ prefix = \"/v1/../x\" }"), "6:20: invalid prefix \"/v1/../x\": it must not contain '.' or '..' segments"),
            // Exactly one of path / prefix.
            (one_route("{ path = \"/a\", prefix = \"/a\" }"), "6:9: `match` has both `path` and `prefix`: use exactly one"),
            (one_route("{ methods = [\"GET\"] }"), "6:9: `match` needs a `path` (exact or with `{param}`s) or a `prefix`"),
        ];
        for (source, expected) in &cases {
            assert_eq!(
                problems(source),
                expected.lines().collect::<Vec<_>>(),
                "in:\n{source}"
            );
        }
    }

    #[test]
    fn toml_errors_are_positioned() {
        let cases: &[(&str, &str)] = &[
            (
                "[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\n",
                "1:1: missing field `legacy`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\nport = 1\n",
                "3:1: unknown field `port`, expected one of `url`, `connect_timeout`, `timeout`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { path = \"/\", method = \"GET\" }\ntarget = \"legacy\"\n",
                "5:23: unknown field `method`, expected one of `path`, `prefix`, `methods`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { path = \"/\" }\ntarget = \"new\"\n",
                "6:10: unknown variant `new`, expected `legacy` or `service`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[defaults]\ntarget = \"legacy\"\ntimeout = \"1s\"\n",
                "5:1: unknown field `timeout`, expected `target`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\nmirror = 1\n[[routes]]\n",
                "3:1: unknown field `mirror`, expected one of `url`, `connect_timeout`, `timeout`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\n",
                "3:1: missing field `match`",
            ),
            (
                "[legacy]\nurl = \"http://l\"\n[mirror]\n",
                "3:2: unknown field `mirror`, expected one of `legacy`, `defaults`, `shadow`, `routes`",
            ),
            ("[legacy\n", "1:8: invalid table header; expected `.`, `]`"),
        ];
        for (source, expected) in cases {
            assert_eq!(
                problems(source),
                expected.lines().collect::<Vec<_>>(),
                "in:\n{source}"
            );
        }
    }

    /// `(name, match)` pairs for [`routes`].
    type Entries<'a> = Vec<(&'a str, &'a str)>;

    const DEAD_HEAD: &str = "[legacy]\nurl = \"http://l\"\n";

    /// `DEAD_HEAD` and one route per `(name, match)`, each four lines from line 3.
    fn routes(entries: &[(&str, &str)]) -> String {
        let mut source = DEAD_HEAD.to_owned();
        for (name, matcher) in entries {
            source.push_str(&format!(
                "[[routes]]\nname = \"{name}\"\nmatch = {matcher}\ntarget = \"legacy\"\n"
            ));
        }
        source
    }

    #[test]
    fn reports_routes_that_can_never_match() {
        let dead = |victim: &str, taker: &str, line: usize| {
            format!(
                "route \"{victim}\" can never match: route \"{taker}\" (line {line}) takes every request it would get"
            )
        };
        let cases: Vec<(Entries<'_>, Vec<String>)> = vec![
            (
                vec![("a", "{ path = \"/x\" }"), ("b", "{ path = \"/x\" }")],
                vec![format!("9:9: {}", dead("b", "a", 3))],
            ),
            (
                vec![
                    (
                        "a",
                        "{ path = \"/u/{id}/x\", methods = [\"GET\", \"POST\"] }",
                    ),
                    ("b", "{ path = \"/u/{user}/x\", methods = [\"post\"] }"),
                ],
                vec![format!("9:9: {}", dead("b", "a", 3))],
            ),
            (
                vec![
                    ("a", "{ prefix = \"/v1\" }"),
                    ("b", "{ prefix = \"/v1\", methods = [\"GET\"] }"),
                ],
                vec![format!("9:9: {}", dead("b", "a", 3))],
            ),
            (
                vec![
                    ("a", "{ prefix = \"/v1\", methods = [\"GET\"] }"),
                    ("b", "{ prefix = \"/v2\" }"),
                    ("c", "{ prefix = \"/v1\", methods = [\"POST\"] }"),
                    ("d", "{ prefix = \"/v1\", methods = [\"POST\", \"GET\"] }"),
                ],
                vec![format!(
                    "17:9: route \"d\" can never match: routes \"a\" (line 3) and \"c\" (line 11) take every request it would get"
                )],
            ),
            (
                // Three identical routes: both later ones are named against the first.
                vec![
                    ("a", "{ path = \"/x\" }"),
                    ("b", "{ path = \"/x\" }"),
                    ("c", "{ path = \"/x\" }"),
                ],
                vec![
                    format!("9:9: {}", dead("b", "a", 3)),
                    format!("13:9: {}", dead("c", "a", 3)),
                ],
            ),
        ];
        for (entries, expected) in &cases {
            let source = routes(entries);
            assert_eq!(&problems(&source), expected, "in:\n{source}");
        }
    }

    #[test]
    fn accepts_routes_that_can_still_match() {
        let cases: Vec<Entries<'_>> = vec![
            // A prefix never hides an exact path or a pattern: they are tried first.
            vec![
                ("all", "{ prefix = \"/\" }"),
                ("x", "{ path = \"/x\" }"),
                ("y", "{ path = \"/y/{id}\" }"),
            ],
            vec![
                ("v1", "{ prefix = \"/v1\" }"),
                ("x", "{ path = \"/v1/x\" }"),
                ("y", "{ prefix = \"/v1/y\" }"),
            ],
            // Other methods still reach the later route.
            vec![
                ("a", "{ path = \"/x\", methods = [\"GET\"] }"),
                ("b", "{ path = \"/x\", methods = [\"GET\", \"POST\"] }"),
            ],
            vec![
                ("a", "{ path = \"/x\", methods = [\"GET\"] }"),
                ("b", "{ path = \"/x\" }"),
            ],
            // A pattern does not hide an exact path, nor a more literal pattern.
            vec![
                ("a", "{ path = \"/u/{id}\" }"),
                ("b", "{ path = \"/u/me\" }"),
                ("c", "{ path = \"/{k}/me\" }"),
            ],
            // Different shapes and a trailing slash are different paths.
            vec![
                ("a", "{ path = \"/u/{id}\" }"),
                ("b", "{ path = \"/u/{id}/\" }"),
                ("c", "{ path = \"/{k}/{id}/x\" }"),
            ],
        ];
        for entries in &cases {
            parse(&routes(entries));
        }
    }

    #[test]
    fn reports_every_problem_sorted_by_position() {
        let source = r#"[legacy]
url = "https://legacy"
timeout = "0s"

[shadow]
timeout = "5s"

[[routes]]
name = "Users"
match = { path = "/users//x", methods = [] }
target = "service"

[[routes]]
name = "a"
match = { path = "/a" }
target = "legacy"

[[routes]]
name = "a"
match = { path = "/a", methods = ["GET"] }
target = "service"
canary = { to = "service", percent = 5 }
"#;
        let expected = [
            "2:7: https upstreams are not supported yet",
            "3:11: `timeout` must be greater than zero",
            "9:8: invalid route name \"Users\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
            "10:18: invalid path \"/users//x\": it must not contain '//'",
            "10:41: `methods` is empty: list at least one method, or leave `methods` out to match every method",
            "19:8: duplicate route name \"a\": the route at line 13 has it already",
            "20:9: route \"a\" can never match: route \"a\" (line 13) takes every request it would get",
            "22:17: `canary.to` is \"service\", which already serves the route: send the share to the other side",
        ];
        assert_eq!(problems(source), expected);
        let err = RouteTable::parse(source, Path::new("conf/routes.toml")).unwrap_err();
        let rendered = err.to_string();
        assert_eq!(rendered.lines().count(), expected.len());
        assert!(
            rendered.starts_with("conf/routes.toml:2:7: https upstreams"),
            "{rendered}"
        );
    }

    #[test]
    fn load_reads_the_file_or_says_why_not() {
        let missing = Path::new("/nonexistent/routes.toml");
        let err = RouteTable::load(missing).unwrap_err();
        assert!(matches!(err, RouteTableError::Io { .. }), "{err:?}");
        assert_eq!(err.file(), missing);
        assert_eq!(
            err.to_string(),
            "/nonexistent/routes.toml: cannot read the route table"
        );

        let dir = std::env::temp_dir().join(format!("routes-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("routes.toml");
        std::fs::write(&file, SAMPLE).unwrap();
        let loaded = RouteTable::load(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded.unwrap(), parse(SAMPLE));
    }

    #[test]
    fn summary_serialises_for_the_admin_endpoint() {
        let table = parse(SAMPLE);
        let value = toml::Value::try_from(table.summary()).unwrap();
        let expected: toml::Value = toml::from_str(&format!(
            r#"
version = "{}"
default_target = "legacy"
evaluation_order = ["create-user", "get-user", "orders"]

[legacy]
url = "http://127.0.0.1:8000/base"
connect_timeout = "2s"
timeout = "30s"

[shadow]
max_in_flight = 256
timeout = "5s"
max_body_bytes = 1048576
max_busy = 0.8
redact = ["email", "password", "token", "secret", "authorization", "cookie", "set-cookie"]

[[routes]]
name = "create-user"
target = "service"
line = 10
methods = ["POST"]
match = {{ kind = "exact", value = "/v1/accounts/users" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 100.0

[[routes]]
name = "get-user"
target = "legacy"
line = 15
methods = ["GET", "HEAD"]
match = {{ kind = "pattern", value = "/v1/accounts/users/{{id}}" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 0.0

[[routes]]
name = "orders"
target = "legacy"
line = 20
match = {{ kind = "prefix", value = "/v1/orders" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 0.0
"#,
            table.version()
        ))
        .unwrap();
        assert_eq!(value, expected);
    }

    /// A generated route: kind, segments (`None` = parameter), methods (`None` = all).
    #[derive(Debug, Clone)]
    struct GenRoute {
        kind: u8,
        segments: Vec<Option<&'static str>>,
        methods: Option<Vec<&'static str>>,
    }

    impl GenRoute {
        /// The `path`/`prefix` text, made valid for its kind.
        fn text(&self) -> String {
            let mut segments = self.segments.clone();
            if self.kind == 1 && !segments.iter().any(Option::is_none) {
                match segments.first_mut() {
                    Some(first) => *first = None,
                    None => segments.push(None),
                }
            }
            let mut text = String::new();
            for (i, segment) in segments.iter().enumerate() {
                text.push('/');
                match (self.kind, segment) {
                    (1, None) => text.push_str(&format!("{{p{i}}}")),
                    (_, None) => text.push('a'),
                    (_, Some(literal)) => text.push_str(literal),
                }
            }
            if text.is_empty() {
                text.push('/');
            }
            text
        }

        /// Same kind and same path set.
        fn shape(&self) -> (u8, String) {
            let text = self.text();
            let shape = text
                .split('/')
                .map(|s| if s.starts_with('{') { "*" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            (self.kind, shape)
        }

        fn allows(&self, method: &str) -> bool {
            self.methods.as_ref().is_none_or(|m| m.contains(&method))
        }

        /// Independent reference matcher on the decoded path.
        fn fits(&self, path: &str) -> bool {
            let text = self.text();
            let want: Vec<&str> = text[1..].split('/').collect();
            let have: Vec<&str> = path[1..].split('/').collect();
            match self.kind {
                0 => text == path,
                1 => {
                    want.len() == have.len()
                        && want.iter().zip(&have).all(|(w, h)| {
                            if w.starts_with('{') {
                                !h.is_empty()
                            } else {
                                w == h
                            }
                        })
                }
                _ => {
                    let want: Vec<&str> = want.into_iter().filter(|w| !w.is_empty()).collect();
                    have.starts_with(&want)
                }
            }
        }

        /// Reference precedence key: smaller is tried first.
        fn key(&self, index: usize) -> (u8, usize, Vec<bool>, usize) {
            let text = self.text();
            let segments: Vec<&str> = text[1..].split('/').filter(|s| !s.is_empty()).collect();
            let flags = if self.kind == 1 {
                segments.iter().map(|s| s.starts_with('{')).collect()
            } else {
                Vec::new()
            };
            let length_rank = if self.kind == 0 {
                0
            } else {
                usize::MAX - segments.len()
            };
            (self.kind, length_rank, flags, index)
        }
    }

    fn gen_route() -> impl Strategy<Value = GenRoute> {
        let segment = prop_oneof![
            Just(Some("a")),
            Just(Some("b")),
            Just(Some("c")),
            Just(None)
        ];
        let methods = proptest::option::of(prop_oneof![
            Just(vec!["GET"]),
            Just(vec!["POST"]),
            Just(vec!["GET", "POST"]),
        ]);
        (0u8..3, proptest::collection::vec(segment, 0..4), methods).prop_map(
            |(kind, segments, methods)| GenRoute {
                kind,
                segments,
                methods,
            },
        )
    }

    /// Routes minus those that earlier routes of the same shape take entirely.
    fn live_routes() -> impl Strategy<Value = Vec<GenRoute>> {
        proptest::collection::vec(gen_route(), 0..10).prop_map(|generated| {
            let mut kept: Vec<GenRoute> = Vec::new();
            for route in generated {
                let same: Vec<&GenRoute> =
                    kept.iter().filter(|k| k.shape() == route.shape()).collect();
                let taken = same.iter().any(|k| k.methods.is_none())
                    || route.methods.as_ref().is_some_and(|methods| {
                        methods.iter().all(|m| same.iter().any(|k| k.allows(m)))
                    });
                if !taken {
                    kept.push(route);
                }
            }
            kept
        })
    }

    fn request_path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![Just("a"), Just("b"), Just("c"), Just("ab"), Just("")];
        proptest::collection::vec(segment, 0..5).prop_map(|segments| {
            let mut path = String::from("/");
            path.push_str(&segments.join("/"));
            path
        })
    }

    proptest! {
        #[test]
        fn resolves_to_the_most_specific_fitting_route(
            generated in live_routes(),
            raw in request_path(),
            method in prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
        ) {
            let mut source = String::from("[legacy]\nurl = \"http://l\"\n[defaults]\ntarget = \"service\"\n");
            for (i, route) in generated.iter().enumerate() {
                let key = if route.kind == 2 { "prefix" } else { "path" };
                let methods = route.methods.as_ref().map_or(String::new(), |m| {
                    format!(", methods = {m:?}")
                });
                source.push_str(&format!(
                    "[[routes]]\nname = \"r{i}\"\nmatch = {{ {key} = {:?}{methods} }}\ntarget = \"legacy\"\n",
                    route.text()
                ));
            }
            let table = RouteTable::parse(&source, Path::new(FILE));
            prop_assert!(table.is_ok(), "{}\n{:?}", source, table);
            let table = table.unwrap();

            let path = normalize_path(&raw).unwrap();
            let http_method = Method::from_bytes(method.as_bytes()).unwrap();
            let resolution = table.resolve(&http_method, &path);

            let best = generated
                .iter()
                .enumerate()
                .filter(|(_, r)| r.allows(method) && r.fits(path.as_str()))
                .min_by_key(|(i, r)| r.key(*i))
                .map(|(i, _)| format!("r{i}"));
            prop_assert_eq!(resolution.route.map(Route::name), best.as_deref(), "{} {}", method, path);
            if let Some(route) = resolution.route {
                prop_assert!(route.matcher().matches(path.as_str()));
                prop_assert!(route.allows(&http_method));
                prop_assert_eq!(resolution.target, Target::Legacy);
            } else {
                prop_assert_eq!(resolution.target, Target::Service);
            }
        }
    }
}
