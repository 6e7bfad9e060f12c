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

use super::PathError;

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
    /// The decoded path, which routes are matched against.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path re-encoded for forwarding upstream: every byte outside RFC 3986
    /// `pchar` and `/` is percent-encoded (a space is `%20`, `%` is `%25`, `?` is
    /// `%3F`, `#` is `%23`, and non-ASCII characters are encoded as UTF-8).
    pub fn to_uri_path(&self) -> Cow<'_, str> {
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
    let decoded = percent_decode(raw)?;
    Ok(NormalizedPath(resolve_segments(&decoded)))
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
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_paths() {
        let cases = [
            ("/", "/"),
            ("/v1/accounts/users", "/v1/accounts/users"),
            ("/v1/accounts/users/../../admin", "/v1/admin"),
            ("/v1/accounts/users/../../../admin", "/admin"),
            ("/v1/accounts/users/../../../../../admin", "/admin"),
            ("/v1/accounts/users/%2e%2e/%2e%2e/%2e%2e/admin", "/admin"),
            ("/v1/accounts/users/%2E%2e/.%2e/admin", "/v1/admin"),
            ("//v1///x", "/v1/x"),
            ("/a/", "/a/"),
            ("/a//", "/a/"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/a/./b", "/a/b"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/a/...", "/a/..."),
            ("/a%20b", "/a b"),
            ("/caf%C3%A9", "/café"),
            ("/café", "/café"),
            ("/a%3Fb%23c%25", "/a?b#c%"),
            ("/a+b;c=d", "/a+b;c=d"),
        ];
        for (raw, expected) in cases {
            let normalized = normalize_path(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(normalized.as_str(), expected, "normalising {raw}");
        }
    }

    #[test]
    fn the_documented_attacks_are_resolved_before_matching() {
        // The examples: the users route prefix is climbed out of, fully.
        assert_eq!(
            normalize_path("/v1/accounts/users/../../../admin")
                .unwrap()
                .as_str(),
            "/admin"
        );
        assert_eq!(
            normalize_path("/v1/accounts/users/%2e%2e/%2e%2e/%2e%2e/admin")
                .unwrap()
                .as_str(),
            "/admin"
        );
    }

    #[test]
    fn refuses_bad_paths() {
        let cases = [
            ("", PathError::NotAbsolute),
            ("v1/x", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("/a/%2F/b", PathError::EncodedSeparator { offset: 3 }),
            ("/a%2fb", PathError::EncodedSeparator { offset: 2 }),
            ("/a%5Cb", PathError::EncodedSeparator { offset: 2 }),
            ("/a%5c..%5cadmin", PathError::EncodedSeparator { offset: 2 }),
            ("/a\\b", PathError::Backslash { offset: 2 }),
            ("/a%00", PathError::Nul { offset: 2 }),
            ("/a\0", PathError::Nul { offset: 2 }),
            ("/a%zz", PathError::MalformedEscape { offset: 2 }),
            ("/a%", PathError::MalformedEscape { offset: 2 }),
            ("/a%4", PathError::MalformedEscape { offset: 2 }),
            ("/a%4g", PathError::MalformedEscape { offset: 2 }),
            ("/%ff", PathError::InvalidUtf8),
            ("/%C3", PathError::InvalidUtf8),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_path(raw), Err(expected), "normalising {raw:?}");
        }
    }

    #[test]
    fn re_encodes_for_upstream() {
        let cases = [
            ("/v1/users/42", "/v1/users/42"),
            ("/a%20b", "/a%20b"),
            ("/a%25b", "/a%25b"),
            ("/a%3Fb", "/a%3Fb"),
            ("/a%23b", "/a%23b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%41%7e", "/A~"),
            ("/a:b@c!$&'()*+,;=-._~", "/a:b@c!$&'()*+,;=-._~"),
            (
                "/a%22%3C%3E%5B%5D%7B%7D%7C%5E%60",
                "/a%22%3C%3E%5B%5D%7B%7D%7C%5E%60",
            ),
            ("/a%0A", "/a%0A"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalize_path(raw).unwrap().to_uri_path(),
                expected,
                "encoding {raw:?}"
            );
        }
    }

    /// Raw paths built from segments that exercise dots, slashes and escapes.
    fn raw_paths() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just(String::new()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("%2e".to_owned()),
            Just("%2E%2e".to_owned()),
            Just(".%2e".to_owned()),
            Just("...".to_owned()),
            Just("%25".to_owned()),
            Just("%252e".to_owned()),
            Just("%3F%23".to_owned()),
            Just("%20".to_owned()),
            Just("%C3%A9".to_owned()),
            Just("é".to_owned()),
            "[a-c.%0-9A-F]{0,6}",
        ];
        proptest::collection::vec(segment, 0..8).prop_map(|segments| {
            let mut raw = String::new();
            for segment in segments {
                raw.push('/');
                raw.push_str(&segment);
            }
            if raw.is_empty() {
                raw.push('/');
            }
            raw
        })
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(raw in raw_paths()) {
            if let Ok(once) = normalize_path(&raw) {
                let twice = normalize_path(&once.to_uri_path());
                prop_assert_eq!(twice, Ok(once));
            }
        }

        #[test]
        fn normalised_paths_have_no_empty_or_dot_segments(raw in raw_paths()) {
            if let Ok(normalized) = normalize_path(&raw) {
                let path = normalized.as_str();
                prop_assert!(path.starts_with('/'));
                prop_assert!(!path.contains("//"), "{}", path);
                prop_assert!(!path.contains("/./"), "{}", path);
                prop_assert!(!path.contains("/../"), "{}", path);
                prop_assert!(!path.ends_with("/.") && !path.ends_with("/.."), "{}", path);
            }
        }
    }
}
