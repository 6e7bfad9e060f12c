//! Several upstreams through real sockets: one upstream with two addresses,
//! one killed mid-traffic (passive health ejects it, counted and shown at
//! `/-/upstreams`, and no request fails beyond at most the first), and a
//! route moved to a second, named legacy by a live routes.toml edit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use test_support::LegacyStub;

use crate::harness::{GatewayProcess, Launch, Reply, eventually, request, send};

/// The value of the series `name` (labels included, exactly) in `/-/metrics`.
async fn series(gateway: &GatewayProcess, name: &str) -> Option<f64> {
    let reply = gateway.admin(Method::GET, "/-/metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The addresses of upstream `name` at `/-/upstreams`.
async fn addresses(gateway: &GatewayProcess, name: &str) -> Vec<Value> {
    let reply = gateway.admin(Method::GET, "/-/upstreams").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let doc = reply.json();
    doc["upstreams"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|upstream| upstream["name"] == name)
        .and_then(|upstream| upstream["addresses"].as_array().cloned())
        .unwrap_or_else(|| panic!("no upstream {name:?} in {doc}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_address_is_ejected_and_no_request_fails_beyond_the_first() {
    const CLIENTS: usize = 4;
    let (alive, doomed) = (LegacyStub::start().await, LegacyStub::start().await);
    let routes = format!(
        "[legacy]\nurls = [\"{}\", \"{}\"]\nconnect_timeout = \"1s\"\ntimeout = \"10s\"\nhealth = {{ failures = 2, eject = \"1m\" }}\n",
        alive.url(),
        doomed.url()
    );
    let gateway = Launch::new(routes).without_file_watch().start().await;
    let url = gateway.url("/slow/5");

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, url, stop) = (gateway.client(), url.clone(), stop.clone());
        clients.spawn(async move {
            let mut replies: Vec<Reply> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let get = request(Method::GET, &url)
                    .body(Full::default())
                    .expect("a valid request");
                replies.push(send(&client, get).await);
            }
            replies
        });
    }
    // Both addresses serve, then one dies with requests in flight.
    assert!(
        doomed.wait_for_requests(20, Duration::from_secs(10)).await,
        "round robin sends to the second address"
    );
    assert!(alive.wait_for_requests(20, Duration::from_secs(10)).await);
    let doomed_url = doomed.url();
    doomed.kill();
    let served_before = alive.requests();
    assert!(
        alive
            .wait_for_requests(served_before + 100, Duration::from_secs(20))
            .await,
        "the live address takes the traffic"
    );
    stop.store(true, Ordering::SeqCst);
    let mut replies = Vec::new();
    while let Some(joined) = clients.join_next().await {
        replies.extend(joined.expect("a client task failed"));
    }
    let failed: Vec<&Reply> = replies
        .iter()
        .filter(|reply| reply.status != StatusCode::OK)
        .collect();
    assert!(
        failed.len() <= 1,
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        replies.len()
    );

    assert_eq!(
        series(
            &gateway,
            "gateway_upstream_ejections_total{upstream=\"legacy\"}"
        )
        .await,
        Some(1.0)
    );
    let health = addresses(&gateway, "legacy").await;
    let dead = health
        .iter()
        .find(|address| address["url"].as_str() == Some(&format!("{doomed_url}/")))
        .unwrap_or_else(|| panic!("the killed address in {health:?}"));
    assert_eq!(dead["state"], "ejected", "{health:?}");
    assert_eq!(dead["ejections"], 1, "{health:?}");
    assert!(dead["readmitted_in_ms"].as_u64().is_some(), "{health:?}");
    let live = health
        .iter()
        .find(|address| address["url"].as_str() == Some(&format!("{}/", alive.url())))
        .unwrap_or_else(|| panic!("the live address in {health:?}"));
    assert_eq!(live["state"], "healthy", "{health:?}");
    assert_eq!(live["consecutive_failures"], 0, "{health:?}");
    // Every answered request is counted once, under the upstream: a request
    // resent to the live address after the kill is not counted twice.
    let answered = (replies.len() - failed.len()) as f64;
    let served_series = "gateway_requests_total{route=\"(default)\",target=\"legacy\",upstream=\"legacy\",status_class=\"2xx\"}";
    let served = eventually(Duration::from_secs(5), "every answer counted", || async {
        let served = series(&gateway, served_series).await.unwrap_or_default();
        (served >= answered).then_some(served)
    })
    .await;
    assert_eq!(served, answered, "{served} counted for {answered} answers");

    // `gateway status` and the console show it too.
    let (status, out, err) =
        crate::harness::run_gateway(&["status", "--admin-url", &gateway.admin_url("")]).await;
    assert!(status.success(), "{status}: {out}{err}");
    let line = out
        .lines()
        .find(|line| line.contains(&format!("{doomed_url}/")))
        .unwrap_or_else(|| panic!("no line for the killed address in:\n{out}"));
    assert!(
        line.starts_with("legacy") && line.contains("ejected (again in"),
        "{out}"
    );
    let console = gateway.admin(Method::GET, "/-/console/").await;
    let page = String::from_utf8_lossy(&console.body);
    assert!(
        page.contains(r#"data-upstream="legacy" data-state="ejected""#),
        "{page}"
    );
}

/// `[legacy]` at `main`, `[upstreams.billing-legacy]` at `billing`, and the
/// route `invoices` (`/invoices` and below) sent to `invoices_target`.
fn two_legacies(main: &str, billing: &str, invoices_target: &str) -> String {
    format!(
        r#"[legacy]
url = "{main}"

[upstreams.billing-legacy]
url = "{billing}"
connect_timeout = "1s"

[[routes]]
name = "invoices"
match = {{ prefix = "/invoices" }}
target = "{invoices_target}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_moves_to_a_named_upstream_by_a_live_edit() {
    let (main, billing) = (LegacyStub::start().await, LegacyStub::start().await);
    let gateway = Launch::new(two_legacies(&main.url(), &billing.url(), "legacy"))
        .start()
        .await;
    let invoice = gateway.get("/invoices/7").await;
    assert_eq!(invoice.status, StatusCode::OK, "{invoice:?}");
    assert_eq!((main.requests(), billing.requests()), (1, 0));

    gateway.write_routes(&two_legacies(&main.url(), &billing.url(), "billing-legacy"));
    eventually(
        Duration::from_secs(10),
        "the edit sends /invoices to billing-legacy",
        || async {
            let before = billing.requests();
            let reply = gateway.get("/invoices/7").await;
            (reply.status == StatusCode::OK && billing.requests() > before).then_some(())
        },
    )
    .await;
    let reply = gateway.get("/invoices/8?page=2").await;
    assert!(reply.is_from_legacy(), "{reply:?}");
    assert_eq!(reply.echo()["path"], "/invoices/8", "{reply:?}");
    assert_eq!(reply.echo()["query"], "page=2", "{reply:?}");
    let host = reply.echo()["headers"]["host"].clone();
    assert_eq!(host, billing.addr().to_string(), "{reply:?}");
    // Everything else stays on `[legacy]`.
    let main_before = main.requests();
    let other = gateway.get("/orders/1").await;
    assert_eq!(other.status, StatusCode::OK, "{other:?}");
    assert_eq!(main.requests(), main_before + 1);

    let doc = gateway.routes_doc().await;
    assert_eq!(
        doc["table"]["routes"][0]["upstream"], "billing-legacy",
        "{doc}"
    );
    assert_eq!(doc["table"]["routes"][0]["target"], "legacy", "{doc}");
    assert!(
        series(
            &gateway,
            "gateway_requests_total{route=\"invoices\",target=\"legacy\",upstream=\"billing-legacy\",status_class=\"2xx\"}",
        )
        .await
        .is_some_and(|n| n >= 2.0)
    );
    for kind in ["connect", "tls", "timeout", "io", "invalid-uri"] {
        assert_eq!(
            series(
                &gateway,
                &format!(
                    "gateway_upstream_errors_total{{upstream=\"billing-legacy\",kind=\"{kind}\"}}"
                )
            )
            .await,
            Some(0.0),
            "{kind}"
        );
    }

    // The named upstream down: its route's failures carry its name.
    billing.kill();
    let down = gateway.get("/invoices/9").await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{down:?}");
    // Refused at connect, or, when the pooled keep-alive connection to it
    // had not yet been seen closed as the request took it, dead on it.
    let mut failures = Vec::new();
    for kind in ["connect", "io"] {
        let name =
            format!("gateway_upstream_errors_total{{upstream=\"billing-legacy\",kind=\"{kind}\"}}");
        failures.push((kind, series(&gateway, &name).await.unwrap_or(0.0)));
    }
    assert!(
        failures.iter().any(|(_, n)| *n >= 1.0),
        "a failure of billing-legacy counted under its name: {failures:?}"
    );
    assert_eq!(
        series(
            &gateway,
            "gateway_upstream_errors_total{upstream=\"legacy\",kind=\"connect\"}"
        )
        .await,
        Some(0.0)
    );

    // A route naming an upstream that does not exist is refused, at its position.
    gateway.write_routes(&two_legacies(
        &main.url(),
        "http://127.0.0.1:9",
        "bililng-legacy",
    ));
    let doc = gateway.routes_doc_after_rejections(1).await;
    let problem = doc["reloads"]["last_error"]["problems"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        problem.ends_with(
            "routes.toml:11:10: no upstream named \"bililng-legacy\"; known: billing-legacy, legacy, service"
        ),
        "{problem}"
    );
}

#[tokio::test]
async fn check_lists_each_upstream_and_the_routes_it_serves() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("routes.toml");
    let text = format!(
        "{}\n[upstreams.crm]\nurls = [\"http://127.0.0.1:9\", \"http://127.0.0.1:10\"]\nbalance = \"least_requests\"\n",
        two_legacies("http://127.0.0.1:8", "http://127.0.0.1:7", "billing-legacy")
    );
    std::fs::write(&file, text).expect("writing the file");
    let file = file.display().to_string();

    let (status, stdout, stderr) = crate::harness::run_gateway(&["check", &file]).await;

    assert!(status.success(), "{status}: {stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{file}: ok (1 route(s), version ")),
        "{stdout}"
    );
    assert_eq!(
        &lines[1..],
        [
            "  upstream legacy: 1 address(es), round_robin; serves (default)",
            "  upstream billing-legacy: 1 address(es), round_robin; serves invoices",
            "  upstream crm: 2 address(es), least_requests; serves no route (unused)",
        ],
        "{stdout}"
    );
}
