//! The HTTP/1.1 client that forwards requests to the legacy backend.
//!
//! [`LegacyUpstream::forward`] is the one entry point: it rewrites the target
//! URI, cleans the headers ([`super::headers`]), sends the request on a pooled
//! connection ([`super::pool`]), and hands back legacy's response with its
//! body still streaming. Failures are [`ForwardError`]s; the gateway turns
//! them into problem+json in one place.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::uri::PathAndQuery;
use http::{Extensions, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use tokio::net::TcpStream;

use super::headers::{Forwarding, UpgradeHeaders, prepare_request_headers, strip_hop_by_hop};
use super::pool::{self, Conn, ExchangeError, Pool, PooledBody};
use super::tls::{Stream, TlsClient};
use super::upgrade::{is_upgrade_request, spawn_tunnel};

/// Where legacy lives and how long to wait for it, as the route table gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Base URL: `http[s]://host:port[/base-path]`. The request's path is
    /// appended to the base path.
    pub url: Uri,
    /// How to speak TLS, for an `https` URL (required there; ignored for `http`).
    pub tls: Option<TlsClient>,
    /// Limit on establishing the connection (DNS and the TLS handshake included).
    pub connect_timeout: Duration,
    /// Limit from sending the request until legacy's response head has
    /// arrived (connecting included). The response body is not limited.
    pub timeout: Duration,
}

/// Per-request facts the gateway knows and legacy should be told.
#[derive(Clone, Debug)]
pub struct ForwardContext {
    /// The client's socket address; its IP is appended to `X-Forwarded-For`.
    pub client_addr: SocketAddr,
    /// The scheme the client used, sent as `X-Forwarded-Proto` (`"http"` or `"https"`).
    pub scheme: &'static str,
    /// The request id, sent as `X-Request-Id` (replacing the client's).
    pub request_id: HeaderValue,
}

/// Why a request could not be forwarded to legacy.
///
/// A response from legacy, whatever its status, is never an error.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No connection to legacy could be made (DNS failure, refused, reset or
    /// timed out while connecting). Nothing reached legacy. Maps to 502.
    #[error("could not connect to legacy")]
    Connect {
        /// Why: the resolver's or the socket's error, or the connect timeout.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake with an `https` legacy failed (its certificate is
    /// not trusted, expired or for another name; no common protocol).
    /// Nothing was sent. Maps to 502.
    #[error("TLS with legacy failed")]
    Tls {
        /// rustls's error, wrapped.
        #[source]
        source: io::Error,
    },
    /// Legacy's response head did not arrive within
    /// [`ClientSettings::timeout`]. The request may have reached legacy.
    /// Maps to 504.
    #[error("legacy sent no response head within {after:?}")]
    Timeout {
        /// The limit that was exceeded.
        after: Duration,
    },
    /// The exchange failed after connecting and before a complete response
    /// head (connection closed or reset, malformed response, request body
    /// aborted by the client). The request may have reached legacy. Maps to
    /// 502.
    #[error("exchange with legacy failed")]
    Io {
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The legacy base URL or the path to append does not make a valid
    /// `http` URI. A configuration or gateway bug. Maps to 500.
    #[error("invalid legacy URI {uri:?}: {reason}")]
    InvalidUri {
        /// The base URL, or the URI that failed to build.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ForwardError {
    /// A stable label for metrics and logs: `"connect"`, `"tls"`,
    /// `"timeout"`, `"io"` or `"invalid-uri"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Tls { .. } => "tls",
            Self::Timeout { .. } => "timeout",
            Self::Io { .. } => "io",
            Self::InvalidUri { .. } => "invalid-uri",
        }
    }
}

/// A pooled HTTP/1.1 client for one legacy backend. Cloning is cheap and
/// clones share the connection pool.
#[derive(Clone)]
pub struct LegacyUpstream {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LegacyUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyUpstream")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: ClientSettings,
    pool: Arc<Pool>,
    /// The parsed base URL, or why it is unusable (reported by every
    /// `forward`, since `new` cannot fail).
    target: Result<Target, String>,
    url: Uri,
    tls: Option<TlsClient>,
    connect_timeout: Duration,
    timeout: Duration,
}

