//! What operators rely on: SIGHUP reloads, the slow-loris guard, the metrics after real traffic.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use test_support::LegacyStub;

use crate::harness::{Launch, eventually, routes};

#[tokio::test]
async fn sighup_reloads_the_routes_file() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), "legacy"))
        .without_file_watch()
        .start()
        .await;
    let before = gateway.routes_doc().await["table"]["version"].clone();

    gateway.write_routes(&routes(&legacy.url(), "service"));
    gateway.signal("HUP");

    let after = eventually(Duration::from_secs(10), "a reload after SIGHUP", || async {
        let version = gateway.routes_doc().await["table"]["version"].clone();
        (version != before).then_some(version)
    })
    .await;
    assert_ne!(after, before);
    let doc = gateway.routes_doc().await;
    assert_eq!(doc["reloads"]["succeeded"], 1, "{doc}");
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_disconnected() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), "legacy"))
        .env("GATEWAY_SERVER__HEADER_READ_TIMEOUT_SECS", "1")
        .start()
        .await;
    let addr = gateway.listen();

    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connecting");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        let started = Instant::now();
        // Half a request head, then silence.
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Drip: ")
            .expect("writing");
        let mut buf = [0u8; 1024];
        // The server answers 408 or just closes; either way the read ends.
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        started.elapsed()
    })
    .await
    .expect("the slow client");

    assert!(
        closed_after < Duration::from_secs(8),
        "the connection was held for {closed_after:?}"
    );
    assert_eq!(
        legacy.requests(),
        0,
        "an incomplete request head never reaches legacy"
    );
}

#[tokio::test]
async fn the_metrics_endpoint_has_every_series_after_real_traffic() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), "legacy"))
        .without_file_watch()
        .start()
        .await;
    gateway.register_user("metrics@example.com").await;
    assert_eq!(
        gateway.get("/some/legacy/page").await.status,
        StatusCode::OK
    );
    assert_eq!(gateway.reload().await.status, StatusCode::OK);

    let reply = gateway.admin(Method::GET, "/-/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{reply:?}"
    );
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    for series in [
        "gateway_requests_total{route=\"accounts\",target=\"service\",upstream=\"service\",status_class=\"2xx\"} 1",
        "gateway_requests_total{route=\"(default)\",target=\"legacy\",upstream=\"legacy\",status_class=\"2xx\"} 1",
        "gateway_request_duration_seconds_bucket{route=\"accounts\",target=\"service\",upstream=\"service\",le=\"+Inf\"} 1",
        "gateway_requests_in_flight 0",
        "gateway_route_reloads_total{result=\"unchanged\"} 1",
        "gateway_route_table_info{version=",
        "gateway_route_table_loaded_timestamp_seconds ",
        "gateway_db_pool_connections{state=\"max\"} 10",
        "# TYPE gateway_request_duration_seconds histogram",
    ] {
        assert!(text.contains(series), "missing {series:?} in:\n{text}");
    }
    assert!(
        !text.contains("/some/legacy/page"),
        "raw paths are never labels"
    );
}

/// The access-log lines on stderr that carry `request_id`, parsed.
fn access_log_lines(stderr: &str, request_id: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "access_log" && line["request_id"] == request_id)
        .collect()
}

#[tokio::test]
async fn the_access_log_has_one_line_per_request_with_its_fields() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(routes(&legacy.url(), "legacy"))
        .without_file_watch()
        .start()
        .await;
    let request = crate::harness::request(Method::GET, &gateway.url("/some/page?secret=1"))
        .header("x-request-id", "access-log-1")
        .body(Default::default())
        .expect("a request");
    let reply = gateway.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);

    gateway
        .log_line("the access-log line", |line| line.contains("access-log-1"))
        .await;
    let lines = access_log_lines(&gateway.stderr(), "access-log-1");
    assert_eq!(lines.len(), 1, "exactly one line per request: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "(default)", "{line}");
    assert_eq!(line["side"], "legacy", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["client"], "127.0.0.1", "{line}");
    assert_eq!(
        line["response_bytes"].as_u64(),
        Some(reply.body.len() as u64),
        "{line}"
    );
    assert!(
        line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    assert!(line["timestamp"].is_string(), "{line}");
    assert!(
        !line.to_string().contains("secret"),
        "the query never reaches the log: {line}"
    );
}

#[tokio::test]
async fn a_gateway_error_is_logged_with_its_request_id_and_route() {
    // Nothing listens on port 1: every forward fails to connect.
    let gateway = Launch::new(routes("http://127.0.0.1:1", "legacy"))
        .without_file_watch()
        .start()
        .await;
    let request = crate::harness::request(Method::GET, &gateway.url("/unreachable"))
        .header("x-request-id", "error-log-1")
        .body(Default::default())
        .expect("a request");
    assert_eq!(gateway.send(request).await.status, StatusCode::BAD_GATEWAY);

    let warning = gateway
        .log_line("the error's line", |line| {
            line.contains("gateway answered with an error")
        })
        .await;
    let warning: serde_json::Value = serde_json::from_str(&warning).expect("a JSON log line");
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["request_id"], "error-log-1", "{warning}");
    assert_eq!(warning["route"], "(default)", "{warning}");
    assert_eq!(warning["code"], "upstream-unreachable", "{warning}");
    gateway
        .log_line("the access-log line", |line| {
            line.contains("error-log-1") && line.contains("\"access_log\"")
        })
        .await;
    let access = access_log_lines(&gateway.stderr(), "error-log-1");
    assert_eq!(access.len(), 1, "{access:?}");
    assert_eq!(access[0]["status"], 502, "{access:?}");
}

