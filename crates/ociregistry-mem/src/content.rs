//! The content-addressed store: every distinct blob held once, as the chunks it arrived in.
//!
//! A blob is kept as the [`Bytes`] chunks it was received as ([`BlobData`]), never copied into
//! one contiguous buffer; only very small chunks are coalesced so that a stream of tiny pieces
//! cannot make the bookkeeping outweigh the data. Reads hand out the stored chunks (or slices of
//! them, for ranges) without copying. The [`ContentStore`] maps a digest to its data and to how
//! many repositories hold it, and frees the data when the last one lets go.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ociregistry_core::{ByteStream, Digest, Result};

/// Chunks shorter than this are copied into a shared buffer rather than kept as they are.
const SMALL_CHUNK: usize = 4 * 1024;
/// The size a buffer of coalesced small chunks grows to before it is sealed.
const COALESCED_CHUNK: usize = 64 * 1024;

/// The content of one blob: its chunks in order, never empty, with where each starts.
#[derive(Debug, Default)]
pub(crate) struct BlobData {
    chunks: Box<[Bytes]>,
    /// `starts[i]` is the offset of `chunks[i]` in the blob.
    starts: Box<[u64]>,
    len: u64,
}

impl BlobData {
    /// The blob size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The chunks, in order.
    #[cfg(test)]
    pub(crate) fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// A stream of the bytes `range` (which must lie within the blob), yielding shared slices
    /// of the stored chunks.
    pub(crate) fn stream(self: &Arc<Self>, range: Range<u64>) -> ByteStream {
        // The chunk holding `range.start`: the last one starting at or before it.
        let idx = self
            .starts
            .partition_point(|&s| s <= range.start)
            .saturating_sub(1);
        let chunks = RangeChunks {
            data: Arc::clone(self),
            idx,
            range,
        };
        Box::pin(futures_util::stream::iter(chunks))
    }
}

/// An iterator over the slices of a blob's chunks that make up a byte range.
struct RangeChunks {
    data: Arc<BlobData>,
    idx: usize,
    /// What is left to yield.
    range: Range<u64>,
}

impl Iterator for RangeChunks {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        if self.range.start >= self.range.end {
            return None;
        }
        let chunk = self.data.chunks.get(self.idx)?;
        let chunk_start = *self.data.starts.get(self.idx)?;
        let chunk_end = chunk_start + chunk.len() as u64;
        let end = self.range.end.min(chunk_end);
        // Both offsets are within the chunk, whose length is a usize.
        let slice = chunk.slice(
            (self.range.start.saturating_sub(chunk_start)) as usize
                ..(end.saturating_sub(chunk_start)) as usize,
        );
        self.idx += 1;
        self.range.start = end;
        Some(Ok(slice))
    }
}

/// Collects the chunks of a blob as they arrive.
///
/// Chunks of at least [`SMALL_CHUNK`] bytes are kept as they are (zero-copy); smaller ones are
/// appended to a buffer that is sealed into a chunk once it holds [`COALESCED_CHUNK`] bytes or a
/// large chunk follows.
#[derive(Debug, Default)]
pub(crate) struct ChunkBuilder {
    chunks: Vec<Bytes>,
    pending: BytesMut,
    len: u64,
}

impl ChunkBuilder {
    /// Appends a chunk.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len() as u64;
        if chunk.len() >= SMALL_CHUNK {
            self.seal();
            self.chunks.push(chunk);
            return;
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve(COALESCED_CHUNK);
        }
        self.pending.extend_from_slice(&chunk);
        if self.pending.len() >= COALESCED_CHUNK {
            self.seal();
        }
    }

    /// How many bytes were pushed.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Seals the pending small chunks into one chunk.
    fn seal(&mut self) {
        if !self.pending.is_empty() {
            self.chunks.push(self.pending.split().freeze());
        }
    }

    /// The chunks pushed so far (sharing, not copying, their bytes).
    pub(crate) fn snapshot(&mut self) -> Vec<Bytes> {
        self.seal();
        self.chunks.clone()
    }

    /// The finished blob.
    pub(crate) fn finish(mut self) -> BlobData {
        self.seal();
        let mut starts = Vec::with_capacity(self.chunks.len());
        let mut offset = 0u64;
        for c in &self.chunks {
            starts.push(offset);
            offset += c.len() as u64;
        }
        BlobData {
            chunks: self.chunks.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            len: offset,
        }
    }
}

#[derive(Debug)]
struct Entry {
    data: Arc<BlobData>,
    /// How many repositories hold the blob.
    refs: usize,
}

/// Blob content by digest, shared by every repository that holds it.
#[derive(Debug, Default)]
pub(crate) struct ContentStore {
    entries: HashMap<Digest, Entry>,
    bytes: u64,
}

impl ContentStore {
    /// The content of `digest`, if any repository holds it.
    pub(crate) fn get(&self, digest: &Digest) -> Option<&Arc<BlobData>> {
        self.entries.get(digest).map(|e| &e.data)
    }

