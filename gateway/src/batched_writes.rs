//! Writes to legacy leave in batches: a worker reads and routes every
//! request that is ready before it sends any of them on.
//!
//! A small write to a connection to legacy is not made at once: its bytes
//! are kept with the connection, which joins its worker's open batch, and
//! a task sends the whole batch, back to back, once the worker has run the
//! other tasks that were ready (tokio's `yield_now`: after the worker's next
//! look at its sockets, at most 61 task polls later; at once when nothing
//! else is ready). This is the shape of HAProxy's event loop. It matters
//! because each write to the socket of a legacy that sleeps wakes it: on a
//! core the two share, the kernel lets legacy run at once, and it answers
//! the one request it finds; on another core each wake-up costs the writer
//! an inter-processor interrupt. Sent back to back, most requests find
//! legacy awake, and it answers many per wake-up (README, "Performance").
//!
//! Nothing is lost or reordered. A connection's bytes are written in the
//! order they were given: a write too large to keep goes out after what is
//! kept. A connection dropped with bytes kept is closed once its batch has
//! sent them. A batch that cannot write everything (the socket's buffer
//! full) or fails leaves the rest, or the error, to the connection's next
//! read or write, and wakes its owner to make one. A flush succeeds once
//! the bytes are kept: the batch is as sure to send them as the socket's
//! own buffer is.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Writes of at most this many bytes (together, per connection and batch)
/// are kept for the batch: a request head with a body of a few KiB.
pub(crate) const KEEP_LIMIT: usize = 16 * 1024;

/// A connection's buffer for kept bytes is given back once sent when it
/// grew larger than this, so that an idle pooled connection holds no more.
const KEPT_RETAINED: usize = 4096;

/// A plain TCP connection to legacy whose small writes leave in batches.
#[derive(Debug)]
pub(crate) struct BatchedTcp {
    read: OwnedReadHalf,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// A batch left bytes or an error for the owner: its reads take the
    /// lock only then (set and cleared under the lock).
    attention: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    write: OwnedWriteHalf,
    /// Bytes accepted from the owner and not yet written, in order.
    kept: Vec<u8>,
    /// Whether the connection is in a batch that has not been sent yet.
    queued: bool,
    /// A batch's failure to write, for the owner's next read or write.
    error: Option<io::Error>,
    /// The owner, woken when a batch leaves bytes or an error behind.
    owner: Option<Waker>,
}

impl BatchedTcp {
    /// Wraps a connected stream.
    pub(crate) fn new(tcp: TcpStream) -> Self {
        let (read, write) = tcp.into_split();
        Self {
            read,
            shared: Arc::new(Shared {
                attention: AtomicBool::new(false),
                state: Mutex::new(State {
                    write,
                    kept: Vec::new(),
                    queued: false,
                    error: None,
                    owner: None,
                }),
            }),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding it leaves nothing half-done that matters
        // more than the connection itself: take the state as it is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends what this connection kept for its batch; what cannot be sent
    /// now (or the error) is left to the owner, who is woken.
    fn send_batched(&self) {
        let mut state = self.lock();
        state.queued = false;
        if state.kept.is_empty() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match state.write_kept(&mut cx) {
            Poll::Ready(Ok(())) => return,
            Poll::Ready(Err(error)) => {
                state.kept.clear();
                state.error = Some(error);
            }
            Poll::Pending => {}
        }
        self.attention.store(true, Ordering::Release);
        if let Some(owner) = &state.owner {
            owner.wake_by_ref();
        }
    }

    /// [`State::settle`], then whether the owner still needs to look.
    fn settle(&self, state: &mut State, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let settled = state.settle(cx);
        let pending = state.error.is_some() || (!state.queued && !state.kept.is_empty());
        self.attention.store(pending, Ordering::Release);
        settled
    }
}

impl State {
    /// Writes every kept byte, in order; `Pending` when the socket is full.
    fn write_kept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = 0;
        let result = loop {
            if written == self.kept.len() {
                break Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.write).poll_write(cx, &self.kept[written..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(error)) => break Poll::Ready(Err(error)),
                Poll::Pending => break Poll::Pending,
            }
        };
        if written == self.kept.len() {
            self.kept.clear();
            if self.kept.capacity() > KEPT_RETAINED {
                self.kept = Vec::new();
            }
        } else {
            self.kept.drain(..written);
        }
        result
    }

    /// What the owner must see before its next read or write: a batch's
    /// error, or bytes a batch could not finish, written now.
    fn settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(error) = self.error.take() {
            return Poll::Ready(Err(error));
        }
        if self.queued || self.kept.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.write_kept(cx)
    }

