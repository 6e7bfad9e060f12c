//! Request-path normalisation: what a route is matched against.
//!
//! [`normalize_path`] turns the raw path of a request (without its query) into
//! a [`NormalizedPath`], applying these rules in order:
//!
//! 1. The path must start with `/` ([`PathError::NotAbsolute`]).
//! 2. Every percent-escape is decoded, except that an encoded slash (`%2F`,
//!    `%2f`) or backslash (`%5C`, `%5c`) is refused with
//!    [`PathError::EncodedSeparator`] (the gateway answers 400, like Envoy's
//!    `REJECT_REQUEST` policy): decoding it would let `a%2F..%2Fadmin` climb
//!    out of a route, and passing it through would make the gateway and the
//!    backend disagree on the segments. A raw `\` is refused too
//!    ([`PathError::Backslash`]), as some backends read it as `/`.
//!    A `%` not followed by two hexadecimal digits is
//!    [`PathError::MalformedEscape`]; a NUL, raw or `%00`, is
//!    [`PathError::Nul`]; the decoded bytes must be UTF-8
//!    ([`PathError::InvalidUtf8`]).
//! 3. Runs of slashes are merged (`//v1///x` is `/v1/x`).
//! 4. `.` and `..` segments are resolved as RFC 3986 `remove_dot_segments`
//!    does, after decoding (so `%2e%2e` is `..`); `..` above the root stays at
//!    the root (`/a/../../b` is `/b`).
//! 5. A trailing slash is kept (`/a/` stays `/a/`, and `/a/b/..` is `/a/`),
//!    and route matching treats `/a/` as a different path from `/a`.
//!
//! The result never contains `//`, nor a `.` or `..` segment, and normalising
//! its [`NormalizedPath::to_uri_path`] again gives the same path.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::PathError;

/// Bytes that [`NormalizedPath::to_uri_path`] percent-encodes: everything but
/// the RFC 3986 `pchar` set (unreserved, sub-delims, `:` and `@`) and `/`.
/// Non-ASCII bytes are always encoded.
const NOT_PCHAR_OR_SLASH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// A request path after [`normalize_path`]: decoded, slashes merged, dot-segments resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedPath(String);

impl NormalizedPath {
    /// A path built from normalised parts (a rewrite's output).
    pub(crate) fn from_decoded(path: String) -> Self {
        Self(path)
    }

    /// The decoded path, which routes are matched against.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path re-encoded for forwarding upstream: every byte outside RFC 3986
    /// `pchar` and `/` is percent-encoded (a space is `%20`, `%` is `%25`, `?` is
    /// `%3F`, `#` is `%23`, and non-ASCII characters are encoded as UTF-8).
    pub fn to_uri_path(&self) -> Cow<'_, str> {
        if is_plain(&self.0) {
            return Cow::Borrowed(&self.0);
        }
        utf8_percent_encode(&self.0, NOT_PCHAR_OR_SLASH).into()
    }
}

impl fmt::Display for NormalizedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NormalizedPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Normalises a raw request path (without its query) for matching.
///
/// It must start with `/`; every percent-escape is decoded, except that an
/// encoded `/` or `\` is refused (as are a raw `\`, a NUL, a malformed escape
/// and bytes that are not UTF-8); runs of slashes are merged; `.` and `..`
/// segments are resolved (RFC 3986 `remove_dot_segments`, never above the
/// root); a trailing slash is kept, and `/a/` does not match a route for `/a`.
///
/// # Errors
///
/// A [`PathError`] when the path is not absolute, has a malformed escape, an
/// encoded separator, a backslash or a NUL, or does not decode to UTF-8.
pub fn normalize_path(raw: &str) -> Result<NormalizedPath, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw) && !has_empty_or_dot_segment(raw) {
        // Nothing to decode, merge or resolve (the usual request).
        return Ok(NormalizedPath(raw.to_owned()));
    }
    let decoded = percent_decode(raw)?;
    Ok(NormalizedPath(resolve_segments(&decoded)))
}

