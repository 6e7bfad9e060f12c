//! Request paths are normalised before matching: traversal cannot pick a
//! route it should not, encoded separators are refused, prefixes match whole
//! segments.

use http::StatusCode;
use test_support::LegacyStub;

use crate::harness::{GatewayProcess, Launch, routes};

async fn gateway_with_stub() -> (LegacyStub, GatewayProcess) {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "service")).start().await;
    (stub, gateway)
}

#[tokio::test]
async fn dot_segments_are_resolved_before_matching() {
    let (stub, gateway) = gateway_with_stub().await;

    let cases = [
        // Out of the service's prefix: legacy gets the resolved path.
        ("/v1/accounts/users/../../../legacy-only", "/legacy-only"),
        ("/v1/accounts/%2e%2e/%2E%2e/legacy-only?x=1", "/legacy-only"),
        ("/v1/accounts/./users/%2e%2e/%2e%2e/orders", "/v1/orders"),
    ];
    for (raw, expected) in cases {
        let reply = gateway.get(raw).await;
        assert_eq!(reply.status, StatusCode::OK, "{raw}: {reply:?}");
        assert_eq!(reply.echo()["path"], expected, "{raw}");
    }
    assert_eq!(stub.requests(), cases.len());
}

#[tokio::test]
async fn traversal_into_a_service_route_lands_in_the_service() {
    let (stub, gateway) = gateway_with_stub().await;
    let user = gateway.register_user("traversal@example.com").await;
    let id = user["id"].as_str().expect("an id");

    for raw in [
        format!("/legacy/area/../../v1/accounts/users/{id}"),
        format!("/legacy/%2e%2e/v1/accounts/users/./{id}"),
    ] {
        let reply = gateway.get(&raw).await;
        assert_eq!(reply.status, StatusCode::OK, "{raw}: {reply:?}");
        assert!(!reply.is_from_legacy(), "{raw}: {reply:?}");
        assert_eq!(reply.json()["id"], id, "{raw}");
    }
    assert_eq!(stub.requests(), 0);
}

#[tokio::test]
async fn an_encoded_slash_is_a_400_problem() {
    let (stub, gateway) = gateway_with_stub().await;

    for raw in [
        "/v1/accounts%2Fusers",
        "/legacy/a%2fb",
        "/v1/accounts/users/x%2F..%2F..%2Fadmin",
        "/legacy/a%5Cb",
    ] {
        let reply = gateway.get(raw).await;
        reply.gateway_problem(StatusCode::BAD_REQUEST, "bad-path");
    }
    assert_eq!(stub.requests(), 0, "refused paths never reach legacy");
}

#[tokio::test]
async fn a_prefix_matches_whole_segments_only() {
    let (stub, gateway) = gateway_with_stub().await;

    let outside = gateway.get("/v1/accountsX/users").await;
    assert_eq!(outside.status, StatusCode::OK, "{outside:?}");
    assert_eq!(outside.echo()["path"], "/v1/accountsX/users");

    let inside = gateway.get("/v1/accounts/no-such-thing").await;
    assert!(!inside.is_from_legacy(), "{inside:?}");
    assert_eq!(
        inside.status,
        StatusCode::NOT_FOUND,
        "the service's own 404: {inside:?}"
    );

    assert_eq!(stub.requests(), 1);
}
