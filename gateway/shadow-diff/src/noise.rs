//! Noise: what differs between two answers of the *primary* side to the same
//! request (Diffy's primary-vs-secondary idea, done in line).
//!
//! Server timestamps, random ids and `Date` headers differ between two calls
//! to the same legacy backend, so a difference there between legacy and new
//! is not a regression. [`crate::detect_noise`] compares two primary answers with
//! every header and strict array order, and turns each differing location into
//! a noise entry, with array positions generalised to `*` (a difference at
//! `/items/3/id` becomes `/items/*/id`). Noise covers its location and
//! everything below it, like an ignore rule.
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

#[cfg(test)]
mod detection_tests {
    use serde_json::json;

    use crate::test_support::answer;
    use crate::{Captured, detect_noise};
    use crate::{CompareRules, DiffKind, Outcome, compare};

    /// Two answers of the legacy side to the same `GET /users`: ids are
    /// random UUIDs, timestamps are "now", the rest is stable.
    fn legacy_answer(ids: [&str; 3], now: &str, date: &str) -> Captured {
        let body = json!({
            "generated_at": now,
            "items": [
                {"id": ids[0], "email": "a@example.com", "seen": {"at": now}},
                {"id": ids[1], "email": "b@example.com", "seen": {"at": now}},
                {"id": ids[2], "email": "c@example.com", "seen": {"at": now}},
            ],
            "total": 3,
        });
        answer(
            200,
            &[
                ("content-type", "application/json"),
                ("date", date),
                ("server", "legacy"),
            ],
            &serde_json::to_vec(&body).unwrap(),
        )
    }

    fn first() -> Captured {
        legacy_answer(
            [
                "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0001",
                "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0002",
                "0b9e6c3e-8f4a-4c6e-9a55-1f1d2a7c0003",
            ],
            "2025-01-01T10:00:00Z",
            "Wed, 01 Jan 2025 10:00:00 GMT",
        )
    }

    fn second() -> Captured {
        legacy_answer(
            [
                "f3c1d2e4-1111-4a2b-8c3d-000000000001",
                "f3c1d2e4-1111-4a2b-8c3d-000000000002",
                "f3c1d2e4-1111-4a2b-8c3d-000000000003",
            ],
            "2025-01-01T10:00:01Z",
            "Wed, 01 Jan 2025 10:00:01 GMT",
        )
    }

    #[test]
    fn differing_uuids_and_timestamps_become_generalised_noise() {
        let noise = detect_noise(&first(), &second());
        assert_eq!(
            noise.paths(),
            [
                "/generated_at",
                "/items/*/id",
                "/items/*/seen/at",
                "header:date"
            ]
        );
        assert_eq!(
            noise.suggestions(),
            ["/generated_at", "/items/*/id", "/items/*/seen/at"]
        );
        for rule in noise.suggestions() {
            assert!(CompareRules::parse_pointer(&rule).is_ok(), "{rule}");
        }
        assert!(noise.contains("/items/7/id"));
        assert!(!noise.contains("/items/0/email"));
        assert!(!noise.contains("/total"));
        assert!(detect_noise(&first(), &first()).is_empty());
    }

    #[test]
    fn a_shadow_differing_only_in_noise_is_ignored_only() {
        let noise = detect_noise(&first(), &second());
        let shadow = legacy_answer(
            [
                "7d7d7d7d-2222-4a2b-8c3d-000000000001",
                "7d7d7d7d-2222-4a2b-8c3d-000000000002",
                "7d7d7d7d-2222-4a2b-8c3d-000000000003",
            ],
            "2025-01-01T10:00:02Z",
            "Wed, 01 Jan 2025 10:00:02 GMT",
        );
        let rules = CompareRules::builder()
            .compare_header("date")
            .build()
            .unwrap();

        let got = compare(&first(), &shadow, &rules, Some(&noise));
        assert_eq!(got.outcome, Outcome::IgnoredOnly, "{got:#?}");
        assert!(got.differences.is_empty());
        assert!(got.ignored.is_empty());
        let paths: Vec<&str> = got.noise.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "header:date",
                "/generated_at",
                "/items/0/id",
                "/items/0/seen/at",
                "/items/1/id",
                "/items/1/seen/at",
                "/items/2/id",
                "/items/2/seen/at",
            ]
        );
        assert!(got.noise.iter().all(|d| d.kind == DiffKind::ValueChanged));

        let without = compare(&first(), &shadow, &rules, None);
        assert_eq!(without.outcome, Outcome::Mismatch);
        assert_eq!(without.differences.len(), 8);
    }

    #[test]
    fn a_real_regression_is_still_a_mismatch_next_to_noise() {
        let noise = detect_noise(&first(), &second());
        let mut shadow = second();
        let mut body: serde_json::Value = match &shadow.body {
            crate::CapturedBody::Complete(bytes) => serde_json::from_slice(bytes).unwrap(),
            crate::CapturedBody::TooLarge { .. } => unreachable!(),
        };
        body["items"][1]["email"] = json!("B@example.com");
        shadow.body = crate::CapturedBody::Complete(serde_json::to_vec(&body).unwrap().into());
        let got = compare(&first(), &shadow, &CompareRules::default(), Some(&noise));
        assert_eq!(got.outcome, Outcome::Mismatch);
        let paths: Vec<&str> = got.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/items/1/email"]);
        assert_eq!(got.noise.len(), 7);
    }

    #[test]
    fn status_whole_body_and_learned_noise_merge() {
        let text = [("content-type", "text/plain")];
        let noise = detect_noise(
            &answer(200, &text, b"rendered at 10:00"),
            &answer(503, &text, b"rendered at 10:01"),
        );
        assert_eq!(noise.paths(), ["body", "status"]);
        assert!(noise.suggestions().is_empty());

        let mut all = detect_noise(&first(), &second());
        all.merge(&noise);
        assert_eq!(all.len(), 6);
        assert!(all.contains("status") && all.contains("/anything"));

        let mut too_large = first();
        too_large.body = crate::CapturedBody::TooLarge { limit: 1 };
        let learned = detect_noise(&too_large, &second());
        assert_eq!(
            learned.paths(),
            ["header:date"],
            "nothing learned about the body"
        );
    }

    #[test]
    fn noise_detection_is_not_capped() {
        let many = |offset: u32| {
            let items: Vec<_> = (0..500).map(|i| json!({"id": i + offset})).collect();
            answer(
                200,
                &[("content-type", "application/json")],
                &serde_json::to_vec(&json!({ "items": items })).unwrap(),
            )
        };
        let noise = detect_noise(&many(0), &many(1000));
        assert_eq!(noise.paths(), ["/items/*/id"]);
    }
}
