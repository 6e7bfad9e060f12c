//! The client connection's two timeouts: idle keep-alive, and the request head's read.
//!
//! hyper's own `header_read_timeout` starts when it begins waiting for a
//! request head, so it also ends idle keep-alive connections: a load
//! balancer that keeps an idle connection longer than that sends its next
//! request on a connection the gateway is closing (the keep-alive race, a
//! 502 at the balancer). Here the two are separate, measured around the
//! connection's I/O:
//!
//! - *idle*: no request is being answered and no byte of the next one has
//!   arrived. After `keep_alive` the connection is closed.
//! - *reading a head*: the first byte of the next request has arrived and
//!   the head is not complete yet. After `header_read` the connection is
//!   closed (slow-loris guard).
//!
//! While a request is being answered (from its complete head until its
//! response body has been written or dropped) neither applies, and an
//! upgraded connection (WebSocket) is left alone. HTTP/2 connections only
//! have the idle timeout: their frames between requests (pings, settings)
//! are not request heads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The two timeouts of a client connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// How long a connection may be idle between requests.
    pub(crate) keep_alive: Duration,
    /// How long a request head may take from its first byte.
    pub(crate) header_read: Duration,
}

/// No instant recorded.
const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its I/O and its requests.
#[derive(Clone)]
pub(crate) struct Activity(Arc<State>);

struct State {
    /// The instant the offsets below count from.
    epoch: Instant,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// Since when the connection is idle (offset in nanoseconds).
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived, or [`NONE`].
    head_started: AtomicU64,
    /// HTTP/2 (no head timeout) or upgraded (no timeout at all).
    http2: AtomicBool,
    upgraded: AtomicBool,
}

impl Activity {
    /// A connection accepted now: idle until its first byte.
    pub(crate) fn new() -> Self {
        Self(Arc::new(State {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            http2: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
        }))
    }

    fn offset(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.0.epoch).as_nanos()).unwrap_or(NONE - 1)
    }

    fn instant(&self, offset: u64) -> Instant {
        self.0.epoch + Duration::from_nanos(offset)
    }

    /// A request head is complete: the timeouts pause until [`Answering`] is dropped.
    pub(crate) fn begin(&self) -> Answering {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        self.0.head_started.store(NONE, Ordering::SeqCst);
        Answering(self.clone())
    }

    /// The deadline that applies now, and what it ends; `None` while a request is answered.
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, &'static str)> {
        if self.0.upgraded.load(Ordering::SeqCst) || self.0.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        match self.0.head_started.load(Ordering::SeqCst) {
            NONE => Some((
                self.instant(self.0.idle_since.load(Ordering::SeqCst)) + timeouts.keep_alive,
                "the keep-alive connection was idle too long",
            )),
            started => Some((
                self.instant(started) + timeouts.header_read,
                "the request head was not received in time",
            )),
        }
    }

    /// Bytes arrived while nothing was in flight: the first ones start a request head.
    fn received(&self, first_bytes: &[u8]) {
        if self.0.in_flight.load(Ordering::SeqCst) > 0 {
            return;
        }
        if first_bytes.starts_with(b"PRI ") {
            self.0.http2.store(true, Ordering::SeqCst);
        }
        if !self.0.http2.load(Ordering::SeqCst) {
            let now = self.offset(Instant::now());
            let _ =
                self.0
                    .head_started
                    .compare_exchange(NONE, now, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Whether the connection was handed over by a `101`: no timeout applies any more.
    fn is_upgraded(&self) -> bool {
        self.0.upgraded.load(Ordering::SeqCst)
    }
}

/// A request being answered; dropped with its response body (or its future).
pub(crate) struct Answering(Activity);

impl Answering {
    /// Keeps the request in flight until `response`'s body has been written
    /// or dropped; a `101 Switching Protocols` leaves the connection without timeouts.
    pub(crate) fn track(self, response: http::Response<Body>) -> http::Response<Body> {
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            self.0.0.upgraded.store(true, Ordering::SeqCst);
        }
        response.map(|body| {
            Body::new(Tracked {
                body,
                _answering: self,
            })
        })
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let state = &self.0.0;
        if state.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            // No wake-up: the reader's sleep is armed no later than this
            // deadline (see `TimedIo::poll_deadline`).
            state
                .idle_since
                .store(self.0.offset(Instant::now()), Ordering::SeqCst);
        }
    }
}

