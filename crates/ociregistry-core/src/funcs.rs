//! [`Funcs`]: a registry made of closures, for tests and small adapters.
//!
//! The Rust counterpart of Go's `ociregistry.Funcs`. Each operation is an optional closure taking
//! owned arguments; an operation without one fails like the trait's default (or through the
//! [`Funcs::on_unsupported`] closure). Unlike Go's, each operation checks its own closure.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::blob::{BlobReader, BlobWriter};
use crate::context::Context;
use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::range::ByteRange;
use crate::registry::{Operation, Registry};
use crate::stream::{self, ByteStream, ListStream};

macro_rules! funcs {
    ($(
        $(#[$doc:meta])*
        async $name:ident / $builder:ident($($arg:ident: $ty:ty),*) -> $ret:ty;
    )*) => {
        /// A registry whose operations are closures. See the [module docs](self).
        ///
        /// ```
        /// use ociregistry_core::{Context, Funcs, Registry, Descriptor, Digest};
        /// # async fn example() {
        /// let reg = Funcs::new().with_resolve_tag(|_cx, repo, tag| async move {
        ///     assert_eq!((repo.as_str(), tag.as_str()), ("app", "latest"));
        ///     Ok(Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256(b"{}"), 2))
        /// });
        /// let desc = reg.resolve_tag(&Context::new(), "app", "latest").await.unwrap();
        /// assert_eq!(desc.size, 2);
        /// assert!(reg.resolve_blob(&Context::new(), "app", &desc.digest).await.unwrap_err().is_unsupported());
        /// # }
        /// ```
        #[derive(Default, Clone)]
        pub struct Funcs {
            $($name: Option<Arc<dyn Fn($($ty),*) -> BoxFuture<'static, Result<$ret>> + Send + Sync>>,)*
            repositories: Option<Arc<dyn Fn(Context, Option<String>) -> ListStream<String> + Send + Sync>>,
            tags: Option<Arc<dyn Fn(Context, String, Option<String>) -> ListStream<String> + Send + Sync>>,
            referrers: Option<Arc<dyn Fn(Context, String, Digest, Option<String>) -> ListStream<Descriptor> + Send + Sync>>,
            on_unsupported: Option<Arc<dyn Fn(Operation, &str) -> Error + Send + Sync>>,
        }

        impl Funcs {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $builder<F, Fut>(mut self, f: F) -> Funcs
                where
                    F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
                    Fut: Future<Output = Result<$ret>> + Send + 'static,
                {
                    self.$name = Some(Arc::new(move |$($arg),*| Box::pin(f($($arg),*))));
                    self
                }
            )*
        }

        impl fmt::Debug for Funcs {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut set = Vec::new();
                $(if self.$name.is_some() { set.push(stringify!($name)); })*
                if self.repositories.is_some() { set.push("repositories"); }
                if self.tags.is_some() { set.push("tags"); }
                if self.referrers.is_some() { set.push("referrers"); }
                f.debug_struct("Funcs").field("set", &set).finish()
            }
        }
    };
}

