//! [`Traced`]: a `tracing` span for every operation, with what it touched and how it ended.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures_util::Stream;
use ociregistry_core::bytes::Bytes;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Context, Descriptor, Digest, Error, ListStream,
    Operation, Registry, Result, UploadStatus, async_trait,
};
use tracing::field::{Empty, display};
use tracing::{Instrument, Span, debug_span, info_span};

/// A registry that records every operation as a [`tracing`] span (Go's `ocidebug`, as spans).
///
/// Each operation opens an `INFO` span named after it (`get_blob`, `push_manifest`, ...; the
/// target is `ociregistry_filter::traced`) with the fields that apply:
///
/// | Field | Holds |
/// |---|---|
/// | `repository` | the repository (the target of a mount) |
/// | `from` | the source repository of a mount |
/// | `digest` | the digest asked for, or the one a tag resolved to or a push stored under |
/// | `tag` | the tag |
/// | `artifact_type` | the artifact type a referrers listing is filtered to |
/// | `media_type`, `size` | of a pushed manifest or blob, or of the content returned |
/// | `range`, `offset`, `chunk_size`, `upload_id`, `start_after` | the other arguments |
/// | `user` | the caller, when authenticated |
/// | `duration_ms` | how long the operation took (for listings: until the stream ended) |
/// | `error.code`, `error.message` | how it failed, if it did |
/// | `items` | how many items a listing yielded, recorded when it ends |
/// | `bytes` | how many bytes a returned reader yielded, recorded when it ends |
/// | `cancelled` | `true` when a listing or reader was dropped before its end |
///
/// Content is never recorded: no blob bytes, no manifest bytes.
///
/// The operation's inner call runs inside the span, as do the polls of a returned listing or
/// reader, so events of the inner registry nest under it. A returned [`BlobWriter`] is wrapped:
/// its `write` (`DEBUG`), `close`, `commit` and `cancel` (`INFO`) get spans of their own, children
/// of the span of the operation that created the writer, with `bytes`, `size`, `digest`,
/// `upload_id`, `duration_ms` and the error fields.
///
/// With `tracing-subscriber`'s `fmt` layer, use `with_span_events(FmtSpan::CLOSE)` to log each
/// operation once it is over, with all its fields.
///
/// ```
/// use ociregistry_core::{Code, Context, Registry};
/// use ociregistry_filter::traced;
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Install a subscriber (tracing-subscriber, OpenTelemetry, ...) to see the spans.
/// let registry = traced(MemRegistry::new());
/// let err = registry.resolve_tag(&Context::new(), "app", "latest").await.unwrap_err();
/// assert_eq!(err.code(), &Code::NameUnknown); // recorded as error.code = NAME_UNKNOWN
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Traced<R> {
    inner: R,
}

/// `inner`, traced (see [`Traced`]).
pub fn traced<R: Registry>(inner: R) -> Traced<R> {
    Traced::new(inner)
}

