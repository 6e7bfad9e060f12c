//! The table-driven cases: every problem a file can have, at its position,
//! and the dead routes refused or accepted.

use std::path::Path;

use gateway_routing::RouteTable;

use crate::fixtures::{Routes, assert_problems, legacy, one_route, parse, problems};

/// A file whose only route "r" matches every path, followed by `lines`
/// (from line 6).
fn root_route(lines: &[&str]) -> String {
    Routes::new()
        .route("r", "{ prefix = \"/\" }", lines)
        .build()
}

#[test]
fn reports_each_problem_at_its_position() {
    let long_name = "a".repeat(65);
    let cases: Vec<(String, &str)> = vec![
        // [legacy]
        (
            legacy("url = \"http://legacy\"\ntls = { ca_file = \"ca.pem\" }"),
            "3:7: `[legacy.tls]` applies to an https:// url only",
        ),
        (
            legacy("url = \"https://legacy\"\ntls = { client_cert_file = \"c.pem\" }"),
            "3:28: client_cert_file needs client_key_file too",
        ),
        (
            legacy("url = \"https://legacy\"\ntls = { client_key_file = \"k.pem\" }"),
            "3:27: client_key_file needs client_cert_file too",
        ),
        (
            legacy("url = \"https://legacy\"\ntls = { ca_file = \"\" }"),
            "3:19: must not be empty",
        ),
        (
            legacy("url = \"https://legacy\"\ntls = { verify = false }"),
            "3:9: unknown field `verify`, expected one of `ca_file`, `client_cert_file`, `client_key_file`, `server_name`, `insecure_skip_verify`",
        ),
        (
            legacy("url = \"ftp://legacy\""),
            "2:7: invalid legacy url \"ftp://legacy\": scheme `ftp` is not supported, use http:// or https://",
        ),
        (
            legacy("url = \"127.0.0.1:8000\""),
            "2:7: invalid legacy url \"127.0.0.1:8000\": it must be absolute, like \"http://127.0.0.1:8000\"",
        ),
        (
            legacy("url = \"/base\""),
            "2:7: invalid legacy url \"/base\": it must be absolute, like \"http://127.0.0.1:8000\"",
        ),
        (
            legacy("url = \"http://l/?a=1\""),
            "2:7: invalid legacy url \"http://l/?a=1\": it must not have a query",
        ),
        (
            legacy("url = \"http://l/#top\""),
            "2:7: invalid legacy url \"http://l/#top\": it must not have a fragment ('#')",
        ),
        (
            legacy("url = \"http://user:pw@l\""),
            "2:7: invalid legacy url \"http://user:pw@l\": it must not contain credentials",
        ),
        (
            legacy("url = \"http://l a\""),
            "2:7: invalid legacy url \"http://l a\": invalid uri character",
        ),
        (
            legacy("url = \"http://l\"\nconnect_timeout = \"0s\""),
            "3:19: `connect_timeout` must be greater than zero",
        ),
        (
            legacy("url = \"http://l\"\ntimeout = \"soon\""),
            "3:11: invalid duration \"soon\" for `timeout`: expected number at 0 (write e.g. \"2s\" or \"500ms\")",
        ),
        // Shadowing.
        (
            legacy("url = \"http://l\"\n\n[shadow]\nmax_in_flight = 0"),
            "5:17: `max_in_flight` must be greater than zero",
        ),
        (
            legacy("url = \"http://l\"\n\n[shadow]\nbudget = 0.9"),
            "5:10: `budget` must be between 0.0 and 0.5 (a share of the gateway's CPU time)",
        ),
        (
            legacy("url = \"http://l\"\n\n[shadow]\nbudget = -0.1"),
            "5:10: `budget` must be between 0.0 and 0.5 (a share of the gateway's CPU time)",
        ),
        (
            legacy("url = \"http://l\"\n\n[shadow]\ntimeout = \"later\""),
            "5:11: invalid duration \"later\" for `timeout`: expected number at 0 (write e.g. \"2s\" or \"500ms\")",
        ),
        (
            root_route(&["target = \"legacy\"", "shadow = { to = \"legacy\" }"]),
            "7:17: `shadow.to` is \"legacy\", which already serves the route: mirror to the other side",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", sample = 1.5 }",
            ]),
            "7:37: `sample` must be between 0.0 and 1.0",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", ignore = [\"created_at\"] }",
            ]),
            "7:38: invalid ignore rule: ignore rule `created_at` must start with `/`",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", methods = [\"POST\"], detect_noise = true }",
            ]),
            "7:10: `detect_noise` sends each mirrored request to the primary twice: it is allowed only when `shadow.methods` lists safe methods (GET, HEAD, OPTIONS)",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", timestamps = \"iso\" }",
            ]),
            "7:41: invalid `timestamps` \"iso\": use \"instant\" (compare as instants) or \"strict\" (compare as written)",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", naive_timezone = \"Europe/Paris\" }",
            ]),
            "7:45: invalid `naive_timezone` \"Europe/Paris\": named zones (with daylight saving) are not supported; write \"UTC\" or a fixed offset such as \"+01:00\"",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", naive_timezone = \"+24:00\" }",
            ]),
            "7:45: invalid `naive_timezone` \"+24:00\": write \"UTC\" or a fixed offset such as \"+01:00\"",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", timestamps = \"strict\", naive_timezone = \"+01:00\" }",
            ]),
            "7:41: `naive_timezone` applies only when `timestamps` is \"instant\": remove one of them",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", numeric_strings = \"yes\" }",
            ]),
            "7:46: invalid type: string \"yes\", expected a boolean",
        ),
        (
            root_route(&[
                "target = \"service\"",
                "shadow = { to = \"legacy\", methods = [\"POST\"], writes = \"rollback\" }",
            ]),
            "7:56: `writes = \"rollback\"` needs the in-process service as the mirrored side (`to = \"service\"`): the gateway cannot roll back legacy's writes",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "shadow = { to = \"service\", writes = \"discard\" }",
            ]),
            "7:37: invalid `writes` \"discard\": use \"apply\" (the mirrored side writes for real) or \"rollback\" (the service's writes are rolled back)",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "require = { match_rate = 1.5, min_samples = 0 }",
            ]),
            "7:26: `match_rate` must be above 0.0 and at most 1.0\n7:45: `min_samples` must be at least 1",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "require = { match_rate = 0.9, min_samples = 1, window = \"90s\" }",
            ]),
            "7:57: `window` counts whole minutes (results are kept per minute): write e.g. \"30m\" or \"1h\"",
        ),
        (
            root_route(&[
                "target = \"legacy\"",
                "require = { match_rate = 0.9, min_samples = 1, window = \"soon\" }",
            ]),
            "7:57: invalid duration \"soon\" for `window`: expected number at 0 (write e.g. \"2s\" or \"500ms\")",
        ),
        // Canary.
        (
            root_route(&[
                "canary = { to = \"legacy\", percent = 5 }",
                "target = \"legacy\"",
            ]),
            "6:17: `canary.to` is \"legacy\", which already serves the route: send the share to the other side",
        ),
        (
            root_route(&[
                "canary = { to = \"service\", percent = 150 }",
                "target = \"legacy\"",
            ]),
            "6:38: `percent` must be between 0 and 100",
        ),
        (
            root_route(&[
                "canary = { to = \"service\", percent = 5, sticky = \"user\" }",
                "target = \"legacy\"",
            ]),
            "6:50: invalid `sticky` \"user\": use \"header:NAME\", \"cookie:NAME\" or \"ip\"",
        ),
        // Names.
        (
            one_route("{ path = \"/a\" }").replace("\"r\"", "\"Create User\""),
            "5:8: invalid route name \"Create User\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
        ),
        (
            one_route("{ path = \"/a\" }").replace("\"r\"", "\"-r\""),
            "5:8: invalid route name \"-r\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
        ),
        (
            one_route("{ path = \"/a\" }").replace("\"r\"", &format!("\"{long_name}\"")),
            "5:8: invalid route name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
        ),
        // Methods.
        (
            one_route("{ path = \"/a\", methods = [\"GET\", \"B@D\"] }"),
            "6:42: invalid HTTP method \"B@D\": a method is a token like \"GET\" or \"PURGE\"",
        ),
        (
            one_route("{ path = \"/a\", methods = [\"\"] }"),
            "6:35: invalid HTTP method \"\": a method is a token like \"GET\" or \"PURGE\"",
        ),
        (
            one_route("{ path = \"/a\", methods = [] }"),
            "6:34: `methods` is empty: list at least one method, or leave `methods` out to match every method",
        ),
        // Path and prefix syntax.
        (
            one_route("{ path = \"a/b\" }"),
            "6:18: invalid path \"a/b\": it must start with '/'",
        ),
        (
            one_route("{ path = \"\" }"),
            "6:18: invalid path \"\": it must start with '/'",
        ),
        (
            one_route("{ path = \"/a/../b\" }"),
            "6:18: invalid path \"/a/../b\": it must not contain '.' or '..' segments",
        ),
        (
            one_route("{ path = \"/a/.\" }"),
            "6:18: invalid path \"/a/.\": it must not contain '.' or '..' segments",
        ),
        (
            one_route("{ path = \"/a//b\" }"),
            "6:18: invalid path \"/a//b\": it must not contain '//'",
        ),
        (
            one_route("{ path = \"//\" }"),
            "6:18: invalid path \"//\": it must not contain '//'",
        ),
        (
            one_route("{ path = \"/a?x=1\" }"),
            "6:18: invalid path \"/a?x=1\": it must not contain '?' or '#' (routes match the path only)",
        ),
        (
            one_route("{ path = \"/a#x\" }"),
            "6:18: invalid path \"/a#x\": it must not contain '?' or '#' (routes match the path only)",
        ),
        (
            one_route("{ path = \"/a%20b\" }"),
            "6:18: invalid path \"/a%20b\": it must not contain percent-escapes (requests are decoded before matching: write the decoded characters)",
        ),
        (
            one_route("{ path = \"/a\\\\b\" }"),
            "6:18: invalid path \"/a\\\\b\": it must not contain a backslash or control characters",
        ),
        (
            one_route("{ path = \"/users/id{id}\" }"),
            "6:18: invalid path \"/users/id{id}\": a `{param}` must be a whole segment, like \"/users/{id}\"",
        ),
        (
            one_route("{ path = \"/users/{id\" }"),
            "6:18: invalid path \"/users/{id\": a `{param}` must be a whole segment, like \"/users/{id}\"",
        ),
        (
            one_route("{ path = \"/users/{1d}\" }"),
            "6:18: invalid path \"/users/{1d}\": parameter name \"1d\" is not an identifier (letters, digits and '_', not starting with a digit)",
        ),
        (
            one_route("{ path = \"/users/{}\" }"),
            "6:18: invalid path \"/users/{}\": parameter name \"\" is not an identifier (letters, digits and '_', not starting with a digit)",
        ),
        (
            one_route("{ path = \"/{id}/x/{id}\" }"),
            "6:18: invalid path \"/{id}/x/{id}\": parameter `{id}` appears twice",
        ),
        (
            one_route("{ prefix = \"v1\" }"),
            "6:20: invalid prefix \"v1\": it must start with '/'",
        ),
        (
            one_route("{ prefix = \"/v1/\" }"),
            "6:20: invalid prefix \"/v1/\": a prefix must not end with '/' (\"/v1\" already matches every path below it)",
        ),
        (
            one_route("{ prefix = \"/v1/{id}\" }"),
            "6:20: invalid prefix \"/v1/{id}\": a prefix cannot have `{param}` segments (use `path` for patterns)",
        ),
        (
            one_route("{ prefix = \"/v1/../x\" }"),
            "6:20: invalid prefix \"/v1/../x\": it must not contain '.' or '..' segments",
        ),
        // Exactly one of path / prefix.
        (
            one_route("{ path = \"/a\", prefix = \"/a\" }"),
            "6:9: `match` has both `path` and `prefix`: use exactly one",
        ),
        (
            one_route("{ methods = [\"GET\"] }"),
            "6:9: `match` needs a `path` (exact or with `{param}`s) or a `prefix`",
        ),
    ];
    assert_problems(&cases);
}

