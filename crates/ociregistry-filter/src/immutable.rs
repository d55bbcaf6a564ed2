//! [`Immutable`]: content can be added, never changed or removed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use ociregistry_core::bytes::Bytes;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Code, Context, Descriptor, Digest, Error,
    ListStream, Operation, Registry, Result, async_trait,
};

/// A registry where content can be added but not changed (Go's `ocifilter.Immutable`).
///
/// - Every delete (blob, manifest or tag) fails with `DENIED`.
/// - A tagged manifest push first resolves the tag. If it exists and points at the same
///   digest with the same media type, the push succeeds without writing and returns the
///   existing descriptor; if it points elsewhere, or at the same digest under another media
///   type, the push fails with `DENIED`. A tag that does not exist yet is pushed.
/// - Blob pushes, mounts and untagged manifest pushes pass through.
///
/// # Concurrency, honestly
///
/// Checking a tag and then pushing it are two operations of the inner registry, so:
///
/// - Pushes of one tag through the same `Immutable` (or its clones) are serialized by a lock
///   per repository and tag: of concurrent first pushes of a tag with different manifests,
///   exactly one succeeds and the others get `DENIED`, and no reader sees the tag change.
/// - A writer that bypasses this wrapper (another process, or a path to the inner registry
///   that does not go through it) can still race it. After pushing, the tag is resolved again,
///   and a push that finds another digest there reports `DENIED` (it lost the race); but
///   between the two pushes readers may have seen the tag point at the loser's manifest, and
///   if the other writer pushes after that second resolve, both report success and the tag
///   ends at the later one.
///
/// Where tags must be immutable against every writer, use a backend that enforces it
/// atomically, such as `ociregistry-mem` with its `immutable_tags` option, and keep this
/// wrapper for registries that cannot.
///
/// Stack it inside access checks (`AccessChecker::new(Immutable::new(r), policy)`): it reads
/// the tag from the registry it wraps, so a caller's lack of read permission on an outer layer
/// does not hinder the check.
///
/// ```
/// use ociregistry_core::{Code, Context, Digest, Registry};
/// use ociregistry_filter::Immutable;
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = Immutable::new(MemRegistry::new());
/// let cx = Context::new();
/// let opaque = "application/vnd.example.opaque";
/// registry.push_manifest(&cx, "app", Some("v1"), "one".into(), opaque, None).await.unwrap();
/// // The same content again is fine; other content under the same tag is not.
/// registry.push_manifest(&cx, "app", Some("v1"), "one".into(), opaque, None).await.unwrap();
/// let err = registry.push_manifest(&cx, "app", Some("v1"), "two".into(), opaque, None).await;
/// assert_eq!(err.unwrap_err().code(), &Code::Denied);
/// let err = registry.delete_tag(&cx, "app", "v1").await.unwrap_err();
/// assert_eq!(err.code(), &Code::Denied);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Immutable<R> {
    inner: R,
    locks: TagLocks,
}

/// `inner`, immutable (see [`Immutable`]).
pub fn immutable<R: Registry>(inner: R) -> Immutable<R> {
    Immutable::new(inner)
}

impl<R> Immutable<R> {
    /// `inner`, immutable.
    pub fn new(inner: R) -> Immutable<R> {
        Immutable {
            inner,
            locks: TagLocks::default(),
        }
    }

    /// The wrapped registry.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The wrapped registry, unwrapped.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn denied_delete(operation: Operation) -> Error {
    Error::new(
        Code::Denied,
        format!("this registry is immutable: {operation} is not allowed"),
    )
}

fn denied_tag(tag: &str) -> Error {
    Error::new(
        Code::Denied,
        format!("this registry is immutable: tag {tag} already points at other content"),
    )
}

