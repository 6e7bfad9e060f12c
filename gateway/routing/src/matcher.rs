//! What paths a route matches: [`Segment`], [`Matcher`], the parsing of
//! `match.path` and `match.prefix`, the specificity order routes are tried
//! in, and whether one matcher covers another (for dead-route analysis).

use std::cmp::Ordering;
use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

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

/// Parses `match.path`: an exact path, or a pattern when it has `{param}`s.
pub(crate) fn parse_path(raw: &str) -> Result<Matcher, String> {
    let segments = parse_segments(raw, "path")?;
    if segments.iter().any(Segment::is_param) {
        Ok(Matcher::Pattern(segments))
    } else {
        Ok(Matcher::Exact(raw.to_owned()))
    }
}

/// Parses `match.prefix`: a normalised path without parameters or trailing slash.
pub(crate) fn parse_prefix(raw: &str) -> Result<Matcher, String> {
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
pub(crate) fn compare_specificity(a: &Matcher, b: &Matcher) -> Ordering {
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

/// Whether every path `b` matches is matched by `a`.
pub(crate) fn covers(a: &Matcher, b: &Matcher) -> bool {
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
