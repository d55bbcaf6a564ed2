//! [`Sub`]: the repositories under a prefix, exposed as a registry of their own.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use futures_util::StreamExt;
use ociregistry_core::bytes::Bytes;
use ociregistry_core::names::{MAX_REPOSITORY_LEN, validate_repository};
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Code, Context, Descriptor, Digest, Error,
    ListStream, Operation, Registry, Result, async_trait,
};

use crate::checker::anonymous_mount_refused;

type ContextMapper = Arc<dyn Fn(&Context, &str) -> Context + Send + Sync>;

/// The repositories of a registry under `prefix/`, as a registry of their own (Go's
/// `ocifilter.Sub`).
///
/// The repository `x` of this registry is `prefix/x` of the inner one. With prefix `foo`,
/// `foo/bar` is seen as `bar`, while `foo` itself and `fooey` are not seen at all. An empty
/// prefix shows the whole registry unchanged.
///
/// Unlike Go's:
/// - names are validated: a name that is invalid, or too long once prefixed, fails with
///   `NAME_INVALID` (Go joins paths, so `a/../b` could step out of the prefix);
/// - [`repositories`](Registry::repositories) honours `start_after` (Go passed it on without the
///   prefix) and seeks to the prefix in the inner listing, ending at the first repository past
///   it, instead of scanning the whole catalog. This relies on the inner listing being in
///   lexical order, as the trait requires;
/// - a mount maps both repositories, and an anonymous mount (no source) is refused with
///   `UNSUPPORTED`, since the inner registry could take the blob from outside the prefix (a
///   server then falls back to an upload);
/// - error messages of the inner registry that name a prefixed repository are rewritten to
///   the name the caller used (best effort: only exact mentions of that name).
///
/// Go also rewrote the authorization scopes a client carries in its context. Values in a
/// [`Context`] are typed and belong to the layers that define them, so here that is a hook:
/// [`Sub::with_context_mapper`] gives a function that derives the context passed to the
/// inner registry, for example to prefix the repositories of a client's scope value.
///
/// ```
/// use ociregistry_core::{stream, Context, Registry};
/// use ociregistry_filter::Sub;
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ociregistry_core::Result<()> {
/// let mem = MemRegistry::new();
/// let cx = Context::new();
/// let team = Sub::new(&mem, "teams/blue")?;
/// let upload = team.push_blob_chunked(&cx, "app", None).await?; // creates teams/blue/app
/// upload.cancel().await?;
/// assert_eq!(stream::collect(team.repositories(&cx, None)).await?, ["app"]);
/// assert_eq!(stream::collect(mem.repositories(&cx, None)).await?, ["teams/blue/app"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sub<R> {
    inner: R,
    prefix: String,
    map_context: Option<ContextMapper>,
}

impl<R: fmt::Debug> fmt::Debug for Sub<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sub")
            .field("inner", &self.inner)
            .field("prefix", &self.prefix)
            .field("map_context", &self.map_context.is_some())
            .finish()
    }
}

/// The repositories of `inner` under `prefix/` (see [`Sub`]).
///
/// # Errors
///
/// `NAME_INVALID` when `prefix` is neither empty nor a valid repository name.
pub fn sub<R: Registry>(inner: R, prefix: &str) -> Result<Sub<R>> {
    Sub::new(inner, prefix)
}

impl<R> Sub<R> {
    /// The repositories of `inner` under `prefix/`.
    ///
    /// # Errors
    ///
    /// `NAME_INVALID` when `prefix` is neither empty nor a valid repository name.
    pub fn new(inner: R, prefix: &str) -> Result<Sub<R>> {
        if !prefix.is_empty() {
            validate_repository(prefix)?;
        }
        Ok(Sub {
            inner,
            prefix: prefix.to_owned(),
            map_context: None,
        })
    }

