//! [`Unify`]: the union registry, and its [`Registry`] implementation (which dispatches to the
//! read, write, upload and list modules).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Context, Descriptor, Digest, ListStream,
    Registry, Result,
};

use crate::locks::Sequencer;
use crate::options::Options;

/// Why a [`Unify`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The list of registries is empty: a union needs at least one.
    #[error("a union needs at least one registry")]
    NoRegistries,
}

/// What a union and its upload writers share.
pub(crate) struct Shared {
    pub(crate) children: Vec<Arc<dyn Registry>>,
    pub(crate) options: Options,
    pub(crate) locks: Sequencer,
}

/// One registry made of several: reads come from any of them, writes go to all of them, and
/// listings merge theirs. See the [crate documentation](crate) for the exact semantics.
///
/// Cheap to clone (the registries are shared).
#[derive(Clone)]
pub struct Unify {
    pub(crate) shared: Arc<Shared>,
}

impl Unify {
    /// A union of `registries` (at least one; in this order: the first is read first under the
    /// sequential policy, and gives the results of writes).
    pub fn new(registries: Vec<Arc<dyn Registry>>, options: Options) -> Result<Unify, BuildError> {
        if registries.is_empty() {
            return Err(BuildError::NoRegistries);
        }
        Ok(Unify {
            shared: Arc::new(Shared {
                children: registries,
                options,
                locks: Sequencer::default(),
            }),
        })
    }

    /// The registries of the union, in order.
    pub fn registries(&self) -> &[Arc<dyn Registry>] {
        &self.shared.children
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    pub(crate) fn children(&self) -> &[Arc<dyn Registry>] {
        &self.shared.children
    }

    /// The only registry, when the union has just one: then every operation is passed through
    /// unchanged (no pre-checks, no id wrapping, no merging).
    pub(crate) fn single(&self) -> Option<&Arc<dyn Registry>> {
        match &*self.shared.children {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// The union of two registries with the default options, as Go's `ociunify.New(r0, r1, nil)`.
pub fn unify(r0: Arc<dyn Registry>, r1: Arc<dyn Registry>) -> Unify {
    Unify {
        shared: Arc::new(Shared {
            children: vec![r0, r1],
            options: Options::default(),
            locks: Sequencer::default(),
        }),
    }
}

impl fmt::Debug for Unify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unify")
            .field("registries", &self.shared.children.len())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Registry for Unify {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.read(move |r| r.get_blob(cx, repo, digest)).await
    }

    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        self.read(move |r| r.get_blob_range(cx, repo, digest, range))
            .await
    }

    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.read(move |r| r.get_manifest(cx, repo, digest)).await
    }

    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        self.read_tag(
            repo,
            tag,
            move |r| r.get_tag(cx, repo, tag),
            |reader| &reader.descriptor().digest,
        )
        .await
    }

    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        self.read(move |r| r.resolve_blob(cx, repo, digest)).await
    }

    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.read(move |r| r.resolve_manifest(cx, repo, digest))
            .await
    }

    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.read_tag(
            repo,
            tag,
            move |r| r.resolve_tag(cx, repo, tag),
            |d| &d.digest,
        )
        .await
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        self.push_blob_all(cx, repo, desc, content).await
    }

    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.start_upload(cx, repo, chunk_size).await
    }

    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        self.resume_upload(cx, repo, id, offset, chunk_size).await
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        self.mount_blob_all(cx, from_repo, to_repo, digest).await
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
        self.push_manifest_all(cx, repo, tag, contents, media_type, digest)
            .await
    }

    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.delete_blob_all(cx, repo, digest).await
    }

    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.delete_manifest_all(cx, repo, digest).await
    }

    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        self.delete_tag_all(cx, repo, tag).await
    }

    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        self.list_repositories(cx, start_after)
    }

    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        self.list_tags(cx, repo, start_after)
    }

    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        self.list_referrers(cx, repo, digest, artifact_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReadPolicy;
    use ociregistry_core::Unsupported;

    #[test]
    fn needs_at_least_one_registry() {
        let err = Unify::new(Vec::new(), Options::default()).unwrap_err();
        assert_eq!(err, BuildError::NoRegistries);
        let one = Unify::new(vec![Arc::new(Unsupported)], Options::default()).unwrap();
        assert_eq!(one.registries().len(), 1);
        let two = unify(Arc::new(Unsupported), Arc::new(Unsupported));
        assert_eq!(two.options().read_policy, ReadPolicy::Sequential);
        assert_eq!(
            format!("{two:?}"),
            "Unify { registries: 2, options: Options { read_policy: Sequential }, .. }"
        );
    }
}
