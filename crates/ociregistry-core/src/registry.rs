//! The [`Registry`] trait: everything an OCI registry can do.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::blob::{BlobReader, BlobWriter};
use crate::context::Context;
use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::range::ByteRange;
use crate::stream::{self, ByteStream, ListStream};

/// One of the operations of [`Registry`], for errors, access checks and tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// [`Registry::get_blob`].
    GetBlob,
    /// [`Registry::get_blob_range`].
    GetBlobRange,
    /// [`Registry::get_manifest`].
    GetManifest,
    /// [`Registry::get_tag`].
    GetTag,
    /// [`Registry::resolve_blob`].
    ResolveBlob,
    /// [`Registry::resolve_manifest`].
    ResolveManifest,
    /// [`Registry::resolve_tag`].
    ResolveTag,
    /// [`Registry::push_blob`].
    PushBlob,
    /// [`Registry::push_blob_chunked`].
    PushBlobChunked,
    /// [`Registry::push_blob_chunked_resume`].
    PushBlobChunkedResume,
    /// [`Registry::mount_blob`].
    MountBlob,
    /// [`Registry::push_manifest`].
    PushManifest,
    /// [`Registry::delete_blob`].
    DeleteBlob,
    /// [`Registry::delete_manifest`].
    DeleteManifest,
    /// [`Registry::delete_tag`].
    DeleteTag,
    /// [`Registry::repositories`].
    Repositories,
    /// [`Registry::tags`].
    Tags,
    /// [`Registry::referrers`].
    Referrers,
}

impl Operation {
    /// Every operation, in trait order.
    pub const ALL: [Operation; 18] = [
        Operation::GetBlob,
        Operation::GetBlobRange,
        Operation::GetManifest,
        Operation::GetTag,
        Operation::ResolveBlob,
        Operation::ResolveManifest,
        Operation::ResolveTag,
        Operation::PushBlob,
        Operation::PushBlobChunked,
        Operation::PushBlobChunkedResume,
        Operation::MountBlob,
        Operation::PushManifest,
        Operation::DeleteBlob,
        Operation::DeleteManifest,
        Operation::DeleteTag,
        Operation::Repositories,
        Operation::Tags,
        Operation::Referrers,
    ];