    fn remember_owner(&mut self, cx: &Context<'_>) {
        match &self.owner {
            Some(owner) if owner.will_wake(cx.waker()) => {}
            _ => self.owner = Some(cx.waker().clone()),
        }
    }
}

impl AsyncRead for BatchedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.shared.attention.load(Ordering::Acquire) {
            let mut state = this.shared.lock();
            state.remember_owner(cx);
            // Bytes still to write are the request this read waits for the
            // answer to; written as far as they go, the read goes on.
            if let Poll::Ready(Err(error)) = this.shared.settle(&mut state, cx) {
                return Poll::Ready(Err(error));
            }
        }
        Pin::new(&mut this.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for BatchedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total = bufs.iter().map(|buf| buf.len()).sum::<usize>();
        let this = self.get_mut();
        let mut state = this.shared.lock();
        state.remember_owner(cx);
        ready!(this.shared.settle(&mut state, cx))?;
        if state.kept.len() + total <= KEEP_LIMIT && (state.queued || join_batch(&this.shared)) {
            state.queued = true;
            for buf in bufs {
                state.kept.extend_from_slice(buf);
            }
            return Poll::Ready(Ok(total));
        }
        // Too large to keep (or no runtime to send a batch): what is kept
        // goes first, then this, directly.
        ready!(state.write_kept(cx))?;
        crate::small_writes::poll_write_gathered(Pin::new(&mut state.write), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Kept bytes count as flushed: their batch sends them within a few
    /// task polls, and a failure reaches the owner's next read or write (a
    /// socket has nothing else to flush).
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut state = this.shared.lock();
        ready!(this.shared.settle(&mut state, cx))?;
        ready!(state.write_kept(cx))?;
        Pin::new(&mut state.write).poll_shutdown(cx)
    }
}

/// Connections with bytes kept for one send, back to back.
type Batch = Arc<Mutex<Option<Vec<Arc<Shared>>>>>;

