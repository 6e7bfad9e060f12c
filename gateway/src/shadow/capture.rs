//! Copies of bodies for comparison, bounded, without changing what the client gets.
//!
//! - [`buffer_request`]: reads a request body up to a limit so it can be sent
//!   twice; above the limit the primary still gets the whole body, streamed.
//! - [`TeeBody`]: passes the primary's response body through to the client
//!   unchanged and keeps a copy (up to a limit) for the comparison.
//! - [`capture_response`]: reads the mirrored side's response, bounded.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use shadow_diff::{Captured, CapturedBody};
use tokio::sync::oneshot;

/// A request body split for mirroring.
pub struct BufferedRequest {
    /// The body to send to the primary: the same bytes, in full.
    pub primary: Body,
    /// A copy for the mirror, or `None` when the body is larger than the limit.
    pub copy: Option<Bytes>,
}

/// Reads `body` up to `limit` bytes.
///
/// # Errors
///
/// The body's own error (the client aborted, or the gateway's size limit).
pub async fn buffer_request(body: Body, limit: usize) -> Result<BufferedRequest, axum::Error> {
    let mut body = body;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else {
            // Trailers are not mirrored; nothing to keep for the copy.
            continue;
        };
        total = total.saturating_add(data.len());
        chunks.push(data);
        if total > limit {
            // Too large to mirror: give the primary what was read, then the rest.
            let read = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
            let rest = body.into_data_stream();
            return Ok(BufferedRequest {
                primary: Body::from_stream(read.chain(rest)),
                copy: None,
            });
        }
    }
    let mut joined = BytesMut::with_capacity(total);
    for chunk in chunks {
        joined.extend_from_slice(&chunk);
    }
    let bytes = joined.freeze();
    Ok(BufferedRequest {
        primary: Body::from(bytes.clone()),
        copy: Some(bytes),
    })
}

/// A response body that reaches the client unchanged while a copy is kept.
///
/// When the body ends, the copy (or [`CapturedBody::TooLarge`]) is sent on
/// the channel; if the body fails or is dropped early (the client went
/// away), the channel closes without a value.
pub struct TeeBody {
    inner: Body,
    copy: BytesMut,
    limit: usize,
    overflowed: bool,
    done: Option<oneshot::Sender<CapturedBody>>,
}

impl TeeBody {
    /// Wraps `inner`, keeping up to `limit` bytes; the copy arrives on the returned receiver.
    pub fn new(inner: Body, limit: usize) -> (Self, oneshot::Receiver<CapturedBody>) {
        let (done, receiver) = oneshot::channel();
        let tee = Self {
            inner,
            copy: BytesMut::new(),
            limit,
            overflowed: false,
            done: Some(done),
        };
        (tee, receiver)
    }

    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let body = if self.overflowed {
                CapturedBody::TooLarge { limit: self.limit }
            } else {
                CapturedBody::Complete(std::mem::take(&mut self.copy).freeze())
            };
            // The comparison may have given up waiting; that is fine.
            let _ = done.send(body);
        }
    }
}

impl http_body::Body for TeeBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !this.overflowed
                {
                    if this.copy.len() + data.len() > this.limit {
                        this.overflowed = true;
                        this.copy = BytesMut::new();
                    } else {
                        this.copy.extend_from_slice(data);
                    }
                }
                // Servers stop polling once a body says it has ended.
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                // The copy is incomplete: close the channel without a value.
                this.done = None;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        // An empty body may never be polled: it is complete all the same.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

/// Reads a mirrored response completely, keeping at most `limit` body bytes.
///
/// The rest of a larger body is read and discarded, so the connection can be reused.
pub async fn capture_response(
    response: Response<Body>,
    limit: usize,
) -> Result<Captured, axum::Error> {
    let (parts, mut body) = response.into_parts();
    let mut copy = BytesMut::new();
    let mut overflowed = false;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data()
            && !overflowed
        {
            if copy.len() + data.len() > limit {
                overflowed = true;
                copy = BytesMut::new();
            } else {
                copy.extend_from_slice(&data);
            }
        }
    }
    Ok(Captured {
        status: parts.status,
        headers: parts.headers,
        body: if overflowed {
            CapturedBody::TooLarge { limit }
        } else {
            CapturedBody::Complete(copy.freeze())
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Bytes> = parts.iter().map(|p| Bytes::from_static(p)).collect();
        let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, axum::Error>));
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_small_body_is_copied_and_the_primary_gets_it_whole() {
        let buffered = buffer_request(chunked(&[b"hello ", b"world"]), 64)
            .await
            .unwrap();
        assert_eq!(buffered.copy.as_deref(), Some(&b"hello world"[..]));
        let primary = buffered.primary.collect().await.unwrap().to_bytes();
        assert_eq!(&primary[..], b"hello world");
    }

    #[tokio::test]
    async fn a_large_body_is_not_copied_but_the_primary_still_gets_every_byte() {
        let buffered = buffer_request(chunked(&[b"0123456789", b"abcdefghij", b"KLMNOP"]), 12)
            .await
            .unwrap();
        assert!(buffered.copy.is_none());
        let primary = buffered.primary.collect().await.unwrap().to_bytes();
        assert_eq!(&primary[..], b"0123456789abcdefghijKLMNOP");
    }

    #[tokio::test]
    async fn the_tee_passes_everything_through_and_reports_the_copy_at_the_end() {
        let (tee, copy) = TeeBody::new(chunked(&[b"abc", b"def"]), 10);
        let client_got = Body::new(tee).collect().await.unwrap().to_bytes();
        assert_eq!(&client_got[..], b"abcdef");
        assert!(matches!(copy.await, Ok(CapturedBody::Complete(b)) if &b[..] == b"abcdef"));

        let (tee, copy) = TeeBody::new(chunked(&[b"abcdef", b"ghijkl"]), 10);
        let client_got = Body::new(tee).collect().await.unwrap().to_bytes();
        assert_eq!(
            &client_got[..],
            b"abcdefghijkl",
            "the client gets the whole body even above the limit"
        );
        assert!(matches!(
            copy.await,
            Ok(CapturedBody::TooLarge { limit: 10 })
        ));
    }

    #[tokio::test]
    async fn a_tee_dropped_before_the_end_reports_nothing() {
        let (tee, copy) = TeeBody::new(chunked(&[b"abc"]), 10);
        drop(tee);
        assert!(copy.await.is_err());
    }

    #[tokio::test]
    async fn a_body_that_ends_with_its_last_frame_or_is_empty_is_reported_complete() {
        // `Body::from(..)` says it has ended as soon as its one frame is read:
        // a server then never polls again.
        let (mut tee, copy) = TeeBody::new(Body::from("whole"), 10);
        let frame = std::future::poll_fn(|cx| Pin::new(&mut tee).poll_frame(cx)).await;
        assert!(frame.is_some());
        assert!(tee.is_end_stream());
        assert!(matches!(copy.await, Ok(CapturedBody::Complete(b)) if &b[..] == b"whole"));

        let (tee, copy) = TeeBody::new(Body::empty(), 10);
        drop(tee);
        assert!(matches!(copy.await, Ok(CapturedBody::Complete(b)) if b.is_empty()));
    }
}
