//! The repository's `routes.toml` sends the API's OpenAPI document and its
//! interactive documentation (`/docs`) to the service, as clients reach them.

use http::StatusCode;
use test_support::LegacyStub;

use crate::harness::Launch;

/// The repository's `routes.toml`, with legacy at `legacy_url`.
pub(crate) fn repository_routes(legacy_url: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../routes.toml");
    let routes = std::fs::read_to_string(&path).expect("reading the repository's routes.toml");
    let default_legacy = "url = \"http://127.0.0.1:8000\"";
    assert!(routes.contains(default_legacy), "{routes}");
    routes.replace(default_legacy, &format!("url = \"{legacy_url}\""))
}

#[tokio::test]
async fn the_document_and_the_docs_page_are_served_by_the_service_through_the_gateway() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(repository_routes(&stub.url())).start().await;

    let document = gateway.get("/v1/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK, "{document:?}");
    assert_eq!(document.header("x-served-by"), Some("service"));
    assert!(document.json()["paths"]["/v1/accounts/users"].is_object());

    let redirect = gateway.get("/docs").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER, "{redirect:?}");
    assert_eq!(redirect.header("location"), Some("/docs/"));
    for path in [
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let reply = gateway.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        assert_eq!(reply.header("x-served-by"), Some("service"), "{path}");
    }
    let initializer = gateway.get("/docs/swagger-initializer.js").await;
    assert!(
        String::from_utf8_lossy(&initializer.body).contains("\"url\": \"/v1/openapi.json\""),
        "the page reads the document through the same host: {initializer:?}"
    );

    assert_eq!(stub.requests(), 0, "none of it reaches legacy");
}