impl<R> Traced<R> {
    /// `inner`, traced.
    pub fn new(inner: R) -> Traced<R> {
        Traced { inner }
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

/// Opens the `INFO` span of an operation, with the outcome fields every span has.
macro_rules! op_span {
    ($name:literal, $cx:expr $(, $($field:tt)+)?) => {
        info_span!(
            target: "ociregistry_filter::traced",
            $name,
            $($($field)+,)?
            user = $cx.identity().user(),
            duration_ms = Empty,
            error.code = Empty,
            error.message = Empty,
        )
    };
}

/// Records how an operation ended on its span.
fn record_outcome<T>(span: &Span, start: Instant, result: &Result<T>) {
    span.record("duration_ms", elapsed_ms(start));
    if let Err(e) = result {
        record_error(span, e);
    }
}

fn record_error(span: &Span, e: &Error) {
    span.record("error.code", e.code().as_str());
    span.record("error.message", e.message());
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Runs `fut` in `span` and records its outcome.
async fn run<T>(span: &Span, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let start = Instant::now();
    let result = fut.instrument(span.clone()).await;
    record_outcome(span, start, &result);
    result
}

/// Records the descriptor of a result (digest, media type, size).
fn record_desc(span: &Span, desc: &Descriptor) {
    span.record("digest", display(&desc.digest));
    span.record("media_type", desc.media_type.as_str());
    span.record("size", desc.size);
}

/// A reader whose stream runs in `span`, recording bytes read when it ends.
fn traced_reader(span: Span, result: Result<BlobReader>) -> Result<BlobReader> {
    let reader = result?;
    record_desc(&span, reader.descriptor());
    let range = reader.range().cloned();
    let (desc, body) = reader.into_parts();
    let body: ByteStream = Box::pin(Observed::new(body, span, "bytes", false, |b: &Bytes| {
        b.len() as u64
    }));
    Ok(match range {
        Some(range) => BlobReader::new_range(desc, range, body),
        None => BlobReader::new(desc, body),
    })
}

/// A writer whose operations get spans under `span`.
fn traced_writer(span: Span, result: Result<Box<dyn BlobWriter>>) -> Result<Box<dyn BlobWriter>> {
    let writer = result?;
    span.record("upload_id", writer.id());
    Ok(Box::new(TracedWriter {
        inner: writer,
        parent: span,
    }))
}

/// A listing that runs in `span`, recording its item count and duration when it ends.
fn traced_list<T: Send + 'static>(span: Span, items: ListStream<T>) -> ListStream<T> {
    Box::pin(Observed::new(items, span, "items", true, |_: &T| 1))
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Registry> Registry for Traced<R> {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let span = op_span!("get_blob", cx, repository = repo, digest = %digest, media_type = Empty, size = Empty, bytes = Empty, cancelled = Empty);
        let result = run(&span, self.inner.get_blob(cx, repo, digest)).await;
        traced_reader(span, result)
    }

    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        let span = op_span!("get_blob_range", cx, repository = repo, digest = %digest, range = ?range, media_type = Empty, size = Empty, bytes = Empty, cancelled = Empty);
        let result = run(&span, self.inner.get_blob_range(cx, repo, digest, range)).await;
        traced_reader(span, result)
    }

    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let span = op_span!("get_manifest", cx, repository = repo, digest = %digest, media_type = Empty, size = Empty, bytes = Empty, cancelled = Empty);
        let result = run(&span, self.inner.get_manifest(cx, repo, digest)).await;
        traced_reader(span, result)
    }

    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        let span = op_span!(
            "get_tag",
            cx,
            repository = repo,
            tag = tag,
            digest = Empty,
            media_type = Empty,
            size = Empty,
            bytes = Empty,
            cancelled = Empty
        );
        let result = run(&span, self.inner.get_tag(cx, repo, tag)).await;
        traced_reader(span, result)
    }

    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        let span = op_span!("resolve_blob", cx, repository = repo, digest = %digest, media_type = Empty, size = Empty);
        let result = run(&span, self.inner.resolve_blob(cx, repo, digest)).await;
        if let Ok(desc) = &result {
            record_desc(&span, desc);
        }
        result
    }

    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let span = op_span!("resolve_manifest", cx, repository = repo, digest = %digest, media_type = Empty, size = Empty);
        let result = run(&span, self.inner.resolve_manifest(cx, repo, digest)).await;
        if let Ok(desc) = &result {
            record_desc(&span, desc);
        }
        result
    }

    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        let span = op_span!(
            "resolve_tag",
            cx,
            repository = repo,
            tag = tag,
            digest = Empty,
            media_type = Empty,
            size = Empty
        );
        let result = run(&span, self.inner.resolve_tag(cx, repo, tag)).await;
        if let Ok(desc) = &result {
            record_desc(&span, desc);
        }
        result
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        let span = op_span!("push_blob", cx, repository = repo, digest = %desc.digest, size = desc.size, media_type = Empty);
        let result = run(&span, self.inner.push_blob(cx, repo, desc, content)).await;
        if let Ok(desc) = &result {
            record_desc(&span, desc);
        }
        result
    }

    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        let span = op_span!(
            "push_blob_chunked",
            cx,
            repository = repo,
            chunk_size = chunk_size,
            upload_id = Empty
        );
        let result = run(&span, self.inner.push_blob_chunked(cx, repo, chunk_size)).await;
        traced_writer(span, result)
    }

    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        let span = op_span!(
            "push_blob_chunked_resume",
            cx,
            repository = repo,
            upload_id = id,
            offset = offset,
            chunk_size = chunk_size
        );
        let result = run(
            &span,
            self.inner
                .push_blob_chunked_resume(cx, repo, id, offset, chunk_size),
        )
        .await;
        traced_writer(span, result)
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let span = op_span!("mount_blob", cx, repository = to_repo, from = from_repo, digest = %digest, size = Empty, media_type = Empty);
        let result = run(&span, self.inner.mount_blob(cx, from_repo, to_repo, digest)).await;
        if let Ok(desc) = &result {
            record_desc(&span, desc);
        }
        result
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
        let span = op_span!(
            "push_manifest",
            cx,
            repository = repo,
            tag = tag,
            media_type = media_type,
            size = contents.len(),
            digest = digest.map(display)
        );
        let result = run(
            &span,
            self.inner
                .push_manifest(cx, repo, tag, contents, media_type, digest),
        )
        .await;
        if let Ok(desc) = &result {
            span.record("digest", display(&desc.digest));
        }
        result
    }

    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        let span = op_span!("delete_blob", cx, repository = repo, digest = %digest);
        run(&span, self.inner.delete_blob(cx, repo, digest)).await
    }

    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        let span = op_span!("delete_manifest", cx, repository = repo, digest = %digest);
        run(&span, self.inner.delete_manifest(cx, repo, digest)).await
    }

    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        let span = op_span!("delete_tag", cx, repository = repo, tag = tag);
        run(&span, self.inner.delete_tag(cx, repo, tag)).await
    }

    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        let span = op_span!(
            "repositories",
            cx,
            start_after = start_after,
            items = Empty,
            cancelled = Empty
        );
        let items = span.in_scope(|| self.inner.repositories(cx, start_after));
        traced_list(span, items)
    }

    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        let span = op_span!(
            "tags",
            cx,
            repository = repo,
            start_after = start_after,
            items = Empty,
            cancelled = Empty
        );
        let items = span.in_scope(|| self.inner.tags(cx, repo, start_after));
        traced_list(span, items)
    }

    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        let span = op_span!("referrers", cx, repository = repo, digest = %digest, artifact_type = artifact_type, items = Empty, cancelled = Empty);
        let items = span.in_scope(|| self.inner.referrers(cx, repo, digest, artifact_type));
        traced_list(span, items)
    }

    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        self.inner.unsupported(operation, repo)
    }
}

