//! The migration lifecycle end to end: sticky canaries, the tester override, the served-by header, flip gating.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use test_support::{LegacyStub, Script};

use crate::harness::{GatewayProcess, Launch, request};

/// `get-user` served by legacy with `extra` (a canary, a shadow, a require …) added.
pub(crate) fn lifecycle_routes(legacy_url: &str, extra: &str) -> String {
    test_support::RoutesToml::new(legacy_url)
        .accounts_to_service()
        .get_user(extra)
        .build()
}

fn canary(percent: u32) -> String {
    format!(
        "target = \"legacy\"\ncanary = {{ to = \"service\", percent = {percent}, sticky = \"header:x-user-id\" }}"
    )
}

/// The side that served `GET /v1/accounts/users/{id}` for each user key, from the served-by header.
async fn sides(gateway: &GatewayProcess, keys: &[String]) -> HashMap<String, String> {
    let mut sides = HashMap::new();
    for key in keys {
        let reply = gateway
            .send(
                request(
                    Method::GET,
                    &gateway.url("/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a"),
                )
                .header("x-user-id", key)
                .body(Full::default())
                .expect("test data"),
            )
            .await;
        let side = reply.header("x-served-by").unwrap_or("(none)").to_owned();
        assert_eq!(
            side == "legacy",
            reply.is_from_legacy(),
            "the header names the side that answered: {reply:?}"
        );
        sides.insert(key.clone(), side);
    }
    sides
}

fn share(sides: &HashMap<String, String>) -> f64 {
    sides.values().filter(|s| *s == "service").count() as f64 * 100.0 / sides.len() as f64
}

#[tokio::test]
async fn a_sticky_canary_keeps_keys_across_reloads_and_restarts_and_only_grows() {
    let legacy = LegacyStub::start().await;
    let keys: Vec<String> = (0..300).map(|n| format!("user-{n}")).collect();
    let gateway = Launch::new(lifecycle_routes(&legacy.url(), &canary(30)))
        .without_file_watch()
        .start()
        .await;

    let at_30 = sides(&gateway, &keys).await;
    assert!(
        (share(&at_30) - 30.0).abs() < 9.0,
        "about 30% on the service: {}",
        share(&at_30)
    );
    assert_eq!(
        sides(&gateway, &keys).await,
        at_30,
        "the same key always lands on the same side"
    );

    gateway.write_routes(&format!(
        "{}\n# touched\n",
        lifecycle_routes(&legacy.url(), &canary(30))
    ));
    assert_eq!(gateway.reload().await.status, StatusCode::OK);
    assert_eq!(
        sides(&gateway, &keys).await,
        at_30,
        "a reload keeps every key's side"
    );

    gateway.write_routes(&lifecycle_routes(&legacy.url(), &canary(60)));
    assert_eq!(gateway.reload().await.status, StatusCode::OK);
    let at_60 = sides(&gateway, &keys).await;
    assert!(
        (share(&at_60) - 60.0).abs() < 9.0,
        "about 60% on the service: {}",
        share(&at_60)
    );
    for (key, side) in &at_30 {
        if side == "service" {
            assert_eq!(
                at_60[key], "service",
                "{key} was on the service at 30% and must stay at 60%"
            );
        }
    }
    drop(gateway);

    let restarted = Launch::new(lifecycle_routes(&legacy.url(), &canary(30)))
        .start()
        .await;
    assert_eq!(
        sides(&restarted, &keys).await,
        at_30,
        "a restart keeps every key's side"
    );
}

#[tokio::test]
async fn the_override_forces_a_side_only_with_the_secret_and_never_reaches_upstream() {
    let legacy = LegacyStub::start().await;
    let secret = "0123456789abcdef-secret";
    let gateway = Launch::new(lifecycle_routes(&legacy.url(), "target = \"service\""))
        .env("GATEWAY_OVERRIDE_HEADER", "x-force-side")
        .env("GATEWAY_OVERRIDE_SECRET", secret)
        .start()
        .await;
    let get = |value: String| {
        request(
            Method::GET,
            &gateway.url("/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a"),
        )
        .header("x-force-side", value)
        .body(Full::<Bytes>::default())
        .expect("test data")
    };

    let forced = gateway.send(get(format!("legacy:{secret}"))).await;
    assert!(
        forced.is_from_legacy(),
        "the secret forces legacy: {forced:?}"
    );
    assert_eq!(forced.header("x-served-by"), Some("legacy"));
    let seen_by_legacy = forced.json();
    assert_eq!(seen_by_legacy["email"], test_support::LEGACY_USER_EMAIL);

    let wrong = gateway.send(get("legacy:guess".to_owned())).await;
    assert!(
        !wrong.is_from_legacy(),
        "a wrong secret changes nothing: {wrong:?}"
    );
    assert_eq!(wrong.header("x-served-by"), Some("service"));

    // The header is stripped before forwarding: legacy's echo of another path shows it.
    let echoed = gateway
        .send(
            request(Method::GET, &gateway.url("/anything"))
                .header("x-force-side", format!("legacy:{secret}"))
                .body(Full::default())
                .expect("test data"),
        )
        .await
        .echo();
    assert!(
        echoed["headers"].get("x-force-side").is_none(),
        "the override header reached legacy: {echoed}"
    );
}

