//! Matching beyond the path: `host`, `header` and `query` in `match`, their
//! problems at their positions, precedence (more conditions first), the
//! dead-route analysis over them, and a model-based property.

use std::path::Path;

use gateway_routing::{RequestFacts, Route, RouteTable, normalize_path};
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;

use crate::fixtures::{FILE, Routes, parse, problems};

fn facts<'a>(
    host: Option<&'a str>,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> RequestFacts<'a> {
    RequestFacts {
        host,
        headers: Some(headers),
        query,
    }
}

fn resolve<'t>(table: &'t RouteTable, path: &str, facts: &RequestFacts<'_>) -> Option<&'t str> {
    let path = normalize_path(path).expect("a valid path");
    table
        .resolve_request(&Method::GET, &path, facts)
        .route
        .map(Route::name)
}

#[test]
fn a_tenant_moves_before_the_routes_for_everyone() {
    let table = parse(
        &Routes::new()
            .route(
                "users",
                "{ path = \"/v1/users\" }",
                &["target = \"legacy\""],
            )
            .route(
                "acme",
                "{ prefix = \"/v1\", header = { x-tenant = \"acme\" } }",
                &["target = \"service\""],
            )
            .route(
                "acme-eu",
                "{ prefix = \"/v1\", host = \"eu.example.com\", header = { X-Tenant = \"acme\" } }",
                &["target = \"service\""],
            )
            .route(
                "debug",
                "{ prefix = \"/\", query = { debug = true } }",
                &["target = \"service\""],
            )
            .build(),
    );
    let mut headers = HeaderMap::new();
    assert_eq!(
        resolve(&table, "/v1/users", &facts(None, &headers, None)),
        Some("users")
    );
    headers.insert("x-tenant", HeaderValue::from_static("acme"));
    assert_eq!(
        resolve(&table, "/v1/users", &facts(None, &headers, None)),
        Some("acme")
    );
    assert_eq!(
        resolve(
            &table,
            "/v1/users",
            &facts(Some("EU.example.com:443"), &headers, None)
        ),
        Some("acme-eu")
    );
    headers.insert("x-tenant", HeaderValue::from_static("globex"));
    assert_eq!(
        resolve(&table, "/v1/users", &facts(None, &headers, None)),
        Some("users")
    );
    assert_eq!(
        resolve(
            &table,
            "/v1/users",
            &facts(None, &headers, Some("a=1&debug"))
        ),
        Some("debug")
    );
    // Without facts (`resolve`), a route with conditions never matches.
    let path = normalize_path("/v2/x").expect("a valid path");
    assert_eq!(
        table.resolve(&Method::GET, &path).route.map(Route::name),
        None
    );
}

#[test]
fn conditions_are_validated_at_their_position() {
    let cases = [
        (
            "{ prefix = \"/\", host = \"a.example:80\" }",
            "5:32: invalid host \"a.example:80\": use a host name without scheme, port or path, like \"acme.example.com\"",
        ),
        (
            "{ prefix = \"/\", header = {} }",
            "5:34: `header` is empty: name at least one, or leave `header` out",
        ),
        (
            "{ prefix = \"/\", header = { \"x y\" = \"1\" } }",
            "5:44: invalid header name \"x y\"",
        ),
        (
            "{ prefix = \"/\", header = { x-a = 1 } }",
            "5:42: a `header` condition is a string (the exact value) or `true` (present with any value)",
        ),
        (
            "{ prefix = \"/\", header = { x-a = false } }",
            "5:42: a `header` condition is a string (the exact value) or `true` (present with any value)",
        ),
        (
            "{ prefix = \"/\", header = { x-a = \"é\" } }",
            "5:42: invalid header value \"é\": use visible ASCII",
        ),
        (
            "{ prefix = \"/\", query = { t = [] } }",
            "5:39: a `query` condition is a string (the exact value) or `true` (present with any value)",
        ),
    ];
    for (matcher, expected) in cases {
        let source = Routes::new()
            .route("r", matcher, &["target = \"legacy\""])
            .build();
        assert_eq!(problems(&source), [expected], "{matcher}");
    }
}

#[test]
fn dead_routes_are_found_through_conditions() {
    // A presence condition takes every request a value condition would get.
    let source = Routes::new()
        .route(
            "any",
            "{ prefix = \"/\", header = { x-t = true } }",
            &["target = \"legacy\""],
        )
        .route(
            "acme",
            "{ prefix = \"/\", header = { x-t = \"acme\" } }",
            &["target = \"service\""],
        )
        .build();
    assert_eq!(
        problems(&source),
        [
            "9:9: route \"acme\" can never match: route \"any\" (line 3) takes every request it would get"
        ]
    );
    // The other way round both can match: the value route is tried first (file order).
    let source = Routes::new()
        .route(
            "acme",
            "{ prefix = \"/\", header = { x-t = \"acme\" } }",
            &["target = \"service\""],
        )
        .route(
            "any",
            "{ prefix = \"/\", header = { x-t = true } }",
            &["target = \"legacy\""],
        )
        .build();
    parse(&source);
    // A route without conditions is never taken by one with conditions.
    let source = Routes::new()
        .route(
            "acme",
            "{ prefix = \"/\", host = \"a.example\" }",
            &["target = \"service\""],
        )
        .route("all", "{ prefix = \"/\" }", &["target = \"legacy\""])
        .build();
    parse(&source);
}