    /// The operation's method name, e.g. `get_blob`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetBlob => "get_blob",
            Operation::GetBlobRange => "get_blob_range",
            Operation::GetManifest => "get_manifest",
            Operation::GetTag => "get_tag",
            Operation::ResolveBlob => "resolve_blob",
            Operation::ResolveManifest => "resolve_manifest",
            Operation::ResolveTag => "resolve_tag",
            Operation::PushBlob => "push_blob",
            Operation::PushBlobChunked => "push_blob_chunked",
            Operation::PushBlobChunkedResume => "push_blob_chunked_resume",
            Operation::MountBlob => "mount_blob",
            Operation::PushManifest => "push_manifest",
            Operation::DeleteBlob => "delete_blob",
            Operation::DeleteManifest => "delete_manifest",
            Operation::DeleteTag => "delete_tag",
            Operation::Repositories => "repositories",
            Operation::Tags => "tags",
            Operation::Referrers => "referrers",
        }
    }

    /// Whether the operation only reads (the 7 read and 3 list operations).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::GetBlob
                | Operation::GetBlobRange
                | Operation::GetManifest
                | Operation::GetTag
                | Operation::ResolveBlob
                | Operation::ResolveManifest
                | Operation::ResolveTag
                | Operation::Repositories
                | Operation::Tags
                | Operation::Referrers
        )
    }

    /// Whether the operation deletes.
    pub fn is_delete(self) -> bool {
        matches!(
            self,
            Operation::DeleteBlob | Operation::DeleteManifest | Operation::DeleteTag
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An OCI registry: 7 read, 5 write, 3 delete and 3 list operations over repositories of blobs,
/// manifests and tags.
///
/// This is the one contract every crate of the project speaks: the in-memory registry and the
/// HTTP client implement it; the HTTP server serves any implementation; filters and unions wrap
/// implementations into new ones. It is dyn-compatible and used as `Arc<dyn Registry>`.
///
/// Every method has a default that fails with `UNSUPPORTED` naming the operation, so an
/// implementation provides only what it supports, and operations added in later versions do not
/// break it.
///
/// Conventions shared by all methods:
/// - `cx` carries the caller's identity and request-scoped values ([`Context`]).
/// - A repository that does not exist gives `NAME_UNKNOWN`; an invalid name `NAME_INVALID`.
/// - Manifests are stored and returned as the exact bytes pushed.
/// - Dropping a returned future cancels the operation.
#[async_trait]
pub trait Registry: Send + Sync {
    /// The content of a blob. Fails with `NAME_UNKNOWN` or `BLOB_UNKNOWN`.
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::GetBlob, repo))
    }

    /// Part of a blob's content. The reader's descriptor describes the whole blob and its
    /// [`range`](BlobReader::range) the bytes it yields. An end past the blob is clamped; a range
    /// that selects nothing fails with `RANGE_INVALID`.
    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        let _ = (cx, digest, range);
        Err(self.unsupported(Operation::GetBlobRange, repo))
    }

    /// A manifest by digest. Fails with `NAME_UNKNOWN` or `MANIFEST_UNKNOWN`.
    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::GetManifest, repo))
    }

    /// The manifest a tag points at. Fails with `NAME_UNKNOWN` or `MANIFEST_UNKNOWN`.
    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        let _ = (cx, tag);
        Err(self.unsupported(Operation::GetTag, repo))
    }

    /// A blob's descriptor (as a HEAD request): media type, digest and size only.
    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::ResolveBlob, repo))
    }

    /// A manifest's descriptor: media type, digest and size only.
    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::ResolveManifest, repo))
    }

    /// The descriptor of the manifest a tag points at: media type, digest and size only.
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        let _ = (cx, tag);
        Err(self.unsupported(Operation::ResolveTag, repo))
    }

    /// Pushes a whole blob in one go. Only `desc.digest` and `desc.size` are used; the content
    /// must match both (`DIGEST_INVALID`, `SIZE_INVALID`). Returns the stored blob's descriptor.
    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        let _ = (cx, desc, content);
        Err(self.unsupported(Operation::PushBlob, repo))
    }

    /// Starts a resumable upload. `chunk_size` is a hint (`None`: the registry's default); the
    /// registry may raise it to its minimum.
    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        let _ = (cx, chunk_size);
        Err(self.unsupported(Operation::PushBlobChunked, repo))
    }

    /// Resumes the upload `id` (from [`BlobWriter::id`] or [`BlobWriter::close`]). With
    /// `offset: Some(n)`, the upload must hold exactly `n` bytes (`RANGE_INVALID` otherwise);
    /// `None` asks the registry where the upload stands. An id the registry never issued, or
    /// one that expired or was cancelled, fails with `BLOB_UPLOAD_UNKNOWN`.
    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        let _ = (cx, id, offset, chunk_size);
        Err(self.unsupported(Operation::PushBlobChunkedResume, repo))
    }

    /// Makes the blob `digest` of `from_repo` available in `to_repo` without copying it through
    /// the caller, and returns its descriptor. `from_repo: None` is an anonymous mount: the
    /// registry may take the blob from any repository it chooses (registries that check access
    /// must refuse that, as they cannot check the source). Fails with `UNSUPPORTED` where
    /// mounting is not possible; callers then upload the blob.
    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let _ = (cx, from_repo, digest);
        Err(self.unsupported(Operation::MountBlob, to_repo))
    }

    /// Pushes a manifest of the given media type and, if `tag` is set, points the tag at it.
    ///
    /// With `digest: Some(d)` the manifest is stored under `d` (of any supported algorithm) and
    /// the content must hash to it (`DIGEST_INVALID` otherwise); with `None` it is stored under
    /// the SHA-256 of `contents`. Returns the manifest's descriptor (media type, digest, size).
    async fn push_manifest(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        let _ = (cx, tag, contents, media_type, digest);
        Err(self.unsupported(Operation::PushManifest, repo))
    }

    /// Deletes a blob.
    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::DeleteBlob, repo))
    }

    /// Deletes a manifest by digest (and, in every backend of this project, the tags that point
    /// at it, so that no tag dangles).
    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        let _ = (cx, digest);
        Err(self.unsupported(Operation::DeleteManifest, repo))
    }

    /// Deletes a tag, leaving the manifest it pointed at. A missing tag gives `MANIFEST_UNKNOWN`.
    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        let _ = (cx, tag);
        Err(self.unsupported(Operation::DeleteTag, repo))
    }

    /// The repositories, in lexical order, strictly after `start_after` when set.
    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        let _ = (cx, start_after);
        stream::error(self.unsupported(Operation::Repositories, ""))
    }

    /// The tags of a repository, in lexical order, strictly after `start_after` when set.
    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        let _ = (cx, start_after);
        stream::error(self.unsupported(Operation::Tags, repo))
    }

    /// The descriptors of the manifests whose `subject` is `digest`, filtered to
    /// `artifact_type` when set. Each descriptor carries the referrer's `artifactType` and
    /// annotations, and the list is in digest order. An unknown subject, or an unknown
    /// repository, gives an empty list.
    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        let _ = (cx, digest, artifact_type);
        stream::error(self.unsupported(Operation::Referrers, repo))
    }

    /// The error the default methods return. Override to customise it (Go's `Funcs.NewError`).
    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        let _ = repo;
        Error::unsupported_operation(operation)
    }
}

