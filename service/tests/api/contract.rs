//! The router and the OpenAPI document agree: every route is documented, every documented
//! operation is routed; and the interactive documentation is served.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode, header};
use rstest::rstest;
use test_support::Backend;

use crate::helpers::TestApp;

/// Routes that serve the documentation rather than the API: not operations of the document.
const DOCUMENTATION_ROUTES: [&str; 4] = ["/v1/openapi.json", "/docs", "/docs/", "/docs/{*rest}"];

/// Every method a route could answer; `HEAD` comes with `GET` in axum, so it is not probed.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// The path templates the router holds, read from its `Debug` output (axum
/// has no other way to list them): every quoted string that starts with `/`
/// before the fallback router, less axum's private captures.
fn routed_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    // `Router { path_router: …, fallback_router: …, … }`: the routes, then the fallback's own.
    let (routes, _fallback) = debug
        .split_once("fallback_router:")
        .unwrap_or_else(|| panic!("axum's Router Debug output changed: {debug}"));
    let paths: BTreeSet<String> = routes
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__"))
        .map(str::to_owned)
        .collect();
    assert!(
        paths.contains("/v1/accounts/users"),
        "no routes found in the router's Debug output (did axum change it?): {debug}"
    );
    paths
}

/// A concrete path for `template`: a UUID no user has for `{id}`, `x` for a wildcard.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{id}" => "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
            s if s.starts_with("{*") => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[rstest]
#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed(
    #[values(Backend::Sqlite)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let doc = app.get("/v1/openapi.json").await.json();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();

    let mut routed = BTreeSet::new();
    for path in routed_paths(&app.accounts.router()) {
        if DOCUMENTATION_ROUTES.contains(&path.as_str()) {
            continue;
        }
        for method in METHODS {
            // A route that exists answers anything but 405 for a method it has,
            // whatever the body (422, 404 and 415 included).
            let response = app
                .request(
                    method.clone(),
                    &concrete(&path),
                    Some("application/json"),
                    "{}",
                )
                .await;
            if response.status != StatusCode::METHOD_NOT_ALLOWED {
                routed.insert((path.clone(), method.as_str().to_owned()));
            }
        }
    }

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in the document: {undocumented:?}\n\
         in the document but not routed: {unrouted:?}"
    );
    assert_eq!(routed.len(), 5, "{routed:?}");
}

#[rstest]
#[tokio::test]
async fn the_interactive_documentation_is_served_from_the_binary(
    #[values(Backend::Sqlite)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };

    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redirect
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/docs/")
    );

    let page = app.get("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "every asset comes from this host: {html}"
    );

    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, StatusCode::OK);
    let script = String::from_utf8_lossy(&initializer.body);
    assert!(script.contains("/v1/openapi.json"), "{script}");
    assert!(
        script.contains("\"validatorUrl\": \"none\""),
        "the online validator stays off: {script}"
    );

    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status, StatusCode::OK, "{asset}");
        assert!(response.body.len() > 10_000, "{asset} is the real asset");
    }

    app.get("/docs/no-such-asset.js")
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}
