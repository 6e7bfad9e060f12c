//! The HTTP/1.1 client that forwards requests to one legacy upstream
//! (`[legacy]` or an `[upstreams.NAME]`), over one or several addresses.
//!
//! [`LegacyUpstream::forward`] is the one entry point: it picks an address
//! ([`super::balance`]), rewrites the target URI, cleans the headers
//! ([`super::headers`]), sends the request on a pooled connection of that
//! address ([`super::pool`]), and hands back legacy's response with its body
//! still streaming. Failures are [`ForwardError`]s; the gateway turns them
//! into problem+json in one place.
//!
//! # Failover (several addresses)
//!
//! - A request whose connection could not be made (nothing was sent: refused,
//!   connect timeout, TLS handshake) is sent to the next address, whatever
//!   its method, until every address was tried.
//! - A `GET`, `HEAD`, `OPTIONS`, `PUT` or `DELETE` without a body whose
//!   connection died before the response head is sent once more, to another
//!   address. A request with a body, or of another method, that may have
//!   reached legacy is never resent.
//! - All of it happens within [`ClientSettings::timeout`].
//!
//! Each failure counts towards the address's passive health; an ejection
//! is logged here (warn, with the upstream's name and the address) and
//! counted in `gateway_upstream_ejections_total{upstream}`, since no request
//! failed for it.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use gateway_routing::{Balance, HealthPolicy};
use http::uri::PathAndQuery;
use http::{Extensions, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use tokio::net::TcpStream;

use super::balance::{AddressHealth, Balancer, InFlight, MAX_ADDRESSES, Tried};
use super::headers::{Forwarding, UpgradeHeaders, prepare_request_headers, strip_hop_by_hop};
use super::pool::{self, Conn, ExchangeError, Pool, PooledBody};
use super::tls::{Stream, TlsClient};
use super::upgrade::{is_upgrade_request, spawn_tunnel};

/// Where one legacy upstream lives and how long to wait for it, as the route table gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// The upstream's name (`legacy` or an `[upstreams]` key): the metrics label.
    pub name: String,
    /// Its addresses, at least one (at most 64 are used).
    pub addresses: Vec<AddressSettings>,
    /// Limit on establishing the connection (DNS and the TLS handshake included).
    pub connect_timeout: Duration,
    /// Limit from sending the request until legacy's response head has
    /// arrived (connecting and failing over included). The response body is
    /// not limited.
    pub timeout: Duration,
    /// How requests are spread over the addresses.
    pub balance: Balance,
    /// When an address is skipped for failing.
    pub health: HealthPolicy,
}

/// One address of an upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSettings {
    /// Base URL: `http[s]://host:port[/base-path]`. The request's path is
    /// appended to the base path.
    pub url: Uri,
    /// How to speak TLS, for an `https` URL (required there; ignored for `http`).
    pub tls: Option<TlsClient>,
}

impl ClientSettings {
    /// One plain address with the default balancing and health.
    pub fn single(name: &str, url: Uri, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            name: name.to_owned(),
            addresses: vec![AddressSettings { url, tls: None }],
            connect_timeout,
            timeout,
            balance: Balance::default(),
            health: HealthPolicy::default(),
        }
    }
}

/// One address's health with its URL, for `/-/upstreams`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddressReport {
    /// The address's base URL.
    pub url: String,
    /// Its health now.
    #[serde(flatten)]
    pub health: AddressHealth,
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
            .field("name", &self.inner.settings.name)
            .field("addresses", &self.inner.addresses.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: ClientSettings,
    /// In the order of the settings' addresses.
    addresses: Vec<Address>,
    balancer: Arc<Balancer>,
    connect_timeout: Duration,
    timeout: Duration,
}

/// One address: its URL taken apart, its TLS and its own connection pool.
struct Address {
    /// The parsed base URL, or why it is unusable (reported by every
    /// `forward`, since `new` cannot fail).
    target: Result<Target, String>,
    url: Uri,
    tls: Option<TlsClient>,
    pool: Arc<Pool>,
}

impl Address {
    fn target(&self) -> Result<&Target, ForwardError> {
        self.target
            .as_ref()
            .map_err(|reason| ForwardError::InvalidUri {
                uri: self.url.to_string(),
                reason: reason.clone(),
            })
    }
}

