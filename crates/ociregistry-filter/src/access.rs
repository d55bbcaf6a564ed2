//! What an operation needs ([`Access`]) and who decides whether it may have it
//! ([`AccessPolicy`]), with ready-made policies: [`AllowAll`], [`policy_fn`] and the
//! [`deny_as_not_found`] adapter.

use std::fmt;
use std::sync::Arc;

use ociregistry_core::{Code, Context, Digest, Error, Result, async_trait};

/// One access an operation needs: a kind of access to one repository.
///
/// [`AccessChecker`](crate::AccessChecker) asks its policy for one `Access` per repository an
/// operation touches (see its documentation for the exact mapping), before the operation runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// The repository, as the caller named it; [`Access::CATALOG`] for the list of
    /// repositories.
    pub repository: String,
    /// What the operation does to it.
    pub kind: AccessKind,
}

/// The kind of an [`Access`].
///
/// Deliberately not `#[non_exhaustive]`: a new kind of access is a breaking change, so that a
/// policy written as an exhaustive `match` cannot silently grant it through a catch-all arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Reading content: the `get_*` and `resolve_*` operations, the source of a mount, and
    /// reading referrers.
    Read,
    /// Adding content: blob pushes (whole, chunked or resumed), the target of a mount, manifest
    /// pushes.
    Write {
        /// The tags the operation points at what it writes (a tagged manifest push; the
        /// `?tag=` of the distribution API). Empty for blobs and untagged manifests.
        tags: Vec<String>,
    },
    /// Removing something.
    Delete(DeleteTarget),
    /// Listing: the tags or referrers of a repository, or with [`Access::CATALOG`] the
    /// repositories.
    List,
}

/// What a [`AccessKind::Delete`] removes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeleteTarget {
    /// A blob, by digest.
    Blob(Digest),
    /// A manifest, by digest (and with it the tags pointing at it).
    Manifest(Digest),
    /// A tag, leaving the manifest it points at.
    Tag(String),
}

impl Access {
    /// The repository name of the catalog (the list of all repositories): `*`, which no
    /// repository can be named. `Read` of it means reading every repository; it is asked
    /// before an anonymous mount, whose source could be any repository.
    pub const CATALOG: &'static str = "*";

    /// An access of `kind` to `repository`.
    pub fn new(repository: impl Into<String>, kind: AccessKind) -> Access {
        Access {
            repository: repository.into(),
            kind,
        }
    }

    /// Reading `repository`.
    pub fn read(repository: impl Into<String>) -> Access {
        Access::new(repository, AccessKind::Read)
    }

    /// Writing to `repository` without tagging.
    pub fn write(repository: impl Into<String>) -> Access {
        Access::write_tags(repository, Vec::new())
    }

    /// Writing to `repository` and pointing `tags` at what is written.
    pub fn write_tags(repository: impl Into<String>, tags: Vec<String>) -> Access {
        Access::new(repository, AccessKind::Write { tags })
    }

    /// Deleting `target` from `repository`.
    pub fn delete(repository: impl Into<String>, target: DeleteTarget) -> Access {
        Access::new(repository, AccessKind::Delete(target))
    }

    /// Listing the tags or referrers of `repository`.
    pub fn list(repository: impl Into<String>) -> Access {
        Access::new(repository, AccessKind::List)
    }

    /// Listing the repositories (the catalog).
    pub fn catalog() -> Access {
        Access::list(Access::CATALOG)
    }

    /// Whether this is the catalog listing.
    pub fn is_catalog(&self) -> bool {
        self.repository == Access::CATALOG && self.kind == AccessKind::List
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let repo = &self.repository;
        match &self.kind {
            AccessKind::Read => write!(f, "read {repo}"),
            AccessKind::Write { tags } if tags.is_empty() => write!(f, "write {repo}"),
            AccessKind::Write { tags } => write!(f, "write {repo} (tags {})", tags.join(", ")),
            AccessKind::Delete(DeleteTarget::Blob(d)) => write!(f, "delete blob {d} of {repo}"),
            AccessKind::Delete(DeleteTarget::Manifest(d)) => {
                write!(f, "delete manifest {d} of {repo}")
            }
            AccessKind::Delete(DeleteTarget::Tag(t)) => write!(f, "delete tag {t} of {repo}"),
            AccessKind::List if self.is_catalog() => f.write_str("list repositories"),
            AccessKind::List => write!(f, "list {repo}"),
        }
    }
}

