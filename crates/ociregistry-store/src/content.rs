//! Blob content, stored one of two ways:
//!
//! - **Whole**: `blobs/<alg>/<hex>` holds the bytes (a monolithic push, a one-part upload).
//! - **Composite**: the verified parts of an upload of several parts, published without
//!   copying a byte: each part is copied (a hard link on the local disk, a server-side copy on
//!   S3) to `parts/<alg>/<hex>/<id>/<offset>`, then the [`Index`] at `composite/<alg>/<hex>`
//!   (the commit point, a create-only put) names the upload `<id>` and lists the parts. Reads
//!   stitch the parts' ranges together.
//!
//! An upload of more than [`MAX_COMPOSITE_PARTS`] parts is rewritten into a whole blob instead.
//!
//! A blob is stored when either exists (readers look at the whole form first). Parts without an
//! index naming them are invisible; garbage collection deletes them once their upload session
//! is gone (see the [`gc`](crate::gc) module).

use std::ops::Range;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use ociregistry_core::{ByteStream, Code, Digest, Error, Result};
use serde::{Deserialize, Serialize};

use crate::registry::ObjectStoreRegistry;
use crate::store::{ContentSink, Store};

/// How many part copies a publication runs at once.
const COPIES_IN_FLIGHT: usize = 8;

/// The most parts a composite blob has. An upload of more (many tiny chunks) is rewritten
/// into one object instead, so that reading a blob never means opening thousands of objects.
pub(crate) const MAX_COMPOSITE_PARTS: usize = 1024;

/// The index of a composite blob, stored at `composite/<alg>/<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Index {
    /// The upload session the parts came from: they live under `parts/<alg>/<hex>/<id>/`.
    pub(crate) id: String,
    /// The parts in order, as (offset, size): contiguous from 0, none empty.
    pub(crate) parts: Vec<(u64, u64)>,
}

impl Index {
    /// The size of the blob.
    pub(crate) fn size(&self) -> u64 {
        self.parts.last().map_or(0, |(o, s)| o + s)
    }

    /// Whether the parts are contiguous from 0 and none is empty.
    fn is_valid(&self) -> bool {
        let mut expected = 0u64;
        for &(offset, size) in &self.parts {
            if offset != expected || size == 0 {
                return false;
            }
            let Some(next) = expected.checked_add(size) else {
                return false;
            };
            expected = next;
        }
        !self.parts.is_empty()
    }
}

/// How a blob is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// At its blob key, in one object of this size.
    Whole(u64),
    /// In parts.
    Composite(Index),
}

impl Content {
    /// The size of the blob.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Content::Whole(size) => *size,
            Content::Composite(index) => index.size(),
        }
    }
}

fn corrupt(digest: &Digest, what: &str) -> Error {
    Error::new(
        Code::Unknown,
        format!("stored content of blob {digest} is corrupt: {what}"),
    )
}

/// `pieces` (object, its expected size, the range of it to read) as one stream, each opened
/// when the one before ends; a missing piece, or one of another size, fails with `error`.
fn pieces_stream(
    store: Store,
    pieces: Vec<(Path, u64, Range<u64>)>,
    error: impl Fn(&str) -> Error + Clone + Send + Sync + 'static,
) -> ByteStream {
    Box::pin(
        futures_util::stream::iter(pieces)
            .then(move |(path, size, range)| {
                let store = store.clone();
                let error = error.clone();
                async move {
                    let (stored, body) = store
                        .stream(&path, Some(range))
                        .await?
                        .ok_or_else(|| error("a part is missing"))?;
                    if stored != size {
                        return Err(error("a part has the wrong size"));
                    }
                    Ok(body)
                }
            })
            .try_flatten(),
    )
}

impl ObjectStoreRegistry {
    /// How blob `digest` is stored; `None` if it is not.
    pub(crate) async fn content(&self, digest: &Digest) -> Result<Option<Content>> {
        if let Some(meta) = self.store().head(&self.layout().blob(digest)).await? {
            return Ok(Some(Content::Whole(meta.size)));
        }
        Ok(self.index(digest).await?.map(Content::Composite))
    }

    /// Whether blob `digest` is stored.
    pub(crate) async fn content_exists(&self, digest: &Digest) -> Result<bool> {
        let layout = self.layout();
        Ok(self.store().exists(&layout.blob(digest)).await?
            || self.store().exists(&layout.composite(digest)).await?)
    }

