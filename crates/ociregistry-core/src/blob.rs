//! Blob content in flight: [`BlobReader`] for reads, [`BlobWriter`] for resumable uploads.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;

use crate::background_digester::{BackgroundDigester, Snapshot};
use crate::descriptor::Descriptor;
use crate::digest::{Digest, push_hex};
use crate::error::{Code, Error, Result};
use crate::stream::{self, ByteStream};

/// The content of a blob or manifest, streamed, with the descriptor of the whole content.
///
/// For a ranged read, [`BlobReader::range`] tells which bytes the stream yields; the descriptor
/// still describes the whole blob. `BlobReader` is itself a [`Stream`] of chunks; dropping it stops
/// the read.
pub struct BlobReader {
    desc: Descriptor,
    range: Option<Range<u64>>,
    body: ByteStream,
}

impl BlobReader {
    /// A reader of the whole content described by `desc`.
    pub fn new(desc: Descriptor, body: ByteStream) -> BlobReader {
        BlobReader {
            desc,
            range: None,
            body,
        }
    }

    /// A reader of the bytes `range` of the content described by `desc`.
    pub fn new_range(desc: Descriptor, range: Range<u64>, body: ByteStream) -> BlobReader {
        BlobReader {
            desc,
            range: Some(range),
            body,
        }
    }

    /// A reader over content held in memory.
    pub fn from_bytes(desc: Descriptor, data: Bytes) -> BlobReader {
        BlobReader::new(desc, stream::bytes(data))
    }

    /// The descriptor of the whole content.
    pub fn descriptor(&self) -> &Descriptor {
        &self.desc
    }

    /// The bytes of the content this reader yields: `None` for the whole content.
    pub fn range(&self) -> Option<&Range<u64>> {
        self.range.as_ref()
    }

    /// How many bytes the stream yields.
    pub fn len(&self) -> u64 {
        self.range
            .as_ref()
            .map_or(self.desc.size, |r| r.end - r.start)
    }

    /// Whether the stream yields no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits into descriptor and content stream.
    pub fn into_parts(self) -> (Descriptor, ByteStream) {
        (self.desc, self.body)
    }

    /// Reads all the content into one buffer, failing with `SIZE_INVALID` past `limit` bytes.
    pub async fn bytes(self, limit: usize) -> Result<Bytes> {
        stream::read_to_bytes(self.body, limit).await
    }

    /// Wraps the content so that it is checked while it flows: the stream fails with
    /// `SIZE_INVALID` as soon as it is longer than `desc.size` or ends shorter, and with
    /// `DIGEST_INVALID` at the end when the bytes do not hash to `expected`. Whole reads only.
    pub fn verified(self, expected: &Digest) -> BlobReader {
        let body = Box::pin(Verify::new(self.body, expected.clone(), self.desc.size));
        BlobReader { body, ..self }
    }
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobReader")
            .field("desc", &self.desc)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Stream for BlobReader {
    type Item = Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.body.as_mut().poll_next(cx)
    }
}

/// A byte stream checked against an expected digest and size while it flows.
///
/// Yields the inner stream's chunks unchanged; fails with `SIZE_INVALID` once the content is
/// longer than `size` or when it ends shorter, and with `DIGEST_INVALID` at the end when the
/// content does not hash to the digest. After an error it yields nothing more. Past the first
/// MiB the hashing runs on a thread of its own ([`BackgroundDigester`]), so passing the bytes
/// on and hashing them overlap; the end of the stream waits for the digest.
pub struct Verify {
    inner: ByteStream,
    state: VerifyState,
    expected: Digest,
    size: u64,
}

enum VerifyState {
    Streaming(BackgroundDigester),
    /// The content ended at the right size; waiting for its digest.
    Finishing(Snapshot),
    Done,
}

impl Verify {
    /// Checks `inner` against `expected` and `size`.
    pub fn new(inner: ByteStream, expected: Digest, size: u64) -> Verify {
        Verify {
            inner,
            state: VerifyState::Streaming(BackgroundDigester::new(expected.algorithm())),
            expected,
            size,
        }
    }
}

impl fmt::Debug for Verify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verify")
            .field("expected", &self.expected)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Stream for Verify {
    type Item = Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                VerifyState::Done => return Poll::Ready(None),
                VerifyState::Finishing(snapshot) => {
                    let got = match Pin::new(snapshot).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(got) => got,
                    };
                    this.state = VerifyState::Done;
                    return match got {
                        Err(e) => Poll::Ready(Some(Err(e))),
                        Ok(got) if got != this.expected => Poll::Ready(Some(Err(Error::new(
                            Code::DigestInvalid,
                            format!("content has digest {got}, expected {}", this.expected),
                        )))),
                        Ok(_) => Poll::Ready(None),
                    };
                }
                VerifyState::Streaming(digester) => match this.inner.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        digester.update(chunk.clone());
                        if digester.len() > this.size {
                            this.state = VerifyState::Done;
                            return Poll::Ready(Some(Err(Error::new(
                                Code::SizeInvalid,
                                format!("content is longer than the expected {} bytes", this.size),
                            ))));
                        }
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.state = VerifyState::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(None) => {
                        if digester.len() != this.size {
                            let len = digester.len();
                            this.state = VerifyState::Done;
                            return Poll::Ready(Some(Err(Error::new(
                                Code::SizeInvalid,
                                format!("content is {len} bytes, expected {}", this.size),
                            ))));
                        }
                        let snapshot = digester.snapshot();
                        this.state = VerifyState::Finishing(snapshot);
                    }
                },
            }
        }
    }
}