/// Decides whether a caller may have an [`Access`].
///
/// Asynchronous so that a policy can consult an external system (a database, an
/// authorization service). The caller is `cx.identity()`; a policy may also read any value an
/// earlier layer put in the [`Context`].
///
/// Return `Ok(())` to allow. The error of a refusal is returned to the caller unchanged, so
/// choose its code: `DENIED` (403) for an authenticated caller without the permission,
/// `UNAUTHORIZED` (401) for an anonymous caller who should log in, and, where the refusal must
/// not reveal whether the repository exists, `NAME_UNKNOWN` (see [`deny_as_not_found`]).
///
/// ```
/// use ociregistry_core::{async_trait, Code, Context, Error, Result};
/// use ociregistry_filter::{Access, AccessKind, AccessPolicy};
///
/// /// Everybody reads; only alice writes or deletes, and only under `alice/`.
/// struct Team;
///
/// #[async_trait]
/// impl AccessPolicy for Team {
///     async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
///         match &access.kind {
///             AccessKind::Read | AccessKind::List => Ok(()),
///             AccessKind::Write { .. } | AccessKind::Delete(_)
///                 if cx.identity().user() == Some("alice")
///                     && access.repository.starts_with("alice/") => Ok(()),
///             AccessKind::Write { .. } | AccessKind::Delete(_) => {
///                 Err(Error::new(Code::Denied, format!("may not {access}")))
///             }
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait AccessPolicy: Send + Sync {
    /// Allows `access` for the caller of `cx`, or refuses it with the error to return.
    async fn check(&self, cx: &Context, access: &Access) -> Result<()>;
}

#[async_trait]
impl<P: AccessPolicy + ?Sized> AccessPolicy for Arc<P> {
    async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
        (**self).check(cx, access).await
    }
}

#[async_trait]
impl<P: AccessPolicy + ?Sized> AccessPolicy for Box<P> {
    async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
        (**self).check(cx, access).await
    }
}

#[async_trait]
impl<P: AccessPolicy + ?Sized> AccessPolicy for &P {
    async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
        (**self).check(cx, access).await
    }
}

/// The policy that allows everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl AccessPolicy for AllowAll {
    async fn check(&self, _cx: &Context, _access: &Access) -> Result<()> {
        Ok(())
    }
}

/// A policy made of a synchronous function (see [`policy_fn`]).
#[derive(Clone)]
pub struct PolicyFn<F> {
    f: F,
}

impl<F> fmt::Debug for PolicyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyFn").finish_non_exhaustive()
    }
}

/// A policy made of a function deciding synchronously (Go's `AccessChecker` check function,
/// with the context added).
///
/// ```
/// use ociregistry_core::{Code, Error};
/// use ociregistry_filter::{policy_fn, AccessKind};
///
/// let read_only_for_anonymous = policy_fn(|cx, access| {
///     match (&access.kind, cx.identity().user()) {
///         (AccessKind::Read | AccessKind::List, _) | (_, Some(_)) => Ok(()),
///         _ => Err(Error::new(Code::Unauthorized, "log in to write")),
///     }
/// });
/// # let _ = read_only_for_anonymous;
/// ```
pub fn policy_fn<F>(f: F) -> PolicyFn<F>
where
    F: Fn(&Context, &Access) -> Result<()> + Send + Sync,
{
    PolicyFn { f }
}

#[async_trait]
impl<F> AccessPolicy for PolicyFn<F>
where
    F: Fn(&Context, &Access) -> Result<()> + Send + Sync,
{
    async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
        (self.f)(cx, access)
    }
}

/// A policy adapter hiding the repositories a caller may not read (see [`deny_as_not_found`]).
#[derive(Debug, Clone)]
pub struct DenyAsNotFound<P> {
    inner: P,
}

/// Wraps a policy so that its refusals do not reveal whether a repository exists.
///
/// A policy that refuses only some repositories, for example the existing private ones, leaks
/// their existence if a refusal looks different from the `NAME_UNKNOWN` a missing repository
/// gets. This adapter turns the inner policy's `DENIED` into `NAME_UNKNOWN`, with the message a
/// missing repository gets, for:
///
/// - reading a repository and listing its tags or referrers;
/// - deleting from a repository the caller may not read either (the adapter asks the inner
///   policy for [`AccessKind::Read`] to find out); a caller who may read it learns nothing new
///   from `DENIED`, so that stays.
///
/// Writes keep `DENIED` (a push to a repository one may not write is refused whether or not it
/// exists, as registries do), and so does the catalog. Other errors pass unchanged: in
/// particular `UNAUTHORIZED`, so that anonymous callers are still asked to log in.
///
/// ```
/// use ociregistry_core::{Code, Error};
/// use ociregistry_filter::{deny_as_not_found, policy_fn};
///
/// let policy = deny_as_not_found(policy_fn(|_cx, access| {
///     if access.repository.starts_with("private/") {
///         Err(Error::new(Code::Denied, "private"))
///     } else {
///         Ok(())
///     }
/// }));
/// # let _ = policy;
/// ```
pub fn deny_as_not_found<P: AccessPolicy>(policy: P) -> DenyAsNotFound<P> {
    DenyAsNotFound { inner: policy }
}

