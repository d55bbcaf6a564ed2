//! Bodies: the response body type, and request bodies turned into checked byte streams.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::TryStreamExt;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use ociregistry_core::{ByteStream, Code, Error};

/// The body of every response: a boxed body of [`Bytes`] whose errors are registry errors.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Error>;

/// An empty body.
pub fn empty() -> ResponseBody {
    Empty::new()
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// A body of one buffer.
pub fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// A body streaming `content`.
pub fn stream(content: ByteStream) -> ResponseBody {
    StreamBody::new(content.map_ok(Frame::data)).boxed_unsync()
}

/// The boxed error type of request bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns a request body into a stream of data chunks. A body that fails (a client gone, a body
/// shorter than its `Content-Length`) or stalls longer than `timeout` between chunks ends the
/// stream with a `SIZE_INVALID` error, so nothing built from it can be committed.
pub(crate) fn request_stream<B>(body: B, timeout: Option<Duration>) -> ByteStream
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let frames = http_body_util::BodyDataStream::new(body).map_err(|e| {
        let e: BoxError = e.into();
        Error::new(Code::SizeInvalid, format!("reading the request body: {e}"))
    });
    match timeout {
        None => Box::pin(frames),
        Some(limit) => Box::pin(Stalling {
            inner: Box::pin(frames),
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            done: false,
        }),
    }
}

/// Ends a stream with an error when it yields nothing for `limit`.
struct Stalling {
    inner: ByteStream,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl futures_util::Stream for Stalling {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(item) => {
                this.done = !matches!(item, Some(Ok(_)));
                let deadline = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(item)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    Poll::Ready(Some(Err(Error::new(
                        Code::SizeInvalid,
                        "request body stalled past the body timeout",
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
