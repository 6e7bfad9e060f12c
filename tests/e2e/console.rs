//! The migration console over HTTP: the per-minute series two replicas on
//! one PostgreSQL sum, the verdict flip gating applies, and the login that
//! lets a browser in when a token guards the admin API. The real-browser
//! test is `browser.rs`.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;
use test_support::{Backend, LegacyStub, TestDatabase};

use crate::harness::{GatewayProcess, Launch, eventually, request};
use crate::lifecycle::lifecycle_routes;

/// An id the service has no user for: legacy answers 200, the service 404, so every mirror mismatches.
const UNKNOWN_USER: &str = "/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a";

/// `get-user` served by legacy, mirrored to the service, with `require`.
fn shadowed(legacy_url: &str, require: &str) -> String {
    lifecycle_routes(
        legacy_url,
        &format!("target = \"legacy\"\nshadow = {{ to = \"service\" }}\n{require}"),
    )
}

/// `get-user`'s series on `gateway` once its comparisons add up to `compared`.
async fn series_when(gateway: &GatewayProcess, compared: u64) -> Vec<Value> {
    eventually(
        Duration::from_secs(20),
        &format!("{compared} comparisons in the series"),
        || async {
            let reply = gateway
                .admin(Method::GET, "/-/shadow/routes/get-user/series?minutes=10")
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            let minutes = reply.json()["minutes"].as_array().cloned()?;
            let total: u64 = minutes.iter().filter_map(|m| m["compared"].as_u64()).sum();
            (total == compared).then_some(minutes)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_chart_the_sum_of_their_comparisons_per_minute() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let legacy = LegacyStub::start().await;
    let routes = shadowed(&legacy.url(), "");
    let replica = || {
        Launch::new(routes.clone())
            .env("DATABASE_URL", database.url())
            .without_file_watch()
    };
    let fleet = Launch::start_together(vec![replica(), replica()]).await;
    for _ in 0..3 {
        assert!(fleet[0].get(UNKNOWN_USER).await.is_from_legacy());
    }
    for _ in 0..4 {
        assert!(fleet[1].get(UNKNOWN_USER).await.is_from_legacy());
    }

    for bad in ["minutes=0", "minutes=1441", "minutes=many"] {
        let reply = fleet[0]
            .admin(
                Method::GET,
                &format!("/-/shadow/routes/get-user/series?{bad}"),
            )
            .await;
        test_support::assert_problem(
            reply.status,
            &reply.headers,
            &reply.body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        );
    }
    for (n, gateway) in fleet.iter().enumerate() {
        let minutes = series_when(gateway, 7).await;
        assert_eq!(minutes.len(), 10, "replica {n}: every minute is present");
        let mismatched: u64 = minutes
            .iter()
            .filter_map(|m| m["mismatched"].as_u64())
            .sum();
        assert_eq!(mismatched, 7, "replica {n}: {minutes:?}");
        let busy: Vec<&Value> = minutes.iter().filter(|m| m["compared"] != 0).collect();
        assert!(
            busy.iter().all(|m| m["mismatch_rate"] == 1.0),
            "replica {n}: {busy:?}"
        );
        // The routes view draws the same figures.
        let page = gateway.admin(Method::GET, "/-/console/").await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let html = String::from_utf8_lossy(&page.body);
        assert!(
            html.contains("7 comparisons and 7 mismatches over the last 180 minutes"),
            "replica {n}: {html}"
        );
    }
}

#[tokio::test]
async fn the_console_shows_the_verdict_flip_gating_applies() {
    let legacy = LegacyStub::start().await;
    let require = "require = { match_rate = 0.9, min_samples = 3 }";
    let gateway = Launch::new(shadowed(&legacy.url(), require))
        .without_file_watch()
        .start()
        .await;
    for _ in 0..2 {
        gateway.get(UNKNOWN_USER).await;
    }
    let summary = crate::shadow::summary_when(&gateway, "get-user", "two comparisons", |s| {
        s["compared"] == 2
    })
    .await;
    let reason = summary["verdict"]["reason"].as_str().expect("a reason");

    let page = gateway
        .admin(Method::GET, "/-/console/routes/get-user")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("data-verdict=\"not-ready\""), "{html}");
    assert!(
        html.contains(reason),
        "the summary's reason {reason:?}: {html}"
    );

    // Gating refuses the flip on the same figures.
    gateway.write_routes(&lifecycle_routes(
        &legacy.url(),
        &format!("target = \"service\"\nshadow = {{ to = \"legacy\" }}\n{require}"),
    ));
    let refused = gateway.reload().await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    let problems = refused.json()["problems"].to_string();
    assert!(
        problems.contains("recorded: 2 comparisons, match rate 0.0000"),
        "{problems}"
    );
}

/// `method path` on the admin listener with `headers`, and a form body if any.
async fn admin_raw(
    gateway: &GatewayProcess,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
    form: Option<&str>,
) -> crate::harness::Reply {
    let mut builder = request(method, &gateway.admin_url(path));
    for (name, value) in headers {
        builder = builder.header(name, *value);
    }
    let body = match form {
        Some(form) => {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Full::new(Bytes::from(form.to_owned()))
        }
        None => Full::default(),
    };
    gateway
        .send(builder.body(body).expect("a valid request"))
        .await
}

#[tokio::test]
async fn with_a_token_the_console_lets_a_browser_in_through_its_login_form() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(shadowed(&legacy.url(), ""))
        .admin_token("console-secret-0123456789")
        .start()
        .await;

    let away = admin_raw(
        &gateway,
        Method::GET,
        "/-/console/routes/get-user",
        &[],
        None,
    )
    .await;
    assert_eq!(away.status, StatusCode::SEE_OTHER, "{away:?}");
    assert_eq!(
        away.header("location"),
        Some("/-/console/login?next=%2F%2D%2Fconsole%2Froutes%2Fget%2Duser"),
        "{away:?}"
    );
    let form = admin_raw(&gateway, Method::GET, "/-/console/login", &[], None).await;
    assert_eq!(form.status, StatusCode::OK, "{form:?}");
    assert!(String::from_utf8_lossy(&form.body).contains("name=\"token\""));

    let wrong = admin_raw(
        &gateway,
        Method::POST,
        "/-/console/login",
        &[],
        Some("token=guess&next=%2F-%2Fconsole%2F"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    assert!(wrong.header("set-cookie").is_none(), "{wrong:?}");

    let right = admin_raw(
        &gateway,
        Method::POST,
        "/-/console/login",
        &[],
        Some("token=console-secret-0123456789&next=%2F-%2Fconsole%2Froutes%2Fget-user"),
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{right:?}");
    assert_eq!(right.header("location"), Some("/-/console/routes/get-user"));
    let cookie = right.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.starts_with("gateway_console=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/-/console"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("name=value");

    let page = admin_raw(
        &gateway,
        Method::GET,
        "/-/console/",
        &[(header::COOKIE, session)],
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'none'")),
        "{page:?}"
    );
    assert!(String::from_utf8_lossy(&page.body).contains("data-route=\"get-user\""));
    // The bearer token works too; the cookie is the console's only.
    let bearer = admin_raw(
        &gateway,
        Method::GET,
        "/-/console/",
        &[(header::AUTHORIZATION, "Bearer console-secret-0123456789")],
        None,
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK, "{bearer:?}");
    let api = admin_raw(
        &gateway,
        Method::POST,
        "/-/reload",
        &[(header::COOKIE, session)],
        None,
    )
    .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "{api:?}");
    let forged = admin_raw(
        &gateway,
        Method::GET,
        "/-/console/",
        &[(header::COOKIE, "gateway_console=console-secreT")],
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER, "{forged:?}");

    let css = admin_raw(
        &gateway,
        Method::GET,
        "/-/console/assets/console.css",
        &[],
        None,
    )
    .await;
    assert_eq!(css.status, StatusCode::OK, "{css:?}");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}
