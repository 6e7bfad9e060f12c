//! `[upstreams.NAME]`, `urls`, `balance` and `health`: their defaults,
//! routes naming an upstream, and every problem at its position.

use std::time::Duration;

use gateway_routing::{Balance, HealthPolicy, Route, Target};
use http::Method;

use crate::fixtures::{assert_problems, parse};

/// `[legacy]` (lines 1–2), then `upstream` from line 3, then one route
/// (header at line `4 + upstream lines`) with `route`'s lines.
fn file(upstream: &str, route: &str) -> String {
    format!(
        "[legacy]\nurl = \"http://l\"\n{upstream}\n[[routes]]\nname = \"r\"\nmatch = {{ prefix = \"/r\" }}\n{route}\n"
    )
}

#[test]
fn legacy_alone_keeps_its_defaults() {
    let table = parse("[legacy]\nurl = \"http://l:8000\"\n");
    let legacy = table.legacy();
    assert_eq!(legacy.name(), "legacy");
    assert_eq!(legacy.urls().len(), 1);
    assert_eq!(legacy.url().to_string(), "http://l:8000/");
    assert_eq!(legacy.balance(), Balance::RoundRobin);
    assert_eq!(
        legacy.health(),
        HealthPolicy {
            failures: 3,
            eject: Duration::from_secs(30)
        }
    );
    assert_eq!(table.upstreams().len(), 1);
    assert_eq!(table.default_upstream(), 0);
}

#[test]
fn named_upstreams_with_several_addresses_parse() {
    let table = parse(&file(
        r#"balance = "least_requests"
health = { failures = 5, eject = "10s" }

[upstreams.billing-legacy]
urls = ["https://b1.internal:8443", "https://b2.internal:8443/base"]
timeout = "5s"
[upstreams.billing-legacy.tls]
server_name = "billing.internal"

[upstreams.crm]
url = "http://crm:9000"
"#,
        r#"target = "billing-legacy""#,
    ));
    let names: Vec<&str> = table.upstreams().iter().map(|u| u.name()).collect();
    assert_eq!(names, ["legacy", "billing-legacy", "crm"]);
    assert_eq!(table.legacy().balance(), Balance::LeastRequests);
    assert_eq!(table.legacy().health().failures, 5);
    assert_eq!(table.legacy().health().eject, Duration::from_secs(10));
    let billing = &table.upstreams()[1];
    assert_eq!(billing.urls().len(), 2);
    assert_eq!(billing.urls()[1].path(), "/base");
    assert_eq!(billing.timeout(), Duration::from_secs(5));
    assert_eq!(billing.balance(), Balance::RoundRobin);
    assert!(billing.tls().is_some_and(|tls| tls.server_name.is_some()));

    let route = &table.routes()[0];
    assert_eq!(route.target(), Target::Legacy);
    assert_eq!(route.upstream(), 1);
    assert_eq!(route.upstream_name(), "billing-legacy");
    let resolved = table.resolve(
        &Method::GET,
        &gateway_routing::normalize_path("/r/x").unwrap(),
    );
    assert_eq!(resolved.route.map(Route::name), Some("r"));
    assert_eq!((resolved.target, resolved.upstream), (Target::Legacy, 1));
    let unrouted = table.resolve(&Method::GET, &gateway_routing::normalize_path("/").unwrap());
    assert_eq!((unrouted.target, unrouted.upstream), (Target::Legacy, 0));
}

