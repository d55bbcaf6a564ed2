//! [`ReadOnly`]: reads and listings pass, every write and delete is refused.

use ociregistry_core::bytes::Bytes;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Context, Descriptor, Digest, Error, ListStream,
    Operation, Registry, Result, async_trait,
};

/// A registry that only reads (Go's `ocifilter.ReadOnly`).
///
/// The 7 read and 3 list operations pass through to the inner registry; the 5 writes and 3
/// deletes fail with `UNSUPPORTED` naming the operation, without reaching it. `UNSUPPORTED`
/// (400 over HTTP) rather than `DENIED` (403), as in Go: nobody may write here, so it is a
/// property of the registry, not a permission the caller lacks. Stack an
/// [`AccessChecker`](crate::AccessChecker) for per-caller permissions.
///
/// ```
/// use ociregistry_core::{Code, Context, Registry};
/// use ociregistry_filter::read_only;
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mirror = read_only(MemRegistry::new());
/// let err = mirror.delete_tag(&Context::new(), "library/app", "latest").await.unwrap_err();
/// assert_eq!(err.code(), &Code::Unsupported);
/// assert_eq!(err.message(), "operation delete_tag is unsupported");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReadOnly<R> {
    inner: R,
}

/// `inner`, read only (see [`ReadOnly`]).
pub fn read_only<R: Registry>(inner: R) -> ReadOnly<R> {
    ReadOnly::new(inner)
}

impl<R> ReadOnly<R> {
    /// `inner`, read only.
    pub fn new(inner: R) -> ReadOnly<R> {
        ReadOnly { inner }
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

fn refused(operation: Operation) -> Error {
    Error::unsupported_operation(operation)
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Registry> Registry for ReadOnly<R> {
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
        _cx: &Context,
        _repo: &str,
        _desc: &Descriptor,
        _content: ByteStream,
    ) -> Result<Descriptor> {
        Err(refused(Operation::PushBlob))
    }

    async fn push_blob_chunked(
        &self,
        _cx: &Context,
        _repo: &str,
        _chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        Err(refused(Operation::PushBlobChunked))
    }

    async fn push_blob_chunked_resume(
        &self,
        _cx: &Context,
        _repo: &str,
        _id: &str,
        _offset: Option<u64>,
        _chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        Err(refused(Operation::PushBlobChunkedResume))
    }

    async fn mount_blob(
        &self,
        _cx: &Context,
        _from_repo: Option<&str>,
        _to_repo: &str,
        _digest: &Digest,
    ) -> Result<Descriptor> {
        Err(refused(Operation::MountBlob))
    }

    async fn push_manifest(
        &self,
        _cx: &Context,
        _repo: &str,
        _tag: Option<&str>,
        _contents: Bytes,
        _media_type: &str,
        _digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        Err(refused(Operation::PushManifest))
    }

    async fn delete_blob(&self, _cx: &Context, _repo: &str, _digest: &Digest) -> Result<()> {
        Err(refused(Operation::DeleteBlob))
    }

    async fn delete_manifest(&self, _cx: &Context, _repo: &str, _digest: &Digest) -> Result<()> {
        Err(refused(Operation::DeleteManifest))
    }

    async fn delete_tag(&self, _cx: &Context, _repo: &str, _tag: &str) -> Result<()> {
        Err(refused(Operation::DeleteTag))
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