#[test]
fn toml_errors_are_positioned() {
    let cases: &[(&str, &str)] = &[
        (
            "[[routes]]\nname = \"r\"\nmatch = { prefix = \"/\" }\ntarget = \"legacy\"\n",
            "1:1: missing field `legacy`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\nport = 1\n",
            "3:1: unknown field `port`, expected one of `url`, `urls`, `balance`, `health`, `connect_timeout`, `timeout`, `tls`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { path = \"/\", method = \"GET\" }\ntarget = \"legacy\"\n",
            "5:23: unknown field `method`, expected one of `path`, `prefix`, `methods`, `host`, `header`, `query`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\nmatch = { path = \"/\" }\ntarget = \"new\"\n",
            "6:10: no upstream named \"new\"; known: legacy, service",
        ),
        (
            "[legacy]\nurl = \"http://l\"\n[defaults]\ntarget = \"legacy\"\ntimeout = \"1s\"\n",
            "5:1: unknown field `timeout`, expected `target`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\nmirror = 1\n[[routes]]\n",
            "3:1: unknown field `mirror`, expected one of `url`, `urls`, `balance`, `health`, `connect_timeout`, `timeout`, `tls`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\n[[routes]]\nname = \"r\"\n",
            "3:1: missing field `match`",
        ),
        (
            "[legacy]\nurl = \"http://l\"\n[mirror]\n",
            "3:2: unknown field `mirror`, expected one of `legacy`, `upstreams`, `defaults`, `shadow`, `routes`",
        ),
        ("[legacy\n", "1:8: invalid table header; expected `.`, `]`"),
    ];
    for (source, expected) in cases {
        assert_eq!(
            problems(source),
            expected.lines().collect::<Vec<_>>(),
            "in:\n{source}"
        );
    }
}

