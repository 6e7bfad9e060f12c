//! Header hygiene for the hop between the gateway and legacy.
//!
//! Pure functions over [`HeaderMap`]: no I/O, no clock, table-tested below.
//! [`super::legacy`] calls them on the way out ([`prepare_request_headers`])
//! and on the way back ([`strip_hop_by_hop`]).

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `X-Forwarded-For`: the chain of client addresses, oldest first.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`: the scheme the client used to reach the gateway.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the `Host` the client asked for.
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Request-Id`: the gateway's id for this request.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1,
/// plus the RFC 2616 names still seen in the wild). Lower case, as
/// [`HeaderName`] stores them.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether the `Upgrade` handshake headers survive the hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpgradeHeaders {
    /// An ordinary message: `Upgrade` is removed like every hop-by-hop header.
    Strip,
    /// A protocol switch being forwarded (the upgrade request, or legacy's
    /// `101`): `Upgrade` is kept and `Connection` is re-set to `upgrade`.
    Keep,
}

/// What the gateway knows about one request, for the forwarding headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forwarding<'a> {
    /// The client's address as the gateway's socket saw it.
    pub(crate) client_ip: IpAddr,
    /// The scheme the client used (`"http"`).
    pub(crate) proto: &'a str,
    /// The client's `Host` (or, for HTTP/2, the URI authority), if any.
    pub(crate) client_host: Option<&'a HeaderValue>,
    /// The gateway's id for this request.
    pub(crate) request_id: &'a HeaderValue,
    /// The `Host` legacy expects: the authority of its base URL.
    pub(crate) upstream_host: &'a HeaderValue,
}

/// The comma-separated tokens of every `name` field line, trimmed, without
/// parameters (`gzip;q=0.5` gives `gzip`). Lines that are not visible ASCII
/// are skipped.
pub(crate) fn tokens<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| token.split(';').next())
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Whether any `name` field line lists `token` (ASCII case-insensitive).
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Removes the hop-by-hop headers and every header named in `Connection`.
///
/// Two exceptions, both re-set after the removal:
/// - `TE: trailers` survives (any other `TE` coding is dropped), with
///   `Connection: te` as RFC 9110 §10.1.4 requires of whoever sends `TE`.
/// - With [`UpgradeHeaders::Keep`], `Upgrade` survives and `Connection` is
///   `upgrade` (plus `te` as above); other options in `Connection` still go.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: UpgradeHeaders) {
    let keep_upgrade = upgrade == UpgradeHeaders::Keep;
    let named: Vec<HeaderName> = tokens(headers, &header::CONNECTION)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    let te_trailers = has_token(headers, &header::TE, "trailers");

    for name in &named {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }

    let connection = match (keep_upgrade, te_trailers) {
        (false, false) => None,
        (false, true) => Some("te"),
        (true, false) => Some("upgrade"),
        (true, true) => Some("upgrade, te"),
    };
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(connection) = connection {
        headers.insert(header::CONNECTION, HeaderValue::from_static(connection));
    }
}

/// Appends `client_ip` to `X-Forwarded-For`, after any existing value (all
/// existing field lines are folded into one, comma-separated).
///
/// IPv4-mapped IPv6 addresses are written as IPv4; IPv6 without brackets, as
/// most consumers of this header expect.
pub(crate) fn append_forwarded_for(headers: &mut HeaderMap, client_ip: IpAddr) {
    let ip = client_ip.to_canonical().to_string();
    let mut chain: Vec<u8> = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let value = value.as_bytes().trim_ascii();
        if value.is_empty() {
            continue;
        }
        if !chain.is_empty() {
            chain.extend_from_slice(b", ");
        }
        chain.extend_from_slice(value);
    }
    if !chain.is_empty() {
        chain.extend_from_slice(b", ");
    }
    chain.extend_from_slice(ip.as_bytes());

    // The bytes came from valid header values joined by ", ", so this cannot
    // fail; falling back to the bare address keeps the function total.
    let value = HeaderValue::from_bytes(&chain)
        .or_else(|_| HeaderValue::from_str(&ip))
        .ok();
    headers.remove(&X_FORWARDED_FOR);
    if let Some(value) = value {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Turns the client's request headers into the ones sent to legacy.
///
/// In order: strips hop-by-hop headers ([`strip_hop_by_hop`]), appends the
/// client to `X-Forwarded-For`, and sets (replacing whatever the client sent,
/// since the gateway is the edge and those values could be forged):
/// `X-Forwarded-Proto`, `X-Forwarded-Host` (removed when the client sent no
/// host), `Host` (legacy's authority) and `X-Request-Id`. Everything else,
/// `traceparent` and `tracestate` included, is passed untouched here (with
/// tracing on, the caller then injects its own span context).
pub(crate) fn prepare_request_headers(
    headers: &mut HeaderMap,
    upgrade: UpgradeHeaders,
    forwarding: &Forwarding<'_>,
) {
    strip_hop_by_hop(headers, upgrade);
    append_forwarded_for(headers, forwarding.client_ip);

    match HeaderValue::from_str(forwarding.proto) {
        Ok(proto) => headers.insert(X_FORWARDED_PROTO, proto),
        Err(_) => headers.remove(X_FORWARDED_PROTO),
    };
    match forwarding.client_host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
        None => headers.remove(X_FORWARDED_HOST),
    };
    headers.insert(header::HOST, forwarding.upstream_host.clone());
    headers.insert(X_REQUEST_ID, forwarding.request_id.clone());
}

#[cfg(test)]
mod tests {
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
}
