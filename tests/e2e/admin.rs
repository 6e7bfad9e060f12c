//! The admin API and the operator's command line: probes, the token, refusing
//! an open admin port, and `gateway check`.

use std::path::Path;

use http::{Method, StatusCode};
use http_body_util::Full;
use test_support::LegacyStub;

use crate::harness::{Launch, request, routes, run_gateway, send};

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;

    let health = gateway.admin(Method::GET, "/-/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");

    let ready = gateway.admin(Method::GET, "/-/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    let doc = gateway.routes_doc().await;
    assert_eq!(
        ready.json()["route_table_version"],
        doc["table"]["version"],
        "{ready:?}"
    );
    assert_eq!(stub.requests(), 0, "probes never touch legacy");
}

#[tokio::test]
async fn the_admin_token_guards_routes_and_reload_but_not_probes() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .admin_token("e2e-admin-s3cret-token")
        .start()
        .await;
    let client = gateway.client();
    let call = |method: Method, path: &str, authorization: Option<&str>| {
        let mut builder = request(method, &gateway.admin_url(path));
        if let Some(value) = authorization {
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        send(
            &client,
            builder.body(Full::default()).expect("a valid request"),
        )
    };

    for (method, path) in [(Method::GET, "/-/routes"), (Method::POST, "/-/reload")] {
        for authorization in [None, Some("Bearer wrong"), Some("e2e-admin-s3cret-token")] {
            let reply = call(method.clone(), path, authorization).await;
            test_support::assert_problem(
                reply.status,
                &reply.headers,
                &reply.body,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
    }

    let allowed = call(
        Method::GET,
        "/-/routes",
        Some("Bearer e2e-admin-s3cret-token"),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
    assert!(allowed.json()["table"]["version"].is_string());
    let reloaded = gateway.reload().await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");

    for probe in ["/-/healthz", "/-/readyz"] {
        let reply = call(Method::GET, probe, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{probe}: {reply:?}");
    }
}

/// RFC 9110 §11.1: the authentication scheme is a case-insensitive token, so
/// `bearer` and `BEARER` are `Bearer` (curl users and some SDKs send them).
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .admin_token("e2e-admin-s3cret-token")
        .start()
        .await;

    for authorization in [
        "bearer e2e-admin-s3cret-token",
        "BEARER e2e-admin-s3cret-token",
    ] {
        let reply = send(
            &gateway.client(),
            request(Method::GET, &gateway.admin_url("/-/routes"))
                .header(http::header::AUTHORIZATION, authorization)
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{authorization}: {reply:?}");
    }
}

#[tokio::test]
async fn an_admin_port_beyond_loopback_needs_a_token() {
    let (status, stderr) = Launch::new(routes("http://127.0.0.1:9", "legacy"))
        .admin_listen("0.0.0.0:0")
        .start_expecting_failure()
        .await;

    assert!(!status.success(), "{status}");
    assert!(stderr.contains("GATEWAY_ADMIN_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn check_reports_every_problem_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("bad-routes.toml");
    let text = "[legacy]\nurl = \"http://127.0.0.1:9\"\n\n[[routes]]\nname = \"broken\"\nmatch = { prefix = \"/v1/accounts\" }\ntarget = \"nowhere\"\n";
    std::fs::write(&file, text).expect("writing the bad file");
    let file = file.display().to_string();

    let (status, stdout, stderr) = run_gateway(&["check", &file]).await;

    assert!(!status.success(), "{status}: {stdout}{stderr}");
    let output = format!("{stdout}{stderr}");
    let marker = format!("{file}:7:");
    let rest = output
        .find(&marker)
        .map(|at| &output[at + marker.len()..])
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{output}"));
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        !column.is_empty() && rest[column.len()..].starts_with(':'),
        "`FILE:LINE:COLUMN:` expected:\n{output}"
    );
}

#[tokio::test]
async fn check_accepts_the_repository_routes_file() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../routes.toml");
    let file = file.display().to_string();

    let (status, stdout, stderr) = run_gateway(&["check", &file]).await;

    assert!(status.success(), "{status}: {stdout}{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}

#[tokio::test]
async fn a_short_or_placeholder_admin_token_is_refused_at_start_up() {
    for (token, reason) in [
        ("short-token", "at least 16 characters"),
        ("CHANGE-ME", "placeholder"),
    ] {
        let (status, stderr) = Launch::new(routes("http://127.0.0.1:9", "legacy"))
            .admin_token(token)
            .start_expecting_failure()
            .await;
        assert!(!status.success(), "{token}: {status}");
        assert!(
            stderr.contains("GATEWAY_ADMIN_TOKEN") && stderr.contains(reason),
            "{token}: {stderr}"
        );
    }
}

#[tokio::test]
async fn gateway_health_probes_the_admin_api_without_curl() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    let base = gateway.admin_url("");
    for args in [
        vec!["health", "--admin-url", base.as_str()],
        vec!["health", "--ready", "--admin-url", base.as_str()],
    ] {
        let (status, stdout, stderr) = run_gateway(&args).await;
        assert!(status.success(), "{args:?}: {status}\n{stderr}");
        assert!(stdout.contains("\"status\""), "{args:?}: {stdout}");
    }
    drop(gateway);
    let (status, _, stderr) = run_gateway(&["health", "--admin-url", base.as_str()]).await;
    assert!(!status.success(), "a stopped gateway is not healthy");
    assert!(stderr.contains("admin API"), "{stderr}");
}
