//! Per-route comparison rules ([`CompareRules`]) and their defaults.

use http::header::{CONTENT_TYPE, HeaderName, InvalidHeaderName};
use serde::{Deserialize, Serialize};

use crate::pointer::{IgnoreRule, PointerError};

/// Default body limit: 1 MiB, Envoy's shadow buffer limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Default cap on the differences kept in each list of a [`Comparison`].
pub const DEFAULT_MAX_DIFFERENCES: usize = 100;
/// Default cap on the characters of a rendered value in a [`Difference`].
pub const DEFAULT_MAX_VALUE_CHARS: usize = 200;

/// How arrays in JSON bodies are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrayOrder {
    /// Item by item, by position.
    #[default]
    Strict,
    /// As multisets: same items, any order. Applies to every array of the body.
    Ignore,
}

/// Per-route comparison rules, built by the route-table parser from
/// `routes.toml` through [`CompareRules::builder`] (or [`CompareRules::new`]).
///
/// `Default` is: no ignore rules, compare `content-type`, strict array order,
/// no added fields allowed, 1 MiB bodies, 100 differences, 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareRules {
    ignore: Vec<IgnoreRule>,
    /// Sorted by name, no duplicates.
    compare_headers: Vec<HeaderName>,
    array_order: ArrayOrder,
    allow_added_fields: bool,
    max_body_bytes: usize,
    max_differences: usize,
    max_value_chars: usize,
}

/// Why comparison rules are invalid (reported by the route-table check).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// An ignore rule is not a valid JSON Pointer.
    #[error(transparent)]
    Pointer(#[from] PointerError),
    /// A header to compare is not a valid header name.
    #[error("`{name}` is not a valid header name")]
    InvalidHeaderName {
        /// The name as written.
        name: String,
        /// Why `http` rejected it.
        #[source]
        source: InvalidHeaderName,
    },
    /// A limit that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    ZeroLimit {
        /// Which limit.
        setting: &'static str,
    },
}

impl Default for CompareRules {
    fn default() -> Self {
        Self {
            ignore: Vec::new(),
            compare_headers: vec![CONTENT_TYPE],
            array_order: ArrayOrder::Strict,
            allow_added_fields: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_differences: DEFAULT_MAX_DIFFERENCES,
            max_value_chars: DEFAULT_MAX_VALUE_CHARS,
        }
    }
}

impl CompareRules {
    /// The rules as one canonical line: equal rules give equal text, in every process and release.
    pub fn canonical(&self) -> String {
        let ignore: Vec<String> = self.ignore.iter().map(ToString::to_string).collect();
        let headers: Vec<&str> = self
            .compare_headers
            .iter()
            .map(HeaderName::as_str)
            .collect();
        format!(
            "ignore={:?};compare_headers={:?};array_order={:?};allow_added_fields={};max_body_bytes={};max_differences={};max_value_chars={}",
            ignore,
            headers,
            self.array_order,
            self.allow_added_fields,
            self.max_body_bytes,
            self.max_differences,
            self.max_value_chars
        )
    }

    /// Rules from already-parsed parts, with the default difference and value
    /// caps. Duplicate rules and header names are dropped.
    ///
    /// # Errors
    ///
    /// [`RulesError::ZeroLimit`] if `max_body_bytes` is zero.
    pub fn new(
        ignore: Vec<IgnoreRule>,
        compare_headers: Vec<HeaderName>,
        array_order: ArrayOrder,
        allow_added_fields: bool,
        max_body_bytes: usize,
    ) -> Result<Self, RulesError> {
        Self {
            ignore,
            compare_headers,
            array_order,
            allow_added_fields,
            max_body_bytes,
            ..Self::default()
        }
        .validated()
    }

    /// A builder starting from [`CompareRules::default`].
    #[must_use]
    pub fn builder() -> CompareRulesBuilder {
        CompareRulesBuilder::default()
    }

    /// Parses one ignore rule: an RFC 6901 JSON Pointer where `*` matches any
    /// array index or object key.
    ///
    /// # Errors
    ///
    /// [`PointerError`] if the rule is empty, does not start with `/`, or has
    /// a `~` not followed by `0` or `1`.
    pub fn parse_pointer(s: &str) -> Result<IgnoreRule, PointerError> {
        IgnoreRule::parse(s)
    }

    /// Rules for learning noise: every header in `compare_headers`, strict
    /// arrays, no body limit and no caps. Not validated: the zero caps are
    /// deliberate, since nothing is rendered and everything is learned.
    pub(crate) fn learning(mut compare_headers: Vec<HeaderName>) -> Self {
        compare_headers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        compare_headers.dedup();
        Self {
            ignore: Vec::new(),
            compare_headers,
            array_order: ArrayOrder::Strict,
            allow_added_fields: false,
            max_body_bytes: usize::MAX,
            max_differences: 0,
            max_value_chars: 0,
        }
    }

