//! Header hygiene for the hop between the gateway and legacy.
//!
//! Pure functions over [`HeaderMap`]: no I/O, no clock, table-tested below.
//! [`super::legacy`] calls them on the way out ([`prepare_request_headers`])
//! and on the way back ([`strip_hop_by_hop`]).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

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
/// plus the RFC 2616 names still seen in the wild). Names, not strings: a
/// lookup by string parses the name on every call.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
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
    /// The scheme the client used (`"http"` or `"https"`).
    pub(crate) proto: &'static str,
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
    // One pass over the message's few names finds which hop-by-hop ones it
    // has; the usual request has none, the usual response only `Connection`
    // (`keep-alive`), so only those present are looked up again to remove.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        // (`Connection`, `TE` and `Upgrade` are among them, so nothing below applies.)
        return;
    }
    let keep_upgrade = upgrade == UpgradeHeaders::Keep;
    // Options naming a hop-by-hop header are removed below anyway, and
    // `close` names none: parse only the rest (usually nothing).
    let named: Vec<HeaderName> = tokens(headers, &header::CONNECTION)
        .filter(|token| {
            !token.eq_ignore_ascii_case("close")
                && !HOP_BY_HOP
                    .iter()
                    .any(|hop| token.eq_ignore_ascii_case(hop.as_str()))
        })
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    let te_trailers = has_token(headers, &header::TE, "trailers");

    for name in &named {
        headers.remove(name);
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 && !(keep_upgrade && name == header::UPGRADE) {
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
    let mut text = [0; MAX_IPV4_TEXT];
    let ip = match client_ip.to_canonical() {
        IpAddr::V4(v4) => Cow::Borrowed(ipv4_text(v4, &mut text)),
        v6 => Cow::Owned(v6.to_string()),
    };
    if !headers.contains_key(&X_FORWARDED_FOR) {
        // The usual case: the client is the first hop. An address is always a valid value.
        if let Ok(value) = HeaderValue::from_str(&ip) {
            headers.insert(X_FORWARDED_FOR, value);
        }
        return;
    }
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

/// The longest IPv4 address in dotted-decimal text (`255.255.255.255`).
const MAX_IPV4_TEXT: usize = 15;

/// `ip` in dotted decimal, as `Ipv4Addr`'s `Display` writes it, into `buf`.
///
/// Written by hand because this runs for every forwarded request, and the
/// formatting machinery behind `Display` cost about 1,300 instructions for
/// it, more than the rest of the forwarding headers together.
fn ipv4_text(ip: Ipv4Addr, buf: &mut [u8; MAX_IPV4_TEXT]) -> &str {
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    // Only ASCII digits and dots were written.
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
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

    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(forwarding.proto),
    );
    match forwarding.client_host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
        None => headers.remove(X_FORWARDED_HOST),
    };
    headers.insert(header::HOST, forwarding.upstream_host.clone());
    headers.insert(X_REQUEST_ID, forwarding.request_id.clone());
}

#[cfg(test)]
mod tests;
