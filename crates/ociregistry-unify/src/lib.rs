//! One OCI registry made of several: [`Unify`] is a [`Registry`] whose reads come from any of its
//! registries, whose writes go to all of them, and whose listings merge theirs.
//!
//! ```
//! use std::sync::Arc;
//! use ociregistry_core::{Context, Registry, bytes::Bytes, stream};
//! use ociregistry_mem::MemRegistry;
//! use ociregistry_unify::{Options, ReadPolicy, Unify};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let a: Arc<dyn Registry> = Arc::new(MemRegistry::new());
//! let b: Arc<dyn Registry> = Arc::new(MemRegistry::new());
//! let both = Unify::new(
//!     vec![a.clone(), b.clone()],
//!     Options::new().with_read_policy(ReadPolicy::Concurrent),
//! )?;
//! let cx = Context::new();
//!
//! // A write goes to every registry...
//! let manifest = Bytes::from_static(br#"{"hello":"world"}"#);
//! let desc = both
//!     .push_manifest(&cx, "app", Some("v1"), manifest, "application/vnd.example+json", None)
//!     .await?;
//! assert_eq!(a.resolve_tag(&cx, "app", "v1").await?.digest, desc.digest);
//! assert_eq!(b.resolve_tag(&cx, "app", "v1").await?.digest, desc.digest);
//!
//! // ...a read is answered by any registry that has what is asked for...
//! b.push_manifest(&cx, "only-in-b", Some("x"), Bytes::from_static(b"{}"), "application/vnd.example+json", None)
//!     .await?;
//! assert_eq!(both.resolve_tag(&cx, "only-in-b", "x").await?.size, 2);
//!
//! // ...and listings are merged, sorted and without duplicates.
//! assert_eq!(stream::collect(both.repositories(&cx, None)).await?, ["app", "only-in-b"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! This is Go's `ociunify` generalised to any number of registries (N ≥ 1; Go unifies exactly
//! two), with what Go only promises done: conflicting entries are left out of listings, and a
//! write that succeeds in some registries only is undone there and reported as a structured
//! [`PartialWriteError`]. A union of one registry passes every operation through unchanged.
//!
//! # Contents
//!
//! - [`Unify`], [`unify()`](fn@unify) (two registries, default options), [`BuildError`]: the union itself
//!   (module [`unify`](mod@unify)).
//! - [`Options`], [`ReadPolicy`]: how it reads (module [`options`]).
//! - [`PartialWriteError`] (with [`Outcome`], [`Rollback`], [`WriteOp`]) and [`TagConflict`]
//!   ([`TAG_CONFLICT`]): the errors only a union has (module [`error`]).
//! - [`merge`]: the streaming k-way merge of sorted listings it is built on, usable by itself.
//!
//! # Reads
//!
//! - `get_blob`, `get_blob_range`, `get_manifest`, `resolve_blob`, `resolve_manifest` follow the
//!   [`ReadPolicy`]: [`Sequential`](ReadPolicy::Sequential) (the default) asks the registries in
//!   order and the first success wins; [`Concurrent`](ReadPolicy::Concurrent) asks all at once,
//!   the first success wins and the other requests are dropped (cancelled), so a registry that
//!   hangs does not hold up an answer another gives.
//! - `get_tag` and `resolve_tag` always ask every registry at once, since a tag can differ: the
//!   registries that have the tag must agree on its digest, and the first registry's answer is
//!   returned; if they disagree the read fails with a [`TagConflict`] (code [`TAG_CONFLICT`],
//!   HTTP status 409; Go returns a plain "conflicting results for tag" error, i.e. a 500). A
//!   registry that has the tag while another does not is no conflict: the tag is read from it.
//!   Because every answer is needed, a tag read waits for the slowest registry.
//! - When every registry fails, the union returns the most informative error, not just the
//!   first registry's: a real failure (`DENIED`, `RANGE_INVALID`, an I/O error...) over a
//!   specific not-found (`BLOB_UNKNOWN`, `MANIFEST_UNKNOWN`), over `NAME_UNKNOWN` (another
//!   registry may know the repository), over `UNSUPPORTED`; among equals, the first registry's.
//!   So a blob missing from a repository that exists in one registry only is `BLOB_UNKNOWN`.
//!
//! # Writes
//!
//! Every write goes to every registry, concurrently, and succeeds only if it succeeds in all of
//! them (the first registry's result is returned). Repository names and tags are validated
//! before anything is sent. When it fails everywhere, the most informative error is returned,
//! as for reads.
//!
//! - `push_blob` tees the content: each chunk goes to every registry through a bounded channel
//!   (a few chunks deep), so the blob is never buffered whole and the source is read as fast as
//!   the slowest registry takes it. The first registry to fail stops the push: the others are
//!   dropped (cancelled) instead of being completed only to be rolled back.
//! - `push_manifest` and `mount_blob` go to all registries at once.
//! - `push_blob_chunked` starts a session in every registry; the union's upload id is
//!   `base64url(JSON([id0, id1, ...]))` (as Go's); the writer's `write`, `close`, `commit` and
//!   `cancel` run in every session concurrently, its size is tracked locally and its chunk size
//!   is the largest. `push_blob_chunked_resume` decodes the id (an id not of this shape, or with
//!   another number of sessions, is `BLOB_UPLOAD_UNKNOWN`), resumes every session, and fails if
//!   their sizes disagree.
//! - `delete_blob`, `delete_manifest`, `delete_tag` go to all registries; a registry that does
//!   not hold the item (not-found) is fine as long as one deleted it (Go requires every
//!   registry to delete it); when none holds it, the not-found is returned.
//! - Writes through one union to the same tag, manifest or blob of a repository are applied one
//!   at a time in arrival order (a per-item FIFO), so every registry sees them in the same
//!   order: concurrent pushes of different manifests to one tag end with the tag pointing at
//!   the same manifest everywhere. Writes that bypass the union can still make the registries
//!   diverge; reads then report the conflict.
//!
//! ## Partial failures and rollback
//!
//! A write that succeeds in some registries and fails in others returns an [`Error`] whose code
//! is the failure's (so a client reacts as it would to that failure), whose message and JSON
//! detail list every registry's [`Outcome`], and whose source is the [`PartialWriteError`]
//! ([`PartialWriteError::find`]). Before returning, the union undoes the write where it
//! succeeded, based on the state it read from each registry just before writing:
//!
//! | Write | Rolled back where it succeeded |
//! |---|---|
//! | `push_manifest` | The tag, if one was pushed, is pointed back at the manifest it pointed at before (its bytes are read back from that registry and pushed again under the tag) or deleted if it did not exist; then the manifest is deleted if it did not exist before. |
//! | `push_blob`, `mount_blob`, upload `commit` | The blob is deleted if it did not exist in the repository before. A push cancelled after it was given the whole content may have landed, so it gets the same treatment. An upload commit also cancels the sessions that did not commit. |
//! | `push_blob_chunked` | The sessions that started are cancelled. |
//! | upload `write`, `close` | The sessions no longer hold the same bytes, so the upload is cancelled in every registry (the writer then fails with `BLOB_UPLOAD_UNKNOWN`). |
//! | `push_blob_chunked_resume` | Nothing was written. If the session is gone in some registry (`BLOB_UPLOAD_UNKNOWN`), the upload can never complete: the other sessions are cancelled and the error is `BLOB_UPLOAD_UNKNOWN`. Other failures leave every session as it was, to retry. Sessions whose sizes disagree are cancelled (`BLOB_UPLOAD_UNKNOWN`: start again). |
//! | `delete_*`, upload `cancel` | **Not rolled back.** What was deleted is gone (restoring a manifest would need its bytes and every tag that pointed at it; a blob, its content), and a deletion is convergent: the item stays readable through the union from the registries that still hold it, and repeating the delete finishes it (the registries that no longer hold it count as done). |
//!
//! What is not undone, and is reported as [`Rollback::Skipped`] or [`Rollback::Failed`]: a
//! write to an item whose previous state could not be read (the check failed other than with a
//! not-found: undoing might destroy what was there), and undo steps a registry refuses (with
//! immutable tags, a new tag cannot be deleted). A repository the write created stays (empty):
//! the distribution API has no way to delete a repository. The rollback is not a transaction:
//! writes that bypass the union between the check and the undo are not seen.
//!
//! # Listings
//!
//! `repositories`, `tags` and `referrers` merge the registries' sorted listings as they stream
//! (a k-way merge: one item per registry in memory, see [`merge`]), sorted and without
//! duplicates. `NAME_UNKNOWN` from some registries is ignored as long as one knows the
//! repository; from all, it is returned. Any other error is returned after the items merged so
//! far, and ends the listing. Conflicting entries are left out, as Go documents but never did:
//! - a tag that more than one registry lists is resolved in each of them (only such tags; up to
//!   16 checks run ahead of the consumer), and left out if they point it at different manifests
//!   (reading it gives a [`TagConflict`]). In a union of mirrors every tag is in every registry,
//!   so listing tags costs one `resolve_tag` per tag per registry;
//! - a referrer (by digest) that different registries describe differently (media type, size,
//!   artifact type or annotations) is left out.
//!
//! # Concurrency
//!
//! No lock is held across an `.await` (the per-item write order is a fair async queue, whose
//! bookkeeping map is only locked to look a key up). Nothing spawns tasks: the concurrency is
//! within each operation's future, so the union works on any executor, and dropping an
//! operation's future cancels its requests to every registry.
//!
//! [`Registry`]: ociregistry_core::Registry
//! [`Error`]: ociregistry_core::Error

pub mod error;
mod list;
mod locks;
pub mod merge;
pub mod options;
mod read;
mod tee;
pub mod unify;
mod upload;
mod write;

pub use error::{
    Outcome, PartialWriteError, Rollback, TAG_CONFLICT, TagConflict, WriteOp, is_tag_conflict,
    tag_conflict_code,
};
pub use options::{Options, ReadPolicy};
pub use unify::{BuildError, Unify, unify};