impl<P> DenyAsNotFound<P> {
    /// The wrapped policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

/// The error a repository nobody may see gets: the one a missing repository gets.
pub(crate) fn name_unknown(repo: &str) -> Error {
    Error::new(
        Code::NameUnknown,
        format!("repository {repo} not known to registry"),
    )
}

#[async_trait]
impl<P: AccessPolicy> AccessPolicy for DenyAsNotFound<P> {
    async fn check(&self, cx: &Context, access: &Access) -> Result<()> {
        let Err(err) = self.inner.check(cx, access).await else {
            return Ok(());
        };
        if !err.is(&Code::Denied) || access.is_catalog() {
            return Err(err);
        }
        let hide = match &access.kind {
            AccessKind::Read | AccessKind::List => true,
            AccessKind::Delete(_) => self
                .inner
                .check(cx, &Access::read(access.repository.clone()))
                .await
                .is_err(),
            AccessKind::Write { .. } => false,
        };
        if hide {
            Err(name_unknown(&access.repository))
        } else {
            Err(err)
        }
    }
}

/// Whether a policy error means "not for this caller", so that a listing omits the item
/// rather than failing.
pub(crate) fn is_refusal(err: &Error) -> bool {
    err.is_denied() || err.is(&Code::NameUnknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ociregistry_core::Identity;

    fn deny_private() -> DenyAsNotFound<impl AccessPolicy> {
        deny_as_not_found(policy_fn(|cx, access| {
            let public = !access.repository.starts_with("private/");
            let reader = cx.identity().user() == Some("reader");
            match access.kind {
                _ if public => Ok(()),
                AccessKind::Read | AccessKind::List if reader => Ok(()),
                _ if cx.identity().user().is_none() => {
                    Err(Error::new(Code::Unauthorized, "log in"))
                }
                _ => Err(Error::new(Code::Denied, "private")),
            }
        }))
    }

    #[tokio::test]
    async fn deny_as_not_found_hides_only_unreadable_repositories() {
        let p = deny_private();
        let stranger = Context::new().with_identity(Identity::User("stranger".into()));
        let reader = Context::new().with_identity(Identity::User("reader".into()));
        let d = Digest::sha256(b"x");
        let repo = "private/a";
        let code = |r: Result<()>| r.err().map(|e| e.code().clone());

        for access in [
            Access::read(repo),
            Access::list(repo),
            Access::delete(repo, DeleteTarget::Blob(d.clone())),
            Access::delete(repo, DeleteTarget::Tag("t".into())),
        ] {
            let err = p.check(&stranger, &access).await.unwrap_err();
            assert!(err.is(&Code::NameUnknown), "{access}: {err}");
            assert_eq!(err.message(), "repository private/a not known to registry");
        }
        // Writes and the catalog keep DENIED.
        assert_eq!(
            code(p.check(&stranger, &Access::write(repo)).await),
            Some(Code::Denied)
        );
        // A reader who may not delete learns nothing from DENIED.
        assert_eq!(
            code(
                p.check(&reader, &Access::delete(repo, DeleteTarget::Manifest(d)))
                    .await
            ),
            Some(Code::Denied)
        );
        assert_eq!(code(p.check(&reader, &Access::read(repo)).await), None);
        // UNAUTHORIZED passes unchanged: anonymous callers are asked to log in.
        assert_eq!(
            code(p.check(&Context::new(), &Access::read(repo)).await),
            Some(Code::Unauthorized)
        );
        assert_eq!(code(p.check(&stranger, &Access::read("pub/a")).await), None);
    }

    #[test]
    fn access_display_and_catalog() {
        let d = Digest::sha256(b"");
        assert_eq!(Access::read("a/b").to_string(), "read a/b");
        assert_eq!(Access::write("a").to_string(), "write a");
        assert_eq!(
            Access::write_tags("a", vec!["v1".into(), "v2".into()]).to_string(),
            "write a (tags v1, v2)"
        );
        assert_eq!(
            Access::delete("a", DeleteTarget::Tag("v1".into())).to_string(),
            "delete tag v1 of a"
        );
        assert_eq!(
            Access::delete("a", DeleteTarget::Blob(d.clone())).to_string(),
            format!("delete blob {d} of a")
        );
        assert_eq!(
            Access::delete("a", DeleteTarget::Manifest(d.clone())).to_string(),
            format!("delete manifest {d} of a")
        );
        assert_eq!(Access::list("a").to_string(), "list a");
        assert_eq!(Access::catalog().to_string(), "list repositories");
        assert!(Access::catalog().is_catalog());
        assert!(!Access::read("*").is_catalog());
        assert!(!Access::list("a").is_catalog());
    }

    #[tokio::test]
    async fn policies_forward_through_pointers() {
        let deny = policy_fn(|_, _| Err(Error::from_code(Code::Denied)));
        let cx = Context::new();
        let a = Access::read("a");
        assert!(AllowAll.check(&cx, &a).await.is_ok());
        assert!(Arc::new(AllowAll).check(&cx, &a).await.is_ok());
        let boxed: Box<dyn AccessPolicy> = Box::new(deny);
        assert!(boxed.check(&cx, &a).await.unwrap_err().is_denied());
        let by_ref: &dyn AccessPolicy = &*boxed;
        assert!(
            AccessPolicy::check(&by_ref, &cx, &a)
                .await
                .unwrap_err()
                .is_denied()
        );
    }
}