/// A generated route: optional conditions on a host, a header and a query parameter.
#[derive(Debug, Clone, PartialEq)]
struct GenConditions {
    host: Option<&'static str>,
    header: Option<Option<&'static str>>,
    query: Option<Option<&'static str>>,
}

impl GenConditions {
    fn count(&self) -> usize {
        usize::from(self.host.is_some())
            + usize::from(self.header.is_some())
            + usize::from(self.query.is_some())
    }

    fn matcher(&self) -> String {
        let mut parts = vec!["prefix = \"/\"".to_owned()];
        if let Some(host) = self.host {
            parts.push(format!("host = {host:?}"));
        }
        let value = |v: &Option<&str>| v.map_or("true".to_owned(), |v| format!("{v:?}"));
        if let Some(header) = &self.header {
            parts.push(format!("header = {{ x-t = {} }}", value(header)));
        }
        if let Some(query) = &self.query {
            parts.push(format!("query = {{ t = {} }}", value(query)));
        }
        format!("{{ {} }}", parts.join(", "))
    }

    /// The reference: does a request with these facts meet the conditions?
    fn holds(&self, host: Option<&str>, header: Option<&str>, query: Option<&str>) -> bool {
        let fits = |want: &Option<Option<&str>>, got: Option<&str>| match want {
            None => true,
            Some(None) => got.is_some(),
            Some(Some(value)) => got == Some(*value),
        };
        self.host.is_none_or(|h| host == Some(h))
            && fits(&self.header, header)
            && fits(&self.query, query)
    }
}

fn gen_conditions() -> impl Strategy<Value = GenConditions> {
    let value = prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))];
    (
        prop::option::of(prop_oneof![Just("h1.example"), Just("h2.example")]),
        prop::option::of(value.clone()),
        prop::option::of(value),
    )
        .prop_map(|(host, header, query)| GenConditions {
            host,
            header,
            query,
        })
}

proptest! {
    #[test]
    fn resolution_picks_the_first_route_whose_conditions_hold_most_conditions_first(
        routes in prop::collection::vec(gen_conditions(), 1..6),
        host in prop::option::of(prop_oneof![Just("h1.example"), Just("h2.example"), Just("h3.example")]),
        header in prop::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        query in prop::option::of(prop_oneof![Just("a"), Just("b")]),
    ) {
        let mut file = Routes::new().defaults("service");
        for (i, route) in routes.iter().enumerate() {
            file = file.route(&format!("r{i}"), &route.matcher(), &["target = \"legacy\""]);
        }
        let source = file.build();
        // Tables with a dead route are refused; those are not what this checks.
        let Ok(table) = RouteTable::parse(&source, Path::new(FILE)) else {
            return Ok(());
        };
        let mut headers = HeaderMap::new();
        if let Some(header) = header {
            headers.insert("x-t", HeaderValue::from_static(header));
        }
        let query_text = query.map(|q| format!("x=1&t={q}"));
        let got = resolve(&table, "/p", &facts(host, &headers, query_text.as_deref()));
        let expected = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.holds(host, header, query))
            .min_by_key(|(i, r)| (std::cmp::Reverse(r.count()), *i))
            .map(|(i, _)| format!("r{i}"));
        prop_assert_eq!(got, expected.as_deref(), "{}", source);
    }
}

#[test]
fn rewrites_are_validated_at_their_position() {
    let cases = [
        (
            "{ path = \"/api/users/{id}\" }",
            "rewrite.service = { path = \"/v1/users/{user}\" }",
            "7:28: rewrite path \"/v1/users/{user}\" names {user}, which the route's match does not have",
        ),
        (
            "{ prefix = \"/api\" }",
            "rewrite.legacy = { path = \"/v1/\" }",
            "7:27: invalid prefix \"/v1/\": a prefix must not end with '/' (\"/v1\" already matches every path below it) (a prefix route's rewrite is the prefix that replaces the matched one)",
        ),
        (
            "{ prefix = \"/api\" }",
            "rewrite.legacy = { set_headers = { host = \"x\" } }",
            "7:43: header \"host\" is the gateway's own: a rewrite cannot change it",
        ),
        (
            "{ prefix = \"/api\" }",
            "rewrite.legacy = { remove_headers = [\"x y\"] }",
            "7:38: invalid header name \"x y\"",
        ),
        (
            "{ prefix = \"/api\" }",
            "rewrite.both = { path = \"/v1\" }",
            "7:9: unknown field `both`, expected `legacy` or `service`",
        ),
    ];
    for (matcher, rewrite, expected) in cases {
        let source = Routes::new()
            .route("r", matcher, &["target = \"legacy\"", rewrite])
            .build();
        assert_eq!(problems(&source), [expected], "{rewrite}");
    }
}