/// A fresh id for an upload session: 128 random bits from the operating system, as 32
/// lower-case hex digits. Fails with `UNKNOWN` only when the system has no randomness to give.
pub fn new_upload_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::new(
            Code::Unknown,
            format!("cannot generate a random upload id: {e}"),
        )
    })?;
    let mut id = String::with_capacity(32);
    push_hex(&mut id, &bytes);
    Ok(id)
}

/// Where an upload stands after [`BlobWriter::close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// The opaque token to resume the upload with (see [`crate::Registry::push_blob_chunked_resume`]).
    pub id: String,
    /// How many bytes the upload holds.
    pub size: u64,
}

/// A resumable blob upload.
///
/// Write chunks, then either [`commit`](BlobWriter::commit) with the blob's digest, or
/// [`close`](BlobWriter::close) to leave the upload resumable (by its id) from another writer,
/// possibly in another process, or [`cancel`](BlobWriter::cancel) to abandon it. Dropping a writer
/// without any of these leaves the upload as a `close` would where the backend can, but errors
/// are then lost: prefer `close`.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `data` to the upload.
    ///
    /// A writer obtained by resuming at an explicit offset fails with `RANGE_INVALID` if the
    /// upload does not hold exactly that many bytes (checked no later than the first write or
    /// the close).
    async fn write(&mut self, data: Bytes) -> Result<()>;

    /// How many bytes the upload holds, including those written through this writer.
    fn size(&self) -> u64;

    /// The chunk size this writer works best with: at least the registry's minimum, otherwise
    /// following the hint given when the upload started.
    fn chunk_size(&self) -> usize;

    /// The upload's resume token, valid before the first write (some backends change it as
    /// chunks are sent; [`close`](BlobWriter::close) returns the final one).
    fn id(&self) -> &str;

    /// Flushes what was written and leaves the upload open for resuming.
    async fn close(self: Box<Self>) -> Result<UploadStatus>;

    /// Completes the upload: checks that the content hashes to `digest` (`DIGEST_INVALID` if not)
    /// and makes the blob visible. Returns its descriptor.
    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor>;

    /// Abandons the upload and frees what it holds. Cancelling an upload that is already gone
    /// succeeds.
    async fn cancel(self: Box<Self>) -> Result<()>;
}

#[async_trait]
impl<W: BlobWriter + ?Sized> BlobWriter for Box<W> {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        (**self).write(data).await
    }
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn chunk_size(&self) -> usize {
        (**self).chunk_size()
    }
    fn id(&self) -> &str {
        (**self).id()
    }
    async fn close(self: Box<Self>) -> Result<UploadStatus> {
        (*self).close().await
    }
    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        (*self).commit(digest).await
    }
    async fn cancel(self: Box<Self>) -> Result<()> {
        (*self).cancel().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let v: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures_util::stream::iter(v))
    }

    async fn drain(mut s: impl Stream<Item = Result<Bytes>> + Unpin) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn verify_accepts_matching_content() {
        let d = Digest::sha256(b"hello world");
        let v = Verify::new(chunks(&[b"hello ", b"world"]), d, 11);
        assert_eq!(drain(v).await.unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn verify_rejects_wrong_digest_short_and_long() {
        let d = Digest::sha256(b"hello world");
        let e = drain(Verify::new(chunks(&[b"hello there"]), d.clone(), 11))
            .await
            .unwrap_err();
        assert!(e.is(&Code::DigestInvalid));
        let e = drain(Verify::new(chunks(&[b"hello"]), d.clone(), 11))
            .await
            .unwrap_err();
        assert!(e.is(&Code::SizeInvalid));
        let e = drain(Verify::new(chunks(&[b"hello world", b"!"]), d, 11))
            .await
            .unwrap_err();
        assert!(e.is(&Code::SizeInvalid));
    }

    #[tokio::test]
    async fn verify_hashes_large_content_in_the_background() {
        // Past the inline limit the hash runs on a thread; the verdict still comes at the end.
        let data = Bytes::from(
            (0..3_000_000u32)
                .map(|i| (i % 241) as u8)
                .collect::<Vec<_>>(),
        );
        let parts = |data: &Bytes| -> ByteStream {
            let v: Vec<Result<Bytes>> = data
                .chunks(250_000)
                .map(|c| Ok(data.slice_ref(c)))
                .collect();
            Box::pin(futures_util::stream::iter(v))
        };
        let size = data.len() as u64;
        let good = Verify::new(parts(&data), Digest::sha256(&data), size);
        assert_eq!(drain(good).await.unwrap(), data);
        let mut other = data.to_vec();
        other[2_999_999] ^= 1;
        let other = Bytes::from(other);
        let mut bad = Verify::new(parts(&other), Digest::sha256(&data), size);
        let mut got = 0;
        let err = loop {
            match bad.next().await {
                Some(Ok(c)) => got += c.len(),
                Some(Err(e)) => break e,
                None => panic!("a wrong digest must fail"),
            }
        };
        assert!(err.is(&Code::DigestInvalid), "{err}");
        assert_eq!(
            got,
            other.len(),
            "every chunk is passed on before the verdict"
        );
        assert!(bad.next().await.is_none());
    }

    #[test]
    fn upload_ids_are_128_random_bits_in_hex() {
        let a = new_upload_id().unwrap();
        let b = new_upload_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn reader_reports_range_len() {
        let d = Descriptor::new("x", Digest::sha256(b"abcdef"), 6);
        let r = BlobReader::new_range(d.clone(), 2..4, stream::bytes(Bytes::from_static(b"cd")));
        assert_eq!(r.len(), 2);
        assert_eq!(&r.bytes(10).await.unwrap()[..], b"cd");
        let r = BlobReader::from_bytes(d, Bytes::from_static(b"abcdef"))
            .verified(&Digest::sha256(b"abcdef"));
        assert_eq!(&r.bytes(10).await.unwrap()[..], b"abcdef");
    }
}
