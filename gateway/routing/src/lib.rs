//! The gateway's route table (`routes.toml`): which side answers each
//! request, and whether a route has earned a flip towards the service.
//!
//! Pure code, no I/O but [`RouteTable::load`]: parse and validate a file into a
//! [`RouteTable`], normalise a request path with [`normalize_path`], and pick
//! the route with [`RouteTable::resolve`]. A reload parses the new file
//! completely and swaps it in only when this returns `Ok`. [`flip`] decides,
//! from outcome counts the caller reads, whether a raise of a route's
//! service share is earned.
//!
//! The crate depends on no runtime (no async runtime, HTTP server or client,
//! database or telemetry crate): only `http`, `serde`, `toml`, `humantime`,
//! `percent-encoding`, `rand` (canary draws), `chrono` (the flip window),
//! `thiserror` and the pure `shadow-diff` (the comparison rules a route's
//! `shadow` builds, and the outcomes readiness counts). The test
//! `tests/routing/purity.rs` fails if `tokio`, `hyper`, `axum`, `sea-orm`,
//! `sqlx`, `tracing` or `opentelemetry` enters its dependency tree, or if
//! `shadow-diff` ever depends on this crate. Reading the file on reload,
//! serving, mirroring and the database are the gateway's.
//!
//! # The file
//!
//! ```toml
//! [legacy]
//! url = "http://127.0.0.1:8000"   # required: http://, a host, maybe a base path; no query
//! connect_timeout = "2s"          # optional, default 2s, humantime syntax, > 0
//! timeout = "30s"                 # optional, default 30s (to the response head), > 0
//!
//! # urls = ["http://a:8000", "http://b:8000"]   # instead of `url`: several addresses, one scheme
//! # balance = "round_robin"       # or "least_requests"
//! # health = { failures = 3, eject = "30s" }   # passive health of each address
//!
//! [upstreams.billing-legacy]      # optional: more legacy upstreams, the keys of [legacy]
//! url = "http://10.0.0.7:8080"    # names: [a-z0-9-]+, not `legacy` or `service`
//!
//! [defaults]                      # optional
//! target = "legacy"               # "legacy" | "service" | an upstream: what answers when no route matches
//!
//! [[routes]]
//! name = "get-user"               # unique, [a-z0-9][a-z0-9_-]*, at most 64 characters
//! match = { path = "/v1/accounts/users/{id}", methods = ["GET", "HEAD"] }
//! target = "service"              # "legacy" | "service" | an upstream's name (the legacy side)
//!
//! [[routes]]
//! name = "orders"
//! match = { prefix = "/v1/orders" }  # /v1/orders and below, not /v1/ordersX
//! target = "legacy"
//! ```
//!
//! `match` has exactly one of `path` (exact, or a pattern whose `{param}`
//! segments each match one non-empty segment) and `prefix`; `methods` is
//! optional (absent = every method; uppercased and deduplicated). Paths are
//! written decoded and normalised: starting with `/`, without `//`, `.` or `..`
//! segments, `?`, `#` or `%`.
//!
//! A route's `shadow` table mirrors its requests to the other side and
//! compares the answers (its `writes = "rollback"`, only with `to =
//! "service"`, has the service roll back a mirrored write: [`ShadowWrites`]);
//! `require` says what the comparisons must show
//! before the route is ready to flip; `[shadow]` holds the limits every
//! mirror shares (see the README); `canary` sends a sticky share of the
//! route's requests to the other side ([`CanaryPolicy`]). Any unknown key is
//! refused with the list of allowed keys.
//!
//! # Matching
//!
//! On method and [`NormalizedPath`] (see [`normalize_path`] for the rules: a
//! path is decoded and its dot-segments resolved before matching). The most
//! specific route wins: exact paths, then patterns (more segments first, then
//! a literal segment before a parameter, left to right), then prefixes (more
//! segments first); equal ones in file order. A route whose path matches but
//! whose methods do not lets the next candidate try.
//!
//! # Errors
//!
//! [`RouteTableError`] lists every problem as `file:line:column: message`, like
//! a compiler: the TOML error if the file does not parse, otherwise every
//! semantic problem (bad values, duplicate names, routes that can never match).
//! [`PathError`] is a client's malformed request path (answer 400).
//!
//! # Files
//!
//! - `spec.rs`: the serde model of the file, exactly as written, with positions;
//! - `table.rs`: [`RouteTable`] (parse, resolve, precedence order, the admin
//!   [`RouteTableSummary`], [`RouteTable::with_route`]) and [`Resolution`];
//! - `validate.rs`: one `[[routes]]` entry into a [`Route`], names included;
//! - `values.rs`: the checks of a duration and of a method list, shared by
//!   `[legacy]`, `[shadow]` and routes;
//! - `legacy.rs`: [`LegacySettings`] (one upstream), [`Balance`],
//!   [`HealthPolicy`] and the check of the legacy URLs;
//! - `upstreams.rs`: `[legacy]` and `[upstreams.*]` together, the names,
//!   and a side's name resolved (a route's [`Route::upstream`]);
//! - `target.rs`: [`Target`], legacy or service;
//! - `matcher.rs`: [`Segment`], [`Matcher`], parsing `path` and `prefix`,
//!   the specificity order and coverage;
//! - `route.rs`: [`Route`], its admin view and
//!   [`Route::with_service_share_at_most`];
//! - `dead.rs`: routes that can never match;
//! - `shadowing.rs`: [`ShadowSettings`], [`ShadowPolicy`] and
//!   [`FlipRequirement`], from `[shadow]`, `shadow` and `require`;
//! - `canary.rs`: [`CanaryPolicy`], [`StickyKey`] and the buckets;
//! - `fnv.rs`: FNV-1a 64, the one stable hash (versions, fingerprints, buckets);
//! - `path.rs`: [`normalize_path`] and [`NormalizedPath`];
//! - `error.rs`: [`RouteTableError`], [`Problem`], [`PathError`] and the
//!   offset → line/column index;
//! - `flip.rs`, `flip/window.rs`, `flip/readiness.rs`: the flip decision.

mod canary;
mod conditions;
mod dead;
mod error;
pub mod flip;
mod fnv;
mod legacy;
mod matcher;
mod path;
mod rewrite;
mod route;
mod shadowing;
mod spec;
mod table;
mod target;
mod upstreams;
mod validate;
mod values;

pub use canary::{BUCKETS, CanaryPolicy, StickyKey, bucket_of, cookie};
pub use conditions::{Conditions, PresentMarker, RequestFacts, Required};
pub use error::{PathError, Problem, RouteTableError};
pub use legacy::{Balance, FileSetting, HealthPolicy, LegacySettings, LegacyTls};
pub use matcher::{Matcher, Segment};
pub use path::{NormalizedPath, normalize_path};
pub use rewrite::{Rewrites, SideRewrite};
pub use route::Route;
pub use shadowing::{FlipRequirement, ShadowPolicy, ShadowSettings, ShadowWrites};
pub use table::{Resolution, RouteTable, RouteTableSummary};
pub use target::Target;
