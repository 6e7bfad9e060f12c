//! The client-facing server: HTTP/1.1 and h2c on one listener, limits, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::ServerSettings;
use crate::proxy::Gateway;

mod timeouts;

/// Serves `gateway` on `listener` until `shutdown` resolves, then drains.
///
/// After `shutdown`, no new connection is accepted; requests in flight get up
/// to `settings.shutdown_grace` to finish, then their connections are
/// closed. Returns whether every connection finished in time.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    settings: &ServerSettings,
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
        let gateway = gateway.clone();
        let activity = timeouts::Activity::new();
        let io = TokioIo::new(timeouts::TimedIo::new(stream, activity.clone(), timeouts));
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let gateway = gateway.clone();
            let answering = activity.begin();
            // Boxed: hyper keeps room for the service's future in every
            // connection, idle ones included; a box of it is 16 bytes, the
            // future itself over 5 KB, allocated only while a request runs.
            let answer: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                let response = gateway.handle(request.map(Body::new), client_addr).await;
                Ok::<_, Infallible>(answering.track(response))
            });
            answer
        });
        let connection = builder.serve_connection_with_upgrades(io, service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, client = %client_addr, "connection ended with an error");
            }
        });
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
