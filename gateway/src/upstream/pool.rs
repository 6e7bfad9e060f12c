//! Keep-alive connections to one legacy address, driven by the request that uses them.
//!
//! A [`Conn`] is hyper's HTTP/1.1 connection split in two: the
//! [`SendRequest`] half that queues a request and the dispatcher half that
//! does the reading and writing. Nothing here spawns a task per connection:
//! whoever waits for the exchange polls the dispatcher, first the request
//! future until legacy's response head arrives ([`Conn::exchange`]), then
//! the response body ([`PooledBody`]), which hands the connection back to
//! the [`Pool`] once legacy's body has ended. So a forwarded request costs
//! no hop between tasks, where a pooled client with a task per connection
//! pays a wake-up and a channel each way.
//!
//! An idle connection is not polled while it waits in the pool; the next
//! checkout polls it once, which notices a connection legacy has closed.
//! A sweeper task drops connections idle longer than [`IDLE_TIMEOUT`] and
//! those legacy closed, so no socket lingers once traffic stops.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1};
use hyper_util::rt::TokioIo;

use super::balance::InFlight;
use super::tls::Stream;

/// How long an idle pooled connection to legacy is kept before it is closed.
///
/// Longer than most servers' idle timeouts would mean racing legacy's close;
/// a request that loses that race before a byte of it was written is resent
/// on another connection (see [`Conn::exchange`]), so the race costs a
/// reconnect, not an error.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How often the sweeper looks for expired or closed idle connections.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Idle connections kept at most; a burst that opened more closes the rest
/// as they finish.
const MAX_IDLE: usize = 512;

type Dispatcher = http1::Connection<TokioIo<Stream>, Body>;

/// One HTTP/1.1 connection to legacy: the sending half and its dispatcher.
pub(super) struct Conn {
    sender: http1::SendRequest<Body>,
    dispatcher: Dispatcher,
    /// The dispatcher has finished: the connection is closed.
    ended: bool,
    /// Whether this connection served a request before this one. Only a
    /// request refused unsent on a reused connection is resent.
    pub(super) reused: bool,
}

/// How an exchange on one connection ended without a response head.
pub(super) enum ExchangeError {
    /// The connection was closed before a byte of the request was written;
    /// the request is handed back and may be sent on another connection.
    Unsent(Box<Request<Body>>, hyper::Error),
    /// The exchange failed; the request may have reached legacy.
    Failed(hyper::Error),
}

impl Conn {
    /// Opens an HTTP/1.1 connection over `stream` (already connected). Boxed:
    /// a connection moves in and out of the pool on every request, and its
    /// dispatcher is large.
    pub(super) async fn handshake(stream: Stream) -> io::Result<Box<Self>> {
        let (sender, dispatcher) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        Ok(Box::new(Self {
            sender,
            dispatcher,
            ended: false,
            reused: false,
        }))
    }

    /// Lets the dispatcher read and write what it can; ready once the
    /// connection has ended (and from then on).
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.ended && Pin::new(&mut self.dispatcher).poll(cx).is_ready() {
            self.ended = true;
        }
        if self.ended {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Sends `request` on a connection of its own whose dispatcher runs in a
    /// task with upgrade support, so that a `101` can hand the connection
    /// over ([`hyper::upgrade::on`]). The connection is never pooled.
    pub(super) async fn exchange_upgradable(
        self: Box<Self>,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        let Self {
            mut sender,
            dispatcher,
            ..
        } = *self;
        tokio::spawn(async move {
            // Its end (or failure) reaches the response or the upgrade.
            let _ended = dispatcher.with_upgrades().await;
        });
        sender.send_request(request).await
    }

    /// Sends `request` and drives the connection until legacy's response head
    /// has arrived. The body streams later, driven by [`PooledBody`].
    pub(super) async fn exchange(
        &mut self,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, ExchangeError> {
        let response = self.sender.try_send_request(request);
        let mut response = std::pin::pin!(response);
        let result = poll_fn(|cx| {
            // Write the request, read the answer; if the connection ends
            // instead, the pending response is settled with its error.
            let _ended = self.drive(cx);
            response.as_mut().poll(cx)
        })
        .await;
        result.map_err(
            |mut error: TrySendError<Request<Body>>| match error.take_message() {
                Some(request) => ExchangeError::Unsent(Box::new(request), error.into_error()),
                None => ExchangeError::Failed(error.into_error()),
            },
        )
    }

    /// Polls the dispatcher once without a waker to be woken: `false` when the
    /// connection has ended (legacy closed it, or it failed).
    fn still_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.drive(&mut cx).is_pending() && !self.sender.is_closed()
    }

    /// Whether the connection can take a request now: open and idle.
    fn is_usable(&mut self) -> bool {
        self.still_open() && self.sender.is_ready()
    }
}

/// Idle keep-alive connections to one legacy address, most recently used first out.
pub(super) struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// Whether the sweeper task has been started (on the first check-in).
    sweeper: std::sync::Once,
}

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

