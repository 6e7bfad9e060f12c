//! Email addresses as the accounts domain understands them.

use std::fmt;

use email_address::{EmailAddress, Options};

/// An email address that passed the domain's rules; [`Email::parse`] is the only constructor.
///
/// The address keeps the case the user typed; uniqueness is decided on
/// [`Email::canonical`], the trimmed and lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a raw string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace was given.
    #[error("must not be empty")]
    Empty,
    /// The address is longer than the limit.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// The address does not have the form `local@domain.tld`.
    #[error("must be an address of the form name@example.com")]
    Malformed,
}

impl Email {
    /// The longest address accepted (RFC 5321's path limit less the angle brackets).
    pub const MAX_CHARS: usize = 254;

    /// Parses user input, trimming surrounding whitespace.
    ///
    /// Rejects display forms (`Bob <bob@example.com>`), domain literals and
    /// domains without a top-level domain.
    ///
    /// # Errors
    ///
    /// The first rule the input breaks, as an [`EmailError`].
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err(EmailError::Empty);
        }
        if candidate.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        let parsed = EmailAddress::parse_with_options(candidate, options)
            .map_err(|_| EmailError::Malformed)?;
        Ok(Self(parsed.email().to_owned()))
    }

    /// The address as the user typed it, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on: lower-cased.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_accepts_and_trims_valid_addresses() {
        let cases = [
            ("ada@example.com", "ada@example.com"),
            ("  Ada.Lovelace@Example.COM \n", "Ada.Lovelace@Example.COM"),
            ("a+tag@sub.example.org", "a+tag@sub.example.org"),
        ];
        for (raw, expected) in cases {
            let email = Email::parse(raw).unwrap_or_else(|e| panic!("{raw:?} rejected: {e}"));
            assert_eq!(email.as_str(), expected, "input {raw:?}");
        }
    }

    #[test]
    fn parse_rejects_invalid_addresses_with_the_broken_rule() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let cases = [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("no-at-sign", EmailError::Malformed),
            ("a@b", EmailError::Malformed),
            ("Bob <bob@example.com>", EmailError::Malformed),
            ("x@[127.0.0.1]", EmailError::Malformed),
            ("@example.com", EmailError::Malformed),
            (too_long.as_str(), EmailError::TooLong { max: 254 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(Email::parse(raw), Err(expected), "input {raw:?}");
        }
    }

    #[test]
    fn canonical_form_ignores_case() {
        let a = Email::parse("Ada@Example.com").unwrap();
        let b = Email::parse("ada@EXAMPLE.COM").unwrap();
        assert_ne!(a, b, "the typed form is kept");
        assert_eq!(a.canonical(), b.canonical());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepted_values_are_trimmed(raw in any::<String>()) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(email.as_str(), email.as_str().trim());
                prop_assert!(email.as_str().contains('@'));
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
            }
        }
    }
}