/// A response body that holds its request in flight.
struct Tracked {
    body: Body,
    _answering: Answering,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's I/O, which fails a read when the deadline of [`Activity`] passes.
///
/// Its sleep is armed no later than the deadline in force, but may fire
/// earlier, when the deadline is looked at again: a deadline that moved
/// later (every request moves the idle one) does not re-arm the timer, and a
/// request that ends does not have to wake the connection to arm one (no
/// lock, no waker kept aside). Under load a connection's timer is re-armed
/// about once per keep-alive period instead of once per request.
pub(crate) struct TimedIo<T> {
    io: T,
    activity: Activity,
    timeouts: Timeouts,
    sleep: Pin<Box<Sleep>>,
}

impl<T> TimedIo<T> {
    /// Wraps `io`, watched by `activity`.
    pub(crate) fn new(io: T, activity: Activity, timeouts: Timeouts) -> Self {
        Self {
            io,
            sleep: Box::pin(tokio::time::sleep(timeouts.keep_alive)),
            activity,
            timeouts,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.activity.received(&buf.filled()[before..]);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => {}
        }
        match self.poll_deadline(cx) {
            Poll::Ready(what) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> TimedIo<T> {
    /// Ready with what ended the connection once the deadline in force has
    /// passed; pending otherwise, with the sleep armed no later than it.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<&'static str> {
        loop {
            if self.activity.is_upgraded() {
                return Poll::Pending;
            }
            let due = self.activity.deadline(self.timeouts);
            if let Some((deadline, _)) = due
                && deadline < self.sleep.deadline()
            {
                self.sleep.as_mut().reset(deadline);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            match due {
                Some((deadline, what)) if deadline <= now => return Poll::Ready(what),
                Some((deadline, _)) => self.sleep.as_mut().reset(deadline),
                // A request is being answered: look again a keep-alive period
                // from now (the idle deadline after it cannot be earlier).
                None => self.sleep.as_mut().reset(now + self.timeouts.keep_alive),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        crate::small_writes::poll_write_gathered(Pin::new(&mut self.io), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        keep_alive: Duration::from_secs(75),
        header_read: Duration::from_secs(10),
    };

    #[tokio::test]
    async fn the_deadline_follows_the_connection_through_a_request() {
        let activity = Activity::new();
        let (idle, what) = activity.deadline(TIMEOUTS).expect("idle");
        assert!(idle > Instant::now() + Duration::from_secs(70), "{idle:?}");
        assert!(what.contains("idle"), "{what}");

        activity.received(b"GET / HTTP/1.1\r\n");
        let (head, what) = activity.deadline(TIMEOUTS).expect("reading a head");
        assert!(head <= Instant::now() + TIMEOUTS.header_read, "{head:?}");
        assert!(what.contains("head"), "{what}");

        let answering = activity.begin();
        assert!(activity.deadline(TIMEOUTS).is_none(), "answering");
        activity.received(b"more body");
        assert!(activity.deadline(TIMEOUTS).is_none(), "still answering");

        drop(answering);
        let (idle, what) = activity.deadline(TIMEOUTS).expect("idle again");
        assert!(idle > Instant::now() + Duration::from_secs(70), "{idle:?}");
        assert!(what.contains("idle"), "{what}");
    }

    #[tokio::test]
    async fn http2_has_no_head_timeout_and_an_upgrade_no_timeout() {
        let h2 = Activity::new();
        h2.received(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let (_, what) = h2.deadline(TIMEOUTS).expect("idle");
        assert!(what.contains("idle"), "{what}");

        let upgraded = Activity::new();
        let response = upgraded.begin().track(
            http::Response::builder()
                .status(http::StatusCode::SWITCHING_PROTOCOLS)
                .body(Body::empty())
                .expect("a response"),
        );
        drop(response);
        assert!(upgraded.deadline(TIMEOUTS).is_none());
    }
}
