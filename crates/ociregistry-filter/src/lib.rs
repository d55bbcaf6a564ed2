//! Views of an OCI registry: wrappers of the [`Registry`](ociregistry_core::Registry) trait that
//! restrict, rename, check or observe what reaches the registry they wrap.
//!
//! ```
//! use ociregistry_core::{stream, Code, Context, Registry};
//! use ociregistry_filter::{read_only, Sub};
//! use ociregistry_mem::MemRegistry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> ociregistry_core::Result<()> {
//! let mem = MemRegistry::new();
//! let cx = Context::new();
//! let opaque = "application/vnd.example.opaque";
//! mem.push_manifest(&cx, "mirror/library/app", Some("v1"), "{}".into(), opaque, None).await?;
//! mem.push_manifest(&cx, "private/secret", Some("v1"), "{}".into(), opaque, None).await?;
//!
//! // A read-only view of the repositories under `mirror/`, served as the root.
//! let view = read_only(Sub::new(&mem, "mirror")?);
//! assert_eq!(view.resolve_tag(&cx, "library/app", "v1").await?.size, 2);
//! assert_eq!(stream::collect(view.repositories(&cx, None)).await?, ["library/app"]);
//! let err = view.push_manifest(&cx, "library/app", Some("v2"), "{}".into(), opaque, None).await;
//! assert_eq!(err.unwrap_err().code(), &Code::Unsupported);
//! # Ok(())
//! # }
//! ```
//!
//! Every wrapper is a struct generic over the registry it wraps (`R: Registry`, which includes
//! `Arc<dyn Registry>` and `&R`) and is itself a `Registry`, so they stack like tower layers.
//! Each implements all the operations of the trait explicitly, so that an operation added to
//! the trait later cannot fall through to the inner registry unchecked.
//!
//! - [`ReadOnly`] ([`read_only`]): reads and listings pass; writes and deletes fail with
//!   `UNSUPPORTED`.
//! - [`Immutable`] ([`immutable`]): content can be added, never removed, and tags never move.
//! - [`AccessChecker`]: asks an [`AccessPolicy`] for the exact [`Access`] every operation
//!   needs, side paths included (mount sources, tags of pushes, tag deletes, referrers, the
//!   catalog); [`deny_as_not_found`] makes refusals look like missing repositories.
//! - [`Select`] ([`select`]): only the repositories a predicate allows; the others look absent.
//! - [`Sub`] ([`sub`]): the repositories under a prefix, as the root of a registry.
//! - [`Traced`] ([`traced`]): a `tracing` span per operation, with what it touched and how it
//!   ended.
//!
//! This is the Rust counterpart of Go's `ocifilter` and `ocidebug` packages.

mod access;
mod checker;
mod immutable;
mod lists;
mod read_only;
mod select;
mod sub;
mod traced;

pub use access::{
    Access, AccessKind, AccessPolicy, AllowAll, DeleteTarget, DenyAsNotFound, PolicyFn,
    deny_as_not_found, policy_fn,
};
pub use checker::AccessChecker;
pub use immutable::{Immutable, immutable};
pub use read_only::{ReadOnly, read_only};
pub use select::{RepositoryPredicate, Select, select};
pub use sub::{Sub, sub};
pub use traced::{Traced, traced};