/// `(name, match)` pairs for [`routes`].
type Entries<'a> = Vec<(&'a str, &'a str)>;

/// `[legacy]` and one route per `(name, match)`, each four lines from line 3.
fn routes(entries: &[(&str, &str)]) -> String {
    entries
        .iter()
        .fold(Routes::new(), |file, (name, matcher)| {
            file.route(name, matcher, &["target = \"legacy\""])
        })
        .build()
}

#[test]
fn reports_routes_that_can_never_match() {
    let dead = |victim: &str, taker: &str, line: usize| {
        format!(
            "route \"{victim}\" can never match: route \"{taker}\" (line {line}) takes every request it would get"
        )
    };
    let cases: Vec<(Entries<'_>, Vec<String>)> = vec![
        (
            vec![("a", "{ path = \"/x\" }"), ("b", "{ path = \"/x\" }")],
            vec![format!("9:9: {}", dead("b", "a", 3))],
        ),
        (
            vec![
                (
                    "a",
                    "{ path = \"/u/{id}/x\", methods = [\"GET\", \"POST\"] }",
                ),
                ("b", "{ path = \"/u/{user}/x\", methods = [\"post\"] }"),
            ],
            vec![format!("9:9: {}", dead("b", "a", 3))],
        ),
        (
            vec![
                ("a", "{ prefix = \"/v1\" }"),
                ("b", "{ prefix = \"/v1\", methods = [\"GET\"] }"),
            ],
            vec![format!("9:9: {}", dead("b", "a", 3))],
        ),
        (
            vec![
                ("a", "{ prefix = \"/v1\", methods = [\"GET\"] }"),
                ("b", "{ prefix = \"/v2\" }"),
                ("c", "{ prefix = \"/v1\", methods = [\"POST\"] }"),
                ("d", "{ prefix = \"/v1\", methods = [\"POST\", \"GET\"] }"),
            ],
            vec![format!(
                "17:9: route \"d\" can never match: routes \"a\" (line 3) and \"c\" (line 11) take every request it would get"
            )],
        ),
        (
            // Three identical routes: both later ones are named against the first.
            vec![
                ("a", "{ path = \"/x\" }"),
                ("b", "{ path = \"/x\" }"),
                ("c", "{ path = \"/x\" }"),
            ],
            vec![
                format!("9:9: {}", dead("b", "a", 3)),
                format!("13:9: {}", dead("c", "a", 3)),
            ],
        ),
    ];
    for (entries, expected) in &cases {
        let source = routes(entries);
        assert_eq!(&problems(&source), expected, "in:\n{source}");
    }
}