/// The legacy base URL, taken apart once.
#[derive(Debug)]
struct Target {
    /// Whether legacy speaks TLS (`https`).
    https: bool,
    /// `host:port` to resolve and connect to (port 80 when the URL has none).
    address: String,
    /// The base path without its trailing `/` (empty for the root).
    base_path: String,
    /// `host[:port]`, sent as `Host`.
    host: HeaderValue,
}

impl Target {
    fn parse(url: &Uri) -> Result<Self, String> {
        let default_port = match url.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            Some(other) => {
                return Err(format!(
                    "scheme {other:?} is not supported; legacy is reached over http or https"
                ));
            }
            None => return Err("the URL has no scheme".to_owned()),
        };
        let Some(authority) = url.authority() else {
            return Err("the URL has no host".to_owned());
        };
        if url.query().is_some() {
            return Err("the base URL must not have a query".to_owned());
        }
        let host = match authority.port_u16() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        let host_header = HeaderValue::from_str(&host).map_err(|error| error.to_string())?;
        Ok(Self {
            https: default_port == 443,
            address: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            base_path: url.path().trim_end_matches('/').to_owned(),
            host: host_header,
        })
    }

    /// The origin-form request target (`/base/path?query`) sent to legacy.
    fn uri_for(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        let joined = join_path(&self.base_path, path_and_query);
        match PathAndQuery::from_maybe_shared(bytes::Bytes::from(joined)) {
            Ok(origin) => Ok(Uri::from(origin)),
            Err(error) => Err(ForwardError::InvalidUri {
                uri: format!("{}{path_and_query}", self.base_path),
                reason: error.to_string(),
            }),
        }
    }

    /// A connection to legacy: every resolved address in turn, then the TLS
    /// handshake when `tls` is given, all within `limit`.
    async fn connect(
        &self,
        limit: Duration,
        tls: Option<&TlsClient>,
    ) -> Result<Stream, ForwardError> {
        match tokio::time::timeout(limit, self.connect_within(tls)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ForwardError::Connect {
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {limit:?}"),
                ),
            }),
        }
    }

    async fn connect_within(&self, tls: Option<&TlsClient>) -> Result<Stream, ForwardError> {
        let connect = async {
            let mut last_error = None;
            for address in tokio::net::lookup_host(self.address.as_str()).await? {
                match TcpStream::connect(address).await {
                    Ok(stream) => return Ok(stream),
                    Err(error) => last_error = Some(error),
                }
            }
            Err(last_error.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address")
            }))
        };
        let stream = connect
            .await
            .map_err(|source| ForwardError::Connect { source })?;
        // Small requests and responses go out at once, not after Nagle's delay.
        stream
            .set_nodelay(true)
            .map_err(|source| ForwardError::Connect { source })?;
        socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(pool::IDLE_TIMEOUT))
            .map_err(|source| ForwardError::Connect { source })?;
        match tls {
            None => Ok(Stream::Plain(stream)),
            Some(tls) => match tls.handshake(stream).await {
                Ok(session) => Ok(Stream::Tls(Box::new(session))),
                Err(source) => Err(ForwardError::Tls { source }),
            },
        }
    }
}

/// Appends the request's path and query to the base path (which has no
/// trailing `/`), keeping exactly one `/` between them.
fn join_path(base_path: &str, path_and_query: &str) -> String {
    match path_and_query.as_bytes().first() {
        Some(b'/') => format!("{base_path}{path_and_query}"),
        None | Some(b'?') if base_path.is_empty() => format!("/{path_and_query}"),
        None | Some(b'?') => format!("{base_path}{path_and_query}"),
        Some(_) => format!("{base_path}/{path_and_query}"),
    }
}

