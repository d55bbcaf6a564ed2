//! Fanning one byte stream out to several consumers without buffering it: each chunk goes into
//! one bounded channel per consumer, and the source is read only as fast as the slowest
//! consumer takes chunks.

use bytes::Bytes;
use futures_util::StreamExt;
use ociregistry_core::{ByteStream, Result};
use tokio::sync::mpsc;

/// How many chunks may wait for each consumer. The data in flight is at most this many chunks
/// per consumer (plus the one being sent), however large the blob. Chunks are shared
/// ([`Bytes`] clones), so every consumer's copy of a chunk is the same memory.
pub(crate) const DEPTH: usize = 4;

/// How the feeding of a tee ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fed {
    /// The whole source went into every consumer that was still listening.
    Complete,
    /// The source failed; its error was passed on to every consumer still listening.
    SourceFailed,
    /// Every consumer stopped listening before the source ended.
    Abandoned,
}

/// `n` consumer streams, and the senders feeding them (give both to [`feed`]).
pub(crate) fn channels(n: usize) -> (Vec<mpsc::Sender<Result<Bytes>>>, Vec<ByteStream>) {
    (0..n)
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<Result<Bytes>>(DEPTH);
            let stream: ByteStream =
                Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
            (tx, stream)
        })
        .unzip()
}

/// Reads `source` to its end, sending every chunk to every consumer still listening; a consumer
/// that drops its stream is skipped from then on. A source error is sent to every consumer (so
/// none can mistake a truncated stream for a complete one) and ends the feed. Dropping the
/// senders at the end ends the consumers' streams.
pub(crate) async fn feed(mut source: ByteStream, senders: Vec<mpsc::Sender<Result<Bytes>>>) -> Fed {
    let mut senders: Vec<Option<mpsc::Sender<Result<Bytes>>>> =
        senders.into_iter().map(Some).collect();
    while let Some(item) = source.next().await {
        match item {
            Ok(chunk) => {
                for slot in &mut senders {
                    if let Some(tx) = slot
                        && tx.send(Ok(chunk.clone())).await.is_err()
                    {
                        *slot = None;
                    }
                }
                if senders.iter().all(Option::is_none) {
                    return Fed::Abandoned;
                }
            }
            Err(e) => {
                for tx in senders.iter().flatten() {
                    let _ = tx.send(Err(e.clone())).await;
                }
                return Fed::SourceFailed;
            }
        }
    }
    Fed::Complete
}

#[cfg(test)]
mod tests {
    use super::*;
    use ociregistry_core::{Code, Error, stream};

    fn source(parts: Vec<Result<Bytes>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(parts))
    }

    #[tokio::test]
    async fn every_consumer_gets_every_chunk() {
        let parts: Vec<Result<Bytes>> = (0..20u8).map(|i| Ok(Bytes::from(vec![i; 10]))).collect();
        let (tx, rx) = channels(3);
        let reads = futures_util::future::join_all(
            rx.into_iter().map(|s| stream::read_to_bytes(s, usize::MAX)),
        );
        let (fed, reads) = futures_util::future::join(feed(source(parts), tx), reads).await;
        assert_eq!(fed, Fed::Complete);
        for r in reads {
            let r = r.unwrap();
            assert_eq!(r.len(), 200);
            assert_eq!(r[199], 19);
        }
    }

    #[tokio::test]
    async fn source_errors_reach_every_consumer_and_dropped_consumers_are_skipped() {
        let parts = vec![
            Ok(Bytes::from_static(b"ab")),
            Err(Error::new(Code::Unknown, "broken")),
        ];
        let (tx, mut rx) = channels(2);
        let second = rx.pop().unwrap();
        drop(rx);
        let (fed, read) = futures_util::future::join(
            feed(source(parts), tx),
            stream::read_to_bytes(second, usize::MAX),
        )
        .await;
        assert_eq!(fed, Fed::SourceFailed);
        assert_eq!(read.unwrap_err().message(), "broken");

        let (tx, rx) = channels(2);
        drop(rx);
        let fed = feed(source(vec![Ok(Bytes::from_static(b"x"))]), tx).await;
        assert_eq!(fed, Fed::Abandoned);
    }
}