funcs! {
    /// Sets [`Registry::get_blob`].
    async get_blob / with_get_blob(cx: Context, repo: String, digest: Digest) -> BlobReader;
    /// Sets [`Registry::get_blob_range`].
    async get_blob_range / with_get_blob_range(cx: Context, repo: String, digest: Digest, range: ByteRange) -> BlobReader;
    /// Sets [`Registry::get_manifest`].
    async get_manifest / with_get_manifest(cx: Context, repo: String, digest: Digest) -> BlobReader;
    /// Sets [`Registry::get_tag`].
    async get_tag / with_get_tag(cx: Context, repo: String, tag: String) -> BlobReader;
    /// Sets [`Registry::resolve_blob`].
    async resolve_blob / with_resolve_blob(cx: Context, repo: String, digest: Digest) -> Descriptor;
    /// Sets [`Registry::resolve_manifest`].
    async resolve_manifest / with_resolve_manifest(cx: Context, repo: String, digest: Digest) -> Descriptor;
    /// Sets [`Registry::resolve_tag`].
    async resolve_tag / with_resolve_tag(cx: Context, repo: String, tag: String) -> Descriptor;
    /// Sets [`Registry::push_blob`].
    async push_blob / with_push_blob(cx: Context, repo: String, desc: Descriptor, content: ByteStream) -> Descriptor;
    /// Sets [`Registry::push_blob_chunked`].
    async push_blob_chunked / with_push_blob_chunked(cx: Context, repo: String, chunk_size: Option<usize>) -> Box<dyn BlobWriter>;
    /// Sets [`Registry::push_blob_chunked_resume`].
    async push_blob_chunked_resume / with_push_blob_chunked_resume(cx: Context, repo: String, id: String, offset: Option<u64>, chunk_size: Option<usize>) -> Box<dyn BlobWriter>;
    /// Sets [`Registry::mount_blob`].
    async mount_blob / with_mount_blob(cx: Context, from_repo: Option<String>, to_repo: String, digest: Digest) -> Descriptor;
    /// Sets [`Registry::push_manifest`].
    async push_manifest / with_push_manifest(cx: Context, repo: String, tag: Option<String>, contents: Bytes, media_type: String, digest: Option<Digest>) -> Descriptor;
    /// Sets [`Registry::delete_blob`].
    async delete_blob / with_delete_blob(cx: Context, repo: String, digest: Digest) -> ();
    /// Sets [`Registry::delete_manifest`].
    async delete_manifest / with_delete_manifest(cx: Context, repo: String, digest: Digest) -> ();
    /// Sets [`Registry::delete_tag`].
    async delete_tag / with_delete_tag(cx: Context, repo: String, tag: String) -> ();
}

impl Funcs {
    /// A registry where every operation is unsupported until set.
    pub fn new() -> Funcs {
        Funcs::default()
    }

    /// Sets [`Registry::repositories`].
    #[must_use]
    pub fn with_repositories(
        mut self,
        f: impl Fn(Context, Option<String>) -> ListStream<String> + Send + Sync + 'static,
    ) -> Funcs {
        self.repositories = Some(Arc::new(f));
        self
    }

    /// Sets [`Registry::tags`].
    #[must_use]
    pub fn with_tags(
        mut self,
        f: impl Fn(Context, String, Option<String>) -> ListStream<String> + Send + Sync + 'static,
    ) -> Funcs {
        self.tags = Some(Arc::new(f));
        self
    }

    /// Sets [`Registry::referrers`].
    #[must_use]
    pub fn with_referrers(
        mut self,
        f: impl Fn(Context, String, Digest, Option<String>) -> ListStream<Descriptor>
        + Send
        + Sync
        + 'static,
    ) -> Funcs {
        self.referrers = Some(Arc::new(f));
        self
    }

    /// Sets the error unset operations fail with (given the operation and the repository).
    #[must_use]
    pub fn on_unsupported(
        mut self,
        f: impl Fn(Operation, &str) -> Error + Send + Sync + 'static,
    ) -> Funcs {
        self.on_unsupported = Some(Arc::new(f));
        self
    }
}

