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
