//! Noise: what differs between two answers of the *primary* side to the same
//! request (Diffy's primary-vs-secondary idea, done in line).
//!
//! Server timestamps, random ids and `Date` headers differ between two calls
//! to the same legacy backend, so a difference there between legacy and new
//! is not a regression. This file holds the learned data: a [`NoiseSet`] of
//! entries, each a location with array positions generalised to `*` (a
//! difference at `/items/3/id` becomes `/items/*/id`). Noise covers its
//! location and everything below it, like an ignore rule. The learning
//! itself, [`crate::detect_noise`], is the engine's: it compares two primary
//! answers with every header and strict array order.
//!
//! Thresholds over many requests (Diffy's 20 % relative / 0.03 % absolute)
//! belong to whoever aggregates noise sets across requests; a [`NoiseSet`] is
//! the evidence from one or more pairs, merged with [`NoiseSet::merge`].

use std::collections::BTreeSet;

use crate::pointer::{IgnoreRule, PointerError};

/// One location known to be noise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum NoiseEntry {
    /// The status code.
    Status,
    /// A header, by lower-case name.
    Header(String),
    /// The whole body (bytes differed, or the JSON roots differed).
    Body,
    /// A JSON location, array positions generalised to `*`.
    Pointer(IgnoreRule),
}

impl NoiseEntry {
    fn parse(path: &str) -> Result<Self, NoisePathError> {
        match path {
            "status" => Ok(NoiseEntry::Status),
            "body" => Ok(NoiseEntry::Body),
            _ => {
                if let Some(name) = path.strip_prefix("header:") {
                    if name.is_empty() {
                        return Err(NoisePathError::Unknown(path.to_owned()));
                    }
                    Ok(NoiseEntry::Header(name.to_ascii_lowercase()))
                } else if path.starts_with('/') {
                    Ok(NoiseEntry::Pointer(IgnoreRule::parse(path)?))
                } else {
                    Err(NoisePathError::Unknown(path.to_owned()))
                }
            }
        }
    }

    /// Whether a difference at `other` is covered by this entry.
    fn covers(&self, other: &NoiseEntry) -> bool {
        match (self, other) {
            (NoiseEntry::Body, NoiseEntry::Pointer(_)) => true,
            (NoiseEntry::Pointer(mine), NoiseEntry::Pointer(theirs)) => mine.covers_rule(theirs),
            _ => self == other,
        }
    }

    fn render(&self) -> String {
        match self {
            NoiseEntry::Status => "status".to_owned(),
            NoiseEntry::Header(name) => format!("header:{name}"),
            NoiseEntry::Body => "body".to_owned(),
            NoiseEntry::Pointer(rule) => rule.to_string(),
        }
    }
}

/// A path that cannot be a noise entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoisePathError {
    /// Not `status`, `header:<name>`, `body` or a JSON Pointer.
    #[error(
        "`{0}` is not a difference path (expected `status`, `header:<name>`, `body` or a JSON Pointer)"
    )]
    Unknown(String),
    /// A malformed JSON Pointer.
    #[error(transparent)]
    Pointer(#[from] PointerError),
}

/// Locations known to differ between two answers of the primary side.
///
/// Paths use the same syntax as [`crate::Difference::path`]: `status`,
/// `header:<name>`, `body`, or a JSON Pointer in which array positions are
/// `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoiseSet {
    entries: BTreeSet<NoiseEntry>,
}

