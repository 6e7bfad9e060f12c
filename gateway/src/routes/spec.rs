//! The serde model of `routes.toml`, exactly as written, with positions.
//!
//! Nothing here is validated beyond TOML types: [`super::table`] turns a
//! [`RoutesFile`] into a [`RouteTable`](super::RouteTable) and reports every
//! semantic problem at the position the [`Spanned`] values carry. Unknown keys
//! are refused by `deny_unknown_fields` (the error names the key and the
//! allowed ones). The keys reserved for later versions (`[shadow]`, a route's
//! `shadow` and `canary`) are accepted here as any TOML value, only so that
//! validation can refuse them with a clear, positioned message.

use serde::Deserialize;
use toml::Spanned;

use super::Target;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoutesFile {
    /// `[legacy]`: where unmigrated requests go.
    pub(super) legacy: Spanned<LegacySpec>,
    /// `[defaults]`, optional.
    pub(super) defaults: Option<Spanned<DefaultsSpec>>,
    /// `[shadow]`, reserved for a later version.
    pub(super) shadow: Option<Spanned<toml::Value>>,
    /// `[[routes]]`, in file order.
    #[serde(default)]
    pub(super) routes: Vec<Spanned<RouteSpec>>,
}

/// `[legacy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LegacySpec {
    /// `url = "http://host:port/optional-base"`.
    pub(super) url: Spanned<String>,
    /// `connect_timeout = "2s"` (humantime syntax).
    pub(super) connect_timeout: Option<Spanned<String>>,
    /// `timeout = "30s"`: time to the response head (humantime syntax).
    pub(super) timeout: Option<Spanned<String>>,
}

/// `[defaults]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefaultsSpec {
    /// `target = "legacy" | "service"`: what answers when no route matches.
    pub(super) target: Option<Spanned<Target>>,
}

/// One `[[routes]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSpec {
    /// `name = "create-user"`.
    pub(super) name: Spanned<String>,
    /// `match = { path = "...", methods = [...] }` or `{ prefix = "..." }`.
    #[serde(rename = "match")]
    pub(super) matcher: Spanned<MatchSpec>,
    /// `target = "legacy" | "service"`.
    pub(super) target: Spanned<Target>,
    /// `shadow = {...}`, reserved for a later version.
    pub(super) shadow: Option<Spanned<toml::Value>>,
    /// `canary = {...}`, reserved for a later version.
    pub(super) canary: Option<Spanned<toml::Value>>,
}

/// A route's `match` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchSpec {
    /// An exact path or a pattern with `{param}` segments.
    pub(super) path: Option<Spanned<String>>,
    /// A path prefix, matched on segment boundaries.
    pub(super) prefix: Option<Spanned<String>>,
    /// The methods matched; absent means all.
    pub(super) methods: Option<Spanned<Vec<Spanned<String>>>>,
}