/// Bytes of RFC 3986 `pchar` and `/`: what [`NormalizedPath::to_uri_path`]
/// leaves as they are (the complement of [`NOT_PCHAR_OR_SLASH`]).
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        // `byte < 256`: the cast keeps its value.
        let b = byte as u8;
        plain[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        byte += 1;
    }
    plain
};

/// Whether every byte of `path` is `pchar` or `/`: no escape to decode
/// (`%` is not among them), none to add, no backslash or NUL.
fn is_plain(path: &str) -> bool {
    path.bytes().all(|b| PLAIN[usize::from(b)])
}

/// Whether an absolute `path` has an empty segment (`//`, not counting a
/// trailing `/`) or a `.` or `..` segment: what [`resolve_segments`] changes.
fn has_empty_or_dot_segment(path: &str) -> bool {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, "." | "..") || (segment.is_empty() && !last) {
            return true;
        }
    }
    false
}

/// Decodes every escape of `raw`, refusing the ones [`normalize_path`] refuses.
fn percent_decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut offset = 0;
    while let Some(&byte) = bytes.get(offset) {
        match byte {
            b'%' => {
                let high = bytes.get(offset + 1).and_then(|&b| hex_value(b));
                let low = bytes.get(offset + 2).and_then(|&b| hex_value(b));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(PathError::MalformedEscape { offset });
                };
                match (high << 4) | low {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator { offset }),
                    0 => return Err(PathError::Nul { offset }),
                    value => decoded.push(value),
                }
                offset += 3;
            }
            b'\\' => return Err(PathError::Backslash { offset }),
            0 => return Err(PathError::Nul { offset }),
            other => {
                decoded.push(other);
                offset += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| PathError::InvalidUtf8)
}

/// The value of one hexadecimal digit.
fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Merges slashes and resolves dot-segments of a decoded absolute path.
fn resolve_segments(decoded: &str) -> String {
    let rest = decoded.strip_prefix('/').unwrap_or(decoded);
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in rest.split('/') {
        // A path ending in `/`, `/.` or `/..` keeps a trailing slash (RFC 3986 5.2.4).
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    //! The shortcuts for plain paths give what the full rules give.

    use proptest::prelude::*;

    use super::*;

    /// Paths over an alphabet with every byte the rules treat specially.
    fn raw_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/"),
            Just("."),
            Just(".."),
            Just("%2e"),
            Just("%2F"),
            Just("%41"),
            Just("%"),
            Just("a"),
            Just("Z9"),
            Just("-_~"),
            Just("!$&'()*+,;=:@"),
            Just(" "),
            Just("?"),
            Just("\\"),
            Just("é"),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| format!("/{}", pieces.concat()))
    }

    #[test]
    fn the_plain_bytes_are_the_ones_never_encoded() {
        for byte in 0..=u8::MAX {
            let expected = byte.is_ascii() && {
                let text = char::from(byte).to_string();
                let encoded: Cow<'_, str> = utf8_percent_encode(&text, NOT_PCHAR_OR_SLASH).into();
                encoded == text
            };
            assert_eq!(PLAIN[usize::from(byte)], expected, "byte {byte:#04x}");
        }
    }

    proptest! {
        #[test]
        fn normalising_is_the_full_rules(raw in raw_path()) {
            let full = percent_decode(&raw).map(|decoded| NormalizedPath(resolve_segments(&decoded)));
            prop_assert_eq!(normalize_path(&raw), full);
        }

        #[test]
        fn re_encoding_is_percent_encoding(raw in raw_path()) {
            if let Ok(path) = normalize_path(&raw) {
                let encoded: Cow<'_, str> = utf8_percent_encode(path.as_str(), NOT_PCHAR_OR_SLASH).into();
                prop_assert_eq!(path.to_uri_path(), encoded);
            }
        }
    }
}
