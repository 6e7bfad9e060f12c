//! A valid file, parsed: its values and defaults, loading it from disk, and
//! the admin endpoint's view of it.

use std::path::Path;
use std::time::Duration;

use gateway_routing::{Matcher, Route, RouteTable, RouteTableError, Segment, Target};
use http::Method;

use crate::fixtures::{legacy, parse};

const SAMPLE: &str = r#"# The route table operators edit.
[legacy]
url = "http://127.0.0.1:8000/base"
connect_timeout = "2s"
timeout = "30s"

[defaults]
target = "legacy"

[[routes]]
name = "create-user"
match = { path = "/v1/accounts/users", methods = ["POST"] }
target = "service"

[[routes]]
name = "get-user"
match = { path = "/v1/accounts/users/{id}", methods = ["get", "HEAD", "GET"] }
target = "legacy"

[[routes]]
name = "orders"
match = { prefix = "/v1/orders" }
target = "legacy"
"#;

#[test]
fn parses_the_sample_file() {
    let table = parse(SAMPLE);
    assert_eq!(
        table.legacy().url().to_string(),
        "http://127.0.0.1:8000/base"
    );
    assert_eq!(table.legacy().url().path(), "/base");
    assert_eq!(table.legacy().connect_timeout(), Duration::from_secs(2));
    assert_eq!(table.legacy().timeout(), Duration::from_secs(30));
    assert_eq!(table.default_target(), Target::Legacy);

    let routes = table.routes();
    let names: Vec<&str> = routes.iter().map(Route::name).collect();
    assert_eq!(names, ["create-user", "get-user", "orders"]);
    assert_eq!(
        routes[0].matcher(),
        &Matcher::Exact("/v1/accounts/users".into())
    );
    assert_eq!(routes[0].methods(), Some(&[Method::POST][..]));
    assert_eq!(routes[0].target(), Target::Service);
    assert_eq!(routes[0].line(), 10);
    assert_eq!(
        routes[1].matcher(),
        &Matcher::Pattern(vec![
            Segment::Literal("v1".into()),
            Segment::Literal("accounts".into()),
            Segment::Literal("users".into()),
            Segment::Param("id".into()),
        ])
    );
    assert_eq!(routes[1].matcher().to_string(), "/v1/accounts/users/{id}");
    // Uppercased and deduplicated, in the order written.
    assert_eq!(routes[1].methods(), Some(&[Method::GET, Method::HEAD][..]));
    assert_eq!(routes[2].matcher(), &Matcher::Prefix("/v1/orders".into()));
    assert_eq!(routes[2].methods(), None);
    assert_eq!(routes[2].line(), 20);

    assert_eq!(table.version().len(), 16);
    assert_eq!(table.version(), parse(SAMPLE).version());
    assert_ne!(
        table.version(),
        parse(&SAMPLE.replace("30s", "31s")).version()
    );
}

#[test]
fn defaults_apply_when_absent() {
    let table = parse(&legacy("url = \"http://legacy\""));
    assert_eq!(table.legacy().connect_timeout(), Duration::from_secs(2));
    assert_eq!(table.legacy().timeout(), Duration::from_secs(30));
    assert_eq!(table.default_target(), Target::Legacy);
    assert!(table.routes().is_empty());
    let table = parse(&legacy("url = \"http://legacy\"\n[defaults]"));
    assert_eq!(table.default_target(), Target::Legacy);
}

