//! [`AccessChecker`]: a registry that asks an [`AccessPolicy`] before every operation.

use std::sync::Arc;

use futures_util::StreamExt;
use ociregistry_core::bytes::Bytes;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Context, Descriptor, Digest, Error, ListStream,
    Operation, Registry, Result, async_trait, stream,
};

use crate::access::{Access, AccessPolicy, DeleteTarget, is_refusal};
use crate::lists::{after_check, end_at_error};

/// A registry that asks a policy for the exact access each operation needs before running it
/// (Go's `ocifilter.AccessChecker`, with the caller's [`Context`] and more detail).
///
/// The policy's error is returned unchanged, and the inner registry is not asked anything
/// before the policy allows (listings obtain the inner stream at once but poll it only after
/// the checks): a refusal is the same whether or not the repository, blob or tag exists. The
/// accesses asked for, in order:
///
/// | Operation | Accesses |
/// |---|---|
/// | `get_blob`, `get_blob_range`, `get_manifest`, `get_tag`, `resolve_*` | [`Read`](crate::AccessKind::Read) of the repository |
/// | `push_blob`, `push_blob_chunked`, `push_blob_chunked_resume` | [`Write`](crate::AccessKind::Write) of the repository, no tags |
/// | `push_manifest` | `Write` of the repository, with the tag if one is set |
/// | `mount_blob` | `Read` of the source repository, then `Write` of the target |
/// | `mount_blob` without a source | none: refused with `UNSUPPORTED` |
/// | `delete_blob`, `delete_manifest`, `delete_tag` | [`Delete`](crate::AccessKind::Delete) of the blob, manifest or tag |
/// | `tags` | [`List`](crate::AccessKind::List) of the repository |
/// | `referrers` | `List` of the repository, then `Read` of it |
/// | `repositories` | `List` of [`Access::CATALOG`], then `Read` of each repository listed |
///
/// Side paths, where registries have had authorization bugs:
///
/// - A cross-repository mount needs read access to the source, so a blob cannot be copied out
///   of a repository the caller may not read (zot CVE-2024-39897). An anonymous mount (no
///   source: the blob is taken from wherever it is) needs `Read` of [`Access::CATALOG`], that
///   is, of every repository, and is otherwise refused with `UNSUPPORTED`; a server then falls
///   back to an upload, which proves the caller has the content.
/// - A tagged manifest push (the distribution API's `?tag=`) shows the policy the tag, so a
///   policy can refuse tags one by one.
/// - A tag delete is a delete, like any other.
/// - `referrers` yields nothing (an empty list, as for an unknown subject) when the caller
///   may not read the repository, even if it may list it.
/// - The catalog silently omits the repositories the caller may not read. A policy error that
///   is not a refusal (`DENIED`, `UNAUTHORIZED` or `NAME_UNKNOWN`), such as an outage of the
///   system the policy consults, ends the listing with that error rather than hiding items.
///
/// A blob writer returned by `push_blob_chunked` or `push_blob_chunked_resume` was authorized
/// when it was created; its writes and commit are not checked again.
///
/// Wrap the policy in [`deny_as_not_found`](crate::deny_as_not_found) so that refused reads
/// look like missing repositories.
///
/// ```
/// use std::sync::Arc;
/// use ociregistry_core::{Code, Context, Error, Identity, Registry, stream};
/// use ociregistry_filter::{AccessChecker, AccessKind, policy_fn};
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Users write only under their own name; everybody reads.
/// let policy = policy_fn(|cx, access| match (&access.kind, cx.identity().user()) {
///     (AccessKind::Read | AccessKind::List, _) => Ok(()),
///     (_, Some(user)) if access.repository.starts_with(&format!("{user}/")) => Ok(()),
///     _ => Err(Error::new(Code::Denied, format!("may not {access}"))),
/// });
/// let registry: Arc<dyn Registry> = Arc::new(AccessChecker::new(MemRegistry::new(), policy));
///
/// let alice = Context::new().with_identity(Identity::User("alice".into()));
/// let upload = registry.push_blob_chunked(&alice, "alice/app", None).await.unwrap();
/// upload.cancel().await.unwrap();
/// let err = registry.push_blob_chunked(&alice, "bob/app", None).await.err().unwrap();
/// assert_eq!(err.code(), &Code::Denied);
/// assert_eq!(err.message(), "may not write bob/app");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AccessChecker<R, P> {
    inner: R,
    policy: Arc<P>,
}

impl<R: Registry, P: AccessPolicy + 'static> AccessChecker<R, P> {
    /// Checks every operation on `inner` with `policy`.
    pub fn new(inner: R, policy: P) -> AccessChecker<R, P> {
        AccessChecker {
            inner,
            policy: Arc::new(policy),
        }
    }
}

