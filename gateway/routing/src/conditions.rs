//! Matching beyond the path: a route's `host`, `header` and `query`
//! conditions ([`Conditions`]), checked against a request's [`RequestFacts`].
//!
//! - `host = "acme.example.com"`: the request's host (the `Host` header, or
//!   the URI's authority for HTTP/2), compared without its port and without
//!   regard to case.
//! - `header = { x-tenant = "acme", x-beta = true }`: a string is the exact
//!   value one of the header's values must have; `true` means the header is
//!   present with any value. Names are case-insensitive.
//! - `query = { tenant = "acme", debug = true }`: the same for query
//!   parameters, compared after percent-decoding (`+` is a space).
//!
//! Every condition of a route must hold. A route with more conditions is
//! tried before one with fewer (see [`crate::RouteTable::resolve_request`]).

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// What one header or query parameter must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Required {
    /// Present, with any value (`true` in the file).
    Present(PresentMarker),
    /// Present with exactly this value.
    Equals(String),
}

/// Serialises as `true`: the form a presence condition takes in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentMarker;

impl Serialize for PresentMarker {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl Required {
    /// Whether `self` holds whenever `other` does (presence is implied by any value).
    fn implied_by(&self, other: &Required) -> bool {
        match (self, other) {
            (Required::Present(_), _) => true,
            (Required::Equals(a), Required::Equals(b)) => a == b,
            (Required::Equals(_), Required::Present(_)) => false,
        }
    }

    fn holds_for<'a>(&self, mut values: impl Iterator<Item = Cow<'a, str>>) -> bool {
        match self {
            Required::Present(_) => values.next().is_some(),
            Required::Equals(expected) => values.any(|value| value == expected.as_str()),
        }
    }
}

/// A route's conditions beyond method and path; empty for most routes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Conditions {
    /// The host, lower-case, without a port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) host: Option<String>,
    /// Header conditions, by lower-case name, in name order.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub(crate) headers: Vec<(HeaderName, Required)>,
    /// Query parameter conditions, by decoded name, in name order.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub(crate) query: Vec<(String, Required)>,
}

/// Conditions serialise as the file writes them: `{ name = value | true }`.
fn as_map<S: serde::Serializer, K: AsRef<str>>(
    entries: &[(K, Required)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        entries
            .iter()
            .map(|(name, required)| (name.as_ref(), required)),
    )
}

/// What a request offers the conditions: its host, headers and query.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The host the client asked for (a `Host` header or URI authority), maybe with a port.
    pub host: Option<&'a str>,
    /// The request's headers.
    pub headers: Option<&'a HeaderMap<HeaderValue>>,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
}

impl Conditions {
    /// Whether the route has no condition beyond method and path.
    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.headers.is_empty() && self.query.is_empty()
    }

    /// How many conditions: the host, each header, each query parameter.
    pub fn count(&self) -> usize {
        usize::from(self.host.is_some()) + self.headers.len() + self.query.len()
    }

    /// Whether the request meets every condition.
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        if let Some(host) = &self.host {
            let Some(given) = facts.host.map(host_without_port) else {
                return false;
            };
            if !given.eq_ignore_ascii_case(host) {
                return false;
            }
        }
        for (name, required) in &self.headers {
            let values = facts
                .headers
                .into_iter()
                .flat_map(|headers| headers.get_all(name))
                .filter_map(|value| value.to_str().ok())
                .map(Cow::Borrowed);
            if !required.holds_for(values) {
                return false;
            }
        }
        for (name, required) in &self.query {
            let values = query_values(facts.query.unwrap_or(""), name);
            if !required.holds_for(values) {
                return false;
            }
        }
        true
    }

    /// Whether every request that meets `other` meets `self` too.
    pub(crate) fn covers(&self, other: &Conditions) -> bool {
        let host = match (&self.host, &other.host) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        host && where_all(&self.headers, &other.headers) && where_all(&self.query, &other.query)
    }
}

