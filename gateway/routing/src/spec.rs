//! The serde model of `routes.toml`, exactly as written, with positions.
//!
//! Nothing here is validated beyond TOML types: `table.rs` (with `validate.rs`) turns a
//! [`RoutesFile`] into a [`RouteTable`](crate::RouteTable) and reports every
//! semantic problem at the position the [`Spanned`] values carry. Unknown keys
//! are refused by `deny_unknown_fields` (the error names the key and the
//! allowed ones).

use serde::Deserialize;
use std::collections::BTreeMap;

use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoutesFile {
    /// `[legacy]`: where unmigrated requests go (the upstream named `legacy`).
    pub(crate) legacy: Spanned<LegacySpec>,
    /// `[upstreams.NAME]`: further legacy backends routes may name.
    #[serde(default)]
    pub(crate) upstreams: BTreeMap<Spanned<String>, Spanned<LegacySpec>>,
    /// `[defaults]`, optional.
    pub(crate) defaults: Option<Spanned<DefaultsSpec>>,
    /// `[shadow]`: limits shared by every route's mirroring.
    pub(crate) shadow: Option<Spanned<ShadowSettingsSpec>>,
    /// `[[routes]]`, in file order.
    #[serde(default)]
    pub(crate) routes: Vec<Spanned<RouteSpec>>,
}

/// `[legacy]` or one `[upstreams.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacySpec {
    /// `url = "http://host:port/optional-base"`: one address.
    pub(crate) url: Option<Spanned<String>>,
    /// `urls = [...]`: several addresses, balanced (exclusive with `url`).
    pub(crate) urls: Option<Spanned<Vec<Spanned<String>>>>,
    /// `balance = "round_robin" | "least_requests"`.
    pub(crate) balance: Option<Spanned<String>>,
    /// `health = { failures = 3, eject = "30s" }`: passive health of each address.
    pub(crate) health: Option<Spanned<HealthSpec>>,
    /// `connect_timeout = "2s"` (humantime syntax).
    pub(crate) connect_timeout: Option<Spanned<String>>,
    /// `timeout = "30s"`: time to the response head (humantime syntax).
    pub(crate) timeout: Option<Spanned<String>>,
    /// `[legacy.tls]`: how to verify and present certificates on `https`.
    pub(crate) tls: Option<Spanned<LegacyTlsSpec>>,
}

/// An upstream's `health` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthSpec {
    /// Consecutive failures that eject an address.
    pub(crate) failures: Option<Spanned<i64>>,
    /// How long an ejected address is skipped (humantime syntax).
    pub(crate) eject: Option<Spanned<String>>,
}

/// A side as a route names it: `legacy`, `service`, or an upstream's name.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct SideName(pub(crate) String);

/// `[legacy.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyTlsSpec {
    /// `ca_file = "path.pem"`: the CAs to trust instead of the system's.
    pub(crate) ca_file: Option<Spanned<String>>,
    /// `client_cert_file = "path.pem"`: a certificate chain to present.
    pub(crate) client_cert_file: Option<Spanned<String>>,
    /// `client_key_file = "path.pem"`: the client certificate's key.
    pub(crate) client_key_file: Option<Spanned<String>>,
    /// `server_name = "legacy.internal"`: the name to send (SNI) and verify.
    pub(crate) server_name: Option<Spanned<String>>,
    /// `insecure_skip_verify = true`: accept any certificate (test environments).
    pub(crate) insecure_skip_verify: Option<Spanned<bool>>,
}

/// `[defaults]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefaultsSpec {
    /// `target = "legacy" | "service" | UPSTREAM`: what answers when no route matches.
    pub(crate) target: Option<Spanned<SideName>>,
}

/// One `[[routes]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSpec {
    /// `name = "create-user"`.
    pub(crate) name: Spanned<String>,
    /// `match = { path = "...", methods = [...] }` or `{ prefix = "..." }`.
    #[serde(rename = "match")]
    pub(crate) matcher: Spanned<MatchSpec>,
    /// `target = "legacy" | "service" | UPSTREAM`.
    pub(crate) target: Spanned<SideName>,
    /// `shadow = {...}`: mirror this route's requests to the other side and compare.
    pub(crate) shadow: Option<Spanned<ShadowSpec>>,
    /// `require = {...}`: what the shadow results must show before the route is ready to flip.
    pub(crate) require: Option<Spanned<RequireSpec>>,
    /// `force = true`: let a reload raise the service share although `require` is not met (logged).
    pub(crate) force: Option<Spanned<bool>>,
    /// `canary = {...}`: send a share of the route's requests to the other side.
    pub(crate) canary: Option<Spanned<CanarySpec>>,
    /// `rewrite = { legacy = {...}, service = {...} }`: what each side receives.
    pub(crate) rewrite: Option<RewriteSpec>,
}

