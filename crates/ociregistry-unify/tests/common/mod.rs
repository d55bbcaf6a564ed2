//! Test helpers: a registry wrapper that fails chosen operations on demand (and counts calls), and
//! small builders.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ociregistry_core::testing::{Content, Image, Manifest};
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Code, Context, Descriptor, Digest, Error,
    ListStream, Operation, Registry, Result, UploadStatus, async_trait, bytes::Bytes, stream,
};
use ociregistry_mem::MemRegistry;
use ociregistry_unify::{Options, ReadPolicy, Unify};

/// Fault names of the upload writer's methods (operations use `Operation::name()`).
pub const WRITE: &str = "write";
pub const CLOSE: &str = "close";
pub const COMMIT: &str = "commit";

#[derive(Default)]
struct Faults {
    failing: HashMap<&'static str, Code>,
    calls: HashMap<&'static str, usize>,
}

/// A registry that forwards to `inner`, except the operations told to fail, which fail with the
/// given code before reaching it.
#[derive(Clone)]
pub struct Faulty {
    inner: Arc<dyn Registry>,
    faults: Arc<Mutex<Faults>>,
}

impl Faulty {
    pub fn new(inner: Arc<dyn Registry>) -> Faulty {
        Faulty {
            inner,
            faults: Arc::default(),
        }
    }

    /// Makes `what` (an `Operation::name()`, or WRITE, CLOSE, COMMIT) fail with `code`.
    pub fn fail(&self, what: &'static str, code: Code) {
        self.faults.lock().unwrap().failing.insert(what, code);
    }

    /// Makes every write operation fail with `code`, as a read-only registry.
    pub fn read_only(&self) {
        for op in Operation::ALL {
            if !op.is_read() {
                self.fail(op.name(), Code::Denied);
            }
        }
        for w in [WRITE, CLOSE, COMMIT] {
            self.fail(w, Code::Denied);
        }
    }

    pub fn heal(&self) {
        self.faults.lock().unwrap().failing.clear();
    }

    pub fn calls(&self, what: &'static str) -> usize {
        *self.faults.lock().unwrap().calls.get(what).unwrap_or(&0)
    }

    fn check(&self, what: &'static str) -> Result<()> {
        let mut f = self.faults.lock().unwrap();
        *f.calls.entry(what).or_default() += 1;
        match f.failing.get(what) {
            Some(code) => Err(Error::new(code.clone(), format!("{what} fails on purpose"))),
            None => Ok(()),
        }
    }

    fn op(&self, op: Operation) -> Result<()> {
        self.check(op.name())
    }

    fn wrap(&self, w: Box<dyn BlobWriter>) -> Box<dyn BlobWriter> {
        Box::new(FaultyWriter {
            inner: w,
            faulty: self.clone(),
        })
    }
}

#[async_trait]
impl Registry for Faulty {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.op(Operation::GetBlob)?;
        self.inner.get_blob(cx, repo, digest).await
    }
    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        self.op(Operation::GetBlobRange)?;
        self.inner.get_blob_range(cx, repo, digest, range).await
    }
    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.op(Operation::GetManifest)?;
        self.inner.get_manifest(cx, repo, digest).await
    }
    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        self.op(Operation::GetTag)?;
        self.inner.get_tag(cx, repo, tag).await
    }
    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        self.op(Operation::ResolveBlob)?;
        self.inner.resolve_blob(cx, repo, digest).await
    }
    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.op(Operation::ResolveManifest)?;
        self.inner.resolve_manifest(cx, repo, digest).await
    }
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.op(Operation::ResolveTag)?;
        self.inner.resolve_tag(cx, repo, tag).await
    }
    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        self.op(Operation::PushBlob)?;
        self.inner.push_blob(cx, repo, desc, content).await
    }
    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.op(Operation::PushBlobChunked)?;
        let w = self.inner.push_blob_chunked(cx, repo, chunk_size).await?;
        Ok(self.wrap(w))
    }
    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.op(Operation::PushBlobChunkedResume)?;
        let w = self
            .inner
            .push_blob_chunked_resume(cx, repo, id, offset, chunk_size)
            .await?;
        Ok(self.wrap(w))
    }
    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.op(Operation::MountBlob)?;
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
        self.op(Operation::PushManifest)?;
        self.inner
            .push_manifest(cx, repo, tag, contents, media_type, digest)
            .await
    }
    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.op(Operation::DeleteBlob)?;
        self.inner.delete_blob(cx, repo, digest).await
    }
    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.op(Operation::DeleteManifest)?;
        self.inner.delete_manifest(cx, repo, digest).await
    }
    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        self.op(Operation::DeleteTag)?;
        self.inner.delete_tag(cx, repo, tag).await
    }
    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        match self.op(Operation::Repositories) {
            Ok(()) => self.inner.repositories(cx, start_after),
            Err(e) => stream::error(e),
        }
    }
    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        match self.op(Operation::Tags) {
            Ok(()) => self.inner.tags(cx, repo, start_after),
            Err(e) => stream::error(e),
        }
    }
    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        match self.op(Operation::Referrers) {
            Ok(()) => self.inner.referrers(cx, repo, digest, artifact_type),
            Err(e) => stream::error(e),
        }
    }
}

struct FaultyWriter {
    inner: Box<dyn BlobWriter>,
    faulty: Faulty,
}

#[async_trait]
impl BlobWriter for FaultyWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.faulty.check(WRITE)?;
        self.inner.write(data).await
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn chunk_size(&self) -> usize {
        self.inner.chunk_size()
    }
    fn id(&self) -> &str {
        self.inner.id()
    }
    async fn close(self: Box<Self>) -> Result<UploadStatus> {
        self.faulty.check(CLOSE)?;
        self.inner.close().await
    }
    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        self.faulty.check(COMMIT)?;
        self.inner.commit(digest).await
    }
    async fn cancel(self: Box<Self>) -> Result<()> {
        self.inner.cancel().await
    }
}

/// A fresh in-memory registry.
pub fn mem() -> Arc<MemRegistry> {
    Arc::new(MemRegistry::new())
}

/// The union of `registries` under `policy`.
pub fn union_of(registries: Vec<Arc<dyn Registry>>, policy: ReadPolicy) -> Unify {
    Unify::new(registries, Options::new().with_read_policy(policy)).unwrap()
}

/// Pushes `image`'s config and layers (not its manifest) into `repo` of `r`.
pub async fn push_image_blobs(r: &dyn Registry, repo: &str, image: &Image) {
    ociregistry_core::testing::push_blob(r, repo, &image.config).await;
    ociregistry_core::testing::push_blobs(r, repo, &image.layers).await;
}

/// Pushes `m` into `repo` of `r`, tagged `tag`, returning the result.
pub async fn try_push_manifest(
    r: &dyn Registry,
    repo: &str,
    tag: Option<&str>,
    m: &Manifest,
) -> Result<Descriptor> {
    r.push_manifest(
        &Context::new(),
        repo,
        tag,
        m.data.clone(),
        &m.media_type,
        None,
    )
    .await
}

/// Test content seeded with `name`.
pub fn content(name: &str) -> Content {
    Content::new(name)
}