/// How one attempt on one address ended without a response head.
enum AttemptError {
    /// No connection could be made: nothing was sent, the request is handed back.
    Unsent(Box<Request<Body>>, ForwardError),
    /// The request may have reached legacy; `address_failed` when the
    /// connection died (rather than the client's body failing).
    Sent {
        error: ForwardError,
        address_failed: bool,
    },
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
                authority.port_u16().unwrap_or(default_port)
            ),
            base_path: url.path().trim_end_matches('/').to_owned(),
            host: host_header,
        })
    }

    /// The origin-form request target (`/base/path?query`) sent to legacy.
    ///
    /// When that is exactly the client's own target (no base path, and the
    /// client's path was already normal), the client's is reused: a reference
    /// count, where a new one is copied and parsed again.
    fn uri_for(&self, path_and_query: &str, client: &Uri) -> Result<Uri, ForwardError> {
        if self.base_path.is_empty()
            && let Some(own) = client.path_and_query()
            && own.as_str() == path_and_query
        {
            return Ok(Uri::from(own.clone()));
        }
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
            None => Ok(Stream::Plain(crate::batched_writes::BatchedTcp::new(
                stream,
            ))),
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
    /// An unusable address URL (not `http`, no host, a query) is not
    /// reported here but by every [`forward`](Self::forward) to it as
    /// [`ForwardError::InvalidUri`]; validate URLs when parsing the route
    /// table. Settings without an address get one that is always invalid.
    pub fn new(settings: &ClientSettings) -> Self {
        let addresses: Vec<Address> = settings
            .addresses
            .iter()
            .take(MAX_ADDRESSES)
            .map(|address| Address {
                target: Target::parse(&address.url),
                url: address.url.clone(),
                tls: address.tls.clone(),
                pool: Pool::new(),
            })
            .collect();
        let addresses = if addresses.is_empty() {
            vec![Address {
                target: Err("the upstream has no address".to_owned()),
                url: Uri::default(),
                tls: None,
                pool: Pool::new(),
            }]
        } else {
            addresses
        };
        Self {
            inner: Arc::new(Inner {
                balancer: Arc::new(Balancer::new(
                    addresses.len(),
                    settings.balance,
                    settings.health,
                )),
                addresses,
                settings: settings.clone(),
                connect_timeout: settings.connect_timeout,
                timeout: settings.timeout,
            }),
        }
    }

    /// The upstream's name, as metrics and logs label it.
    pub fn name(&self) -> &str {
        &self.inner.settings.name
    }

    /// Each address with its health now, in the order of the settings.
    pub fn health(&self) -> Vec<AddressReport> {
        self.inner
            .addresses
            .iter()
            .zip(self.inner.balancer.health(Instant::now()))
            .map(|(address, health)| AddressReport {
                url: address.url.to_string(),
                health,
            })
            .collect()
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
    /// - The request is sent as HTTP/1.1 whatever the client spoke. With
    ///   several addresses it fails over as the [module docs](self) say;
    ///   it is never resent once it may have reached legacy, but for a
    ///   bodiless idempotent request, once, to another address.
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
        let inner = &*self.inner;
        let mut tried = Tried::default();
        let index = inner.balancer.pick(tried, Instant::now).unwrap_or_default();
        let target = inner.addresses[index].target()?;
        let uri = target.uri_for(path_and_query, request.uri())?;

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

        tried.add(index);
        let sent = self.send(index, tried, request, path_and_query, upgrade);
        let mut response = match tokio::time::timeout(inner.timeout, sent).await {
            Ok(result) => result?,
            Err(_elapsed) => {
                return Err(ForwardError::Timeout {
                    after: inner.timeout,
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

    /// Sends `request` (prepared for address `index`, which `tried` has) and
    /// fails over to the upstream's other addresses as the module docs say.
    async fn send(
        &self,
        mut index: usize,
        mut tried: Tried,
        mut request: Request<Body>,
        path_and_query: &str,
        upgrade: bool,
    ) -> Result<Response<Body>, ForwardError> {
        let balancer = &self.inner.balancer;
        // A copy to send again if the connection dies: only a bodiless idempotent request.
        let mut replay = (balancer.is_balanced() && !upgrade)
            .then(|| replayable(&request))
            .flatten();
        loop {
            let address = &self.inner.addresses[index];
            let error = match self.attempt(address, index, request, upgrade).await {
                Ok(response) => {
                    if balancer.succeeded(index) {
                        tracing::info!(
                            upstream = self.name(),
                            address = %address.url,
                            "address answered again: readmitted"
                        );
                    }
                    return Ok(response);
                }
                Err(AttemptError::Unsent(unsent, error)) => {
                    self.failed(index, &error);
                    request = *unsent;
                    error
                }
                Err(AttemptError::Sent {
                    error,
                    address_failed,
                }) => {
                    if address_failed {
                        self.failed(index, &error);
                    }
                    match replay.take() {
                        Some(copy) if address_failed => {
                            request = copy;
                            error
                        }
                        _ => return Err(error),
                    }
                }
            };
            let Some(next) = balancer.pick(tried, Instant::now) else {
                return Err(error);
            };
            tried.add(next);
            // The next address may have another host and base path.
            let target = self.inner.addresses[next].target()?;
            *request.uri_mut() = target.uri_for(path_and_query, request.uri())?;
            request
                .headers_mut()
                .insert(header::HOST, target.host.clone());
            index = next;
        }
    }

    /// Counts a failure of address `index`; logs and counts an ejection.
    fn failed(&self, index: usize, error: &ForwardError) {
        if matches!(error, ForwardError::InvalidUri { .. }) {
            return;
        }
        if let Some(eject) = self.inner.balancer.failed(index, Instant::now()) {
            let address = &self.inner.addresses[index].url;
            tracing::warn!(
                upstream = self.name(),
                %address,
                error = %crate::telemetry::ErrorChain(error),
                eject_for = %humantime::format_duration(eject),
                "address ejected after failing {} times in a row",
                self.inner.settings.health.failures
            );
            crate::metrics::record_ejection(self.name());
        }
    }

    /// One attempt on one address: a pooled connection, or a new one when
    /// none is idle.
    ///
    /// The request is resent on another connection of the address only when
    /// a reused one turned out closed before a byte of it was written: legacy
    /// cannot have seen it, so even a POST is safe to resend (the "only when
    /// nothing was sent" rule), and this hides the race between legacy's
    /// idle timeout and ours. An upgrade request gets a connection of its
    /// own, never pooled.
    async fn attempt(
        &self,
        address: &Address,
        index: usize,
        mut request: Request<Body>,
        upgrade: bool,
    ) -> Result<Response<Body>, AttemptError> {
        if upgrade {
            let conn = match Box::pin(self.connect(address)).await {
                Ok(conn) => conn,
                Err(error) => return Err(AttemptError::Unsent(Box::new(request), error)),
            };
            let response = conn
                .exchange_upgradable(request)
                .await
                .map_err(sent_error)?;
            return Ok(response.map(Body::new));
        }
        loop {
            let mut conn = match address.pool.checkout() {
                Some(conn) => conn,
                // Boxed: connecting is rare with a warm pool, and its future
                // (TLS handshake included) would grow every request's.
                None => match Box::pin(self.connect(address)).await {
                    Ok(conn) => conn,
                    Err(error) => return Err(AttemptError::Unsent(Box::new(request), error)),
                },
            };
            match conn.exchange(request).await {
                Ok(response) => {
                    let pool = Arc::clone(&address.pool);
                    let in_flight: Option<InFlight> = self
                        .inner
                        .balancer
                        .is_balanced()
                        .then(|| self.inner.balancer.start(index));
                    return Ok(response.map(|incoming| {
                        Body::new(PooledBody::new(incoming, conn, pool, in_flight))
                    }));
                }
                Err(ExchangeError::Unsent(unsent, _)) if conn.reused => request = *unsent,
                Err(ExchangeError::Unsent(_, error) | ExchangeError::Failed(error)) => {
                    return Err(sent_error(error));
                }
            }
        }
    }

    /// The settings this client was built from.
    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// Idle pooled connections (of every address), and a sweep as if `after` had passed.
    #[cfg(test)]
    pub(super) fn idle_connections_after(&self, after: Duration) -> usize {
        let at = Instant::now() + after;
        self.inner
            .addresses
            .iter()
            .map(|address| {
                address.pool.sweep(at);
                address.pool.idle_count()
            })
            .sum()
    }

    async fn connect(&self, address: &Address) -> Result<Box<Conn>, ForwardError> {
        let target = address.target()?;
        let tls = match (target.https, &address.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls),
            (true, None) => {
                return Err(ForwardError::InvalidUri {
                    uri: address.url.to_string(),
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

/// A failed exchange as an [`AttemptError`]: the address failed unless the
/// error is the request's own (its body failed or outgrew the limit).
fn sent_error(error: hyper::Error) -> AttemptError {
    let address_failed = !error.is_user() && !error.is_body_write_aborted();
    AttemptError::Sent {
        error: ForwardError::Io {
            source: Box::new(error),
        },
        address_failed,
    }
}

/// A copy of `request` to send again after its connection died: only for
/// an idempotent method without a body (the original's body is gone by then).
fn replayable(request: &Request<Body>) -> Option<Request<Body>> {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    if !idempotent || !http_body::Body::is_end_stream(request.body()) {
        return None;
    }
    let mut copy = Request::new(Body::empty());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
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