impl LegacyUpstream {
    /// Builds the client. Makes no connection: the first request does.
    ///
    /// An unusable `settings.url` (not `http`, no host, a query) is not
    /// reported here but by every [`forward`](Self::forward) as
    /// [`ForwardError::InvalidUri`]; validate URLs when parsing the route
    /// table.
    pub fn new(settings: &ClientSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                pool: Pool::new(),
                target: Target::parse(&settings.url),
                url: settings.url.clone(),
                tls: settings.tls.clone(),
                connect_timeout: settings.connect_timeout,
                timeout: settings.timeout,
            }),
        }
    }

    /// Forwards `request` to legacy and returns legacy's response.
    ///
    /// - `path_and_query` (already normalised by the gateway) is appended to
    ///   the base URL's path; method, remaining headers and body go as they
    ///   are. Bodies stream both ways, never buffered.
    /// - Hop-by-hop headers are removed both ways; see
    ///   the [module docs](super) for the exact rules and the `X-Forwarded-*`,
    ///   `Host` and `X-Request-Id` headers set here. The gateway is the edge:
    ///   the client's `X-Forwarded-Proto`/`-Host` and `X-Request-Id` are
    ///   overwritten, its `X-Forwarded-For` is appended to.
    /// - When traces are on, `traceparent` and `tracestate` are replaced by
    ///   the current span's context
    ///   ([`inject_trace_context`](crate::telemetry::inject_trace_context));
    ///   otherwise the client's pass untouched.
    /// - An upgrade request ([`super::is_upgrade_request`]) keeps its
    ///   `Connection: upgrade` and `Upgrade`; if legacy answers `101`, a task
    ///   copies bytes between the two upgraded connections, and the `101` is
    ///   returned for the gateway's server to send.
    /// - The request is sent as HTTP/1.1 whatever the client spoke, and it is
    ///   never retried once it may have reached legacy.
    ///
    /// # Errors
    ///
    /// [`ForwardError`] when no response head came back; any response from
    /// legacy, 5xx included, is `Ok` and unchanged apart from hop-by-hop
    /// headers.
    pub async fn forward(
        &self,
        mut request: Request<Body>,
        path_and_query: &str,
        ctx: &ForwardContext,
    ) -> Result<Response<Body>, ForwardError> {
        let target = self
            .inner
            .target
            .as_ref()
            .map_err(|reason| ForwardError::InvalidUri {
                uri: self.inner.url.to_string(),
                reason: reason.clone(),
            })?;
        let uri = target.uri_for(path_and_query)?;

        let upgrade = is_upgrade_request(request.headers());
        // Must be taken from the client's request before it is sent on.
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let client_host = request.headers().get(header::HOST).cloned().or_else(|| {
            request
                .uri()
                .authority()
                .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok())
        });

        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        // Server-side extensions mean nothing to the client connection.
        *request.extensions_mut() = Extensions::new();
        prepare_request_headers(
            request.headers_mut(),
            if upgrade {
                UpgradeHeaders::Keep
            } else {
                UpgradeHeaders::Strip
            },
            &Forwarding {
                client_ip: ctx.client_addr.ip(),
                proto: ctx.scheme,
                client_host: client_host.as_ref(),
                request_id: &ctx.request_id,
                upstream_host: &target.host,
            },
        );
        // The current span (the gateway's legacy call) is legacy's parent now.
        crate::telemetry::inject_trace_context(request.headers_mut());

        let sent = self.send(target, request, upgrade);
        let mut response = match tokio::time::timeout(self.inner.timeout, sent).await {
            Ok(result) => result?,
            Err(_elapsed) => {
                return Err(ForwardError::Timeout {
                    after: self.inner.timeout,
                });
            }
        };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ForwardError::Io {
                    source: "legacy switched protocols on a request that asked for no upgrade"
                        .into(),
                });
            };
            let legacy_upgrade = hyper::upgrade::on(&mut response);
            spawn_tunnel(client_upgrade, legacy_upgrade, ctx.request_id.clone());
            strip_hop_by_hop(response.headers_mut(), UpgradeHeaders::Keep);
        } else {
            strip_hop_by_hop(response.headers_mut(), UpgradeHeaders::Strip);
        }
        Ok(response)
    }

    /// Sends `request` on a pooled connection, or a new one when none is idle.
    ///
    /// The request is resent on another connection only when a reused one
    /// turned out closed before a byte of it was written: legacy cannot have
    /// seen it, so even a POST is safe to resend (the "only when nothing was
    /// sent" rule), and this hides the race between legacy's idle timeout and
    /// ours. Any failure after the first byte is written is returned, never
    /// retried. An upgrade request gets a connection of its own, never pooled.
    async fn send(
        &self,
        target: &Target,
        mut request: Request<Body>,
        upgrade: bool,
    ) -> Result<Response<Body>, ForwardError> {
        if upgrade {
            let conn = self.connect(target).await?;
            let response =
                conn.exchange_upgradable(request)
                    .await
                    .map_err(|error| ForwardError::Io {
                        source: Box::new(error),
                    })?;
            return Ok(response.map(Body::new));
        }
        loop {
            let mut conn = match self.inner.pool.checkout() {
                Some(conn) => conn,
                None => self.connect(target).await?,
            };
            match conn.exchange(request).await {
                Ok(response) => {
                    let pool = Arc::clone(&self.inner.pool);
                    return Ok(
                        response.map(|incoming| Body::new(PooledBody::new(incoming, conn, pool)))
                    );
                }
                Err(ExchangeError::Unsent(unsent, _)) if conn.reused => request = *unsent,
                Err(ExchangeError::Unsent(_, error) | ExchangeError::Failed(error)) => {
                    return Err(ForwardError::Io {
                        source: Box::new(error),
                    });
                }
            }
        }
    }

    /// The settings this client was built from.
    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// Idle pooled connections, and a sweep as if `after` had passed.
    #[cfg(test)]
    pub(super) fn idle_connections_after(&self, after: Duration) -> usize {
        self.inner.pool.sweep(std::time::Instant::now() + after);
        self.inner.pool.idle_count()
    }

    async fn connect(&self, target: &Target) -> Result<Box<Conn>, ForwardError> {
        let tls = match (target.https, &self.inner.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls),
            (true, None) => {
                return Err(ForwardError::InvalidUri {
                    uri: self.inner.url.to_string(),
                    reason: "an https URL needs TLS settings".to_owned(),
                });
            }
        };
        let stream = target.connect(self.inner.connect_timeout, tls).await?;
        Conn::handshake(stream)
            .await
            .map_err(|source| ForwardError::Connect { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_path_table() {
        let cases = [
            ("", "/", "/"),
            ("", "/a/b?x=1", "/a/b?x=1"),
            ("", "", "/"),
            ("", "?x=1", "/?x=1"),
            ("/base", "/a?x=1", "/base/a?x=1"),
            ("/base", "/", "/base/"),
            ("/base", "", "/base"),
            ("/base", "?x=1", "/base?x=1"),
            ("/base", "a", "/base/a"),
        ];
        for (base, path_and_query, expected) in cases {
            assert_eq!(
                join_path(base, path_and_query),
                expected,
                "base {base:?} + {path_and_query:?}"
            );
        }
    }

    #[test]
    fn target_parse_table() {
        let cases: [(&str, Option<(&str, &str)>); 8] = [
            ("http://legacy:8080", Some(("legacy:8080", ""))),
            ("http://legacy:8080/", Some(("legacy:8080", ""))),
            ("http://legacy/app/", Some(("legacy", "/app"))),
            ("http://[::1]:9000/app", Some(("[::1]:9000", "/app"))),
            ("https://legacy", Some(("legacy", ""))),
            ("ftp://legacy", None),
            ("/relative", None),
            ("http://legacy/app?x=1", None),
        ];
        for (url, expected) in cases {
            let parsed = Target::parse(&url.parse().unwrap());
            let got = parsed
                .as_ref()
                .ok()
                .map(|t| (t.host.to_str().unwrap(), t.base_path.as_str()));
            assert_eq!(got, expected, "url {url}");
        }
    }

    #[test]
    fn kind_labels() {
        let cases = [
            (
                ForwardError::Timeout {
                    after: Duration::from_secs(1),
                },
                "timeout",
            ),
            (
                ForwardError::Io {
                    source: "boom".into(),
                },
                "io",
            ),
            (
                ForwardError::InvalidUri {
                    uri: String::new(),
                    reason: String::new(),
                },
                "invalid-uri",
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
        let tls = ForwardError::Tls {
            source: std::io::Error::other("bad certificate"),
        };
        assert_eq!(tls.kind(), "tls");
        // Every kind is exported at 0 from start-up.
        for kind in ["connect", "tls", "timeout", "io", "invalid-uri"] {
            assert!(
                crate::metrics::UPSTREAM_ERROR_KINDS.contains(&kind),
                "{kind}"
            );
        }
    }
}
