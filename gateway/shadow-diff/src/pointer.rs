//! Ignore rules: RFC 6901 JSON Pointers in which a `*` segment is a wildcard.
//!
//! A rule names a node of the body; it covers that node and everything below
//! it. `*` matches any array index or any object key (so a member literally
//! named `*` is matched by the wildcard too; nothing else needs escaping
//! beyond RFC 6901's `~0` for `~` and `~1` for `/`). A decimal segment such as
//! `0` matches the object member `"0"` or array index 0, as in RFC 6901.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid ignore rule (reported by the route-table check).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// The empty pointer would ignore the whole body, which is never what a rule means.
    #[error("ignore rule is empty; it must be a JSON Pointer such as `/items/*/id`")]
    Empty,
    /// The pointer does not start with `/`.
    #[error("ignore rule `{pointer}` must start with `/`")]
    MissingLeadingSlash {
        /// The rule as written.
        pointer: String,
    },
    /// A `~` not followed by `0` or `1` (RFC 6901 section 3).
    #[error(
        "ignore rule `{pointer}` has a bad escape at byte {position}: `~` must be followed by `0` (for `~`) or `1` (for `/`)"
    )]
    BadEscape {
        /// The rule as written.
        pointer: String,
        /// Byte offset of the offending `~`.
        position: usize,
    },
}

/// One segment of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Segment {
    /// `*`: any array index or object key.
    Any,
    /// A literal, unescaped key (or decimal array index).
    Key(String),
}

/// One step of a concrete path inside a JSON body, as the comparison walks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// An object member.
    Key(&'a str),
    /// An array item at a known position.
    Index(usize),
    /// An item of an array compared as a multiset: it has no position, so only
    /// a `*` segment matches it.
    AnyIndex,
}

impl Segment {
    fn matches(&self, step: Step<'_>) -> bool {
        match (self, step) {
            (Segment::Any, _) => true,
            (Segment::Key(k), Step::Key(key)) => k == key,
            (Segment::Key(k), Step::Index(i)) => is_index(k, i),
            (Segment::Key(_), Step::AnyIndex) => false,
        }
    }

    /// Whether this pattern segment covers another pattern segment.
    fn covers(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Any, _) => true,
            (Segment::Key(a), Segment::Key(b)) => a == b,
            (Segment::Key(_), Segment::Any) => false,
        }
    }
}

/// RFC 6901 array index: `0` or a decimal without leading zeros.
fn is_index(key: &str, index: usize) -> bool {
    !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'))
        && key.parse::<usize>() == Ok(index)
}

/// A parsed ignore rule: a JSON Pointer whose `*` segments are wildcards.
///
/// Parse with [`IgnoreRule::parse`] (or [`str::parse`]); `Display` writes the
/// rule back in pointer syntax.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IgnoreRule {
    /// Never empty.
    segments: Vec<Segment>,
}

impl IgnoreRule {
    /// Parses an ignore rule such as `/items/*/id` or `/a~1b/c~0d`.
    ///
    /// # Errors
    ///
    /// [`PointerError`] if the string is empty, does not start with `/`, or has
    /// a `~` that is not followed by `0` or `1`.
    pub fn parse(pointer: &str) -> Result<Self, PointerError> {
        if pointer.is_empty() {
            return Err(PointerError::Empty);
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(PointerError::MissingLeadingSlash {
                pointer: pointer.to_owned(),
            });
        };
        let mut segments = Vec::new();
        let mut offset = 1;
        for raw in rest.split('/') {
            segments.push(if raw == "*" {
                Segment::Any
            } else {
                Segment::Key(unescape(raw).map_err(|at| PointerError::BadEscape {
                    pointer: pointer.to_owned(),
                    position: offset + at,
                })?)
            });
            offset += raw.len() + 1;
        }
        Ok(Self { segments })
    }

    /// Whether this rule covers the concrete or generalised pointer `pointer`:
    /// the pointer names the rule's node or a node below it. A `*` in `pointer`
    /// is covered only by a `*` in the rule. Returns `false` for strings that
    /// are not valid pointers.
    #[must_use]
    pub fn covers(&self, pointer: &str) -> bool {
        IgnoreRule::parse(pointer).is_ok_and(|other| self.covers_rule(&other))
    }

    /// Whether `other` names this rule's node or a node below it.
    pub(crate) fn covers_rule(&self, other: &IgnoreRule) -> bool {
        self.segments.len() <= other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(mine, theirs)| mine.covers(theirs))
    }

    /// Whether this rule names exactly the node at `path` (not an ancestor or
    /// a descendant). Callers get "and everything below" by inheriting the
    /// decision while they descend.
    pub(crate) fn matches_exactly(&self, path: &[Step<'_>]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(segment, step)| segment.matches(*step))
    }

    /// The rule for `path` with every array position generalised to `*`.
    /// `None` for the empty path (the whole body), which is not a rule.
    pub(crate) fn generalised(path: &[Step<'_>]) -> Option<Self> {
        if path.is_empty() {
            return None;
        }
        let segments = path
            .iter()
            .map(|step| match step {
                Step::Key(key) => Segment::Key((*key).to_owned()),
                Step::Index(_) | Step::AnyIndex => Segment::Any,
            })
            .collect();
        Some(Self { segments })
    }
}

impl FromStr for IgnoreRule {
    type Err = PointerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IgnoreRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Any => f.write_str("/*")?,
                Segment::Key(key) => {
                    f.write_str("/")?;
                    f.write_str(&escape(key))?;
                }
            }
        }
        Ok(())
    }
}