#[test]
fn accepts_routes_that_can_still_match() {
    let cases: Vec<Entries<'_>> = vec![
        // A prefix never hides an exact path or a pattern: they are tried first.
        vec![
            ("all", "{ prefix = \"/\" }"),
            ("x", "{ path = \"/x\" }"),
            ("y", "{ path = \"/y/{id}\" }"),
        ],
        vec![
            ("v1", "{ prefix = \"/v1\" }"),
            ("x", "{ path = \"/v1/x\" }"),
            ("y", "{ prefix = \"/v1/y\" }"),
        ],
        // Other methods still reach the later route.
        vec![
            ("a", "{ path = \"/x\", methods = [\"GET\"] }"),
            ("b", "{ path = \"/x\", methods = [\"GET\", \"POST\"] }"),
        ],
        vec![
            ("a", "{ path = \"/x\", methods = [\"GET\"] }"),
            ("b", "{ path = \"/x\" }"),
        ],
        // A pattern does not hide an exact path, nor a more literal pattern.
        vec![
            ("a", "{ path = \"/u/{id}\" }"),
            ("b", "{ path = \"/u/me\" }"),
            ("c", "{ path = \"/{k}/me\" }"),
        ],
        // Different shapes and a trailing slash are different paths.
        vec![
            ("a", "{ path = \"/u/{id}\" }"),
            ("b", "{ path = \"/u/{id}/\" }"),
            ("c", "{ path = \"/{k}/{id}/x\" }"),
        ],
    ];
    for entries in &cases {
        parse(&routes(entries));
    }
}

