//! The report of one comparison: each [`Difference`], its [`DiffKind`], and the [`Comparison`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;

/// What kind of difference was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same type, different value (or a different status, header value, or
    /// unordered array content).
    ValueChanged,
    /// Different JSON types (e.g. string vs number), or JSON on one side only.
    TypeChanged,
    /// Present in the primary, missing in the shadow.
    Missing,
    /// Present in the shadow only.
    Added,
    /// Arrays of different lengths; the values are the two lengths.
    ArrayLength,
    /// Non-JSON bodies differ; the values are length and a preview.
    BodyBytes,
    /// The same value written differently: one instant in two timestamp
    /// formats, or a number and the same number as a string.
    FormatChanged,
}

impl DiffKind {
    /// Stable `snake_case` name (as serialised).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            DiffKind::ValueChanged => "value_changed",
            DiffKind::TypeChanged => "type_changed",
            DiffKind::Missing => "missing",
            DiffKind::Added => "added",
            DiffKind::ArrayLength => "array_length",
            DiffKind::BodyBytes => "body_bytes",
            DiffKind::FormatChanged => "format_changed",
        }
    }
}

/// One difference between the two answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// `status`, `header:<lower-case name>`, `body` (the body as a whole), or
    /// a JSON Pointer such as `/items/0/name`.
    pub path: String,
    /// What differs.
    pub kind: DiffKind,
    /// The primary's value as compact JSON (headers as a JSON string, or an
    /// array of strings when repeated), cut after the rules' character cap
    /// with `…`; `None` when absent.
    pub primary: Option<String>,
    /// The shadow's value, rendered the same way.
    pub shadow: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let primary = self.primary.as_deref().unwrap_or("(absent)");
        let shadow = self.shadow.as_deref().unwrap_or("(absent)");
        write!(
            f,
            "{} {}: primary {primary}, shadow {shadow}",
            self.path,
            self.kind.as_str()
        )
    }
}

/// The result of one comparison.
///
/// Each list is in path order (status, headers by name, then the body with
/// parents before children, members by name and items by index) and holds at
/// most [`crate::CompareRules::max_differences`] entries; `truncated` says some were
/// left out. The outcome always reflects every difference, kept or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The verdict.
    pub outcome: Outcome,
    /// Real differences: neither ignored nor noise.
    pub differences: Vec<Difference>,
    /// Differences at paths covered by the route's ignore rules.
    pub ignored: Vec<Difference>,
    /// Differences at paths covered by learned noise (and by no ignore rule).
    pub noise: Vec<Difference>,
    /// Differences of form only ([`DiffKind::FormatChanged`]) at paths
    /// neither ignored nor noise: the values agree.
    #[serde(default)]
    pub formats: Vec<Difference>,
    /// Whether any list was cut at the cap.
    pub truncated: bool,
}

impl Comparison {
    /// A comparison that did not happen (sampled out, dropped, a side
    /// failed), so every attempt can be recorded as one `Comparison`.
    #[must_use]
    pub fn not_compared(outcome: Outcome) -> Self {
        Self {
            outcome,
            differences: Vec::new(),
            ignored: Vec::new(),
            noise: Vec::new(),
            formats: Vec::new(),
            truncated: false,
        }
    }
}
