//! Resolution: the most specific route wins, methods fall through, and the
//! default target answers when nothing matches.

use gateway_routing::{Resolution, Route, Target, normalize_path};
use http::Method;

use crate::fixtures::{Routes, parse};

const PRECEDENCE: &str = r#"[legacy]
url = "http://legacy:8000"

[defaults]
target = "service"

[[routes]]
name = "v1"
match = { prefix = "/v1" }
target = "service"

[[routes]]
name = "orders"
match = { prefix = "/v1/orders" }
target = "legacy"

[[routes]]
name = "user-by-id"
match = { path = "/v1/users/{id}" }
target = "service"

[[routes]]
name = "user-me"
match = { path = "/v1/users/me", methods = ["GET"] }
target = "legacy"

[[routes]]
name = "user-action"
match = { path = "/v1/users/{id}/{action}" }
target = "legacy"

[[routes]]
name = "any-kind-x"
match = { path = "/v1/{kind}/x" }
target = "legacy"

[[routes]]
name = "create-user"
match = { path = "/v1/users", methods = ["POST"] }
target = "service"

[[routes]]
name = "list-users"
match = { path = "/v1/users", methods = ["GET", "HEAD"] }
target = "legacy"

[[routes]]
name = "first-tie"
match = { path = "/v2/{a}/b", methods = ["GET"] }
target = "legacy"

[[routes]]
name = "second-tie"
match = { path = "/v2/{b}/b", methods = ["GET", "POST"] }
target = "service"

[[routes]]
name = "slash"
match = { path = "/v3/" }
target = "legacy"
"#;

#[test]
fn resolves_the_most_specific_route() {
    let table = parse(PRECEDENCE);
    let cases: &[(Method, &str, Option<&str>, Target)] = &[
        // Exact beats pattern; another method falls through to the pattern.
        (Method::GET, "/v1/users/me", Some("user-me"), Target::Legacy),
        (
            Method::POST,
            "/v1/users/me",
            Some("user-by-id"),
            Target::Service,
        ),
        (
            Method::GET,
            "/v1/users/42",
            Some("user-by-id"),
            Target::Service,
        ),
        // A literal beats a parameter, left to right.
        (
            Method::GET,
            "/v1/users/x",
            Some("user-by-id"),
            Target::Service,
        ),
        (
            Method::GET,
            "/v1/things/x",
            Some("any-kind-x"),
            Target::Legacy,
        ),
        (
            Method::GET,
            "/v1/users/42/disable",
            Some("user-action"),
            Target::Legacy,
        ),
        // Pattern beats prefix; no pattern has four segments.
        (
            Method::GET,
            "/v1/users/42/disable/now",
            Some("v1"),
            Target::Service,
        ),
        // Exact paths split by method, and a third method falls through.
        (
            Method::POST,
            "/v1/users",
            Some("create-user"),
            Target::Service,
        ),
        (
            Method::HEAD,
            "/v1/users",
            Some("list-users"),
            Target::Legacy,
        ),
        (Method::DELETE, "/v1/users", Some("v1"), Target::Service),
        // `{id}` needs a non-empty segment; `/v1/users/` is not `/v1/users`.
        (Method::GET, "/v1/users/", Some("v1"), Target::Service),
        // The longer prefix wins, on segment boundaries.
        (Method::GET, "/v1/orders", Some("orders"), Target::Legacy),
        (Method::GET, "/v1/orders/", Some("orders"), Target::Legacy),
        (
            Method::PUT,
            "/v1/orders/7/items",
            Some("orders"),
            Target::Legacy,
        ),
        (Method::GET, "/v1/ordersX", Some("v1"), Target::Service),
        (Method::GET, "/v1", Some("v1"), Target::Service),
        // Equal specificity: file order, then method fall-through.
        (Method::GET, "/v2/x/b", Some("first-tie"), Target::Legacy),
        (Method::POST, "/v2/x/b", Some("second-tie"), Target::Service),
        // A trailing slash is significant.
        (Method::GET, "/v3/", Some("slash"), Target::Legacy),
        (Method::GET, "/v3", None, Target::Service),
        // Nothing matches: the default target.
        (Method::GET, "/v10", None, Target::Service),
        (Method::GET, "/", None, Target::Service),
        (Method::PUT, "/v2/x/b", None, Target::Service),
        // Matching is on the normalised path.
        (
            Method::GET,
            "/v1/orders/../users/me",
            Some("user-me"),
            Target::Legacy,
        ),
        (
            Method::GET,
            "//v1//users/%6de",
            Some("user-me"),
            Target::Legacy,
        ),
        (
            Method::GET,
            "/v1/users/me/%2e%2e/%2e%2e/orders",
            Some("orders"),
            Target::Legacy,
        ),
    ];
    for (method, raw, expected, target) in cases {
        let path = normalize_path(raw).unwrap();
        let resolution = table.resolve(method, &path);
        assert_eq!(
            resolution.route.map(Route::name),
            *expected,
            "{method} {raw}"
        );
        assert_eq!(resolution.target, *target, "{method} {raw}");
    }
    let order: Vec<&str> = table.by_priority().map(Route::name).collect();
    assert_eq!(
        order,
        [
            "user-me",
            "create-user",
            "list-users",
            "slash",
            "user-action",
            "user-by-id",
            "any-kind-x",
            "first-tie",
            "second-tie",
            "orders",
            "v1",
        ]
    );
}

#[test]
fn root_prefix_and_default_target_legacy() {
    let table = parse(
        &Routes::new()
            .route(
                "all",
                "{ prefix = \"/\", methods = [\"GET\"] }",
                &["target = \"service\""],
            )
            .build(),
    );
    let get = table.resolve(&Method::GET, &normalize_path("/anything/at/all").unwrap());
    assert_eq!(get.route.map(Route::name), Some("all"));
    assert_eq!(get.target, Target::Service);
    let post = table.resolve(&Method::POST, &normalize_path("/").unwrap());
    assert_eq!(
        post,
        Resolution {
            route: None,
            target: Target::Legacy,
            upstream: 0,
        }
    );
}