    /// The index of composite blob `digest`, `None` if there is none.
    pub(crate) async fn index(&self, digest: &Digest) -> Result<Option<Index>> {
        let Some(data) = self.store().get(&self.layout().composite(digest)).await? else {
            return Ok(None);
        };
        let index: Index =
            serde_json::from_slice(&data).map_err(|_| corrupt(digest, "unreadable index"))?;
        if !index.is_valid() {
            return Err(corrupt(digest, "index with a gap"));
        }
        Ok(Some(index))
    }

    /// The whole content of blob `digest` and its size; `None` if it is not stored. One read
    /// for a whole blob.
    pub(crate) async fn open_content(&self, digest: &Digest) -> Result<Option<(u64, ByteStream)>> {
        if let Some(found) = self
            .store()
            .stream(&self.layout().blob(digest), None)
            .await?
        {
            return Ok(Some(found));
        }
        let Some(index) = self.index(digest).await? else {
            return Ok(None);
        };
        let size = index.size();
        Ok(Some((size, self.composite_stream(digest, &index, 0..size))))
    }

    /// The bytes `range` (within the blob's size) of blob `digest`, stored as `content`.
    pub(crate) async fn content_range(
        &self,
        digest: &Digest,
        content: &Content,
        range: Range<u64>,
    ) -> Result<Option<ByteStream>> {
        match content {
            Content::Whole(_) => Ok(self
                .store()
                .stream(&self.layout().blob(digest), Some(range))
                .await?
                .map(|(_, body)| body)),
            Content::Composite(index) => Ok(Some(self.composite_stream(digest, index, range))),
        }
    }

    /// The bytes `range` of composite blob `digest`: the overlapping range of each part, in
    /// order, each opened when the previous one ends.
    fn composite_stream(&self, digest: &Digest, index: &Index, range: Range<u64>) -> ByteStream {
        let layout = self.layout();
        let pieces = index
            .parts
            .iter()
            .filter_map(|&(offset, size)| {
                let start = range.start.max(offset);
                let end = range.end.min(offset + size);
                (start < end).then(|| {
                    let path = layout.blob_part(digest, &index.id, offset);
                    (path, size, start - offset..end - offset)
                })
            })
            .collect();
        let digest = digest.clone();
        pieces_stream(self.store().clone(), pieces, move |what| {
            corrupt(&digest, what)
        })
    }

    /// The content of the parts `parts` of upload `id`, in order.
    pub(crate) fn upload_stream(&self, id: &str, parts: &[(u64, u64)]) -> ByteStream {
        let layout = self.layout();
        let pieces = parts
            .iter()
            .map(|&(offset, size)| (layout.upload_part(id, offset), size, 0..size))
            .collect();
        let id = id.to_owned();
        pieces_stream(self.store().clone(), pieces, move |what| {
            Error::new(Code::BlobUploadUnknown, format!("upload {id}: {what}"))
        })
    }