impl NoiseSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_entries(entries: BTreeSet<NoiseEntry>) -> Self {
        Self { entries }
    }

    /// Adds a path, e.g. one read back from storage.
    ///
    /// # Errors
    ///
    /// [`NoisePathError`] if `path` is not `status`, `header:<name>`, `body`
    /// or a valid JSON Pointer (where `*` is a wildcard).
    pub fn insert(&mut self, path: &str) -> Result<(), NoisePathError> {
        self.entries.insert(NoiseEntry::parse(path)?);
        Ok(())
    }

    /// Adds every entry of `other` to this set.
    pub fn merge(&mut self, other: &NoiseSet) {
        self.entries.extend(other.entries.iter().cloned());
    }

    /// Whether a difference at `path` counts as noise: the path is in the
    /// set, or lies below an entry (`body` covers every JSON path). A `*`
    /// in `path` is covered only by a `*` entry. Invalid paths are not noise.
    #[must_use]
    pub fn contains(&self, path: &str) -> bool {
        NoiseEntry::parse(path)
            .is_ok_and(|wanted| self.entries.iter().any(|entry| entry.covers(&wanted)))
    }

    /// Ignore rules to suggest for `routes.toml`, sorted: the JSON Pointer
    /// entries, each of which parses with
    /// [`crate::CompareRules::parse_pointer`]. Status, header and whole-body
    /// noise cannot be expressed as ignore rules and is listed only by
    /// [`NoiseSet::paths`].
    #[must_use]
    pub fn suggestions(&self) -> Vec<String> {
        let mut rules: Vec<String> = self
            .entries
            .iter()
            .filter_map(|entry| match entry {
                NoiseEntry::Pointer(rule) => Some(rule.to_string()),
                _ => None,
            })
            .collect();
        rules.sort();
        rules
    }

    /// Every entry as a path string, sorted.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.entries.iter().map(NoiseEntry::render).collect();
        paths.sort();
        paths
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_status(&self) -> bool {
        self.entries.contains(&NoiseEntry::Status)
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.entries.contains(&NoiseEntry::Header(name.to_owned()))
    }

    pub(crate) fn has_body(&self) -> bool {
        self.entries.contains(&NoiseEntry::Body)
    }

    pub(crate) fn pointers(&self) -> impl Iterator<Item = &IgnoreRule> {
        self.entries.iter().filter_map(|entry| match entry {
            NoiseEntry::Pointer(rule) => Some(rule),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> NoiseSet {
        let mut noise = NoiseSet::new();
        for path in paths {
            noise.insert(path).unwrap();
        }
        noise
    }

    #[test]
    fn contains_covers_descendants_and_generalised_indices() {
        let noise = set(&["/items/*/id", "/meta/generated_at", "header:Date", "status"]);
        let cases: &[(&str, bool)] = &[
            ("/items/0/id", true),
            ("/items/12/id", true),
            ("/items/*/id", true),
            ("/items/3/id/part", true),
            ("/items/3", false),
            ("/items/3/name", false),
            ("/meta/generated_at", true),
            ("/meta", false),
            ("header:date", true),
            ("header:DATE", true),
            ("header:etag", false),
            ("status", true),
            ("body", false),
            ("nonsense", false),
            ("/bad~2", false),
        ];
        for (path, expected) in cases {
            assert_eq!(noise.contains(path), *expected, "{path}");
        }
    }

    #[test]
    fn body_noise_covers_every_json_path() {
        let noise = set(&["body"]);
        assert!(noise.contains("body"));
        assert!(noise.contains("/anything/at/all"));
        assert!(!noise.contains("status"));
    }

    #[test]
    fn insert_rejects_unknown_paths() {
        let mut noise = NoiseSet::new();
        assert_eq!(
            noise.insert("items/0"),
            Err(NoisePathError::Unknown("items/0".into()))
        );
        assert_eq!(
            noise.insert("header:"),
            Err(NoisePathError::Unknown("header:".into()))
        );
        assert!(matches!(
            noise.insert("/a~"),
            Err(NoisePathError::Pointer(PointerError::BadEscape { .. }))
        ));
        assert!(noise.is_empty());
    }

    #[test]
    fn merge_unions_and_suggestions_are_sorted_rules() {
        let mut a = set(&["/z", "status", "/items/*/id"]);
        let b = set(&["/a~1b", "header:date", "/z", "body"]);
        a.merge(&b);
        assert_eq!(a.len(), 6);
        assert_eq!(a.suggestions(), ["/a~1b", "/items/*/id", "/z"]);
        for rule in a.suggestions() {
            assert!(IgnoreRule::parse(&rule).is_ok(), "{rule}");
        }
        assert_eq!(
            a.paths(),
            [
                "/a~1b",
                "/items/*/id",
                "/z",
                "body",
                "header:date",
                "status"
            ]
        );
    }
}