#[tokio::test]
async fn the_served_by_header_can_be_renamed_or_turned_off() {
    let legacy = LegacyStub::start().await;
    let renamed = Launch::new(lifecycle_routes(&legacy.url(), "target = \"legacy\""))
        .env("GATEWAY_SERVED_BY_HEADER", "x-side")
        .start()
        .await;
    assert_eq!(
        renamed.get("/elsewhere").await.header("x-side"),
        Some("legacy")
    );
    assert_eq!(
        renamed
            .get("/v1/accounts/users?limit=1")
            .await
            .header("x-side"),
        Some("service")
    );

    let off = Launch::new(lifecycle_routes(&legacy.url(), "target = \"legacy\""))
        .env("GATEWAY_SERVED_BY_HEADER", "")
        .start()
        .await;
    let reply = off.get("/elsewhere").await;
    assert!(
        reply.header("x-served-by").is_none() && reply.header("x-side").is_none(),
        "{reply:?}"
    );
}

#[tokio::test]
async fn flip_gating_refuses_an_unearned_flip_and_accepts_an_earned_or_forced_one() {
    let legacy = LegacyStub::start().await;
    let require = "require = { match_rate = 0.9, min_samples = 3 }";
    let shadowed = format!("target = \"legacy\"\nshadow = {{ to = \"service\" }}\n{require}");
    let flipped = format!("target = \"service\"\nshadow = {{ to = \"legacy\" }}\n{require}");
    let gateway = Launch::new(lifecycle_routes(&legacy.url(), &shadowed))
        .without_file_watch()
        .start()
        .await;
    let version = gateway.routes_doc().await["table"]["version"].clone();

    gateway.write_routes(&lifecycle_routes(&legacy.url(), &flipped));
    let refused = gateway.reload().await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    let problem = refused.json();
    assert_eq!(problem["code"], "flip-not-earned");
    let reason = problem["problems"][0].as_str().expect("test data");
    assert!(
        reason.contains("route \"get-user\"") && reason.contains("recorded: 0 comparisons"),
        "{reason}"
    );
    assert_eq!(
        gateway.routes_doc().await["table"]["version"],
        version,
        "the old table stays in force"
    );

    // Earn it: three matching comparisons.
    let user = gateway.register_user("earned@example.com").await;
    let path = format!(
        "/v1/accounts/users/{}",
        user["id"].as_str().expect("test data")
    );
    legacy.script(&path, Script::json(user.clone()));
    gateway.write_routes(&lifecycle_routes(&legacy.url(), &shadowed));
    for _ in 0..3 {
        assert!(gateway.get(&path).await.is_from_legacy());
    }
    crate::harness::eventually(Duration::from_secs(15), "three comparisons", || async {
        let summary = gateway
            .admin(Method::GET, "/-/shadow/routes/get-user")
            .await
            .json();
        (summary["compared"] == 3).then_some(())
    })
    .await;
    gateway.write_routes(&lifecycle_routes(&legacy.url(), &flipped));
    let accepted = gateway.reload().await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert!(
        !gateway.get(&path).await.is_from_legacy(),
        "the service now serves the route"
    );

    // A forced flip of an unearned route goes through, and is logged.
    gateway.write_routes(&lifecycle_routes(
        &legacy.url(),
        "target = \"legacy\"\nrequire = { match_rate = 0.9, min_samples = 3 }",
    ));
    assert_eq!(
        gateway.reload().await.status,
        StatusCode::OK,
        "going back to legacy is never gated"
    );
    gateway.write_routes(&format!(
        "{}\n[[routes]]\nname = \"orders\"\nmatch = {{ prefix = \"/v1/orders\" }}\ntarget = \"service\"\n{require}\nforce = true\n",
        lifecycle_routes(&legacy.url(), "target = \"legacy\"")
    ));
    assert_eq!(gateway.reload().await.status, StatusCode::OK);
    gateway
        .log_line("a forced flip is logged", |l| l.contains("flip forced"))
        .await;
}
