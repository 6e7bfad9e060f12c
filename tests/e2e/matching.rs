//! Matching beyond the path, through the gateway binary and real sockets: a
//! tenant's requests (a header) and a query parameter move to the service
//! while everyone else's stay on legacy.

use http::Method;
use http_body_util::Full;
use test_support::LegacyStub;

use crate::harness::{Launch, request};

#[tokio::test]
async fn a_tenant_header_or_a_query_parameter_picks_the_service() {
    let stub = LegacyStub::start().await;
    let routes = format!(
        r#"[legacy]
url = "{}"

[[routes]]
name = "acme"
match = {{ prefix = "/v1/accounts", header = {{ x-tenant = "acme" }} }}
target = "service"

[[routes]]
name = "beta"
match = {{ prefix = "/v1/accounts", query = {{ beta = "1" }} }}
target = "service"
"#,
        stub.url()
    );
    let gateway = Launch::new(routes).start().await;
    let list = |tenant: Option<&'static str>, query: &str| {
        let mut builder = request(
            Method::GET,
            &gateway.url(&format!("/v1/accounts/users{query}")),
        );
        if let Some(tenant) = tenant {
            builder = builder.header("x-tenant", tenant);
        }
        builder.body(Full::default()).expect("a valid request")
    };
    for (tenant, query, from_legacy) in [
        (None, "", true),
        (Some("acme"), "", false),
        (Some("globex"), "", true),
        (Some("ACME"), "", true),
        (None, "?beta=1", false),
        (None, "?beta=2", true),
        (Some("globex"), "?limit=5&beta=1", false),
    ] {
        let reply = gateway.send(list(tenant, query)).await;
        assert_eq!(
            reply.is_from_legacy(),
            from_legacy,
            "{tenant:?} {query:?}: {reply:?}"
        );
    }
    let routes = gateway.admin(Method::GET, "/-/routes").await.json();
    let conditions = &routes["table"]["routes"];
    assert_eq!(
        conditions[0]["conditions"]["headers"]["x-tenant"], "acme",
        "{routes}"
    );
    assert_eq!(
        conditions[1]["conditions"]["query"]["beta"], "1",
        "{routes}"
    );
}

#[tokio::test]
async fn each_side_receives_its_rewritten_path_and_headers() {
    let stub = LegacyStub::start().await;
    let routes = format!(
        r#"[legacy]
url = "{}"

[[routes]]
name = "old-api"
match = {{ prefix = "/api/users" }}
target = "legacy"
rewrite.legacy = {{ path = "/legacy/users", set_headers = {{ x-api = "v1" }}, remove_headers = ["x-drop"] }}

[[routes]]
name = "people"
match = {{ path = "/api/people" }}
target = "service"
rewrite.service = {{ path = "/v1/accounts/users" }}

[[routes]]
name = "person"
match = {{ path = "/api/people/{{id}}" }}
target = "legacy"
rewrite.legacy = {{ path = "/v1/accounts/users/{{id}}" }}
"#,
        stub.url()
    );
    let gateway = Launch::new(routes).start().await;

    let reply = gateway
        .send(
            request(Method::GET, &gateway.url("/api/users/7/orders?y=1"))
                .header("x-drop", "secret")
                .header("x-api", "v0")
                .body(Full::default())
                .expect("a valid request"),
        )
        .await;
    assert!(reply.is_from_legacy(), "{reply:?}");
    let echo = reply.json();
    assert_eq!(echo["path"], "/legacy/users/7/orders", "{echo}");
    assert_eq!(echo["query"], "y=1", "{echo}");
    assert_eq!(echo["headers"]["x-api"], "v1", "{echo}");
    assert!(echo["headers"].get("x-drop").is_none(), "{echo}");

    // The service's list, reached through the rewritten path.
    let listed = gateway.get("/api/people?limit=1").await;
    assert_eq!(listed.status, http::StatusCode::OK, "{listed:?}");
    assert!(!listed.is_from_legacy(), "{listed:?}");
    assert!(listed.json()["items"].is_array(), "{listed:?}");

    // A template with the match's parameter: the stub's user answer.
    let id = "0190a0b0-0000-7000-8000-000000000001";
    let person = gateway.get(&format!("/api/people/{id}")).await;
    assert!(person.is_from_legacy(), "{person:?}");
    assert_eq!(
        person.json()["email"],
        test_support::LEGACY_USER_EMAIL,
        "{person:?}"
    );
}