impl<R: Registry> Immutable<R> {
    /// What `tag` points at, or `None` when it (or its repository) does not exist.
    async fn current(&self, cx: &Context, repo: &str, tag: &str) -> Result<Option<Descriptor>> {
        match self.inner.resolve_tag(cx, repo, tag).await {
            Ok(desc) => Ok(Some(desc)),
            Err(e) if e.is(&Code::ManifestUnknown) || e.is(&Code::NameUnknown) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Registry> Registry for Immutable<R> {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.inner.get_blob(cx, repo, digest).await
    }

    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        self.inner.get_blob_range(cx, repo, digest, range).await
    }

    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.inner.get_manifest(cx, repo, digest).await
    }

    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        self.inner.get_tag(cx, repo, tag).await
    }

    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        self.inner.resolve_blob(cx, repo, digest).await
    }

    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.inner.resolve_manifest(cx, repo, digest).await
    }

    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.inner.resolve_tag(cx, repo, tag).await
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        self.inner.push_blob(cx, repo, desc, content).await
    }

    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.inner.push_blob_chunked(cx, repo, chunk_size).await
    }

    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.inner
            .push_blob_chunked_resume(cx, repo, id, offset, chunk_size)
            .await
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.inner.mount_blob(cx, from_repo, to_repo, digest).await
    }

    async fn push_manifest(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        let Some(tag) = tag else {
            return self
                .inner
                .push_manifest(cx, repo, None, contents, media_type, digest)
                .await;
        };
        let want = match digest {
            Some(d) => d.clone(),
            None => Digest::sha256(&contents),
        };
        let entry = self.locks.entry(repo, tag);
        let _held = entry.lock().await;
        if let Some(existing) = self.current(cx, repo, tag).await? {
            if existing.digest != want || existing.media_type != media_type {
                return Err(denied_tag(tag));
            }
            // The same manifest again: nothing to write, but the content must be what it
            // claims to be, as a real push would check.
            if !want.verify(&contents) {
                return Err(Error::new(
                    Code::DigestInvalid,
                    format!("manifest content does not match digest {want}"),
                ));
            }
            return Ok(existing);
        }
        let pushed = self
            .inner
            .push_manifest(cx, repo, Some(tag), contents, media_type, Some(&want))
            .await?;
        // Someone bypassing this wrapper may have pushed the tag meanwhile.
        match self.current(cx, repo, tag).await? {
            Some(now) if now.digest == pushed.digest => Ok(pushed),
            Some(_) => Err(Error::new(
                Code::Denied,
                format!("this registry is immutable: tag {tag} was pushed concurrently"),
            )),
            None => Err(Error::new(
                Code::ManifestUnknown,
                format!("tag {tag} vanished right after it was pushed"),
            )),
        }
    }

    async fn delete_blob(&self, _cx: &Context, _repo: &str, _digest: &Digest) -> Result<()> {
        Err(denied_delete(Operation::DeleteBlob))
    }

    async fn delete_manifest(&self, _cx: &Context, _repo: &str, _digest: &Digest) -> Result<()> {
        Err(denied_delete(Operation::DeleteManifest))
    }

    async fn delete_tag(&self, _cx: &Context, _repo: &str, _tag: &str) -> Result<()> {
        Err(denied_delete(Operation::DeleteTag))
    }

    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        self.inner.repositories(cx, start_after)
    }

    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        self.inner.tags(cx, repo, start_after)
    }

    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        self.inner.referrers(cx, repo, digest, artifact_type)
    }

    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        self.inner.unsupported(operation, repo)
    }
}

type TagKey = (String, String);
type TagLock = Arc<tokio::sync::Mutex<()>>;

/// One asynchronous lock per (repository, tag) being pushed, held only while in use.
#[derive(Clone, Default)]
struct TagLocks {
    map: Arc<Mutex<HashMap<TagKey, TagLock>>>,
}

impl fmt::Debug for TagLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("TagLocks").field("held", &held).finish()
    }
}

impl TagLocks {
    /// The lock of `tag` in `repo`, registered until the entry is dropped.
    fn entry(&self, repo: &str, tag: &str) -> TagEntry {
        let key = (repo.to_owned(), tag.to_owned());
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(map.entry(key.clone()).or_default());
        TagEntry {
            locks: self.clone(),
            key,
            lock: Some(lock),
        }
    }
}

/// A registered interest in one tag's lock; removes the map entry when the last one drops.
///
/// Clones of the lock are made and dropped only under the map's lock, so the count seen there
/// is exact: the map's clone plus one per live entry.
struct TagEntry {
    locks: TagLocks,
    key: TagKey,
    lock: Option<TagLock>,
}

impl TagEntry {
    /// Waits for the lock (the guard borrows the entry, so it is released first).
    async fn lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

impl Drop for TagEntry {
    fn drop(&mut self) {
        let mut map = self
            .locks
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = self.lock.take() {
            if Arc::strong_count(&lock) == 2 {
                map.remove(&self.key);
            }
            drop(lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[tokio::test]
    async fn tag_locks_are_freed() {
        let locks = TagLocks::default();
        let a = locks.entry("r", "t");
        let b = locks.entry("r", "u");
        let held_a = a.lock().await;
        assert!(held_a.is_some());
        assert_eq!(locks.map.lock().unwrap().len(), 2);
        drop(held_a);
        drop(a);
        drop(b);
        assert!(locks.map.lock().unwrap().is_empty());

        // A waiter keeps the entry; a cancelled waiter frees it.
        let first = locks.entry("r", "t");
        let held = first.lock().await;
        let waiting = Box::pin(async {
            let second = locks.entry("r", "t");
            let _held = second.lock().await;
        });
        let mut waiting = waiting;
        let mut task = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(waiting.as_mut().poll(&mut task).is_pending());
        drop(held);
        drop(first);
        assert_eq!(locks.map.lock().unwrap().len(), 1);
        drop(waiting);
        assert!(locks.map.lock().unwrap().is_empty());
    }
}
