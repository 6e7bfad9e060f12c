//! A person's full name as shown to other people.

use std::fmt;

/// A non-empty, trimmed name of bounded length; [`FullName::parse`] is the only constructor.
///
/// The rules: the input, surrounding whitespace included, has at most
/// [`FullName::MAX_CHARS`] characters; trimmed, it is not empty and holds no
/// control characters (newlines, tabs, NUL, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullName(String);

/// Why a raw string is not a [`FullName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    /// Nothing but whitespace was given.
    #[error("must not be empty")]
    Empty,
    /// The input is longer than the limit.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// The name contains control characters (newlines, NUL, …).
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl FullName {
    /// The longest input accepted, in characters, surrounding whitespace included.
    pub const MAX_CHARS: usize = 200;

    /// Parses user input, trimming surrounding whitespace.
    ///
    /// # Errors
    ///
    /// The first rule the input breaks, as a [`FullNameError`].
    pub fn parse(raw: &str) -> Result<Self, FullNameError> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err(FullNameError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FullNameError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if candidate.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacter);
        }
        Ok(Self(candidate.to_owned()))
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_trims_and_keeps_inner_spaces_and_unicode() {
        let name = FullName::parse("  Ada  Lovelace-Byron ✓ ").unwrap();
        assert_eq!(name.as_str(), "Ada  Lovelace-Byron ✓");
    }

    #[test]
    fn parse_rejects_each_broken_rule() {
        let too_long = "é".repeat(201);
        let cases = [
            ("", FullNameError::Empty),
            (" \t ", FullNameError::Empty),
            ("Ada\nLovelace", FullNameError::ControlCharacter),
            ("Ada\0", FullNameError::ControlCharacter),
            (too_long.as_str(), FullNameError::TooLong { max: 200 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(FullName::parse(raw), Err(expected), "input {raw:?}");
        }
        assert!(
            FullName::parse(&"é".repeat(200)).is_ok(),
            "200 characters is the limit, not 200 bytes"
        );
        assert_eq!(
            FullName::parse(&format!(" {}", "é".repeat(200))),
            Err(FullNameError::TooLong { max: 200 }),
            "the limit counts the input as sent, whitespace included"
        );
    }

    proptest! {
        #[test]
        fn accepted_names_are_trimmed_bounded_and_reparse_to_themselves(raw in any::<String>()) {
            if let Ok(name) = FullName::parse(&raw) {
                prop_assert_eq!(name.as_str(), name.as_str().trim());
                prop_assert!(name.as_str().chars().count() <= FullName::MAX_CHARS);
                prop_assert_eq!(FullName::parse(name.as_str()), Ok(name));
            }
        }
    }
}
