//! The route table (`routes.toml`): which side answers each request.
//!
//! Pure code, no I/O but [`RouteTable::load`]: parse and validate a file into a
//! [`RouteTable`], normalise a request path with [`normalize_path`], and pick
//! the route with [`RouteTable::resolve`]. A reload parses the new file
//! completely and swaps it in only when this returns `Ok`.
//!
//! # The file
//!
//! ```toml
//! [legacy]
//! url = "http://127.0.0.1:8000"   # required: http://, a host, maybe a base path; no query
//! connect_timeout = "2s"          # optional, default 2s, humantime syntax, > 0
//! timeout = "30s"                 # optional, default 30s (to the response head), > 0
//!
//! [defaults]                      # optional
//! target = "legacy"               # "legacy" | "service": what answers when no route matches
//!
//! [[routes]]
//! name = "get-user"               # unique, [a-z0-9][a-z0-9_-]*, at most 64 characters
//! match = { path = "/v1/accounts/users/{id}", methods = ["GET", "HEAD"] }
//! target = "service"              # "legacy" | "service"
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
//! compares the answers; `require` says what the comparisons must show
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

mod canary;
mod dead;
mod error;
pub mod flip;
mod fnv;
mod legacy;
mod matcher;
mod path;
mod route;
mod shadowing;
mod spec;
mod table;
mod target;
mod validate;
mod values;

pub use canary::{BUCKETS, CanaryPolicy, StickyKey, bucket_of};
pub use error::{PathError, Problem, RouteTableError};
pub use legacy::LegacySettings;
pub use matcher::{Matcher, Segment};
pub use path::{NormalizedPath, normalize_path};
pub use route::Route;
pub use shadowing::{FlipRequirement, ShadowPolicy, ShadowSettings};
pub use table::{Resolution, RouteTable, RouteTableSummary};
pub use target::Target;