    /// Publishes the parts `parts` of upload `id`, which hashed to `digest`, as blob `digest`:
    /// none as an empty object, one part by a copy to the blob key, several as a composite blob
    /// (more than [`MAX_COMPOSITE_PARTS`]: rewritten whole; otherwise no byte is read or
    /// written).
    pub(crate) async fn publish_parts(
        &self,
        digest: &Digest,
        id: &str,
        parts: &[(u64, u64)],
    ) -> Result<()> {
        let store = self.store();
        let layout = self.layout();
        match parts {
            [] => return store.put(&layout.blob(digest), Default::default()).await,
            [(offset, _)] => {
                return store
                    .copy(&layout.upload_part(id, *offset), &layout.blob(digest))
                    .await;
            }
            _ if parts.len() > MAX_COMPOSITE_PARTS => {
                return self.publish_rewritten(digest, id, parts).await;
            }
            _ => {}
        }
        // Owned futures (borrowing ones trip the compiler's `Send` inference).
        let copies: Vec<_> = parts
            .iter()
            .map(|&(offset, _)| {
                let store = store.clone();
                let from = layout.upload_part(id, offset);
                let to = layout.blob_part(digest, id, offset);
                async move { store.copy(&from, &to).await }
            })
            .collect();
        futures_util::stream::iter(copies)
            .buffer_unordered(COPIES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let index = Index {
            id: id.to_owned(),
            parts: parts.to_vec(),
        };
        let body =
            serde_json::to_vec(&index).map_err(|e| Error::new(Code::Unknown, e.to_string()))?;
        if !store
            .create(&layout.composite(digest), bytes::Bytes::from(body).into())
            .await?
        {
            // Another upload of the same content published first: ours is not needed.
            return self.delete_parts(digest, Some(id)).await;
        }
        self.check_published(digest, id, parts).await
    }

    /// Checks that the parts the index of `digest` (from upload `id`) names are all there, and
    /// withdraws the index if not. Garbage collection deletes parts no index names once their
    /// session is gone: a session that expired and was swept while its commit copied the parts
    /// can lose them before the index appears. The index is then withdrawn and the commit
    /// fails, so it never stays pointing at missing parts.
    pub(crate) async fn check_published(
        &self,
        digest: &Digest,
        id: &str,
        parts: &[(u64, u64)],
    ) -> Result<()> {
        let layout = self.layout();
        let present = self.store().list(&layout.blob_parts_of(digest, id)).await?;
        let complete = parts.iter().all(|&(offset, size)| {
            let path = layout.blob_part(digest, id, offset);
            present.iter().any(|m| m.location == path && m.size == size)
        });
        if complete {
            return Ok(());
        }
        self.store().delete(&layout.composite(digest)).await?;
        self.delete_parts(digest, Some(id)).await?;
        Err(Error::new(
            Code::BlobUploadInvalid,
            "the upload expired while it was being committed",
        ))
    }

    /// Publishes the parts of upload `id` as a whole blob, copying their bytes in order to the
    /// blob key through a [`ContentSink`] (visible only once complete).
    async fn publish_rewritten(
        &self,
        digest: &Digest,
        id: &str,
        parts: &[(u64, u64)],
    ) -> Result<()> {
        let store = self.store();
        let layout = self.layout();
        let mut sink =
            ContentSink::new(store.clone(), layout.blob(digest), self.config().part_size);
        let mut content = self.upload_stream(id, parts);
        let copied = async {
            while let Some(chunk) = content.next().await {
                sink.write(chunk?).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        match copied {
            Ok(()) => sink.finish().await,
            Err(e) => {
                sink.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes the parts of composite blob `digest` that came from upload `id` (all of its
    /// parts when `None`).
    pub(crate) async fn delete_parts(&self, digest: &Digest, id: Option<&str>) -> Result<()> {
        let layout = self.layout();
        let dir = match id {
            Some(id) => layout.blob_parts_of(digest, id),
            None => layout.blob_parts(digest),
        };
        let parts = self.store().list(&dir).await?;
        self.store()
            .delete_all(parts.into_iter().map(|m| m.location).collect())
            .await
    }

    /// Deletes the content of blob `digest`, whole and composite: the index before the parts.
    pub(crate) async fn delete_content(&self, digest: &Digest) -> Result<()> {
        let layout = self.layout();
        self.store().delete(&layout.blob(digest)).await?;
        self.store().delete(&layout.composite(digest)).await?;
        self.delete_parts(digest, None).await
    }
}

#[cfg(test)]
mod tests {
    use ociregistry_core::{BlobWriter, Context, Registry};

    use super::*;
    use crate::StoreConfig;

    #[test]
    fn an_index_is_valid_only_when_contiguous_from_zero() {
        let index = |parts: Vec<(u64, u64)>| Index {
            id: "x".into(),
            parts,
        };
        assert!(index(vec![(0, 3), (3, 5)]).is_valid());
        assert_eq!(index(vec![(0, 3), (3, 5)]).size(), 8);
        assert!(!index(vec![]).is_valid());
        assert!(!index(vec![(1, 3)]).is_valid());
        assert!(!index(vec![(0, 3), (4, 5)]).is_valid());
        assert!(!index(vec![(0, 0), (0, 5)]).is_valid());
        assert!(!index(vec![(0, u64::MAX), (u64::MAX, 1)]).is_valid());
    }

    /// The parts of a closed upload of `data` written in `piece`-byte writes: (id, parts).
    async fn parts_of(
        r: &ObjectStoreRegistry,
        data: &[u8],
        piece: usize,
    ) -> (String, Vec<(u64, u64)>) {
        let cx = Context::new();
        let mut w: Box<dyn BlobWriter> = r.push_blob_chunked(&cx, "race/a", None).await.unwrap();
        for chunk in data.chunks(piece) {
            w.write(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
            let st = w.close().await.unwrap();
            w = r
                .push_blob_chunked_resume(&cx, "race/a", &st.id, Some(st.size), None)
                .await
                .unwrap();
        }
        let id = w.id().to_owned();
        drop(w);
        let mut parts: Vec<(u64, u64)> = Vec::new();
        let mut at = 0;
        for chunk in data.chunks(piece) {
            parts.push((at, chunk.len() as u64));
            at += chunk.len() as u64;
        }
        (id, parts)
    }

    #[tokio::test]
    async fn of_two_publications_of_one_blob_the_first_index_wins_and_the_loser_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let r = ObjectStoreRegistry::local_with_config(
            dir.path(),
            StoreConfig::default().part_size(1 << 20),
        )
        .unwrap();
        let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
        let digest = Digest::sha256(&data);
        let (a, a_parts) = parts_of(&r, &data, 7_000).await;
        let (b, b_parts) = parts_of(&r, &data, 11_000).await;
        r.publish_parts(&digest, &a, &a_parts).await.unwrap();
        r.publish_parts(&digest, &b, &b_parts).await.unwrap();
        let index = r.index(&digest).await.unwrap().unwrap();
        assert_eq!(index.id, a);
        assert_eq!(index.parts, a_parts);
        let layout = r.layout();
        assert_eq!(
            r.store()
                .list(&layout.blob_parts_of(&digest, &a))
                .await
                .unwrap()
                .len(),
            5
        );
        assert!(
            r.store()
                .list(&layout.blob_parts_of(&digest, &b))
                .await
                .unwrap()
                .is_empty()
        );
        let (size, body) = r.open_content(&digest).await.unwrap().unwrap();
        assert_eq!(size, data.len() as u64);
        let got: Vec<bytes::Bytes> = body.try_collect().await.unwrap();
        assert_eq!(got.concat(), data);
    }

    /// A registry in a fresh directory holding a published 20,000-byte composite blob of three
    /// parts (content varied by `seed`): (directory, registry, digest, upload id, parts).
    async fn published_composite(
        seed: u32,
    ) -> (
        tempfile::TempDir,
        ObjectStoreRegistry,
        Digest,
        String,
        Vec<(u64, u64)>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let r = ObjectStoreRegistry::local(dir.path()).unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % seed) as u8).collect();
        let digest = Digest::sha256(&data);
        let (id, parts) = parts_of(&r, &data, 8_000).await;
        r.publish_parts(&digest, &id, &parts).await.unwrap();
        (dir, r, digest, id, parts)
    }

    #[tokio::test]
    async fn an_index_whose_parts_went_missing_is_withdrawn() {
        let (_dir, r, digest, id, parts) = published_composite(17).await;
        r.check_published(&digest, &id, &parts).await.unwrap();
        assert!(r.index(&digest).await.unwrap().is_some());
        // As if garbage collection had taken a part before the index appeared.
        let layout = r.layout();
        r.store()
            .delete(&layout.blob_part(&digest, &id, 8_000))
            .await
            .unwrap();
        let err = r.check_published(&digest, &id, &parts).await.unwrap_err();
        assert!(err.is(&Code::BlobUploadInvalid), "{err}");
        assert!(r.index(&digest).await.unwrap().is_none());
        assert!(r.content(&digest).await.unwrap().is_none());
        assert!(
            r.store()
                .list(&layout.blob_parts_of(&digest, &id))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_missing_or_short_part_is_an_error_not_short_content() {
        let (_dir, r, digest, id, _) = published_composite(13).await;
        let layout = r.layout();
        r.store()
            .put(
                &layout.blob_part(&digest, &id, 8_000),
                bytes::Bytes::from_static(b"short").into(),
            )
            .await
            .unwrap();
        let (_, body) = r.open_content(&digest).await.unwrap().unwrap();
        let got: Result<Vec<bytes::Bytes>> = body.try_collect().await;
        assert!(got.is_err());
        r.store()
            .delete(&layout.blob_part(&digest, &id, 16_000))
            .await
            .unwrap();
        let (_, body) = r.open_content(&digest).await.unwrap().unwrap();
        let got: Result<Vec<bytes::Bytes>> = body.try_collect().await;
        assert!(got.is_err());
    }
}