macro_rules! forward_registry {
    ($($ty:ty),*) => {$(
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: Registry + ?Sized> Registry for $ty {
            async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
                (**self).get_blob(cx, repo, digest).await
            }
            async fn get_blob_range(&self, cx: &Context, repo: &str, digest: &Digest, range: ByteRange) -> Result<BlobReader> {
                (**self).get_blob_range(cx, repo, digest, range).await
            }
            async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
                (**self).get_manifest(cx, repo, digest).await
            }
            async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
                (**self).get_tag(cx, repo, tag).await
            }
            async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
                (**self).resolve_blob(cx, repo, digest).await
            }
            async fn resolve_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
                (**self).resolve_manifest(cx, repo, digest).await
            }
            async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
                (**self).resolve_tag(cx, repo, tag).await
            }
            async fn push_blob(&self, cx: &Context, repo: &str, desc: &Descriptor, content: ByteStream) -> Result<Descriptor> {
                (**self).push_blob(cx, repo, desc, content).await
            }
            async fn push_blob_chunked(&self, cx: &Context, repo: &str, chunk_size: Option<usize>) -> Result<Box<dyn BlobWriter>> {
                (**self).push_blob_chunked(cx, repo, chunk_size).await
            }
            async fn push_blob_chunked_resume(&self, cx: &Context, repo: &str, id: &str, offset: Option<u64>, chunk_size: Option<usize>) -> Result<Box<dyn BlobWriter>> {
                (**self).push_blob_chunked_resume(cx, repo, id, offset, chunk_size).await
            }
            async fn mount_blob(&self, cx: &Context, from_repo: Option<&str>, to_repo: &str, digest: &Digest) -> Result<Descriptor> {
                (**self).mount_blob(cx, from_repo, to_repo, digest).await
            }
            async fn push_manifest(&self, cx: &Context, repo: &str, tag: Option<&str>, contents: Bytes, media_type: &str, digest: Option<&Digest>) -> Result<Descriptor> {
                (**self).push_manifest(cx, repo, tag, contents, media_type, digest).await
            }
            async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
                (**self).delete_blob(cx, repo, digest).await
            }
            async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
                (**self).delete_manifest(cx, repo, digest).await
            }
            async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
                (**self).delete_tag(cx, repo, tag).await
            }
            fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
                (**self).repositories(cx, start_after)
            }
            fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
                (**self).tags(cx, repo, start_after)
            }
            fn referrers(&self, cx: &Context, repo: &str, digest: &Digest, artifact_type: Option<&str>) -> ListStream<Descriptor> {
                (**self).referrers(cx, repo, digest, artifact_type)
            }
            fn unsupported(&self, operation: Operation, repo: &str) -> Error {
                (**self).unsupported(operation, repo)
            }
        }
    )*};
}

forward_registry!(Arc<T>, Box<T>, &T);

/// A registry that supports nothing: every operation fails with `UNSUPPORTED`.
///
/// Useful as the inner registry of wrappers and in tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsupported;

impl Registry for Unsupported {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[tokio::test]
    async fn defaults_name_the_operation() {
        let r: Arc<dyn Registry> = Arc::new(Unsupported);
        let d = Digest::sha256(b"");
        let cx = Context::new();
        let e = r.get_blob(&cx, "a", &d).await.unwrap_err();
        assert!(e.is(&Code::Unsupported));
        assert!(e.message().contains("get_blob"), "{e}");
        let e = r
            .push_blob_chunked_resume(&cx, "a", "id", None, None)
            .await
            .err()
            .unwrap();
        assert!(e.message().contains("push_blob_chunked_resume"), "{e}");
        let e = crate::stream::collect(r.tags(&cx, "a", None))
            .await
            .unwrap_err();
        assert!(e.message().contains("tags"), "{e}");
        // Forwarding through Box and & works too.
        async fn via<R: Registry>(r: R, cx: &Context) -> Error {
            r.resolve_tag(cx, "a", "t").await.unwrap_err()
        }
        let b: Box<dyn Registry> = Box::new(Unsupported);
        assert!(via(&b, &cx).await.is_unsupported());
        assert!(via(b, &cx).await.is_unsupported());
    }
}
