//! Per-route comparison rules ([`CompareRules`]) and their defaults; the
//! route-table parser builds them from `routes.toml` with [`CompareRules::new`].

use http::header::{CONTENT_TYPE, HeaderName};
use serde::{Deserialize, Serialize};

use crate::format::Formats;
use crate::pointer::{IgnoreRule, PointerError};

/// Default body limit: 1 MiB, Envoy's shadow buffer limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Default cap on the differences kept in each list of a [`crate::Comparison`].
pub const DEFAULT_MAX_DIFFERENCES: usize = 100;
/// Default cap on the characters of a rendered value in a [`crate::Difference`].
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
/// `routes.toml` through [`CompareRules::new`].
///
/// `Default` is: no ignore rules, compare `content-type`, strict array order,
/// no added fields allowed, timestamps compared as instants (naive ones in
/// UTC), numbers as strings not accepted, 1 MiB bodies, 100 differences,
/// 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareRules {
    ignore: Vec<IgnoreRule>,
    /// Sorted by name, no duplicates.
    compare_headers: Vec<HeaderName>,
    array_order: ArrayOrder,
    allow_added_fields: bool,
    formats: Formats,
    max_body_bytes: usize,
    max_differences: usize,
    max_value_chars: usize,
}

/// Why comparison rules are invalid (reported by the route-table check).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
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
            formats: Formats::default(),
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
            "ignore={:?};compare_headers={:?};array_order={:?};allow_added_fields={};{};max_body_bytes={};max_differences={};max_value_chars={}",
            ignore,
            headers,
            self.array_order,
            self.allow_added_fields,
            self.formats,
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

    /// These rules, seeing through the differences of form `formats` names.
    #[must_use]
    pub fn with_formats(self, formats: Formats) -> Self {
        Self { formats, ..self }
    }

    /// These rules with other caps on differences and rendered characters;
    /// `routes.toml` has no setting for them, only tests change them.
    #[cfg(test)]
    pub(crate) fn with_caps(
        self,
        max_differences: usize,
        max_value_chars: usize,
    ) -> Result<Self, RulesError> {
        Self {
            max_differences,
            max_value_chars,
            ..self
        }
        .validated()
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
    /// arrays, strict formats (every difference is learned), no body limit
    /// and no caps. Not validated: the zero caps are
    /// deliberate, since nothing is rendered and everything is learned.
    pub(crate) fn learning(mut compare_headers: Vec<HeaderName>) -> Self {
        compare_headers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        compare_headers.dedup();
        Self {
            ignore: Vec::new(),
            compare_headers,
            array_order: ArrayOrder::Strict,
            allow_added_fields: false,
            formats: Formats::STRICT,
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

    /// Which differences of form are seen through.
    #[must_use]
    pub fn formats(&self) -> &Formats {
        &self.formats
    }

    /// Bodies longer than this are not compared.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// At most this many differences are kept in each list of a [`crate::Comparison`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_validated() {
        let err = |pointer: &str| {
            CompareRules::parse_pointer(pointer)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("items"), "ignore rule `items` must start with `/`");
        assert!(err("/a~x").contains("bad escape at byte 2"));
        assert!(matches!(
            CompareRules::parse_pointer(""),
            Err(PointerError::Empty)
        ));
        let err = |rules: Result<CompareRules, RulesError>| rules.unwrap_err().to_string();
        assert_eq!(
            err(CompareRules::new(
                Vec::new(),
                vec![CONTENT_TYPE],
                ArrayOrder::Strict,
                false,
                0
            )),
            "max_body_bytes must be greater than zero"
        );
        assert_eq!(
            err(CompareRules::default().with_caps(0, DEFAULT_MAX_VALUE_CHARS)),
            "max_differences must be greater than zero"
        );
        assert_eq!(
            err(CompareRules::default().with_caps(DEFAULT_MAX_DIFFERENCES, 0)),
            "max_value_chars must be greater than zero"
        );
        assert!(matches!(
            CompareRules::new(Vec::new(), Vec::new(), ArrayOrder::Strict, false, 0),
            Err(RulesError::ZeroLimit {
                setting: "max_body_bytes"
            })
        ));

        let pointers = ["/b", "/a", "/b"].map(|p| CompareRules::parse_pointer(p).unwrap());
        let names = ["ETag", "etag"].map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap());
        let built = CompareRules::new(
            pointers.into(),
            [vec![CONTENT_TYPE], names.into()].concat(),
            ArrayOrder::Strict,
            false,
            DEFAULT_MAX_BODY_BYTES,
        )
        .unwrap();
        let ignore: Vec<String> = built.ignore().iter().map(ToString::to_string).collect();
        assert_eq!(ignore, ["/a", "/b"]);
        let headers: Vec<&str> = built
            .compare_headers()
            .iter()
            .map(HeaderName::as_str)
            .collect();
        assert_eq!(headers, ["content-type", "etag"]);

        let via_new = CompareRules::new(
            vec![CompareRules::parse_pointer("/items/*/id").unwrap()],
            vec![CONTENT_TYPE],
            ArrayOrder::Ignore,
            true,
            10,
        )
        .unwrap();
        assert_eq!(via_new.array_order(), ArrayOrder::Ignore);
        assert!(via_new.allow_added_fields());
        assert_eq!(via_new.max_body_bytes(), 10);
        assert_eq!(via_new.max_differences(), DEFAULT_MAX_DIFFERENCES);
        assert_eq!(via_new.max_value_chars(), DEFAULT_MAX_VALUE_CHARS);
        assert_eq!(
            CompareRules::new(
                Vec::new(),
                vec![CONTENT_TYPE],
                ArrayOrder::Strict,
                false,
                DEFAULT_MAX_BODY_BYTES
            )
            .unwrap(),
            CompareRules::default()
        );
    }
}
