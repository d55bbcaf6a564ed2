//! Streams: the item lists of listing operations and the byte streams of blobs.
//!
//! Listing operations return a [`ListStream`]: a `'static` stream of `Result<T>` in lexical order.
//! An error ends the stream. Blob content moves as a [`ByteStream`] of shared [`Bytes`] chunks.

use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;

use crate::error::{Error, Result};

/// A boxed, sendable stream of results.
pub type ListStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send + 'static>>;

/// A boxed, sendable stream of byte chunks: blob content in flight.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// A stream yielding the items of `items` in order.
pub fn iter<T, I>(items: I) -> ListStream<T>
where
    T: Send + 'static,
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
{
    Box::pin(futures_util::stream::iter(items.into_iter().map(Ok)))
}

/// A stream yielding just `err`.
pub fn error<T: Send + 'static>(err: Error) -> ListStream<T> {
    Box::pin(futures_util::stream::once(async move { Err(err) }))
}

/// A stream yielding nothing.
pub fn empty<T: Send + 'static>() -> ListStream<T> {
    Box::pin(futures_util::stream::empty())
}

/// Collects a stream into a vector, stopping at the first error.
pub async fn collect<T>(mut stream: ListStream<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push(item?);
    }
    Ok(out)
}

/// A byte stream over one in-memory buffer.
pub fn bytes(data: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::once(async move { Ok(data) }))
}

/// Reads a byte stream to its end into one buffer; fails with `SIZE_INVALID` once more than
/// `limit` bytes arrive, so a hostile peer cannot make the caller buffer without bound.
pub async fn read_to_bytes(mut stream: ByteStream, limit: usize) -> Result<Bytes> {
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        len = len.saturating_add(chunk.len());
        if len > limit {
            return Err(Error::new(
                crate::Code::SizeInvalid,
                format!("content larger than the limit of {limit} bytes"),
            ));
        }
        match first.take() {
            None if buf.is_empty() => first = Some(chunk),
            None => buf.extend_from_slice(&chunk),
            Some(f) => {
                buf.reserve(f.len() + chunk.len());
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[tokio::test]
    async fn collect_stops_at_error() {
        assert_eq!(collect(iter(vec![1, 2, 3])).await.unwrap(), vec![1, 2, 3]);
        assert!(collect::<u8>(empty()).await.unwrap().is_empty());
        let s: ListStream<u8> =
            Box::pin(iter(vec![1]).chain(error(Error::from_code(Code::Denied))));
        assert!(collect(s).await.unwrap_err().is_denied());
    }

    #[tokio::test]
    async fn read_to_bytes_joins_and_limits() {
        let chunks: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
            Ok(Bytes::from_static(b"e")),
        ]));
        assert_eq!(&read_to_bytes(chunks, 5).await.unwrap()[..], b"abcde");
        let one = bytes(Bytes::from_static(b"xyz"));
        assert_eq!(&read_to_bytes(one, 3).await.unwrap()[..], b"xyz");
        let big = bytes(Bytes::from_static(b"xyz"));
        assert!(
            read_to_bytes(big, 2)
                .await
                .unwrap_err()
                .is(&Code::SizeInvalid)
        );
    }
}
