//! Thin helpers over the [`ObjectStore`]: typed errors, "missing" as `None`, create-only puts,
//! tolerant deletes, and [`ContentSink`], which writes content so that it becomes visible only
//! whole.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use ociregistry_core::{ByteStream, Code, Error, Result};

/// Maps a store error to a registry error (`UNKNOWN`, with the store error as source).
pub(crate) fn store_error(e: object_store::Error) -> Error {
    Error::new(Code::Unknown, format!("storage error: {e}")).with_source(e)
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// When an object was last written, in milliseconds since the Unix epoch.
pub(crate) fn modified_ms(meta: &ObjectMeta) -> i64 {
    meta.last_modified.timestamp_millis()
}

/// How much of a local file one blocking read takes.
const FILE_READ_CHUNK: usize = 1 << 20;

/// The bytes `range` of a local file, read [`FILE_READ_CHUNK`] bytes per trip to the blocking
/// thread pool (inline when there is no tokio runtime).
fn file_stream(
    file: std::fs::File,
    fs_path: std::path::PathBuf,
    range: std::ops::Range<u64>,
) -> ByteStream {
    use std::io::{Read, Seek, SeekFrom};
    let read_err = move |e: std::io::Error, path: &std::path::Path| {
        Error::new(Code::Unknown, format!("reading {}: {e}", path.display()))
    };
    let state = (Some(file), fs_path, range.start, range.end);
    Box::pin(futures_util::stream::try_unfold(
        state,
        move |(file, fs_path, at, end)| async move {
            let Some(mut file) = file else {
                return Ok(None);
            };
            if at >= end {
                return Ok(None);
            }
            let want =
                usize::try_from((end - at).min(FILE_READ_CHUNK as u64)).unwrap_or(FILE_READ_CHUNK);
            let read = move || -> std::io::Result<(std::fs::File, Vec<u8>)> {
                file.seek(SeekFrom::Start(at))?;
                let mut buf = Vec::with_capacity(want);
                (&mut file).take(want as u64).read_to_end(&mut buf)?;
                Ok((file, buf))
            };
            let done = match tokio::runtime::Handle::try_current() {
                Ok(rt) => rt.spawn_blocking(read).await.map_err(|e| {
                    Error::new(Code::Unknown, format!("file read task failed: {e}"))
                })?,
                Err(_) => read(),
            };
            let (file, buf) = done.map_err(|e| read_err(e, &fs_path))?;
            if buf.is_empty() {
                // The file is shorter than its metadata said: it changed under us.
                return Err(Error::new(
                    Code::Unknown,
                    format!("{} ended early", fs_path.display()),
                ));
            }
            let next = at + buf.len() as u64;
            Ok(Some((Bytes::from(buf), (Some(file), fs_path, next, end))))
        },
    ))
}

/// The object store of a registry, with the helpers every module uses.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) inner: Arc<dyn ObjectStore>,
}

