//! The upstreams of a file: `[legacy]` (the upstream named `legacy`) and
//! each `[upstreams.NAME]`, and how a route's `target`, `shadow.to`,
//! `canary.to` or `[defaults] target` names a side ([`Sides`]): `legacy`,
//! `service`, or an upstream's name (the legacy side, served by that
//! upstream).

use std::collections::BTreeMap;

use toml::Spanned;

use crate::error::{LineIndex, Problem};
use crate::legacy::{LegacySettings, legacy_settings};
use crate::spec::{LegacySpec, SideName};
use crate::target::Target;

/// Longest upstream name: names are metrics labels.
const MAX_NAME_LEN: usize = 64;

/// The index of the upstream `legacy` in [`RouteTable::upstreams`](crate::RouteTable::upstreams).
pub(crate) const LEGACY: usize = 0;

/// Validates `[legacy]` and `[upstreams.*]`, pushing their problems: the
/// upstreams' names with `legacy` first, then by name, each with its
/// settings or `None` when they are invalid.
pub(crate) fn upstreams(
    legacy: Spanned<LegacySpec>,
    named: BTreeMap<Spanned<String>, Spanned<LegacySpec>>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> (Vec<String>, Vec<Option<LegacySettings>>) {
    let at = legacy.span().start;
    let mut names = vec!["legacy".to_owned()];
    let mut all = vec![legacy_settings(
        "legacy",
        legacy.into_inner(),
        at,
        index,
        problems,
    )];
    for (name, spec) in named {
        let at = spec.span().start;
        if let Err(message) = check_name(name.get_ref()) {
            problems.push(index.problem(name.span().start, message));
        }
        all.push(legacy_settings(
            name.get_ref(),
            spec.into_inner(),
            at,
            index,
            problems,
        ));
        names.push(name.into_inner());
    }
    (names, all)
}

/// Whether `name` may name an `[upstreams]` entry: `[a-z0-9-]+`, not a side's name.
fn check_name(name: &str) -> Result<(), String> {
    if name == "legacy" || name == "service" {
        return Err(format!(
            "`{name}` cannot be an upstream's name: it names a side (`[legacy]` configures the upstream `legacy`)"
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid upstream name {name:?}: use 1 to {MAX_NAME_LEN} characters from a-z, 0-9 and '-'"
        ))
    }
}

/// A side as the file names it, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Side {
    /// Legacy or service.
    pub(crate) target: Target,
    /// For the legacy side: the upstream's index, when the name says which.
    pub(crate) upstream: Option<usize>,
}

/// The names a side may be written as: `legacy`, `service` and the upstreams'.
pub(crate) struct Sides<'a> {
    /// The upstreams' names, `legacy` first.
    pub(crate) names: &'a [String],
}

impl Sides<'_> {
    /// Resolves `name`, or pushes "no upstream named X; known: ..." at its position.
    pub(crate) fn resolve(
        &self,
        name: &Spanned<SideName>,
        index: &LineIndex<'_>,
        problems: &mut Vec<Problem>,
    ) -> Option<Side> {
        let raw = name.get_ref().0.as_str();
        if raw == "service" {
            return Some(Side {
                target: Target::Service,
                upstream: None,
            });
        }
        if let Some(upstream) = self.names.iter().position(|known| known == raw) {
            return Some(Side {
                target: Target::Legacy,
                upstream: Some(upstream),
            });
        }
        let mut known: Vec<&str> = vec!["service"];
        known.extend(self.names.iter().map(String::as_str));
        known.sort_unstable();
        problems.push(index.problem(
            name.span().start,
            format!("no upstream named {raw:?}; known: {}", known.join(", ")),
        ));
        None
    }
}
