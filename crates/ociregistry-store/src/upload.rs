//! Chunked uploads, persisted in the store so that any process sharing it can resume them.
//!
//! A session is `uploads/<id>/info` (the repository and creation time, written once with a
//! create-only put) plus its parts `uploads/<id>/parts/<offset>`: every time a writer stores
//! what it buffered (when the buffer reaches the part size, and at `close` and `commit`) it
//! creates one part object named by the offset it starts at, with a create-only put. The parts
//! are therefore contiguous and immutable, and two writers appending at the same offset cannot
//! both succeed: the loser gets `RANGE_INVALID`. A session is idle since the newest of its
//! objects was written; after [`StoreConfig::upload_idle_timeout`](crate::StoreConfig) it
//! expires: resuming it fails, and it is deleted then or by garbage collection.
//!
//! `commit` establishes the digest of the parts, then publishes them as the blob (see the
//! `content` module: one part is copied to the blob key, several become a composite blob; a
//! copy is a hard link on the local disk, a server-side copy on S3, so no byte is written
//! twice): the blob is published only once the whole content has hashed to the digest. Only
//! then does the repository get its membership marker, and then the session is deleted,
//! `info` first.
//!
//! The digest comes for free when this process wrote every part of the session: writers keep a
//! running SHA-256 of what they receive ([`RunningHashes`] carries it from one writer of a
//! session to the next, e.g. across PATCH requests), hashing on a thread of its own past the
//! first MiB, so receiving and hashing overlap. Otherwise (parts written by another process,
//! another algorithm) `commit` reads the parts in order through the digest.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::PutPayload;
use ociregistry_core::background_digester::BackgroundDigester;
use ociregistry_core::{
    Algorithm, BlobWriter, Code, Descriptor, Digest, Digester, Error, Result, UploadStatus,
};
use serde::{Deserialize, Serialize};

use crate::registry::{ObjectStoreRegistry, blob_descriptor};
use crate::store::{modified_ms, now_ms};

fn upload_unknown() -> Error {
    Error::from_code(Code::BlobUploadUnknown)
}

/// The description of a session, stored in `uploads/<id>/info`.
#[derive(Serialize, Deserialize)]
struct Info {
    repo: String,
    /// Creation time, milliseconds since the Unix epoch.
    created: i64,
}

/// What the store holds of a session.
pub(crate) struct Session {
    /// The part offsets and sizes, in order.
    parts: Vec<(u64, u64)>,
}

impl Session {
    fn size(&self) -> u64 {
        self.parts.last().map_or(0, |(o, s)| o + s)
    }
}

/// The running SHA-256s of sessions whose writers closed in this process, so the next writer
/// of the session (the next PATCH, the final PUT) carries on instead of re-reading the parts.
/// Bounded: past [`RunningHashes::CAPACITY`] sessions an arbitrary one is forgotten (its
/// commit then re-reads its parts).
#[derive(Default)]
pub(crate) struct RunningHashes {
    sessions: Mutex<HashMap<String, BackgroundDigester>>,
}

impl RunningHashes {
    const CAPACITY: usize = 256;

    /// The running hash of session `id` if it covers exactly its first `size` bytes.
    fn take(&self, id: &str, size: u64) -> Option<BackgroundDigester> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.remove(id).filter(|d| d.len() == size)
    }

    fn put(&self, id: &str, digester: BackgroundDigester) {
        let evicted = {
            let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            let evicted = if sessions.len() >= Self::CAPACITY && !sessions.contains_key(id) {
                let victim = sessions.keys().next().cloned();
                victim.and_then(|v| sessions.remove(&v))
            } else {
                None
            };
            sessions.insert(id.to_owned(), digester);
            evicted
        };
        // Dropped outside the lock: it ends the victim's hashing thread.
        drop(evicted);
    }

    fn forget(&self, id: &str) {
        let gone = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        drop(gone);
    }
}

fn digest_mismatch(got: &Digest, want: &Digest) -> Error {
    Error::new(
        Code::DigestInvalid,
        format!("upload has digest {got}, not {want}"),
    )
}