    fn validated(mut self) -> Result<Self, RulesError> {
        for (setting, value) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_differences", self.max_differences),
            ("max_value_chars", self.max_value_chars),
        ] {
            if value == 0 {
                return Err(RulesError::ZeroLimit { setting });
            }
        }
        self.ignore.sort();
        self.ignore.dedup();
        self.compare_headers
            .sort_by(|a, b| a.as_str().cmp(b.as_str()));
        self.compare_headers.dedup();
        Ok(self)
    }

    /// The ignore rules, sorted.
    #[must_use]
    pub fn ignore(&self) -> &[IgnoreRule] {
        &self.ignore
    }

    /// The headers compared, sorted by name.
    #[must_use]
    pub fn compare_headers(&self) -> &[HeaderName] {
        &self.compare_headers
    }

    /// How arrays are compared.
    #[must_use]
    pub fn array_order(&self) -> ArrayOrder {
        self.array_order
    }

    /// Whether the shadow may add object members the primary lacks.
    #[must_use]
    pub fn allow_added_fields(&self) -> bool {
        self.allow_added_fields
    }

    /// Bodies longer than this are not compared.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// At most this many differences are kept in each list of a [`Comparison`].
    #[must_use]
    pub fn max_differences(&self) -> usize {
        self.max_differences
    }

    /// Rendered values longer than this many characters are cut, with `…`.
    #[must_use]
    pub fn max_value_chars(&self) -> usize {
        self.max_value_chars
    }
}

/// Builds [`CompareRules`] from the strings of `routes.toml`; every problem is
/// reported by [`CompareRulesBuilder::build`].
#[derive(Debug, Clone)]
pub struct CompareRulesBuilder {
    ignore: Vec<String>,
    compare_headers: Vec<String>,
    array_order: ArrayOrder,
    allow_added_fields: bool,
    max_body_bytes: usize,
    max_differences: usize,
    max_value_chars: usize,
}

impl Default for CompareRulesBuilder {
    fn default() -> Self {
        let rules = CompareRules::default();
        Self {
            ignore: Vec::new(),
            compare_headers: rules
                .compare_headers
                .iter()
                .map(|name| name.as_str().to_owned())
                .collect(),
            array_order: rules.array_order,
            allow_added_fields: rules.allow_added_fields,
            max_body_bytes: rules.max_body_bytes,
            max_differences: rules.max_differences,
            max_value_chars: rules.max_value_chars,
        }
    }
}

impl CompareRulesBuilder {
    /// Adds an ignore rule (a JSON Pointer, `*` = any index or key).
    #[must_use]
    pub fn ignore(mut self, pointer: impl Into<String>) -> Self {
        self.ignore.push(pointer.into());
        self
    }

    /// Adds a header to the compared ones (default: `content-type` only).
    #[must_use]
    pub fn compare_header(mut self, name: impl Into<String>) -> Self {
        self.compare_headers.push(name.into());
        self
    }

    /// Replaces the compared headers (an empty list compares none).
    #[must_use]
    pub fn compare_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.compare_headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how arrays are compared.
    #[must_use]
    pub fn array_order(mut self, order: ArrayOrder) -> Self {
        self.array_order = order;
        self
    }

    /// Lets the shadow add object members the primary lacks.
    #[must_use]
    pub fn allow_added_fields(mut self, allow: bool) -> Self {
        self.allow_added_fields = allow;
        self
    }

    /// Sets the body limit in bytes.
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets the cap on differences kept per list.
    #[must_use]
    pub fn max_differences(mut self, limit: usize) -> Self {
        self.max_differences = limit;
        self
    }

    /// Sets the cap on characters per rendered value.
    #[must_use]
    pub fn max_value_chars(mut self, limit: usize) -> Self {
        self.max_value_chars = limit;
        self
    }

    /// Validates and builds the rules.
    ///
    /// # Errors
    ///
    /// The first problem found: a bad ignore rule ([`RulesError::Pointer`]), a
    /// bad header name ([`RulesError::InvalidHeaderName`]) or a zero limit
    /// ([`RulesError::ZeroLimit`]).
    pub fn build(self) -> Result<CompareRules, RulesError> {
        let ignore = self
            .ignore
            .iter()
            .map(|pointer| IgnoreRule::parse(pointer))
            .collect::<Result<Vec<_>, _>>()?;
        let compare_headers = self
            .compare_headers
            .into_iter()
            .map(
                |name| match HeaderName::from_bytes(name.trim().as_bytes()) {
                    Ok(header) => Ok(header),
                    Err(source) => Err(RulesError::InvalidHeaderName { name, source }),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        CompareRules {
            ignore,
            compare_headers,
            array_order: self.array_order,
            allow_added_fields: self.allow_added_fields,
            max_body_bytes: self.max_body_bytes,
            max_differences: self.max_differences,
            max_value_chars: self.max_value_chars,
        }
        .validated()
    }
}
