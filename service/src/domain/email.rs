//! Email addresses as the accounts domain understands them.

use std::fmt;

/// An email address that passed the domain's rules; [`Email::parse`] is the only constructor.
///
/// The rules, on the input with surrounding whitespace trimmed:
/// `local@domain`, where the local part is one or more dot-separated atoms
/// of the ASCII characters RFC 5322 allows unquoted (letters, digits and
/// ``!#$%&'*+/=?^_`{|}~-``), and the domain is two or more dot-separated
/// labels of ASCII letters, digits and inner hyphens, each 1 to 63
/// characters, the last one starting with a letter (a top-level domain, not
/// an IP address). The input, whitespace included, has at most
/// [`Email::MAX_CHARS`] characters. Quoted local parts, comments, display
/// names (`Bob <bob@example.com>`), domain literals (`x@[127.0.0.1]`) and
/// non-ASCII addresses are refused.
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
    /// The input is longer than the limit.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// The address does not have the form `local@domain.tld`.
    #[error("must be an address of the form name@example.com")]
    Malformed,
}

/// The longest domain label (RFC 1035).
const MAX_LABEL_CHARS: usize = 63;

impl Email {
    /// The longest input accepted, surrounding whitespace included
    /// (RFC 5321's path limit less the angle brackets).
    pub const MAX_CHARS: usize = 254;

    /// Parses user input, trimming surrounding whitespace.
    ///
    /// # Errors
    ///
    /// The first rule the input breaks, as an [`EmailError`].
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err(EmailError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let (local, domain) = candidate.split_once('@').ok_or(EmailError::Malformed)?;
        if is_dot_atom(local) && is_host_name(domain) {
            Ok(Self(candidate.to_owned()))
        } else {
            Err(EmailError::Malformed)
        }
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

/// RFC 5322 `atext`, ASCII only.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

/// One or more non-empty runs of `atext`, separated by single dots.
fn is_dot_atom(local: &str) -> bool {
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Two or more labels; the last (the top-level domain) starts with a letter.
fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| is_label(label))
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// 1 to 63 ASCII letters, digits and hyphens, not starting or ending with a hyphen.
fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL_CHARS).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
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
        let long_local = format!("{}@example.com", "a".repeat(242));
        let cases = [
            ("ada@example.com", "ada@example.com"),
            ("  Ada.Lovelace@Example.COM \n", "Ada.Lovelace@Example.COM"),
            ("a+tag@sub.example.org", "a+tag@sub.example.org"),
            (
                "o'brien!#$%&*/=?^_`{|}~-@x-1.example.io",
                "o'brien!#$%&*/=?^_`{|}~-@x-1.example.io",
            ),
            ("1@2.xn--p1ai", "1@2.xn--p1ai"),
            (long_local.as_str(), long_local.as_str()),
        ];
        for (raw, expected) in cases {
            let email = Email::parse(raw).unwrap_or_else(|e| panic!("{raw:?} rejected: {e}"));
            assert_eq!(email.as_str(), expected, "input {raw:?}");
        }
    }

    #[test]
    fn parse_rejects_invalid_addresses_with_the_broken_rule() {
        let too_long = format!("{}@example.com", "a".repeat(243));
        let padded_too_long = format!(" {}@example.com", "a".repeat(242));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let cases = [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("no-at-sign", EmailError::Malformed),
            ("a@b", EmailError::Malformed),
            ("a@example.123", EmailError::Malformed),
            ("a@127.0.0.1", EmailError::Malformed),
            ("Bob <bob@example.com>", EmailError::Malformed),
            ("x@[127.0.0.1]", EmailError::Malformed),
            ("@example.com", EmailError::Malformed),
            ("a@", EmailError::Malformed),
            ("a@@example.com", EmailError::Malformed),
            ("a@b@example.com", EmailError::Malformed),
            (".a@example.com", EmailError::Malformed),
            ("a.@example.com", EmailError::Malformed),
            ("a..b@example.com", EmailError::Malformed),
            ("\"a b\"@example.com", EmailError::Malformed),
            ("a b@example.com", EmailError::Malformed),
            ("jos\u{e9}@example.com", EmailError::Malformed),
            ("a@m\u{fc}ller.de", EmailError::Malformed),
            ("a@-example.com", EmailError::Malformed),
            ("a@example-.com", EmailError::Malformed),
            ("a@example..com", EmailError::Malformed),
            ("a@ex_ample.com", EmailError::Malformed),
            ("a@example.com.", EmailError::Malformed),
            (long_label.as_str(), EmailError::Malformed),
            (too_long.as_str(), EmailError::TooLong { max: 254 }),
            (padded_too_long.as_str(), EmailError::TooLong { max: 254 }),
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