/// A route's `rewrite`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteSpec {
    /// What legacy receives.
    pub(crate) legacy: Option<SideRewriteSpec>,
    /// What the service receives.
    pub(crate) service: Option<SideRewriteSpec>,
}

/// `rewrite.legacy` or `rewrite.service`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SideRewriteSpec {
    /// The new prefix (prefix routes) or a template with the match's `{param}`s.
    pub(crate) path: Option<Spanned<String>>,
    /// Request headers to set (replace).
    pub(crate) set_headers: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Request headers to remove.
    pub(crate) remove_headers: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A route's `match` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchSpec {
    /// An exact path or a pattern with `{param}` segments.
    pub(crate) path: Option<Spanned<String>>,
    /// A path prefix, matched on segment boundaries.
    pub(crate) prefix: Option<Spanned<String>>,
    /// The methods matched; absent means all.
    pub(crate) methods: Option<Spanned<Vec<Spanned<String>>>>,
    /// `host = "acme.example.com"`: the request's host, without port.
    pub(crate) host: Option<Spanned<String>>,
    /// `header = { name = "value" | true }`: headers with a value, or present.
    pub(crate) header: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    /// `query = { name = "value" | true }`: query parameters with a value, or present.
    pub(crate) query: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
}

/// `[shadow]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShadowSettingsSpec {
    /// Mirrors in flight at once, over all routes; beyond it they are dropped and counted.
    pub(crate) max_in_flight: Option<Spanned<u64>>,
    /// Limit on one mirror (request, response and comparison), humantime syntax.
    pub(crate) timeout: Option<Spanned<String>>,
    /// Bodies (request or response) larger than this are not compared.
    pub(crate) max_body_bytes: Option<Spanned<u64>>,
    /// Past this busy share of the gateway's workers, mirrors run only on the budget (0.0–1.0).
    pub(crate) max_busy: Option<Spanned<f64>>,
    /// The share of the gateway's CPU time mirrors may still take while the workers are busier than `max_busy` (0.0–0.5).
    pub(crate) budget: Option<Spanned<f64>>,
    /// Object member and header names whose values are never recorded or logged.
    pub(crate) redact: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A route's `shadow` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShadowSpec {
    /// The side mirrored to: the one that does not serve the route.
    pub(crate) to: Spanned<SideName>,
    /// The share of requests mirrored, 0.0 to 1.0.
    pub(crate) sample: Option<Spanned<f64>>,
    /// Methods mirrored; default GET, HEAD, OPTIONS. Others only when listed.
    pub(crate) methods: Option<Spanned<Vec<Spanned<String>>>>,
    /// JSON Pointers (`*` for any member or index) whose differences do not count.
    pub(crate) ignore: Option<Spanned<Vec<Spanned<String>>>>,
    /// Response headers compared; default `content-type`.
    pub(crate) compare_headers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"strict"` (default) or `"ignore"`: whether array order matters.
    pub(crate) array_order: Option<Spanned<String>>,
    /// Whether the mirrored side may add object members the primary lacks.
    pub(crate) allow_added_fields: Option<Spanned<bool>>,
    /// Send each mirrored request to the primary twice and learn what differs anyway (noise).
    pub(crate) detect_noise: Option<Spanned<bool>>,
    /// `"instant"` (default) or `"strict"`: whether timestamps on both sides are compared as instants.
    pub(crate) timestamps: Option<Spanned<String>>,
    /// Where timestamps without an offset are read: `"UTC"` (default) or `"±HH:MM"`.
    pub(crate) naive_timezone: Option<Spanned<String>>,
    /// Whether a string holding a JSON number equals that number.
    pub(crate) numeric_strings: Option<Spanned<bool>>,
    /// `"apply"` (default) or `"rollback"`: whether a mirrored write is kept.
    pub(crate) writes: Option<Spanned<String>>,
}

/// A route's `require` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequireSpec {
    /// The share of compared requests that must match, 0.0 to 1.0.
    pub(crate) match_rate: Spanned<f64>,
    /// How many comparisons there must be before the rate counts.
    pub(crate) min_samples: Spanned<u64>,
    /// Judge only the comparisons of this recent span (humantime, whole minutes, e.g. `"1h"`).
    pub(crate) window: Option<Spanned<String>>,
}

/// A route's `canary` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CanarySpec {
    /// The side that gets the share: the one that does not serve the route.
    pub(crate) to: Spanned<SideName>,
    /// The share, in percent, 0 to 100.
    pub(crate) percent: Spanned<f64>,
    /// `header:NAME`, `cookie:NAME` or `ip`; absent draws per request.
    pub(crate) sticky: Option<Spanned<String>>,
}