impl Pool {
    /// An empty pool; it spawns its sweeper on the first check-in.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            sweeper: std::sync::Once::new(),
        })
    }

    /// The most recently used idle connection that can take a request, if any.
    pub(super) fn checkout(&self) -> Option<Box<Conn>> {
        let now = Instant::now();
        let mut idle = self.lock();
        while let Some(mut entry) = idle.pop() {
            if now.duration_since(entry.since) >= IDLE_TIMEOUT {
                // The rest were checked in earlier still: all expired.
                idle.clear();
                return None;
            }
            if entry.conn.is_usable() {
                entry.conn.reused = true;
                return Some(entry.conn);
            }
        }
        None
    }

    /// Puts `conn` back for the next request, unless it has ended or the pool is full.
    fn checkin(self: &Arc<Self>, mut conn: Box<Conn>) {
        if !conn.still_open() {
            return;
        }
        self.sweeper.call_once(|| self.spawn_sweeper());
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Idle connections now.
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // A panic while holding the lock leaves a valid Vec; keep using it.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops connections idle too long or closed by legacy, every
    /// [`SWEEP_EVERY`], until the pool itself is dropped.
    fn spawn_sweeper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep(Instant::now());
            }
        });
    }

    /// Drops the connections idle for [`IDLE_TIMEOUT`] at `now`, or closed by legacy.
    pub(super) fn sweep(&self, now: Instant) {
        let mut idle = self.lock();
        idle.retain_mut(|entry| {
            now.duration_since(entry.since) < IDLE_TIMEOUT && entry.conn.still_open()
        });
    }
}

/// Legacy's response body, driving its connection and returning it to the
/// pool once legacy's body has ended.
pub(super) struct PooledBody {
    incoming: Incoming,
    /// The connection, until the body ends (then pooled) or it ends itself.
    conn: Option<Box<Conn>>,
    pool: Arc<Pool>,
    /// Counts the response in flight on its address until the body is dropped.
    _in_flight: Option<InFlight>,
}

impl PooledBody {
    /// `incoming`, whose bytes `conn`'s dispatcher reads, returned to `pool`
    /// at its end; `in_flight` is held as long as the body.
    pub(super) fn new(
        incoming: Incoming,
        conn: Box<Conn>,
        pool: Arc<Pool>,
        in_flight: Option<InFlight>,
    ) -> Self {
        Self {
            incoming,
            conn: Some(conn),
            pool,
            _in_flight: in_flight,
        }
    }

    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(conn) = &mut this.conn
            && conn.drive(cx).is_ready()
        {
            // The connection ended (legacy closed it after this response, or
            // it failed); what it read is in `incoming` still.
            this.conn = None;
        }
        let frame = Pin::new(&mut this.incoming).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.release();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body with nothing to read (a HEAD, a 204, `Content-Length: 0`) may
        // be dropped unread; its connection is still good. A body dropped
        // half-read is not: the connection closes with it.
        if self.incoming.is_end_stream() {
            self.release();
        }
    }
}
