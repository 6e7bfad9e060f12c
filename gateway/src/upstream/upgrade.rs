//! HTTP/1.1 `Upgrade` pass-through (WebSocket and friends).
//!
//! An upgrade request is forwarded with `Connection: upgrade` and its
//! `Upgrade` header. When legacy answers `101 Switching Protocols`,
//! [`spawn_tunnel`] waits for both sides to finish switching and then copies
//! bytes both ways until either side closes. The gateway's server must serve
//! connections with upgrades enabled (hyper-util's
//! `serve_connection_with_upgrades`), or the client side never switches.
//!
//! Not covered: HTTP/2 extended CONNECT (RFC 8441) WebSockets, and `h2c`
//! upgrades, which are refused on purpose: after an `h2c` switch every later
//! request on that connection would bypass the gateway's routing.

use http::HeaderMap;
use http::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::headers::{has_token, tokens};

/// Whether `headers` ask for an HTTP/1.1 protocol switch that the gateway
/// passes through to legacy.
///
/// True when `Connection` lists `upgrade` and `Upgrade` names at least one
/// protocol, none of them `h2c` (an `h2c` request is forwarded as an ordinary
/// request, with `Upgrade` stripped).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return false;
    }
    let mut protocols = tokens(headers, &header::UPGRADE).peekable();
    protocols.peek().is_some()
        && protocols.all(|protocol| {
            let name = protocol.split('/').next().unwrap_or(protocol);
            !name.trim().eq_ignore_ascii_case("h2c")
        })
}

/// Joins the client's and legacy's upgraded connections in a spawned task.
///
/// Both futures resolve only after the `101` has gone through hyper on each
/// side, so the caller returns the `101` response first and the task picks
/// up from there. Failures are logged (there is no caller left to tell) at
/// `debug`: a client that goes away mid-switch is routine.
pub(super) fn spawn_tunnel(client: OnUpgrade, legacy: OnUpgrade, request_id: HeaderValue) {
    tokio::spawn(async move {
        let (client, legacy) = match tokio::try_join!(client, legacy) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(?request_id, %error, "upgrade to legacy did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut legacy = TokioIo::new(legacy);
        match tokio::io::copy_bidirectional(&mut client, &mut legacy).await {
            Ok((to_legacy, to_client)) => {
                tracing::debug!(?request_id, to_legacy, to_client, "upgraded tunnel closed");
            }
            Err(error) => {
                tracing::debug!(?request_id, %error, "upgraded tunnel failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    #[test]
    fn is_upgrade_request_table() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Pairs, bool)] = &[
            (
                "websocket",
                &[("connection", "Upgrade"), ("upgrade", "websocket")],
                true,
            ),
            (
                "upgrade among other options",
                &[
                    ("connection", "keep-alive, upgrade"),
                    ("upgrade", "websocket"),
                ],
                true,
            ),
            (
                "Upgrade without the Connection option",
                &[("connection", "keep-alive"), ("upgrade", "websocket")],
                false,
            ),
            (
                "Connection option without Upgrade",
                &[("connection", "upgrade")],
                false,
            ),
            (
                "empty Upgrade",
                &[("connection", "upgrade"), ("upgrade", "")],
                false,
            ),
            (
                "h2c is refused",
                &[
                    ("connection", "Upgrade, HTTP2-Settings"),
                    ("upgrade", "h2c"),
                ],
                false,
            ),
            (
                "h2c among others is refused",
                &[("connection", "upgrade"), ("upgrade", "websocket, h2c")],
                false,
            ),
            (
                "versioned protocol",
                &[("connection", "upgrade"), ("upgrade", "HTTP/2.0, IRC/6.9")],
                true,
            ),
            ("nothing", &[], false),
        ];
        for (name, pairs, expected) in cases {
            let mut headers = HeaderMap::new();
            for (n, v) in *pairs {
                headers.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            assert_eq!(is_upgrade_request(&headers), *expected, "case: {name}");
        }
    }
}