fn where_all<K: PartialEq>(mine: &[(K, Required)], theirs: &[(K, Required)]) -> bool {
    mine.iter().all(|(name, required)| {
        theirs
            .iter()
            .any(|(other_name, other)| other_name == name && required.implied_by(other))
    })
}

/// `host[:port]` or `[v6]:port` without the port.
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The decoded values of query parameter `name` (`+` read as a space).
fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(move |pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
}

fn decode(part: &str) -> Cow<'_, str> {
    if !part.contains(['%', '+']) {
        return Cow::Borrowed(part);
    }
    let spaced = part.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// A host condition from the file's text, lower-cased, or why it is unusable.
pub(crate) fn parse_host(raw: &str) -> Result<String, String> {
    let valid = !raw.is_empty()
        && raw.len() <= 253
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid host {raw:?}: use a host name without scheme, port or path, like \"acme.example.com\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equals(value: &str) -> Required {
        Required::Equals(value.to_owned())
    }

    #[test]
    fn hosts_match_without_port_or_case() {
        let conditions = Conditions {
            host: Some("acme.example.com".to_owned()),
            ..Conditions::default()
        };
        for (host, expected) in [
            (Some("acme.example.com"), true),
            (Some("ACME.example.com:8080"), true),
            (Some("other.example.com"), false),
            (Some("acme.example.com.evil"), false),
            (None, false),
        ] {
            let facts = RequestFacts {
                host,
                ..RequestFacts::default()
            };
            assert_eq!(conditions.matches(&facts), expected, "{host:?}");
        }
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }

    #[test]
    fn headers_match_by_value_or_presence() {
        let conditions = Conditions {
            headers: vec![
                (
                    HeaderName::from_static("x-beta"),
                    Required::Present(PresentMarker),
                ),
                (HeaderName::from_static("x-tenant"), equals("acme")),
            ],
            ..Conditions::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", HeaderValue::from_static("acme"));
        fn facts(headers: &HeaderMap) -> RequestFacts<'_> {
            RequestFacts {
                headers: Some(headers),
                ..RequestFacts::default()
            }
        }
        assert!(!conditions.matches(&facts(&headers)), "x-beta is missing");
        headers.insert("x-beta", HeaderValue::from_static(""));
        assert!(conditions.matches(&facts(&headers)));
        headers.insert("x-tenant", HeaderValue::from_static("Acme"));
        assert!(!conditions.matches(&facts(&headers)), "values are exact");
        headers.append("x-tenant", HeaderValue::from_static("acme"));
        assert!(conditions.matches(&facts(&headers)), "any of the values");
    }

    #[test]
    fn query_parameters_are_decoded() {
        let conditions = Conditions {
            query: vec![("tenant id".to_owned(), equals("acme & co"))],
            ..Conditions::default()
        };
        for (query, expected) in [
            (Some("tenant+id=acme+%26+co"), true),
            (Some("a=1&tenant%20id=acme%20%26%20co&b"), true),
            (Some("tenant+id=acme"), false),
            (Some("tenant+id"), false),
            (None, false),
        ] {
            let facts = RequestFacts {
                query,
                ..RequestFacts::default()
            };
            assert_eq!(conditions.matches(&facts), expected, "{query:?}");
        }
    }

    #[test]
    fn covers_means_implied() {
        let tenant = Conditions {
            headers: vec![(HeaderName::from_static("x-tenant"), equals("acme"))],
            ..Conditions::default()
        };
        let any_tenant = Conditions {
            headers: vec![(
                HeaderName::from_static("x-tenant"),
                Required::Present(PresentMarker),
            )],
            ..Conditions::default()
        };
        let tenant_on_host = Conditions {
            host: Some("a.example".to_owned()),
            ..tenant.clone()
        };
        assert!(Conditions::default().covers(&tenant));
        assert!(any_tenant.covers(&tenant));
        assert!(!tenant.covers(&any_tenant));
        assert!(tenant.covers(&tenant_on_host));
        assert!(!tenant_on_host.covers(&tenant));
        assert!(!tenant.covers(&Conditions::default()));
    }
}