#[test]
fn a_side_named_by_shadow_canary_or_defaults_picks_the_upstream() {
    let cases = [
        // A service route mirrored to a named upstream: its legacy side is that upstream.
        (
            r#"target = "service"
shadow = { to = "crm" }"#,
            Target::Service,
            "crm",
        ),
        (
            r#"target = "service"
canary = { to = "crm", percent = 5 }"#,
            Target::Service,
            "crm",
        ),
        (
            r#"target = "crm"
canary = { to = "service", percent = 5 }"#,
            Target::Legacy,
            "crm",
        ),
        (r#"target = "service""#, Target::Service, "legacy"),
        (r#"target = "legacy""#, Target::Legacy, "legacy"),
    ];
    for (route, target, upstream) in cases {
        let table = parse(&file("[upstreams.crm]\nurl = \"http://crm\"", route));
        let parsed = &table.routes()[0];
        assert_eq!(parsed.target(), target, "{route}");
        assert_eq!(parsed.upstream_name(), upstream, "{route}");
    }
    let table = parse(
        "[legacy]\nurl = \"http://l\"\n[upstreams.crm]\nurl = \"http://crm\"\n[defaults]\ntarget = \"crm\"\n",
    );
    assert_eq!(table.default_target(), Target::Legacy);
    assert_eq!(table.upstreams()[table.default_upstream()].name(), "crm");
}

#[test]
fn upstream_problems_are_positioned() {
    let cases = [
        (
            file("", r#"target = "billing""#),
            "7:10: no upstream named \"billing\"; known: legacy, service",
        ),
        (
            file("[upstreams.crm]\nurl = \"http://crm\"", r#"target = "crn""#),
            "8:10: no upstream named \"crn\"; known: crm, legacy, service",
        ),
        (
            file(
                "[upstreams.crm]\nurl = \"http://crm\"",
                "target = \"service\"\nshadow = { to = \"nope\" }",
            ),
            "9:17: no upstream named \"nope\"; known: crm, legacy, service",
        ),
        (
            "[legacy]\nurl = \"http://a\"\nurls = [\"http://b\"]\n".to_owned(),
            "3:8: `url` and `urls` are exclusive: use `url` for one address, `urls` for several",
        ),
        (
            "[legacy]\nurls = []\n".to_owned(),
            "2:8: `urls` is empty: list at least one address",
        ),
        (
            format!(
                "[legacy]\nurls = [{}]\n",
                (0..65)
                    .map(|i| format!("\"http://h{i}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "2:8: `urls` lists 65 addresses: an upstream has at most 64",
        ),
        (
            "[legacy]\nurls = [\"http://a\", \"https://b\"]\n".to_owned(),
            "2:21: \"https://b\" mixes schemes: every address of an upstream uses http://",
        ),
        (
            "[legacy]\nurls = [\"http://a\", \"http://a\"]\n".to_owned(),
            "2:21: \"http://a\" is listed twice",
        ),
        (
            "[legacy]\nurls = [\"http://a\", \"ftp://b\"]\n".to_owned(),
            "2:21: invalid legacy url \"ftp://b\": scheme `ftp` is not supported, use http:// or https://",
        ),
        (
            "[legacy]\nurl = \"http://a\"\nbalance = \"random\"\n".to_owned(),
            "3:11: unknown balance \"random\": use \"round_robin\" or \"least_requests\"",
        ),
        (
            "[legacy]\nurl = \"http://a\"\nhealth = { failures = 0 }\n".to_owned(),
            "3:23: `failures` must be a whole number from 1",
        ),
        (
            "[legacy]\nurl = \"http://a\"\nhealth = { eject = \"soon\" }\n".to_owned(),
            "3:20: invalid duration \"soon\" for `eject`: expected number at 0 (write e.g. \"2s\" or \"500ms\")",
        ),
        (
            "[legacy]\nurl = \"http://a\"\n[upstreams.x]\ntimeout = \"1s\"\n".to_owned(),
            "3:1: missing `url` (one address) or `urls` (several)",
        ),
        (
            "[legacy]\nurl = \"http://a\"\n[upstreams.Billing]\nurl = \"http://b\"\n".to_owned(),
            "3:12: invalid upstream name \"Billing\": use 1 to 64 characters from a-z, 0-9 and '-'",
        ),
        (
            "[legacy]\nurl = \"http://a\"\n[upstreams.service]\nurl = \"http://b\"\n".to_owned(),
            "3:12: `service` cannot be an upstream's name: it names a side (`[legacy]` configures the upstream `legacy`)",
        ),
        (
            "[legacy]\nurl = \"http://a\"\n[upstreams.b]\nurl = \"http://b\"\n[upstreams.b.tls]\nca_file = \"ca.pem\"\n".to_owned(),
            "5:1: `[upstreams.b.tls]` applies to an https:// url only",
        ),
        (
            file(
                "[upstreams.a]\nurl = \"http://a\"\n[upstreams.b]\nurl = \"http://b\"",
                "target = \"service\"\nshadow = { to = \"a\" }\ncanary = { to = \"b\", percent = 1 }",
            ),
            "12:17: the route's legacy side is served by upstream \"a\" already: a route names one upstream",
        ),
    ];
    assert_problems(&cases);
}

#[test]
fn the_admin_view_names_each_route_s_upstream() {
    let table = parse(&file(
        "[upstreams.crm]\nurls = [\"http://c1\", \"http://c2\"]\nbalance = \"least_requests\"",
        r#"target = "crm""#,
    ));
    let value = toml::Value::try_from(table.summary()).unwrap();
    let text = |value: &toml::Value| value.as_str().map(str::to_owned);
    assert_eq!(
        text(&value["routes"][0]["upstream"]).as_deref(),
        Some("crm")
    );
    let crm = &value["upstreams"][1];
    assert_eq!(text(&crm["name"]).as_deref(), Some("crm"));
    assert_eq!(text(&crm["balance"]).as_deref(), Some("least_requests"));
    assert_eq!(
        crm["urls"],
        toml::Value::Array(vec!["http://c1/".into(), "http://c2/".into()])
    );
    assert_eq!(text(&crm["health"]["eject"]).as_deref(), Some("30s"));
}

#[test]
fn an_upstream_is_reached_only_by_routes_that_send_it_requests() {
    let table = parse(
        "[legacy]\nurl = \"http://l\"\n[upstreams.billing]\nurl = \"http://b\"\n\
         [defaults]\ntarget = \"service\"\n\
         [[routes]]\nname = \"served\"\nmatch = { prefix = \"/a\" }\ntarget = \"service\"\n\
         [[routes]]\nname = \"mirrored\"\nmatch = { prefix = \"/b\" }\ntarget = \"service\"\nshadow = { to = \"billing\" }\n\
         [[routes]]\nname = \"canaried\"\nmatch = { prefix = \"/c\" }\ntarget = \"service\"\ncanary = { to = \"legacy\", percent = 5 }\n\
         [[routes]]\nname = \"forwarded\"\nmatch = { prefix = \"/d\" }\ntarget = \"billing\"\n",
    );
    assert_eq!(table.routes_reaching(0), ["canaried"]);
    assert_eq!(table.routes_reaching(1), ["mirrored", "forwarded"]);
    let served = table.routes().iter().find(|r| r.name() == "served");
    assert!(served.is_some_and(|r| !r.reaches_legacy()));
    let defaulted = parse("[legacy]\nurl = \"http://l\"\n");
    assert_eq!(defaulted.routes_reaching(0), ["(default)"]);
}