#[test]
fn load_reads_the_file_or_says_why_not() {
    let missing = Path::new("/nonexistent/routes.toml");
    let err = RouteTable::load(missing).unwrap_err();
    assert!(matches!(err, RouteTableError::Io { .. }), "{err:?}");
    assert_eq!(err.file(), missing);
    assert_eq!(
        err.to_string(),
        "/nonexistent/routes.toml: cannot read the route table"
    );

    let dir = std::env::temp_dir().join(format!("routes-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("routes.toml");
    std::fs::write(&file, SAMPLE).unwrap();
    let loaded = RouteTable::load(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loaded.unwrap(), parse(SAMPLE));
}

#[test]
fn summary_serialises_for_the_admin_endpoint() {
    let table = parse(SAMPLE);
    let mut value = toml::Value::try_from(table.summary()).unwrap();
    // Every upstream, `legacy` first: here that one only.
    let upstreams = value.as_table_mut().and_then(|t| t.remove("upstreams"));
    assert_eq!(
        upstreams,
        Some(toml::Value::Array(vec![value["legacy"].clone()]))
    );
    let expected: toml::Value = toml::from_str(&format!(
        r#"
version = "{}"
default_target = "legacy"
default_upstream = "legacy"
evaluation_order = ["create-user", "get-user", "orders"]

[legacy]
name = "legacy"
url = "http://127.0.0.1:8000/base"
urls = ["http://127.0.0.1:8000/base"]
connect_timeout = "2s"
timeout = "30s"
balance = "round_robin"
health = {{ failures = 3, eject = "30s" }}

[shadow]
max_in_flight = 256
timeout = "5s"
max_body_bytes = 1048576
max_busy = 0.8
budget = 0.02
redact = ["email", "password", "token", "secret", "authorization", "cookie", "set-cookie"]

[[routes]]
name = "create-user"
target = "service"
upstream = "legacy"
line = 10
methods = ["POST"]
match = {{ kind = "exact", value = "/v1/accounts/users" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 100.0

[[routes]]
name = "get-user"
target = "legacy"
upstream = "legacy"
line = 15
methods = ["GET", "HEAD"]
match = {{ kind = "pattern", value = "/v1/accounts/users/{{id}}" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 0.0

[[routes]]
name = "orders"
target = "legacy"
upstream = "legacy"
line = 20
match = {{ kind = "prefix", value = "/v1/orders" }}
require = {{ match_rate = 0.999, min_samples = 1000 }}
service_percent = 0.0
"#,
        table.version()
    ))
    .unwrap();
    assert_eq!(value, expected);
}

/// The one shadowed route of a file whose route "r" has `shadow = {shadow}`.
fn shadowed(shadow: &str) -> std::sync::Arc<gateway_routing::ShadowPolicy> {
    let source = crate::fixtures::Routes::new()
        .route(
            "r",
            "{ prefix = \"/\" }",
            &["target = \"legacy\"", &format!("shadow = {shadow}")],
        )
        .build();
    let table = parse(&source);
    table.routes()[0].shadow().expect("shadowed").clone()
}

#[test]
fn timestamps_compare_as_instants_in_utc_unless_the_route_says_otherwise() {
    use shadow_diff::{Formats, Timestamps};

    let offset = |seconds| chrono::FixedOffset::east_opt(seconds).expect("an offset");
    let cases = [
        (
            "{ to = \"service\" }",
            Formats::default(),
            "instant",
            Some("+00:00"),
        ),
        (
            "{ to = \"service\", timestamps = \"instant\", naive_timezone = \"utc\" }",
            Formats::default(),
            "instant",
            Some("+00:00"),
        ),
        (
            "{ to = \"service\", naive_timezone = \"+01:00\" }",
            Formats {
                timestamps: Timestamps::Instants {
                    naive_offset: offset(3600),
                },
                numeric_strings: false,
            },
            "instant",
            Some("+01:00"),
        ),
        (
            "{ to = \"service\", naive_timezone = \"-05:30\", numeric_strings = true }",
            Formats {
                timestamps: Timestamps::Instants {
                    naive_offset: offset(-5 * 3600 - 1800),
                },
                numeric_strings: true,
            },
            "instant",
            Some("-05:30"),
        ),
        (
            "{ to = \"service\", timestamps = \"strict\" }",
            Formats::STRICT,
            "strict",
            None,
        ),
    ];
    let mut fingerprints = std::collections::BTreeSet::new();
    for (shadow, formats, timestamps, zone) in cases {
        let policy = shadowed(shadow);
        assert_eq!(policy.rules.formats(), &formats, "{shadow}");
        assert_eq!(policy.timestamps, timestamps, "{shadow}");
        assert_eq!(policy.naive_timezone.as_deref(), zone, "{shadow}");
        assert_eq!(policy.numeric_strings, formats.numeric_strings, "{shadow}");
        fingerprints.insert((formats.to_string(), policy.fingerprint()));
    }
    // Equal formats give equal fingerprints, other formats other ones:
    // changing how timestamps compare starts the route's results again.
    let distinct_formats: std::collections::BTreeSet<&String> =
        fingerprints.iter().map(|(f, _)| f).collect();
    let distinct_prints: std::collections::BTreeSet<&String> =
        fingerprints.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct_formats.len(), 4);
    assert_eq!(distinct_prints.len(), 4);
}

#[test]
fn rolled_back_writes_are_mirrored_only_to_the_service() {
    use gateway_routing::{ShadowWrites, Target};
    use http::Method;

    let applied = shadowed("{ to = \"service\", methods = [\"GET\", \"POST\"] }");
    assert_eq!(applied.writes, ShadowWrites::Apply);
    let rollback =
        shadowed("{ to = \"service\", methods = [\"GET\", \"POST\"], writes = \"rollback\" }");
    assert_eq!(rollback.writes, ShadowWrites::Rollback);
    // Legacy serves: the write is mirrored to the service, rolled back there.
    assert!(rollback.mirrors_from(Target::Legacy, &Method::POST));
    // A canary sent it to the service: legacy's write could not be undone.
    assert!(!rollback.mirrors_from(Target::Service, &Method::POST));
    assert!(rollback.mirrors_from(Target::Service, &Method::GET));
    // Today's explicit opt-in is unchanged.
    assert!(applied.mirrors_from(Target::Service, &Method::POST));
    assert!(!rollback.mirrors_from(Target::Legacy, &Method::DELETE));
}
