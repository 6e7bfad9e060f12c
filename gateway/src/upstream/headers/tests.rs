//! Header hygiene, case by case: hop-by-hop removal, `X-Forwarded-*`, the request id.

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn sorted(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    pairs.sort();
    pairs
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn strip_hop_by_hop_table() {
    use UpgradeHeaders::{Keep, Strip};
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        UpgradeHeaders,
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        (
            "nothing to strip",
            &[("accept", "*/*")],
            Strip,
            &[("accept", "*/*")],
        ),
        (
            "every fixed hop-by-hop name",
            &[
                ("connection", "keep-alive"),
                ("keep-alive", "timeout=5"),
                ("proxy-connection", "keep-alive"),
                ("proxy-authenticate", "Basic"),
                ("proxy-authorization", "Basic Zm9vOmJhcg=="),
                ("te", "gzip"),
                ("trailer", "x-checksum"),
                ("transfer-encoding", "chunked"),
                ("upgrade", "websocket"),
                ("x-end-to-end", "1"),
            ],
            Strip,
            &[("x-end-to-end", "1")],
        ),
        (
            "headers named in Connection, across lines and cases",
            &[
                ("connection", "close, X-Custom-Hop"),
                ("connection", " x-other ;p=1"),
                ("x-custom-hop", "a"),
                ("x-other", "b"),
                ("x-kept", "c"),
            ],
            Strip,
            &[("x-kept", "c")],
        ),
        (
            "TE: trailers survives with Connection: te",
            &[("te", "gzip;q=0.5, Trailers"), ("connection", "TE")],
            Strip,
            &[("te", "trailers"), ("connection", "te")],
        ),
        (
            "upgrade kept when forwarding a protocol switch",
            &[
                ("connection", "Upgrade, x-hop"),
                ("upgrade", "websocket"),
                ("x-hop", "1"),
                ("keep-alive", "timeout=5"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            Keep,
            &[
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        ),
        (
            "upgrade with TE: trailers",
            &[
                ("connection", "upgrade, te"),
                ("upgrade", "x"),
                ("te", "trailers"),
            ],
            Keep,
            &[
                ("connection", "upgrade, te"),
                ("upgrade", "x"),
                ("te", "trailers"),
            ],
        ),
        (
            "Connection naming an end-to-end header removes it",
            &[("connection", "x-request-id"), ("x-request-id", "abc")],
            Strip,
            &[],
        ),
        (
            "invalid token in Connection is ignored",
            &[("connection", "bad token, x-a"), ("x-a", "1"), ("x-b", "2")],
            Strip,
            &[("x-b", "2")],
        ),
    ];
    for (name, input, mode, expected) in cases {
        let mut headers = map(input);
        strip_hop_by_hop(&mut headers, *mode);
        assert_eq!(sorted(&headers), owned(expected), "case: {name}");
    }
}

#[test]
fn ipv4_text_is_display() {
    let mut samples = vec![
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(10, 0, 99, 100),
        Ipv4Addr::new(9, 10, 199, 200),
    ];
    // Every octet value in every position, and a spread of whole addresses.
    for n in 0..=255u8 {
        samples.push(Ipv4Addr::new(n, 255 - n, n / 2, n.wrapping_mul(7)));
    }
    let mut buf = [0; MAX_IPV4_TEXT];
    for ip in samples {
        assert_eq!(ipv4_text(ip, &mut buf), ip.to_string());
    }
}

#[test]
fn append_forwarded_for_table() {
    let cases: &[(&str, &[&str], &str, &str)] = &[
        ("no existing value", &[], "198.51.100.7", "198.51.100.7"),
        (
            "appends after one value",
            &["203.0.113.9"],
            "198.51.100.7",
            "203.0.113.9, 198.51.100.7",
        ),
        (
            "folds several lines",
            &["203.0.113.9, 10.0.0.1", " 10.0.0.2 "],
            "198.51.100.7",
            "203.0.113.9, 10.0.0.1, 10.0.0.2, 198.51.100.7",
        ),
        (
            "skips empty lines",
            &["", "  "],
            "198.51.100.7",
            "198.51.100.7",
        ),
        ("ipv6 without brackets", &[], "2001:db8::1", "2001:db8::1"),
        (
            "ipv4-mapped ipv6 as ipv4",
            &[],
            "::ffff:192.0.2.1",
            "192.0.2.1",
        ),
    ];
    for (name, existing, ip, expected) in cases {
        let mut headers = HeaderMap::new();
        for value in *existing {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        append_forwarded_for(&mut headers, ip.parse().unwrap());
        let values: Vec<_> = headers.get_all(X_FORWARDED_FOR).iter().collect();
        assert_eq!(values, vec![*expected], "case: {name}");
    }
}

#[test]
fn prepare_request_headers_table() {
    let request_id = HeaderValue::from_static("req-1");
    let upstream_host = HeaderValue::from_static("legacy.internal:8080");
    let client_host = HeaderValue::from_static("shop.example");
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        bool,
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        (
            "fresh request",
            &[("host", "shop.example"), ("accept", "*/*")],
            true,
            &[
                ("host", "legacy.internal:8080"),
                ("accept", "*/*"),
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "shop.example"),
                ("x-request-id", "req-1"),
            ],
        ),
        (
            "client-supplied forwarding headers: XFF kept, others overwritten",
            &[
                ("host", "shop.example"),
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.example"),
                ("x-request-id", "client-chosen"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
            true,
            &[
                ("host", "legacy.internal:8080"),
                ("x-forwarded-for", "203.0.113.9, 192.0.2.1"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "shop.example"),
                ("x-request-id", "req-1"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
        ),
        (
            "no client host: a forged X-Forwarded-Host is removed",
            &[("x-forwarded-host", "evil.example")],
            false,
            &[
                ("host", "legacy.internal:8080"),
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-proto", "http"),
                ("x-request-id", "req-1"),
            ],
        ),
    ];
    for (name, input, with_host, expected) in cases {
        let mut headers = map(input);
        let forwarding = Forwarding {
            client_ip: "192.0.2.1".parse().unwrap(),
            proto: "http",
            client_host: with_host.then_some(&client_host),
            request_id: &request_id,
            upstream_host: &upstream_host,
        };
        prepare_request_headers(&mut headers, UpgradeHeaders::Strip, &forwarding);
        assert_eq!(sorted(&headers), owned(expected), "case: {name}");
    }
}

#[test]
fn has_token_table() {
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: &[(Pairs, &str, bool)] = &[
        (&[("connection", "Upgrade")], "upgrade", true),
        (&[("connection", "keep-alive, upgrade")], "upgrade", true),
        (
            &[("connection", "keep-alive"), ("connection", "UPGRADE")],
            "upgrade",
            true,
        ),
        (&[("connection", "upgraded")], "upgrade", false),
        (&[("connection", "")], "upgrade", false),
        (&[], "upgrade", false),
    ];
    for (input, token, expected) in cases {
        let headers = map(input);
        assert_eq!(
            has_token(&headers, &header::CONNECTION, token),
            *expected,
            "input: {input:?}"
        );
    }
}
