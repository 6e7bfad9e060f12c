//! What each side receives when it differs from what the client sent: a
//! route's `rewrite.legacy` and `rewrite.service` ([`SideRewrite`]).
//!
//! - `path`: for a `prefix` route, the prefix that replaces the matched one
//!   (`/api/users` → `/v1/accounts/users`, the rest of the path kept); for a
//!   `path` route, a template whose `{param}`s are the match's own
//!   parameters (`/v1/accounts/users/{id}`). The query is kept.
//! - `set_headers = { name = "value" }` sets (replaces) request headers;
//!   `remove_headers = ["name"]` removes them. Applied after the gateway's
//!   own header work, so they may also override `X-Forwarded-*`.
//!
//! Pure: [`SideRewrite::path_for`] maps a normalised path to the side's.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::matcher::{Matcher, Segment};
use crate::path::NormalizedPath;

/// How one side's request is rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SideRewrite {
    pub(crate) path: Option<PathRewrite>,
    pub(crate) set_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove_headers: Vec<HeaderName>,
}

/// A route's path rewrite, checked against its matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathRewrite {
    /// The new prefix for a prefix route (no trailing slash, or `/`).
    Prefix(String),
    /// A template for an exact or pattern route.
    Template(Vec<Segment>),
}

/// A route's rewrites per side; absent sides receive the client's request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Rewrites {
    /// What legacy receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy: Option<SideRewrite>,
    /// What the service receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<SideRewrite>,
}

impl SideRewrite {
    /// The path this side receives for `path`, which `matcher` matched.
    pub fn path_for(&self, matcher: &Matcher, path: &NormalizedPath) -> NormalizedPath {
        match (&self.path, matcher) {
            (Some(PathRewrite::Prefix(new)), Matcher::Prefix(old)) => {
                let rest = if old == "/" {
                    path.as_str()
                } else {
                    path.as_str().get(old.len()..).unwrap_or("")
                };
                let mut out = new.trim_end_matches('/').to_owned();
                out.push_str(rest);
                if out.is_empty() {
                    out.push('/');
                }
                NormalizedPath::from_decoded(out)
            }
            (Some(PathRewrite::Template(template)), matcher) => {
                let captured = captures(matcher, path.as_str());
                let mut out = String::new();
                for segment in template {
                    out.push('/');
                    match segment {
                        Segment::Literal(text) => out.push_str(text),
                        Segment::Param(name) => {
                            if let Some((_, value)) = captured.iter().find(|(n, _)| n == name) {
                                out.push_str(value);
                            }
                        }
                    }
                }
                if out.is_empty() {
                    out.push('/');
                }
                NormalizedPath::from_decoded(out)
            }
            _ => path.clone(),
        }
    }

    /// Sets and removes this side's headers on `headers`.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        for name in &self.remove_headers {
            headers.remove(name);
        }
        for (name, value) in &self.set_headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// The `{param}` values of `path` under a pattern matcher.
fn captures<'a>(matcher: &'a Matcher, path: &'a str) -> Vec<(&'a str, Cow<'a, str>)> {
    let Matcher::Pattern(segments) = matcher else {
        return Vec::new();
    };
    segments
        .iter()
        .zip(path.trim_start_matches('/').split('/'))
        .filter_map(|(segment, part)| match segment {
            Segment::Param(name) => Some((name.as_str(), Cow::Borrowed(part))),
            Segment::Literal(_) => None,
        })
        .collect()
}

impl Serialize for SideRewrite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("SideRewrite", 3)?;
        let path = self.path.as_ref().map(|path| match path {
            PathRewrite::Prefix(prefix) => prefix.clone(),
            PathRewrite::Template(segments) => segments.iter().map(|s| format!("/{s}")).collect(),
        });
        fields.serialize_field("path", &path)?;
        let set: std::collections::BTreeMap<&str, &str> = self
            .set_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("")))
            .collect();
        fields.serialize_field("set_headers", &set)?;
        let removed: Vec<&str> = self.remove_headers.iter().map(HeaderName::as_str).collect();
        fields.serialize_field("remove_headers", &removed)?;
        fields.end()
    }
}