impl<R, P> AccessChecker<R, P> {
    /// The wrapped registry.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The wrapped registry, unwrapped.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Registry, P: AccessPolicy + 'static> AccessChecker<R, P> {
    async fn check(&self, cx: &Context, access: Access) -> Result<()> {
        self.policy.check(cx, &access).await
    }
}

/// The error of an anonymous mount through a filter that cannot allow one.
pub(crate) fn anonymous_mount_refused() -> Error {
    Error::unsupported_operation(Operation::MountBlob).with_message(
        "mount_blob without a source repository is unsupported here: upload the blob instead",
    )
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Registry, P: AccessPolicy + 'static> Registry for AccessChecker<R, P> {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.get_blob(cx, repo, digest).await
    }

    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.get_blob_range(cx, repo, digest, range).await
    }

    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.get_manifest(cx, repo, digest).await
    }

    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.get_tag(cx, repo, tag).await
    }

    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.resolve_blob(cx, repo, digest).await
    }

    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.resolve_manifest(cx, repo, digest).await
    }

    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.check(cx, Access::read(repo)).await?;
        self.inner.resolve_tag(cx, repo, tag).await
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        self.check(cx, Access::write(repo)).await?;
        self.inner.push_blob(cx, repo, desc, content).await
    }

    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.check(cx, Access::write(repo)).await?;
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
        self.check(cx, Access::write(repo)).await?;
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
        let Some(from) = from_repo else {
            // The source is whatever repository holds the blob: only a caller who may read
            // every repository (`Read` of the catalog) may mount without naming it.
            if self.check(cx, Access::read(Access::CATALOG)).await.is_err() {
                return Err(anonymous_mount_refused());
            }
            self.check(cx, Access::write(to_repo)).await?;
            return self.inner.mount_blob(cx, None, to_repo, digest).await;
        };
        self.check(cx, Access::read(from)).await?;
        self.check(cx, Access::write(to_repo)).await?;
        self.inner.mount_blob(cx, Some(from), to_repo, digest).await
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
        let tags = tag.into_iter().map(str::to_owned).collect();
        self.check(cx, Access::write_tags(repo, tags)).await?;
        self.inner
            .push_manifest(cx, repo, tag, contents, media_type, digest)
            .await
    }

    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.check(cx, Access::delete(repo, DeleteTarget::Blob(digest.clone())))
            .await?;
        self.inner.delete_blob(cx, repo, digest).await
    }

    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.check(
            cx,
            Access::delete(repo, DeleteTarget::Manifest(digest.clone())),
        )
        .await?;
        self.inner.delete_manifest(cx, repo, digest).await
    }

    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        self.check(cx, Access::delete(repo, DeleteTarget::Tag(tag.to_owned())))
            .await?;
        self.inner.delete_tag(cx, repo, tag).await
    }

    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        let policy = Arc::clone(&self.policy);
        let owned_cx = cx.clone();
        let items = self.inner.repositories(cx, start_after);
        let check = async move {
            policy.check(&owned_cx, &Access::catalog()).await?;
            // Each repository is shown only to those who may read it.
            let filtered = items.filter_map(move |item| {
                let policy = Arc::clone(&policy);
                let cx = owned_cx.clone();
                async move {
                    let repo = match item {
                        Ok(repo) => repo,
                        Err(e) => return Some(Err(e)),
                    };
                    match policy.check(&cx, &Access::read(repo.as_str())).await {
                        Ok(()) => Some(Ok(repo)),
                        Err(e) if is_refusal(&e) => None,
                        Err(e) => Some(Err(e)),
                    }
                }
            });
            Ok(end_at_error(Box::pin(filtered)))
        };
        after_check(check)
    }

    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        let policy = Arc::clone(&self.policy);
        let owned_cx = cx.clone();
        let access = Access::list(repo);
        let items = self.inner.tags(cx, repo, start_after);
        after_check(async move {
            policy.check(&owned_cx, &access).await?;
            Ok(items)
        })
    }

    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        let policy = Arc::clone(&self.policy);
        let owned_cx = cx.clone();
        let repo_owned = repo.to_owned();
        let items = self.inner.referrers(cx, repo, digest, artifact_type);
        after_check(async move {
            policy
                .check(&owned_cx, &Access::list(repo_owned.as_str()))
                .await?;
            // The referrers are manifests of the same repository: show them only to readers.
            match policy.check(&owned_cx, &Access::read(repo_owned)).await {
                Ok(()) => Ok(items),
                Err(e) if is_refusal(&e) => Ok(stream::empty()),
                Err(e) => Err(e),
            }
        })
    }

    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        self.inner.unsupported(operation, repo)
    }
}
