//! [`Select`]: only the repositories a predicate allows, the others looking absent.

use std::fmt;
use std::sync::Arc;

use ociregistry_core::{Code, Context, Error, Registry, Result, async_trait};

use crate::access::{Access, AccessKind, AccessPolicy, name_unknown};
use crate::checker::AccessChecker;

/// A registry showing only the repositories a predicate allows (Go's `ocifilter.Select`).
///
/// It is an [`AccessChecker`] with the policy [`RepositoryPredicate`]: operations on a
/// repository the predicate refuses fail with `DENIED` when they write, and with
/// `NAME_UNKNOWN` otherwise (reads, lists and deletes), as if it did not exist; the catalog
/// lists only allowed repositories. A mount needs both repositories allowed.
pub type Select<R> = AccessChecker<R, RepositoryPredicate>;

/// Shows only the repositories of `inner` for which `allow` returns true (see [`Select`]).
///
/// ```
/// use ociregistry_core::{stream, Code, Context, Registry};
/// use ociregistry_filter::select;
/// use ociregistry_mem::MemRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = select(MemRegistry::new(), |repo| repo.starts_with("public/"));
/// let cx = Context::new();
/// let err = registry.resolve_tag(&cx, "private/app", "latest").await.unwrap_err();
/// assert_eq!(err.code(), &Code::NameUnknown);
/// let err = registry.push_blob_chunked(&cx, "private/app", None).await.err().unwrap();
/// assert_eq!(err.code(), &Code::Denied);
/// assert!(stream::collect(registry.repositories(&cx, None)).await.unwrap().is_empty());
/// # }
/// ```
pub fn select<R, F>(inner: R, allow: F) -> Select<R>
where
    R: Registry,
    F: Fn(&str) -> bool + Send + Sync + 'static,
{
    AccessChecker::new(inner, RepositoryPredicate::new(allow))
}

/// The policy of [`Select`]: a predicate on repository names.
///
/// Allows every access to a repository the predicate allows, and the catalog. Refuses writes
/// to other repositories with `DENIED`, and any other access to them with `NAME_UNKNOWN`.
#[derive(Clone)]
pub struct RepositoryPredicate {
    allow: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl RepositoryPredicate {
    /// The policy allowing the repositories for which `allow` returns true.
    pub fn new(allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> RepositoryPredicate {
        RepositoryPredicate {
            allow: Arc::new(allow),
        }
    }

    /// Whether the predicate allows `repository`.
    pub fn allows(&self, repository: &str) -> bool {
        (self.allow)(repository)
    }
}

impl fmt::Debug for RepositoryPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepositoryPredicate")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AccessPolicy for RepositoryPredicate {
    async fn check(&self, _cx: &Context, access: &Access) -> Result<()> {
        if access.is_catalog() || self.allows(&access.repository) {
            return Ok(());
        }
        Err(match access.kind {
            AccessKind::Write { .. } => Error::new(
                Code::Denied,
                format!("repository {} is not writable here", access.repository),
            ),
            AccessKind::Read | AccessKind::List | AccessKind::Delete(_) => {
                name_unknown(&access.repository)
            }
        })
    }
}