#[test]
fn reports_every_problem_sorted_by_position() {
    let source = r#"[legacy]
url = "ftp://legacy"
timeout = "0s"

[shadow]
timeout = "5s"

[[routes]]
name = "Users"
match = { path = "/users//x", methods = [] }
target = "service"

[[routes]]
name = "a"
match = { path = "/a" }
target = "legacy"

[[routes]]
name = "a"
match = { path = "/a", methods = ["GET"] }
target = "service"
canary = { to = "service", percent = 5 }
"#;
    let expected = [
        "2:7: invalid legacy url \"ftp://legacy\": scheme `ftp` is not supported, use http:// or https://",
        "3:11: `timeout` must be greater than zero",
        "9:8: invalid route name \"Users\": use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
        "10:18: invalid path \"/users//x\": it must not contain '//'",
        "10:41: `methods` is empty: list at least one method, or leave `methods` out to match every method",
        "19:8: duplicate route name \"a\": the route at line 13 has it already",
        "20:9: route \"a\" can never match: route \"a\" (line 13) takes every request it would get",
        "22:17: `canary.to` is \"service\", which already serves the route: send the share to the other side",
    ];
    assert_eq!(problems(source), expected);
    let err = RouteTable::parse(source, Path::new("conf/routes.toml")).unwrap_err();
    let rendered = err.to_string();
    assert_eq!(rendered.lines().count(), expected.len());
    assert!(
        rendered.starts_with("conf/routes.toml:2:7: invalid legacy url"),
        "{rendered}"
    );
}
