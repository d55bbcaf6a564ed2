//! Helpers shared by the integration tests: a store that "crashes" after a number of
//! operations, and content builders.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use ociregistry_core::bytes::Bytes;

/// Wraps a store and fails every operation from the `budget`-th on, as if the process had
/// died then: nothing after the crash reaches the inner store.
#[derive(Debug)]
pub struct CrashingStore {
    inner: Arc<dyn ObjectStore>,
    left: Arc<AtomicUsize>,
}

impl CrashingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, budget: usize) -> CrashingStore {
        CrashingStore {
            inner,
            left: Arc::new(AtomicUsize::new(budget)),
        }
    }
}

fn crashed() -> object_store::Error {
    object_store::Error::Generic {
        store: "crashing",
        source: "simulated crash".into(),
    }
}

/// Takes one operation from the budget: `Err` once it is spent.
fn step(left: &AtomicUsize) -> object_store::Result<()> {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .map(|_| ())
        .map_err(|_| crashed())
}

impl fmt::Display for CrashingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crashing({})", self.inner)
    }
}

#[derive(Debug)]
struct CrashingUpload {
    inner: Box<dyn MultipartUpload>,
    left: Arc<AtomicUsize>,
}

#[async_trait]
impl MultipartUpload for CrashingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match step(&self.left) {
            Ok(()) => self.inner.put_part(data),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        step(&self.left)?;
        self.inner.complete().await
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        step(&self.left)?;
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for CrashingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        step(&self.left)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        step(&self.left)?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CrashingUpload {
            inner,
            left: Arc::clone(&self.left),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        step(&self.left)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        step(&self.left)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Each deletion is one operation.
        let left = Arc::clone(&self.left);
        let checked = locations
            .map(move |p| {
                step(&left)?;
                p
            })
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match step(&self.left) {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match step(&self.left) {
            Ok(()) => self.inner.list_with_offset(prefix, offset),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        step(&self.left)?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        step(&self.left)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        step(&self.left)?;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A fresh directory under the target directory (kept for inspection after a failure).
pub fn temp_dir() -> std::path::PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .map(tempfile::TempDir::keep)
        .unwrap()
}

/// Pseudo-random bytes, distinct per seed.
pub fn content(seed: u64, len: usize) -> Bytes {
    ociregistry_core::testing::Rng::new(seed).bytes(len)
}

/// Writes `data` to `w` in pieces of `piece` bytes (the last one shorter).
pub async fn write_in_pieces(
    w: &mut Box<dyn ociregistry_core::BlobWriter>,
    data: &Bytes,
    piece: usize,
) {
    let mut at = 0;
    while at < data.len() {
        let end = (at + piece).min(data.len());
        w.write(data.slice(at..end)).await.unwrap();
        at = end;
    }
}

/// Every file under `dir`, as paths relative to it with `/` separators, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