    /// Derives the context of every inner call with `f`, given the caller's context and the
    /// prefix.
    ///
    /// ```
    /// use ociregistry_core::{Context, Registry, Unsupported};
    /// use ociregistry_filter::Sub;
    ///
    /// /// The repositories a client may touch, as a context value of some client layer.
    /// #[derive(Clone)]
    /// struct Scope(Vec<String>);
    ///
    /// let sub = Sub::new(Unsupported, "mirror")?.with_context_mapper(|cx, prefix| {
    ///     match cx.get::<Scope>() {
    ///         Some(Scope(repos)) => {
    ///             cx.clone().with(Scope(repos.iter().map(|r| format!("{prefix}/{r}")).collect()))
    ///         }
    ///         None => cx.clone(),
    ///     }
    /// });
    /// # Ok::<(), ociregistry_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_context_mapper(
        mut self,
        f: impl Fn(&Context, &str) -> Context + Send + Sync + 'static,
    ) -> Sub<R> {
        self.map_context = Some(Arc::new(f));
        self
    }

    /// The prefix (empty for the whole registry).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The wrapped registry.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The wrapped registry, unwrapped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The inner name of the repository `repo`.
    fn name<'a>(&self, repo: &'a str) -> Result<Cow<'a, str>> {
        if self.prefix.is_empty() {
            return Ok(Cow::Borrowed(repo));
        }
        validate_repository(repo)?;
        let full = format!("{}/{repo}", self.prefix);
        if full.len() > MAX_REPOSITORY_LEN {
            return Err(Error::new(
                Code::NameInvalid,
                format!(
                    "repository name too long: {} bytes here, with at most {} allowed",
                    repo.len(),
                    MAX_REPOSITORY_LEN - self.prefix.len() - 1
                ),
            ));
        }
        Ok(Cow::Owned(full))
    }

    /// The context of inner calls.
    fn cx<'a>(&self, cx: &'a Context) -> Cow<'a, Context> {
        match &self.map_context {
            Some(f) => Cow::Owned(f(cx, &self.prefix)),
            None => Cow::Borrowed(cx),
        }
    }
}

/// `err` with mentions of the inner name `full` replaced by the caller's `repo`.
fn unmap(err: Error, full: &str, repo: &str) -> Error {
    if full == repo || !err.message().contains(full) {
        return err;
    }
    let message = err.message().replace(full, repo);
    err.with_message(message)
}