    /// Adds a holder of `digest`, storing `data` if the content is new. Returns `data` when the
    /// store already had the content, for the caller to drop outside any lock.
    #[must_use]
    pub(crate) fn acquire(&mut self, digest: &Digest, data: BlobData) -> Option<BlobData> {
        if let Some(e) = self.entries.get_mut(digest) {
            e.refs += 1;
            return Some(data);
        }
        self.bytes += data.len();
        self.entries.insert(
            digest.clone(),
            Entry {
                data: Arc::new(data),
                refs: 1,
            },
        );
        None
    }

    /// Adds a holder of `digest` whose content the caller already shares (it may have been
    /// freed meanwhile, in which case it is stored again).
    pub(crate) fn acquire_shared(&mut self, digest: &Digest, data: Arc<BlobData>) {
        if let Some(e) = self.entries.get_mut(digest) {
            e.refs += 1;
            return;
        }
        self.bytes += data.len();
        self.entries.insert(digest.clone(), Entry { data, refs: 1 });
    }

    /// Adds a holder of content already stored. Returns whether it was there.
    pub(crate) fn acquire_existing(&mut self, digest: &Digest) -> bool {
        match self.entries.get_mut(digest) {
            Some(e) => {
                e.refs += 1;
                true
            }
            None => false,
        }
    }

    /// Removes a holder of `digest`, freeing the content with the last one. Returns the freed
    /// content, for the caller to drop outside any lock.
    #[must_use]
    pub(crate) fn release(&mut self, digest: &Digest) -> Option<Arc<BlobData>> {
        let e = self.entries.get_mut(digest)?;
        e.refs = e.refs.saturating_sub(1);
        if e.refs > 0 {
            return None;
        }
        let e = self.entries.remove(digest)?;
        self.bytes = self.bytes.saturating_sub(e.data.len());
        Some(e.data)
    }

    /// The bytes of distinct content held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use futures_util::future::FutureExt;

    fn build(parts: &[&[u8]]) -> Arc<BlobData> {
        let mut b = ChunkBuilder::default();
        for p in parts {
            b.push(Bytes::copy_from_slice(p));
        }
        Arc::new(b.finish())
    }

    fn read(data: &Arc<BlobData>, range: Range<u64>) -> Vec<u8> {
        let s = data.stream(range);
        let chunks: Vec<Result<Bytes>> = s.collect::<Vec<_>>().now_or_never().unwrap();
        chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn large_chunks_are_kept_and_small_ones_coalesced() {
        let big = vec![7u8; SMALL_CHUNK];
        let mut b = ChunkBuilder::default();
        let shared = Bytes::from(big.clone());
        b.push(Bytes::from_static(b"ab"));
        b.push(Bytes::new());
        b.push(Bytes::from_static(b"cd"));
        b.push(shared.clone());
        b.push(Bytes::from_static(b"e"));
        assert_eq!(b.len(), SMALL_CHUNK as u64 + 5);
        let data = b.finish();
        assert_eq!(data.chunks().len(), 3);
        assert_eq!(&data.chunks()[0][..], b"abcd");
        // The large chunk is the very buffer received.
        assert_eq!(data.chunks()[1].as_ptr(), shared.as_ptr());
        assert_eq!(&data.chunks()[2][..], b"e");
    }

    #[test]
    fn many_tiny_chunks_seal_at_the_coalescing_size() {
        let mut b = ChunkBuilder::default();
        for _ in 0..(2 * COALESCED_CHUNK + 10) {
            b.push(Bytes::from_static(b"x"));
        }
        let data = b.finish();
        assert_eq!(data.chunks().len(), 3);
        assert_eq!(data.len(), 2 * COALESCED_CHUNK as u64 + 10);
    }

    #[test]
    fn ranges_slice_across_chunks() {
        let a = vec![b'a'; SMALL_CHUNK];
        let b = vec![b'b'; SMALL_CHUNK];
        let data = build(&[&a, &b, b"tail"]);
        let n = SMALL_CHUNK as u64;
        assert_eq!(read(&data, 0..data.len()).len() as u64, 2 * n + 4);
        let got = read(&data, n - 2..n + 3);
        assert_eq!(got, b"aabbb");
        assert_eq!(read(&data, 2 * n + 1..2 * n + 4), b"ail");
        assert_eq!(read(&data, n..n + 1), b"b");
        assert!(read(&data, 3..3).is_empty());
        let empty = build(&[]);
        assert!(read(&empty, 0..0).is_empty());
    }

    #[test]
    fn store_counts_holders_and_frees_with_the_last() {
        let d = Digest::sha256(b"xyz");
        let mut s = ContentStore::default();
        assert!(
            s.acquire(&d, build(&[b"xyz"]).as_ref().clone_data())
                .is_none()
        );
        assert!(
            s.acquire(&d, build(&[b"xyz"]).as_ref().clone_data())
                .is_some()
        );
        assert!(s.acquire_existing(&d));
        assert_eq!(s.bytes(), 3);
        assert!(s.release(&d).is_none());
        assert!(s.release(&d).is_none());
        assert!(s.release(&d).is_some());
        assert_eq!(s.bytes(), 0);
        assert!(s.get(&d).is_none());
        assert!(!s.acquire_existing(&d));
        assert!(s.release(&d).is_none());
    }

    impl BlobData {
        fn clone_data(&self) -> BlobData {
            BlobData {
                chunks: self.chunks.clone(),
                starts: self.starts.clone(),
                len: self.len,
            }
        }
    }
}