/// Parses a rewrite's `path` against the route's matcher.
pub(crate) fn parse_path_rewrite(raw: &str, matcher: &Matcher) -> Result<PathRewrite, String> {
    match matcher {
        Matcher::Prefix(_) => match crate::matcher::parse_prefix(raw) {
            Ok(Matcher::Prefix(prefix)) => Ok(PathRewrite::Prefix(prefix)),
            Ok(_) => Err(format!("invalid rewrite path {raw:?}")),
            Err(reason) => Err(format!(
                "{reason} (a prefix route's rewrite is the prefix that replaces the matched one)"
            )),
        },
        Matcher::Exact(_) | Matcher::Pattern(_) => {
            let template = match crate::matcher::parse_path(raw)? {
                Matcher::Exact(exact) => exact
                    .trim_start_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| Segment::Literal(s.to_owned()))
                    .collect(),
                Matcher::Pattern(segments) => segments,
                Matcher::Prefix(_) => Vec::new(),
            };
            let params: Vec<&str> = match matcher {
                Matcher::Pattern(segments) => segments
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Param(name) => Some(name.as_str()),
                        Segment::Literal(_) => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for segment in &template {
                if let Segment::Param(name) = segment
                    && !params.contains(&name.as_str())
                {
                    return Err(format!(
                        "rewrite path {raw:?} names {{{name}}}, which the route's match does not have"
                    ));
                }
            }
            Ok(PathRewrite::Template(template))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{parse_path, parse_prefix};
    use crate::path::normalize_path;

    fn rewrite(raw: &str, matcher: &Matcher) -> SideRewrite {
        SideRewrite {
            path: Some(parse_path_rewrite(raw, matcher).unwrap()),
            ..SideRewrite::default()
        }
    }

    #[test]
    fn paths_are_rewritten_by_prefix_or_template() {
        let prefix = parse_prefix("/api/users").unwrap();
        let pattern = parse_path("/api/users/{id}/orders/{order}").unwrap();
        let root = parse_prefix("/").unwrap();
        let cases: [(&str, &Matcher, &str, &str); 7] = [
            (
                "/v1/accounts/users",
                &prefix,
                "/api/users",
                "/v1/accounts/users",
            ),
            (
                "/v1/accounts/users",
                &prefix,
                "/api/users/7/x",
                "/v1/accounts/users/7/x",
            ),
            ("/", &prefix, "/api/users/7", "/7"),
            ("/legacy", &root, "/a/b", "/legacy/a/b"),
            (
                "/v1/o/{order}/u/{id}",
                &pattern,
                "/api/users/7/orders/9",
                "/v1/o/9/u/7",
            ),
            ("/v1/fixed", &pattern, "/api/users/7/orders/9", "/v1/fixed"),
            (
                "/v1/users/{id}",
                &pattern,
                "/api/users/a%20b/orders/9",
                "/v1/users/a%20b",
            ),
        ];
        for (raw, matcher, path, expected) in cases {
            let path = normalize_path(path).unwrap();
            assert!(matcher.matches(path.as_str()), "{matcher} {path}");
            let got = rewrite(raw, matcher).path_for(matcher, &path);
            assert_eq!(got.to_uri_path(), expected, "{raw} on {path}");
        }
    }

    #[test]
    fn a_template_may_name_only_the_match_parameters() {
        let pattern = parse_path("/api/users/{id}").unwrap();
        assert_eq!(
            parse_path_rewrite("/v1/users/{user}", &pattern).unwrap_err(),
            "rewrite path \"/v1/users/{user}\" names {user}, which the route's match does not have"
        );
        let exact = parse_path("/api/me").unwrap();
        assert!(parse_path_rewrite("/v1/{id}", &exact).is_err());
        let prefix = parse_prefix("/api").unwrap();
        assert!(parse_path_rewrite("/v1/{id}", &prefix).is_err());
    }

    #[test]
    fn headers_are_removed_then_set() {
        let rewrite = SideRewrite {
            path: None,
            set_headers: vec![(
                HeaderName::from_static("x-api"),
                HeaderValue::from_static("v1"),
            )],
            remove_headers: vec![
                HeaderName::from_static("x-legacy-token"),
                HeaderName::from_static("x-api"),
            ],
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-legacy-token", HeaderValue::from_static("t"));
        headers.insert("x-api", HeaderValue::from_static("v0"));
        headers.insert("x-kept", HeaderValue::from_static("k"));
        rewrite.apply_headers(&mut headers);
        assert_eq!(headers.get("x-api").unwrap(), "v1");
        assert!(headers.get("x-legacy-token").is_none());
        assert_eq!(headers.get("x-kept").unwrap(), "k");
    }
}