/// A stream polled in `span`, counting what it yields into the field `counter` when it ends,
/// recording its error, and `cancelled` if dropped before its end.
struct Observed<S, T> {
    inner: S,
    span: Span,
    counter: &'static str,
    count: u64,
    /// Whether to record `duration_ms` at the end (listings, whose operation is the stream).
    timed: bool,
    start: Instant,
    done: bool,
    measure: fn(&T) -> u64,
}

impl<S, T> Observed<S, T> {
    fn new(
        inner: S,
        span: Span,
        counter: &'static str,
        timed: bool,
        measure: fn(&T) -> u64,
    ) -> Observed<S, T> {
        Observed {
            inner,
            span,
            counter,
            count: 0,
            timed,
            start: Instant::now(),
            done: false,
            measure,
        }
    }

    fn finish(&mut self, error: Option<&Error>) {
        self.done = true;
        self.span.record(self.counter, self.count);
        if self.timed {
            self.span.record("duration_ms", elapsed_ms(self.start));
        }
        if let Some(e) = error {
            record_error(&self.span, e);
        }
    }
}

impl<S, T> Stream for Observed<S, T>
where
    S: Stream<Item = Result<T>> + Unpin,
{
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let polled = {
            let _entered = this.span.enter();
            Pin::new(&mut this.inner).poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(item))) => this.count += (this.measure)(item),
            Poll::Ready(Some(Err(e))) => this.finish(Some(e)),
            Poll::Ready(None) => this.finish(None),
            Poll::Pending => {}
        }
        polled
    }
}

impl<S, T> Drop for Observed<S, T> {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("cancelled", true);
            self.finish(None);
        }
    }
}

/// A blob writer whose operations get spans under the span of the operation that created it.
struct TracedWriter {
    inner: Box<dyn BlobWriter>,
    parent: Span,
}

/// Opens a span of a writer operation, child of the writer's operation span.
macro_rules! writer_span {
    ($level:ident, $name:literal, $self:ident $(, $($field:tt)+)?) => {
        $level!(
            target: "ociregistry_filter::traced",
            parent: &$self.parent,
            $name,
            upload_id = $self.inner.id(),
            $($($field)+,)?
            duration_ms = Empty,
            error.code = Empty,
            error.message = Empty,
        )
    };
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl BlobWriter for TracedWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let span = writer_span!(
            debug_span,
            "blob_writer.write",
            self,
            bytes = data.len(),
            size = Empty
        );
        let result = run(&span, self.inner.write(data)).await;
        span.record("size", self.inner.size());
        result
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
        let span = writer_span!(
            info_span,
            "blob_writer.close",
            self,
            size = self.inner.size()
        );
        let this = *self;
        let result = run(&span, this.inner.close()).await;
        if let Ok(status) = &result {
            span.record("upload_id", status.id.as_str());
            span.record("size", status.size);
        }
        result
    }

    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        let span = writer_span!(info_span, "blob_writer.commit", self, digest = %digest, size = self.inner.size());
        let this = *self;
        run(&span, this.inner.commit(digest)).await
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        let span = writer_span!(info_span, "blob_writer.cancel", self);
        let this = *self;
        run(&span, this.inner.cancel()).await
    }
}