fn own(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

#[async_trait]
impl Registry for Funcs {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        match &self.get_blob {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::GetBlob, repo)),
        }
    }
    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        match &self.get_blob_range {
            Some(f) => f(cx.clone(), repo.into(), digest.clone(), range).await,
            None => Err(self.unsupported(Operation::GetBlobRange, repo)),
        }
    }
    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        match &self.get_manifest {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::GetManifest, repo)),
        }
    }
    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        match &self.get_tag {
            Some(f) => f(cx.clone(), repo.into(), tag.into()).await,
            None => Err(self.unsupported(Operation::GetTag, repo)),
        }
    }
    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        match &self.resolve_blob {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::ResolveBlob, repo)),
        }
    }
    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        match &self.resolve_manifest {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::ResolveManifest, repo)),
        }
    }
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        match &self.resolve_tag {
            Some(f) => f(cx.clone(), repo.into(), tag.into()).await,
            None => Err(self.unsupported(Operation::ResolveTag, repo)),
        }
    }
    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        match &self.push_blob {
            Some(f) => f(cx.clone(), repo.into(), desc.clone(), content).await,
            None => Err(self.unsupported(Operation::PushBlob, repo)),
        }
    }
    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        match &self.push_blob_chunked {
            Some(f) => f(cx.clone(), repo.into(), chunk_size).await,
            None => Err(self.unsupported(Operation::PushBlobChunked, repo)),
        }
    }
    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        match &self.push_blob_chunked_resume {
            Some(f) => f(cx.clone(), repo.into(), id.into(), offset, chunk_size).await,
            None => Err(self.unsupported(Operation::PushBlobChunkedResume, repo)),
        }
    }
    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        match &self.mount_blob {
            Some(f) => f(cx.clone(), own(from_repo), to_repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::MountBlob, to_repo)),
        }
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
        match &self.push_manifest {
            Some(f) => {
                let (cx, repo, tag, mt) = (cx.clone(), repo.into(), own(tag), media_type.into());
                f(cx, repo, tag, contents, mt, digest.cloned()).await
            }
            None => Err(self.unsupported(Operation::PushManifest, repo)),
        }
    }
    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        match &self.delete_blob {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::DeleteBlob, repo)),
        }
    }
    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        match &self.delete_manifest {
            Some(f) => f(cx.clone(), repo.into(), digest.clone()).await,
            None => Err(self.unsupported(Operation::DeleteManifest, repo)),
        }
    }
    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        match &self.delete_tag {
            Some(f) => f(cx.clone(), repo.into(), tag.into()).await,
            None => Err(self.unsupported(Operation::DeleteTag, repo)),
        }
    }
    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        match &self.repositories {
            Some(f) => f(cx.clone(), own(start_after)),
            None => stream::error(self.unsupported(Operation::Repositories, "")),
        }
    }
    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        match &self.tags {
            Some(f) => f(cx.clone(), repo.into(), own(start_after)),
            None => stream::error(self.unsupported(Operation::Tags, repo)),
        }
    }
    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        match &self.referrers {
            Some(f) => f(cx.clone(), repo.into(), digest.clone(), own(artifact_type)),
            None => stream::error(self.unsupported(Operation::Referrers, repo)),
        }
    }
    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        match &self.on_unsupported {
            Some(f) => f(operation, repo),
            None => Error::unsupported_operation(operation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[tokio::test]
    async fn each_operation_checks_its_own_closure() {
        // Go's Funcs tested PushBlobChunked_ when calling PushBlobChunkedResume_.
        let reg = Funcs::new().with_push_blob_chunked(|_, _, _| async {
            Err(Error::new(Code::Denied, "chunked called"))
        });
        let cx = Context::new();
        let e = reg.push_blob_chunked(&cx, "r", None).await.err().unwrap();
        assert!(e.is(&Code::Denied));
        let e = reg
            .push_blob_chunked_resume(&cx, "r", "id", None, None)
            .await
            .err()
            .unwrap();
        assert!(e.is_unsupported());
        assert!(e.message().contains("push_blob_chunked_resume"));
    }

    #[tokio::test]
    async fn custom_unsupported_error_sees_the_target_repo() {
        let reg = Funcs::new()
            .on_unsupported(|op, repo| Error::new(Code::Denied, format!("{op} on {repo}")));
        let cx = Context::new();
        let d = Digest::sha256(b"");
        let e = reg
            .mount_blob(&cx, Some("from"), "to", &d)
            .await
            .unwrap_err();
        assert_eq!(e.message(), "mount_blob on to");
        let e = stream::collect(reg.repositories(&cx, None))
            .await
            .unwrap_err();
        assert_eq!(e.message(), "repositories on ");
    }

    #[tokio::test]
    async fn closures_receive_their_arguments() {
        let reg = Funcs::new()
            .with_tags(|_, repo, after| {
                stream::iter(vec![format!("{repo}:{}", after.unwrap_or_default())])
            })
            .with_delete_tag(|_, _, tag| async move {
                if tag == "x" {
                    Ok(())
                } else {
                    Err(Code::ManifestUnknown.into())
                }
            });
        let cx = Context::new();
        assert_eq!(
            stream::collect(reg.tags(&cx, "r", Some("a")))
                .await
                .unwrap(),
            vec!["r:a"]
        );
        reg.delete_tag(&cx, "r", "x").await.unwrap();
        assert!(
            reg.delete_tag(&cx, "r", "y")
                .await
                .unwrap_err()
                .is_not_found()
        );
    }
}