/// Runs `op` on the inner name of `repo`, then unmaps its error.
macro_rules! mapped {
    ($self:ident, $cx:ident, $repo:ident, |$icx:ident, $full:ident| $call:expr) => {{
        let $full = $self.name($repo)?;
        let $icx = $self.cx($cx);
        let $icx: &Context = &$icx;
        $call.await.map_err(|e| unmap(e, &$full, $repo))
    }};
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Registry> Registry for Sub<R> {
    async fn get_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .get_blob(icx, &full, digest))
    }

    async fn get_blob_range(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .get_blob_range(icx, &full, digest, range))
    }

    async fn get_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .get_manifest(icx, &full, digest))
    }

    async fn get_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .get_tag(icx, &full, tag))
    }

    async fn resolve_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .resolve_blob(icx, &full, digest))
    }

    async fn resolve_manifest(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .resolve_manifest(icx, &full, digest))
    }

    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .resolve_tag(icx, &full, tag))
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .push_blob(icx, &full, desc, content))
    }

    async fn push_blob_chunked(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .push_blob_chunked(icx, &full, chunk_size))
    }

    async fn push_blob_chunked_resume(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .push_blob_chunked_resume(icx, &full, id, offset, chunk_size))
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let to = self.name(to_repo)?;
        let from_full = match from_repo {
            Some(from) => Some(self.name(from)?),
            None if self.prefix.is_empty() => None,
            None => return Err(anonymous_mount_refused()),
        };
        let icx = self.cx(cx);
        self.inner
            .mount_blob(&icx, from_full.as_deref(), &to, digest)
            .await
            .map_err(|e| {
                let e = unmap(e, &to, to_repo);
                match (from_repo, &from_full) {
                    (Some(from), Some(full)) => unmap(e, full, from),
                    _ => e,
                }
            })
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
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .push_manifest(icx, &full, tag, contents, media_type, digest))
    }

    async fn delete_blob(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .delete_blob(icx, &full, digest))
    }

    async fn delete_manifest(&self, cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .delete_manifest(icx, &full, digest))
    }

    async fn delete_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        mapped!(self, cx, repo, |icx, full| self
            .inner
            .delete_tag(icx, &full, tag))
    }

    fn repositories(&self, cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        let icx = self.cx(cx);
        if self.prefix.is_empty() {
            return self.inner.repositories(&icx, start_after);
        }
        let dir = format!("{}/", self.prefix);
        // Every name under the prefix sorts after `prefix/`; seek there, or past start_after.
        let seek = match start_after {
            Some(after) => format!("{dir}{after}"),
            None => dir.clone(),
        };
        let items = self.inner.repositories(&icx, Some(&seek));
        // Also checked here, in case the inner listing does not honour start_after.
        let after = start_after.unwrap_or("").to_owned();
        let mut done = false;
        Box::pin(
            items
                .map(move |item| match item {
                    Ok(name) => match name.strip_prefix(&dir) {
                        Some(rest) if rest > after.as_str() => Some(Some(Ok(rest.to_owned()))),
                        Some(_) => Some(None),
                        // The names under the prefix are contiguous: past them, stop.
                        _ if name.as_str() > dir.as_str() => None,
                        // Before them (an inner listing that ignored the seek): skip.
                        _ => Some(None),
                    },
                    Err(e) => Some(Some(Err(e))),
                })
                .take_while(move |step| {
                    let go = !done && step.is_some();
                    done = done || matches!(step, Some(Some(Err(_))));
                    futures_util::future::ready(go)
                })
                .filter_map(|step| futures_util::future::ready(step.flatten())),
        )
    }

    fn tags(&self, cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        let full = match self.name(repo) {
            Ok(full) => full.into_owned(),
            Err(e) => return ociregistry_core::stream::error(e),
        };
        let items = self.inner.tags(&self.cx(cx), &full, start_after);
        let repo = repo.to_owned();
        Box::pin(items.map(move |item| item.map_err(|e| unmap(e, &full, &repo))))
    }

    fn referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        let full = match self.name(repo) {
            Ok(full) => full.into_owned(),
            Err(e) => return ociregistry_core::stream::error(e),
        };
        let items = self
            .inner
            .referrers(&self.cx(cx), &full, digest, artifact_type);
        let repo = repo.to_owned();
        Box::pin(items.map(move |item| item.map_err(|e| unmap(e, &full, &repo))))
    }

    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        self.inner.unsupported(operation, repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ociregistry_core::{Unsupported, stream};

    #[test]
    fn names_are_validated_and_prefixed() {
        let s = Sub::new(Unsupported, "foo").unwrap();
        assert_eq!(s.name("bar").unwrap(), "foo/bar");
        assert_eq!(s.name("a/b").unwrap(), "foo/a/b");
        for bad in ["", "../x", "a/../b", "/x", "x/", "A", "a//b"] {
            assert!(s.name(bad).unwrap_err().is(&Code::NameInvalid), "{bad:?}");
        }
        let longest = "a".repeat(MAX_REPOSITORY_LEN - 4);
        assert!(s.name(&longest).is_ok());
        let e = s.name(&format!("{longest}a")).unwrap_err();
        assert!(e.is(&Code::NameInvalid));
        assert!(e.message().contains("at most 251"), "{e}");

        let id = Sub::new(Unsupported, "").unwrap();
        assert_eq!(id.name("Any Thing").unwrap(), "Any Thing");
        for bad in ["foo/", "Foo", "/foo", "a//b"] {
            assert!(
                Sub::new(Unsupported, bad)
                    .unwrap_err()
                    .is(&Code::NameInvalid)
            );
        }
    }

    #[test]
    fn errors_name_the_callers_repository() {
        let e = Error::new(
            Code::NameUnknown,
            "repository foo/bar not known to registry",
        );
        assert_eq!(
            unmap(e, "foo/bar", "bar").message(),
            "repository bar not known to registry"
        );
        let e = Error::new(Code::NameUnknown, "nothing to see");
        assert_eq!(unmap(e, "foo/bar", "bar").message(), "nothing to see");
    }

    /// A registry whose catalog is a fixed list, ignoring `start_after` when told to.
    struct Catalog(Vec<&'static str>, bool);

    impl Registry for Catalog {
        fn repositories(&self, _cx: &Context, start_after: Option<&str>) -> ListStream<String> {
            let after = start_after.filter(|_| self.1).unwrap_or("");
            let names: Vec<String> = self
                .0
                .iter()
                .filter(|n| **n > after)
                .map(|n| n.to_string())
                .collect();
            stream::iter(names)
        }
    }

    #[tokio::test]
    async fn repositories_seek_and_stop() {
        let names = vec![
            "a", "foo", "foo-x", "foo.x", "foo/a", "foo/b/c", "foo/d", "foo0", "fooey", "z",
        ];
        for honours_seek in [true, false] {
            let s = Sub::new(Catalog(names.clone(), honours_seek), "foo").unwrap();
            let list = |after: Option<&'static str>| {
                stream::collect(s.repositories(&Context::new(), after))
            };
            assert_eq!(list(None).await.unwrap(), ["a", "b/c", "d"]);
            assert_eq!(list(Some("a")).await.unwrap(), ["b/c", "d"]);
            assert_eq!(list(Some("b")).await.unwrap(), ["b/c", "d"]);
            assert_eq!(list(Some("b/c")).await.unwrap(), ["d"]);
            assert!(list(Some("d")).await.unwrap().is_empty());
        }
    }
}