impl Store {
    /// The metadata of `path`, `None` if it does not exist.
    pub(crate) async fn head(&self, path: &Path) -> Result<Option<ObjectMeta>> {
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.inner.get_opts(path, opts).await {
            Ok(r) => Ok(Some(r.meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Whether `path` exists.
    pub(crate) async fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.head(path).await?.is_some())
    }

    /// The content of `path`, `None` if it does not exist.
    pub(crate) async fn get(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.inner.get_opts(path, GetOptions::default()).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(store_error)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// The bytes `range` of `path` (the whole object when `None`) as a stream, with the
    /// object's size; `None` if it does not exist.
    pub(crate) async fn stream(
        &self,
        path: &Path,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Option<(u64, ByteStream)>> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.inner.get_opts(path, opts).await {
            Ok(r) => {
                let size = r.meta.size;
                let body: ByteStream = match r.payload {
                    // object_store reads local files 8 KiB per blocking-pool trip; read them
                    // in large pieces instead (a pull is otherwise bound by thread hand-offs).
                    GetResultPayload::File(file, fs_path) => file_stream(file, fs_path, r.range),
                    GetResultPayload::Stream(s) => Box::pin(s.map_err(store_error)),
                };
                Ok(Some((size, body)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Writes `payload` at `path`, replacing what is there, atomically.
    pub(crate) async fn put(&self, path: &Path, payload: PutPayload) -> Result<()> {
        self.inner
            .put_opts(path, payload, PutOptions::default())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Writes `payload` at `path` only if nothing is there: `Ok(false)` when something was.
    pub(crate) async fn create(&self, path: &Path, payload: PutPayload) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.inner.put_opts(path, payload, opts).await {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Copies `from` to `to`, replacing what is there, atomically (a hard link on the local
    /// disk, a server-side copy on S3: no bytes pass through this process).
    pub(crate) async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy(from, to).await.map_err(store_error)
    }

    /// Deletes `path`; deleting what is not there succeeds.
    pub(crate) async fn delete(&self, path: &Path) -> Result<()> {
        let path = path.clone();
        let one = futures_util::stream::once(async move { Ok(path) }).boxed();
        let mut results = self.inner.delete_stream(one);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(())
    }

    /// Deletes every path of `paths`, tolerating those already gone.
    pub(crate) async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let input = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = self.inner.delete_stream(input);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(())
    }

    /// Every object under `prefix`, in no particular order.
    pub(crate) async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>> {
        self.inner
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(store_error)
    }

    /// The objects under `prefix` with keys after `offset`, sorted by key.
    pub(crate) async fn list_after(&self, prefix: &Path, offset: &Path) -> Result<Vec<ObjectMeta>> {
        let mut all: Vec<ObjectMeta> = self
            .inner
            .list_with_offset(Some(prefix), offset)
            .try_collect()
            .await
            .map_err(store_error)?;
        all.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(all)
    }

    /// The "directories" directly under `prefix`, sorted.
    pub(crate) async fn subdirs(&self, prefix: &Path) -> Result<Vec<Path>> {
        let mut dirs = self
            .inner
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(store_error)?
            .common_prefixes;
        dirs.sort();
        Ok(dirs)
    }
}

/// Writes content to one key so that it appears only whole, and only if the writer says so:
/// content up to the part size is buffered and written with one atomic `put` at
/// [`finish`](ContentSink::finish); larger content goes through a multipart upload that is
/// completed at `finish` (the object store publishes it atomically) or aborted.
pub(crate) struct ContentSink {
    store: Store,
    path: Path,
    part_size: usize,
    buffer: Vec<Bytes>,
    buffered: usize,
    upload: Option<Box<dyn MultipartUpload>>,
}

impl ContentSink {
    pub(crate) fn new(store: Store, path: Path, part_size: usize) -> ContentSink {
        ContentSink {
            store,
            path,
            part_size: part_size.max(1),
            buffer: Vec::new(),
            buffered: 0,
            upload: None,
        }
    }

    /// Appends a chunk (kept as is, not copied).
    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.buffered += chunk.len();
        self.buffer.push(chunk);
        if self.buffered >= self.part_size {
            self.flush_part().await?;
        }
        Ok(())
    }

    async fn flush_part(&mut self) -> Result<()> {
        if self.upload.is_none() {
            let upload = self
                .store
                .inner
                .put_multipart_opts(&self.path, Default::default())
                .await
                .map_err(store_error)?;
            self.upload = Some(upload);
        }
        let payload: PutPayload = std::mem::take(&mut self.buffer).into_iter().collect();
        self.buffered = 0;
        if let Some(upload) = self.upload.as_mut() {
            upload.put_part(payload).await.map_err(store_error)?;
        }
        Ok(())
    }

    /// Publishes the content.
    pub(crate) async fn finish(mut self) -> Result<()> {
        if self.upload.is_none() {
            let payload: PutPayload = std::mem::take(&mut self.buffer).into_iter().collect();
            return self.store.put(&self.path, payload).await;
        }
        if self.buffered > 0 {
            self.flush_part().await?;
        }
        if let Some(mut upload) = self.upload.take() {
            upload.complete().await.map_err(store_error)?;
        }
        Ok(())
    }

    /// Discards the content: nothing becomes visible.
    pub(crate) async fn abort(mut self) {
        if let Some(mut upload) = self.upload.take() {
            // Nothing was published; a failed abort only leaves invisible staging data.
            let _ = upload.abort().await;
        }
    }
}