thread_local! {
    /// The worker's batch still taking connections: `None` inside once its
    /// task has taken them to send.
    static OPEN: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Adds `shared` to this thread's open batch, opening one (and spawning the
/// task that sends it) if there is none; `false` outside a tokio runtime.
fn join_batch(shared: &Arc<Shared>) -> bool {
    OPEN.with(|open| {
        let Ok(mut open) = open.try_borrow_mut() else {
            return false;
        };
        if let Some(batch) = open.as_ref() {
            let mut members = batch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(members) = members.as_mut() {
                members.push(Arc::clone(shared));
                return true;
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let batch: Batch = Arc::new(Mutex::new(Some(vec![Arc::clone(shared)])));
        let sender = BatchSender(Arc::clone(&batch));
        runtime.spawn(async move {
            // Every other task that was ready runs first.
            tokio::task::yield_now().await;
            drop(sender);
        });
        *open = Some(batch);
        true
    })
}

/// Sends its batch when dropped: once its task has yielded, or, should the
/// runtime shut down first, as the task is dropped unrun (so that a batch
/// never stays open for a later runtime on the same thread).
struct BatchSender(Batch);

impl Drop for BatchSender {
    fn drop(&mut self) {
        let members = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        for shared in members {
            shared.send_batched();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A loopback connection: the batched client end and the accepted end
    /// as a plain non-blocking std socket, whose reads ask the kernel.
    async fn pair() -> (BatchedTcp, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (BatchedTcp::new(client), server)
    }

    /// What has arrived at `server` by now (never waits).
    fn arrived(server: &mut std::net::TcpStream) -> Vec<u8> {
        let mut received = Vec::new();
        let mut chunk = [0; 65_536];
        loop {
            match server.read(&mut chunk) {
                Ok(0) => return received,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return received,
                Err(error) => panic!("reading the server end: {error}"),
            }
        }
    }

    /// Everything `server` receives until the client closes, within 10 s.
    async fn until_closed(server: std::net::TcpStream) -> Vec<u8> {
        server.set_nonblocking(false).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        tokio::task::spawn_blocking(move || {
            let mut server = server;
            let mut received = Vec::new();
            server.read_to_end(&mut received).unwrap();
            received
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn small_writes_leave_once_the_writer_has_let_other_tasks_run() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(arrived(&mut server), b"", "kept until the batch is sent");

        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(arrived(&mut server), b"GET /a HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn writes_of_many_connections_in_one_batch_arrive_whole_and_in_order() {
        let mut pairs = Vec::new();
        for _ in 0..5 {
            pairs.push(pair().await);
        }
        let large = vec![b'L'; KEEP_LIMIT + 1];
        let mut expected = vec![Vec::new(); pairs.len()];
        // Kept, kept, too large to keep (what was kept goes first), kept.
        for (writes, (client, _)) in pairs.iter_mut().enumerate() {
            let pieces: [&[u8]; 4] = [b"head-", b"more-", &large, b"-tail"];
            for piece in pieces {
                client.write_all(piece).await.unwrap();
                expected[writes].extend_from_slice(piece);
            }
            let gathered = [io::IoSlice::new(b"[one"), io::IoSlice::new(b" two]")];
            let written = client.write_vectored(&gathered).await.unwrap();
            assert_eq!(written, 9, "a vectored write is kept whole");
            expected[writes].extend_from_slice(b"[one two]");
        }
        for (index, (client, server)) in pairs.into_iter().enumerate() {
            let mut client = client;
            client.shutdown().await.unwrap();
            drop(client);
            assert_eq!(until_closed(server).await, expected[index]);
        }
    }

    #[tokio::test]
    async fn a_connection_dropped_with_bytes_kept_sends_them_before_it_closes() {
        let (mut client, server) = pair().await;
        client.write_all(b"the last request").await.unwrap();
        drop(client);
        assert_eq!(until_closed(server).await, b"the last request");
    }

    #[tokio::test]
    async fn reads_and_writes_go_on_after_a_batch() {
        let (mut client, mut server) = pair().await;
        for round in 0..3 {
            let request = format!("request {round}");
            client.write_all(request.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            while got.len() < request.len() {
                tokio::time::sleep(Duration::from_millis(5)).await;
                got.extend(arrived(&mut server));
            }
            assert_eq!(got, request.as_bytes());
            std::io::Write::write_all(&mut server, b"answer").unwrap();
            let mut answer = [0; 6];
            client.read_exact(&mut answer).await.unwrap();
            assert_eq!(&answer, b"answer");
        }
    }

    #[tokio::test]
    async fn a_peer_that_reset_the_connection_is_an_error_to_the_owner_not_a_silence() {
        let (mut client, server) = pair().await;
        let server = TcpStream::from_std(server).unwrap();
        server.set_zero_linger().unwrap();
        drop(server);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Kept (nothing is written yet); the batch meets the reset.
        client.write_all(b"lost?").await.unwrap();
        let mut buf = [0; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .expect("the owner hears of the failure at once");
        assert!(read.is_err(), "a reset is an error, got {read:?}");
    }

    #[test]
    fn a_batch_left_open_by_a_runtime_that_ended_does_not_hold_the_next_runtimes_writes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        // The first runtime ends before its batch's task has run.
        let first = runtime();
        let kept = first.block_on(async {
            let mut client = BatchedTcp::new(TcpStream::connect(address).await.unwrap());
            client.write_all(b"first").await.unwrap();
            client
        });
        drop(first);
        drop(kept);
        let _first_server = listener.accept().unwrap();

        let second = runtime();
        second.block_on(async {
            let mut client = BatchedTcp::new(TcpStream::connect(address).await.unwrap());
            let (server, _) = listener.accept().unwrap();
            client.write_all(b"second").await.unwrap();
            drop(client);
            assert_eq!(until_closed(server).await, b"second");
        });
    }
}