#[tokio::test]
async fn the_alerted_counters_exist_at_zero_from_start_up() {
    let legacy = LegacyStub::start().await;
    let table = |extra: Option<&str>| {
        let mut table = test_support::RoutesToml::new(&legacy.url())
            .default_target("legacy")
            .accounts_to_service()
            .get_user("target = \"legacy\"\nshadow = { to = \"service\" }");
        if let Some(name) = extra {
            table = table.route(
                name,
                "prefix = \"/v1/orders\"",
                "target = \"legacy\"\nshadow = { to = \"service\" }",
            );
        }
        table.build()
    };
    let gateway = Launch::new(table(None)).without_file_watch().start().await;

    let scrape = || async {
        let reply = gateway.admin(Method::GET, "/-/metrics").await;
        assert_eq!(reply.status, StatusCode::OK);
        String::from_utf8_lossy(&reply.body).into_owned()
    };
    let text = scrape().await;
    let mut expected: Vec<String> = ["connect", "tls", "timeout", "io", "invalid-uri"]
        .iter()
        .map(|kind| {
            format!("gateway_upstream_errors_total{{upstream=\"legacy\",kind=\"{kind}\"}} 0")
        })
        .collect();
    expected.push("gateway_upstream_ejections_total{upstream=\"legacy\"} 0".to_owned());
    expected.extend(
        ["reloaded", "unchanged", "rejected"]
            .iter()
            .map(|result| format!("gateway_route_reloads_total{{result=\"{result}\"}} 0")),
    );
    expected.extend(
        [
            "gateway_override_rejected_total 0",
            "gateway_shadow_records_dropped_total 0",
            "gateway_log_lines_dropped_total 0",
            "gateway_tls_reloads_total{result=\"ok\"} 0",
            "gateway_tls_reloads_total{result=\"error\"} 0",
            "gateway_tls_handshake_failures_total{reason=\"timeout\"} 0",
            "gateway_tls_handshake_failures_total{reason=\"error\"} 0",
            "gateway_tls_handshake_failures_total{reason=\"plain-http\"} 0",
        ]
        .map(str::to_owned),
    );
    for series in &expected {
        assert!(
            text.contains(series.as_str()),
            "missing {series:?} at start-up in:\n{text}"
        );
    }
    // Every outcome label (`shadow_diff::Outcome::ALL`, eleven of them) of the shadowed route, at 0.
    let outcomes: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("gateway_shadow_comparisons_total{route=\"get-user\""))
        .collect();
    assert_eq!(outcomes.len(), 11, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|line| line.ends_with(" 0")),
        "{outcomes:?}"
    );
    assert!(
        !text.contains("route=\"accounts\",outcome="),
        "only shadowed routes have outcome series:\n{text}"
    );

    assert!(!text.contains("route=\"orders\""), "{text}");

    // A reload that shadows another route exports its series before its first mirror.
    gateway.write_routes(&table(Some("orders")));
    assert_eq!(gateway.reload().await.status, StatusCode::OK);
    let text = scrape().await;
    assert!(
        text.contains("gateway_route_reloads_total{result=\"reloaded\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("gateway_shadow_comparisons_total{route=\"orders\",outcome=\"match\"} 0"),
        "{text}"
    );
}
