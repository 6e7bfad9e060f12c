//! The tester override: a request header that forces the side, accepted only with the shared secret.
//!
//! Off unless `override_header` is configured. The header's value is
//! `SIDE:SECRET` (`service:…` or `legacy:…`); the secret comes from the
//! environment (`GATEWAY_OVERRIDE_SECRET`) and is compared in constant time.
//! The header is always removed before the request goes anywhere, whether it
//! was accepted or not, so the secret never reaches either side.

use http::{HeaderMap, HeaderName};

use gateway_routing::Target;

/// How a request's side can be forced, and how the response says which side served.
#[derive(Debug, Clone, Default)]
pub struct SideOptions {
    /// The tester override, when configured.
    pub forced: Option<Override>,
    /// The response header naming the side that served, when not turned off.
    pub served_by: Option<HeaderName>,
}

/// The configured override, if any.
#[derive(Clone)]
pub struct Override {
    header: HeaderName,
    secret: String,
}

impl std::fmt::Debug for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Override")
            .field("header", &self.header)
            .field("secret", &"***")
            .finish()
    }
}

impl Override {
    /// An override read from `header`, accepted with `secret`.
    pub fn new(header: HeaderName, secret: String) -> Self {
        Self { header, secret }
    }

    /// Removes the header from `headers`; returns the forced side when the secret matches.
    pub fn take(&self, headers: &mut HeaderMap) -> Option<Target> {
        let values: Vec<_> = headers.get_all(&self.header).iter().cloned().collect();
        headers.remove(&self.header);
        let [value] = values.as_slice() else {
            return None;
        };
        let (side, secret) = value.to_str().ok()?.split_once(':')?;
        if !constant_time_eq(secret.trim().as_bytes(), self.secret.as_bytes()) {
            metrics::counter!(crate::metrics::OVERRIDE_REJECTED_TOTAL).increment(1);
            return None;
        }
        match side.trim() {
            "service" => Some(Target::Service),
            "legacy" => Some(Target::Legacy),
            _ => {
                metrics::counter!(crate::metrics::OVERRIDE_REJECTED_TOTAL).increment(1);
                None
            }
        }
    }
}

/// Compares without returning early, so timing does not reveal the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_side_is_forced_only_with_the_secret_and_the_header_is_always_removed() {
        let forced = Override::new(HeaderName::from_static("x-force"), "s3cret".to_owned());
        let cases: [(&[&str], Option<Target>); 7] = [
            (&["service:s3cret"], Some(Target::Service)),
            (&["legacy: s3cret"], Some(Target::Legacy)),
            (&["service:wrong"], None),
            (&["service"], None),
            (&["canary:s3cret"], None),
            (&["service:s3cret", "legacy:s3cret"], None),
            (&[], None),
        ];
        for (values, expected) in cases {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append("x-force", HeaderValue::from_str(v).unwrap());
            }
            headers.insert("x-other", HeaderValue::from_static("kept"));
            assert_eq!(forced.take(&mut headers), expected, "{values:?}");
            assert!(
                !headers.contains_key("x-force"),
                "the header must never be forwarded"
            );
            assert!(headers.contains_key("x-other"));
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let forced = Override::new(HeaderName::from_static("x-force"), "s3cret".to_owned());
        assert!(!format!("{forced:?}").contains("s3cret"));
    }
}
