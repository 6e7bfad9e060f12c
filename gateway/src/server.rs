//! The client-facing server: HTTP/1.1 and h2c on one listener, or HTTPS
//! (HTTP/2 and HTTP/1.1 by ALPN) when TLS is configured ([`tls`]); limits,
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use axum::response::IntoResponse;

use crate::config::ServerSettings;
use crate::error::GatewayError;
use crate::metrics::TLS_HANDSHAKE_FAILURES_TOTAL;
use crate::proxy::{Gateway, Scheme};

mod timeouts;
pub mod tls;

/// Serves `gateway` on `listener` until `shutdown` resolves, then drains.
///
/// With `tls`, every connection starts with a TLS handshake in its own task
/// (the accept loop never waits for one), bounded by the header-read
/// timeout; the protocol then follows ALPN (`h2` or `http/1.1`). Without it,
/// connections speak HTTP/1.1 or h2c.
///
/// After `shutdown`, no new connection is accepted; requests in flight get up
/// to `settings.shutdown_grace` to finish, then their connections are
/// closed. Returns whether every connection finished in time.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    settings: &ServerSettings,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's own would end idle connections too: `timeouts` keeps the two apart.
        .header_read_timeout(None)
        .max_buf_size(settings.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);

    let timeouts = timeouts::Timeouts {
        keep_alive: settings.keep_alive_timeout(),
        header_read: settings.header_read_timeout(),
    };

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, client_addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let client = Client {
            gateway: gateway.clone(),
            addr: client_addr,
            timeouts,
        };
        let watcher = graceful.watcher();
        match &tls {
            None => {
                let connection = client.serve(&builder, stream, Scheme::Http, watcher);
                tokio::spawn(connection);
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let Some(stream) =
                        handshake(acceptor, stream, timeouts.header_read, client_addr).await
                    else {
                        return;
                    };
                    client.serve(&builder, stream, Scheme::Https, watcher).await;
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(settings.shutdown_grace()) => {
            tracing::warn!(grace = ?settings.shutdown_grace(), "shutdown grace elapsed; closing connections still in flight");
            false
        }
    }
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Completes a TLS handshake on `stream` within `within`; `None` (logged,
/// counted) when it fails or is too slow. A client that speaks plain HTTP
/// instead gets a 400 problem+json saying so, as nginx does.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    within: Duration,
    client_addr: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let deadline = tokio::time::Instant::now() + within;
    let failed = |reason: &'static str| {
        metrics::counter!(TLS_HANDSHAKE_FAILURES_TOTAL, "reason" => reason).increment(1);
    };
    let mut first = [0_u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1..)) if first[0] != TLS_HANDSHAKE_RECORD => {
            failed("plain-http");
            tracing::debug!(client = %client_addr, "plain HTTP on the HTTPS listener: answered 400");
            let _ = tokio::time::timeout_at(deadline, answer_plain_http(stream)).await;
            return None;
        }
        Ok(_) => {}
        Err(_) => {
            failed("timeout");
            tracing::debug!(client = %client_addr, ?within, "TLS handshake not started in time");
            return None;
        }
    }
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            failed("error");
            tracing::debug!(error = %err, client = %client_addr, "TLS handshake failed");
            None
        }
        Err(_) => {
            failed("timeout");
            tracing::debug!(client = %client_addr, ?within, "TLS handshake not completed in time");
            None
        }
    }
}

/// Answers one plain HTTP/1.1 request with [`GatewayError::PlainHttpOnTls`], then closes.
async fn answer_plain_http(stream: TcpStream) {
    let service = hyper::service::service_fn(|_request: http::Request<Incoming>| {
        std::future::ready(Ok::<_, Infallible>(
            GatewayError::PlainHttpOnTls.into_response(),
        ))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// One accepted client connection, before it is served.
struct Client {
    gateway: Gateway,
    addr: SocketAddr,
    timeouts: timeouts::Timeouts,
}

impl Client {
    /// Serves HTTP on `io` until the connection ends, drained by `watcher` on shutdown.
    fn serve<I>(
        self,
        builder: &auto::Builder<TokioExecutor>,
        io: I,
        scheme: Scheme,
        watcher: Watcher,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            gateway,
            addr: client_addr,
            timeouts,
        } = self;
        let activity = timeouts::Activity::new();
        let io = TokioIo::new(timeouts::TimedIo::new(io, activity.clone(), timeouts));
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let gateway = gateway.clone();
            let answering = activity.begin();
            // Boxed: hyper keeps room for the service's future in every
            // connection, idle ones included; a box of it is 16 bytes, the
            // future itself over 5 KB, allocated only while a request runs.
            let answer: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                let response = gateway
                    .handle(request.map(Body::new), client_addr, scheme)
                    .await;
                Ok::<_, Infallible>(answering.track(response))
            });
            answer
        });
        let connection = builder.serve_connection_with_upgrades(io, service);
        let connection = watcher.watch(connection.into_owned());
        async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, client = %client_addr, "connection ended with an error");
            }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