/// Decodes `~1` to `/` and `~0` to `~`, left to right (so `~01` is `~1`).
/// On error returns the byte offset of the bad `~` within `raw`.
fn unescape(raw: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some((_, '0')) => out.push('~'),
                Some((_, '1')) => out.push('/'),
                _ => return Err(at),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Encodes a key as a pointer segment (`~` as `~0`, `/` as `~1`).
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Renders a concrete path as a JSON Pointer (`/items/0/name`).
pub(crate) fn pointer_string(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        match step {
            Step::Key(key) => out.push_str(&escape(key)),
            Step::Index(i) => out.push_str(&i.to_string()),
            Step::AnyIndex => out.push('*'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn parses_valid_pointers() {
        let cases: &[(&str, Vec<Segment>)] = &[
            ("/a", vec![key("a")]),
            ("/items/*/id", vec![key("items"), Segment::Any, key("id")]),
            ("/*/updated_at", vec![Segment::Any, key("updated_at")]),
            ("/a~1b", vec![key("a/b")]),
            ("/m~0n", vec![key("m~n")]),
            ("/~01", vec![key("~1")]),
            ("/~10", vec![key("/0")]),
            ("/", vec![key("")]),
            ("//x", vec![key(""), key("x")]),
            ("/a b/é", vec![key("a b"), key("é")]),
            ("/**", vec![key("**")]),
        ];
        for (input, segments) in cases {
            let rule = IgnoreRule::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&rule.segments, segments, "{input}");
            assert_eq!(rule.to_string(), *input, "display round trip of {input}");
        }
    }

    #[test]
    fn rejects_invalid_pointers() {
        let cases: &[(&str, PointerError)] = &[
            ("", PointerError::Empty),
            (
                "items/0",
                PointerError::MissingLeadingSlash {
                    pointer: "items/0".into(),
                },
            ),
            (
                "#/items",
                PointerError::MissingLeadingSlash {
                    pointer: "#/items".into(),
                },
            ),
            (
                "/a~2",
                PointerError::BadEscape {
                    pointer: "/a~2".into(),
                    position: 2,
                },
            ),
            (
                "/ok/b~",
                PointerError::BadEscape {
                    pointer: "/ok/b~".into(),
                    position: 5,
                },
            ),
            (
                "/~",
                PointerError::BadEscape {
                    pointer: "/~".into(),
                    position: 1,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(IgnoreRule::parse(input).as_ref(), Err(expected), "{input}");
        }
        let message = IgnoreRule::parse("x").map_err(|e| e.to_string());
        assert_eq!(message, Err("ignore rule `x` must start with `/`".into()));
    }

    #[test]
    fn matches_concrete_paths() {
        let rule = IgnoreRule::parse("/items/*/id").unwrap();
        let yes: &[&[Step<'_>]] = &[
            &[Step::Key("items"), Step::Index(0), Step::Key("id")],
            &[Step::Key("items"), Step::Index(17), Step::Key("id")],
            &[Step::Key("items"), Step::Key("x"), Step::Key("id")],
            &[Step::Key("items"), Step::AnyIndex, Step::Key("id")],
        ];
        let no: &[&[Step<'_>]] = &[
            &[Step::Key("items"), Step::Index(0)],
            &[
                Step::Key("items"),
                Step::Index(0),
                Step::Key("id"),
                Step::Key("x"),
            ],
            &[Step::Key("item"), Step::Index(0), Step::Key("id")],
            &[Step::Key("items"), Step::Index(0), Step::Key("ID")],
        ];
        for path in yes {
            assert!(rule.matches_exactly(path), "{path:?}");
        }
        for path in no {
            assert!(!rule.matches_exactly(path), "{path:?}");
        }
    }

    #[test]
    fn decimal_segments_match_indices_per_rfc_6901() {
        let rule = IgnoreRule::parse("/a/1").unwrap();
        assert!(rule.matches_exactly(&[Step::Key("a"), Step::Index(1)]));
        assert!(rule.matches_exactly(&[Step::Key("a"), Step::Key("1")]));
        assert!(!rule.matches_exactly(&[Step::Key("a"), Step::Index(2)]));
        assert!(!rule.matches_exactly(&[Step::Key("a"), Step::AnyIndex]));
        for bad in ["/a/01", "/a/+1", "/a/ 1", "/a/"] {
            let rule = IgnoreRule::parse(bad).unwrap();
            assert!(
                !rule.matches_exactly(&[Step::Key("a"), Step::Index(1)]),
                "{bad}"
            );
        }
        let zero = IgnoreRule::parse("/a/0").unwrap();
        assert!(zero.matches_exactly(&[Step::Key("a"), Step::Index(0)]));
    }

    #[test]
    fn covers_itself_and_descendants_only() {
        let rule = IgnoreRule::parse("/user").unwrap();
        assert!(rule.covers("/user"));
        assert!(rule.covers("/user/name"));
        assert!(!rule.covers("/username"));
        assert!(!rule.covers("/"));
        assert!(!rule.covers("user"));
        let wild = IgnoreRule::parse("/*/updated_at").unwrap();
        assert!(wild.covers("/user/updated_at"));
        assert!(wild.covers("/*/updated_at/x"));
        assert!(!wild.covers("/user/created_at"));
        let exact = IgnoreRule::parse("/items/0").unwrap();
        assert!(!exact.covers("/items/*"));
    }

    #[test]
    fn generalises_indices_and_renders_escaped() {
        let path = [Step::Key("a/b"), Step::Index(3), Step::Key("c~d")];
        assert_eq!(pointer_string(&path), "/a~1b/3/c~0d");
        let general = IgnoreRule::generalised(&path).unwrap();
        assert_eq!(general.to_string(), "/a~1b/*/c~0d");
        assert_eq!(IgnoreRule::generalised(&[]), None);
    }
}