/// The upload sessions of a registry.
pub(crate) struct Uploads {
    pub(crate) registry: ObjectStoreRegistry,
}

/// Whether `id` looks like an id this crate issues: 32 lower-case hex digits.
fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Uploads {
    fn timeout_ms(&self) -> i64 {
        i64::try_from(self.registry.config().upload_idle_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// Opens a session in `repo`; returns its id.
    pub(crate) async fn start(&self, repo: &str) -> Result<String> {
        let max = self.registry.config().max_uploads;
        let store = self.registry.store();
        let layout = self.registry.layout();
        // Counting directories is cheap and never undercounts; only when it says "full" are
        // the sessions counted exactly (by their `info` objects: a directory can outlive its
        // session on stores that keep empty directories).
        if store.subdirs(&layout.uploads()).await?.len() >= max {
            self.sweep().await?;
            let open = store
                .list(&layout.uploads())
                .await?
                .iter()
                .filter(|m| m.location.filename() == Some("info"))
                .count();
            if open >= max {
                return Err(Error::new(
                    Code::TooManyRequests,
                    format!("too many uploads in progress (the maximum is {max})"),
                ));
            }
        }
        let id = ociregistry_core::new_upload_id()?;
        let info = Info {
            repo: repo.to_owned(),
            created: now_ms(),
        };
        let body =
            serde_json::to_vec(&info).map_err(|e| Error::new(Code::Unknown, e.to_string()))?;
        if !store
            .create(&layout.upload_info(&id), Bytes::from(body).into())
            .await?
        {
            // 128 random bits never collide; refuse rather than share a session.
            return Err(Error::new(Code::Unknown, "upload id collision"));
        }
        Ok(id)
    }

    /// The live session `id` of `repo`; `BLOB_UPLOAD_UNKNOWN` if there is none (an expired
    /// session is deleted on the way).
    pub(crate) async fn load(&self, repo: &str, id: &str) -> Result<Session> {
        if !valid_id(id) {
            return Err(upload_unknown());
        }
        let store = self.registry.store();
        let layout = self.registry.layout();
        let info = store
            .get(&layout.upload_info(id))
            .await?
            .ok_or_else(upload_unknown)?;
        let info: Info = serde_json::from_slice(&info).map_err(|_| upload_unknown())?;
        if info.repo != repo {
            return Err(upload_unknown());
        }
        let objects = store.list(&layout.upload(id)).await?;
        let last_used = objects
            .iter()
            .map(modified_ms)
            .max()
            .unwrap_or(info.created);
        if now_ms().saturating_sub(last_used) > self.timeout_ms() {
            self.discard(id).await?;
            return Err(upload_unknown());
        }
        let parts_dir = layout.upload_parts(id);
        let mut parts: Vec<(u64, u64)> = objects
            .iter()
            .filter(|m| m.location.prefix_matches(&parts_dir))
            .filter_map(|m| Some((crate::tags::entry_seq(&m.location)?, m.size)))
            .collect();
        parts.sort_unstable();
        let mut expected = 0;
        for (offset, size) in &parts {
            if *offset != expected {
                return Err(Error::new(
                    Code::BlobUploadInvalid,
                    format!("upload {id} has a gap at offset {expected}"),
                ));
            }
            expected += size;
        }
        Ok(Session { parts })
    }

    /// Fails unless session `id` still has exactly the parts of `session` (nothing may be
    /// appended while a commit publishes).
    async fn check_unchanged(&self, repo: &str, id: &str, session: &Session) -> Result<()> {
        let now = self.load(repo, id).await?;
        if now.parts != session.parts {
            return Err(Error::new(
                Code::BlobUploadInvalid,
                "upload changed while it was being committed",
            ));
        }
        Ok(())
    }

    /// The size of the live session `id` of `repo`.
    pub(crate) async fn resume(&self, repo: &str, id: &str) -> Result<u64> {
        Ok(self.load(repo, id).await?.size())
    }

    /// Deletes session `id`: `info` first, so it is unknown from then on, then its parts.
    pub(crate) async fn discard(&self, id: &str) -> Result<()> {
        let store = self.registry.store();
        let layout = self.registry.layout();
        store.delete(&layout.upload_info(id)).await?;
        let rest = store.list(&layout.upload(id)).await?;
        store
            .delete_all(rest.into_iter().map(|m| m.location).collect())
            .await
    }

    /// Deletes every session idle longer than the timeout (and leftovers of deleted ones);
    /// returns how many.
    pub(crate) async fn sweep(&self) -> Result<usize> {
        let store = self.registry.store();
        let layout = self.registry.layout();
        let mut removed = 0;
        for dir in store.subdirs(&layout.uploads()).await? {
            let objects = store.list(&dir).await?;
            let last_used = objects.iter().map(modified_ms).max();
            let Some(id) = dir.filename() else { continue };
            if last_used.is_none_or(|t| now_ms().saturating_sub(t) > self.timeout_ms()) {
                let id = id.to_owned();
                self.discard(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The [`BlobWriter`] of an [`ObjectStoreRegistry`] upload session.
///
/// Writes are buffered (as the chunks received) up to the part size, then stored as one part;
/// `close` and `commit` store what is buffered. A writer dropped without `close` loses what it
/// had not stored yet.
pub(crate) struct StoreBlobWriter {
    registry: ObjectStoreRegistry,
    repo: String,
    id: String,
    stored: u64,
    pending: Vec<Bytes>,
    pending_len: usize,
    chunk_size: usize,
    /// The SHA-256 of the session's first `stored + pending_len` bytes (what it stored and
    /// what this writer holds), when this process wrote them all.
    running: Option<BackgroundDigester>,
}

impl std::fmt::Debug for StoreBlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBlobWriter")
            .field("repo", &self.repo)
            .field("id", &self.id)
            .field("stored", &self.stored)
            .field("pending_len", &self.pending_len)
            .finish_non_exhaustive()
    }
}

impl StoreBlobWriter {
    pub(crate) fn new(
        registry: ObjectStoreRegistry,
        repo: &str,
        id: String,
        size: u64,
        chunk_size: Option<usize>,
    ) -> StoreBlobWriter {
        let chunk_size = chunk_size
            .filter(|&n| n > 0)
            .unwrap_or(registry.config().default_chunk_size);
        let running = if size == 0 {
            Some(BackgroundDigester::new(Algorithm::Sha256))
        } else {
            registry.shared.running.take(&id, size)
        };
        StoreBlobWriter {
            registry,
            repo: repo.to_owned(),
            id,
            stored: size,
            pending: Vec::new(),
            pending_len: 0,
            chunk_size,
            running,
        }
    }

    fn uploads(&self) -> Uploads {
        Uploads {
            registry: self.registry.clone(),
        }
    }

    /// Stores what is buffered as the part at the current offset.
    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.registry.layout().upload_part(&self.id, self.stored);
        let payload: PutPayload = std::mem::take(&mut self.pending).into_iter().collect();
        let len = self.pending_len as u64;
        self.pending_len = 0;
        // Until the part is stored, the running hash covers more than the session holds.
        let running = self.running.take();
        if !self.registry.store().create(&path, payload).await? {
            return Err(Error::new(
                Code::RangeInvalid,
                format!(
                    "another writer already wrote upload {} at offset {}",
                    self.id, self.stored
                ),
            ));
        }
        self.stored += len;
        self.running = running;
        Ok(())
    }
}

impl StoreBlobWriter {
    /// Commits a session this writer found empty, so that it holds the whole content (less
    /// than a part: one request carried it all, e.g. a small blob's PUT): the content is
    /// hashed in memory and written to the blob key with one create-only put, without being
    /// stored as a part first. Identical content already stored is left as it is.
    async fn commit_whole(mut self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        // The running hash has been taking the content in as it arrived (on a thread of its
        // own past the first MiB).
        let running = self.running.take().filter(|r| {
            digest.algorithm() == Algorithm::Sha256 && r.len() == self.pending_len as u64
        });
        let got = match running {
            Some(running) => {
                let got = running.snapshot().await?;
                self.running = Some(running);
                got
            }
            None => {
                let mut digester = Digester::new(digest.algorithm());
                for chunk in &self.pending {
                    digester.update(chunk);
                }
                digester.finish()
            }
        };
        if got != *digest {
            // The session keeps the content, for a commit under the right digest.
            self.flush().await?;
            if let Some(running) = self.running.take() {
                self.registry.shared.running.put(&self.id, running);
            }
            return Err(digest_mismatch(&got, digest));
        }
        let size = self.pending_len as u64;
        let payload: PutPayload = std::mem::take(&mut self.pending).into_iter().collect();
        let registry = &self.registry;
        // Creating over existing content (whole, or composite under another key) is a no-op
        // or a second copy of the same verified bytes.
        registry
            .store()
            .create(&registry.layout().blob(digest), payload)
            .await?;
        registry.add_member(&self.repo, digest).await?;
        // Parts another writer may have appended meanwhile are left to expire with the
        // session's directory.
        registry
            .store()
            .delete(&registry.layout().upload_info(&self.id))
            .await?;
        registry.shared.running.forget(&self.id);
        Ok(blob_descriptor(digest, size))
    }
}

#[async_trait]
impl BlobWriter for StoreBlobWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(running) = self.running.as_mut() {
            running.update(data.clone());
        }
        self.pending_len += data.len();
        self.pending.push(data);
        if self.pending_len >= self.registry.config().part_size {
            self.flush().await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.stored + self.pending_len as u64
    }

    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn id(&self) -> &str {
        &self.id
    }

    async fn close(mut self: Box<Self>) -> Result<UploadStatus> {
        self.flush().await?;
        // The writer loaded (or created) the session and stored its parts with create-only
        // puts: it knows the size without reading the session again.
        if let Some(running) = self.running.take() {
            self.registry.shared.running.put(&self.id, running);
        }
        Ok(UploadStatus {
            id: self.id.clone(),
            size: self.stored,
        })
    }

    async fn commit(mut self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        if self.stored == 0 {
            return self.commit_whole(digest).await;
        }
        self.flush().await?;
        let uploads = self.uploads();
        let session = uploads.load(&self.repo, &self.id).await?;
        let registry = &self.registry;
        // The digest from the running hash, when it covers exactly the session's parts.
        let running = self
            .running
            .take()
            .filter(|r| digest.algorithm() == Algorithm::Sha256 && r.len() == session.size());
        let verified = match running {
            None => false,
            Some(running) => {
                let got = running.snapshot().await?;
                if got != *digest {
                    // The upload stays open; a commit under the right digest may follow.
                    registry.shared.running.put(&self.id, running);
                    return Err(digest_mismatch(&got, digest));
                }
                true
            }
        };
        if !verified {
            // Parts written by another process (or another algorithm): hash them from the
            // store.
            let mut digester = Digester::new(digest.algorithm());
            let mut content = registry.upload_stream(&self.id, &session.parts);
            while let Some(chunk) = content.next().await {
                digester.update(&chunk?);
            }
            let got = digester.finish();
            if got != *digest {
                return Err(digest_mismatch(&got, digest));
            }
        }
        uploads
            .check_unchanged(&self.repo, &self.id, &session)
            .await?;
        // Identical bytes are stored once: when the blob exists, it was only verified.
        if !registry.content_exists(digest).await? {
            registry
                .publish_parts(digest, &self.id, &session.parts)
                .await?;
        }
        registry.add_member(&self.repo, digest).await?;
        uploads.discard(&self.id).await?;
        Ok(blob_descriptor(digest, session.size()))
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        if !valid_id(&self.id) {
            return Ok(());
        }
        self.registry.shared.running.forget(&self.id);
        self.uploads().discard(&self.id).await
    }
}
