//! Writes: to every registry, concurrently; all or nothing where it can be undone.
//!
//! Every write of a union of several registries follows the same steps:
//! 1. Validate what can be validated locally (repository name, tag), so that an invalid request
//!    never reaches any registry.
//! 2. Take the sequencer keys of what it writes ([`crate::locks`]), so that writes of the same
//!    item through this union reach every registry in the same order.
//! 3. Read the state the write changes in every registry (does the blob or manifest exist; where
//!    does the tag point), so that it can be restored.
//! 4. Write to every registry concurrently.
//! 5. All succeeded: return the first registry's result. All failed: return the most informative
//!    error. Mixed: undo the write where it succeeded (as far as the state read in step 3 says
//!    it is safe) and return a [`PartialWriteError`].

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use ociregistry_core::{
    ByteStream, Code, Context, Descriptor, Digest, Error, Registry, Result, names,
};

use crate::error::{Outcome, PartialWriteError, Rollback, WriteOp, best_error};
use crate::locks::Key;
use crate::tee::{self, Fed};
use crate::unify::Unify;

/// The largest manifest read back to restore a tag.
const MANIFEST_LIMIT: usize = 16 << 20;

/// Whether something existed in a registry before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    Present,
    Absent,
    /// The check failed (other than with a not-found): undoing the write could destroy what
    /// was there, so it is not undone.
    Unknown,
}

/// What `resolve_*` says about something's existence.
pub(crate) async fn presence(check: impl Future<Output = Result<Descriptor>>) -> Presence {
    match check.await {
        Ok(_) => Presence::Present,
        Err(e) if e.is_not_found() => Presence::Absent,
        Err(_) => Presence::Unknown,
    }
}

/// Where a tag pointed before a write.
#[derive(Debug, Clone)]
enum TagBefore {
    Absent,
    Points(Box<Descriptor>),
    Unknown,
}

async fn tag_before(check: impl Future<Output = Result<Descriptor>>) -> TagBefore {
    match check.await {
        Ok(d) => TagBefore::Points(Box::new(d)),
        Err(e) if e.is_not_found() => TagBefore::Absent,
        Err(_) => TagBefore::Unknown,
    }
}

/// The rollback of a deletion step: gone (or already gone) is clean.
fn deleted(result: Result<()>) -> Rollback {
    match result {
        Ok(()) => Rollback::Done,
        Err(e) if e.is_not_found() => Rollback::NotNeeded,
        Err(e) => Rollback::Failed(e),
    }
}

/// Undoes a blob write (push, mount, commit) in one registry: deletes the blob if it did not
/// exist before.
pub(crate) async fn undo_blob(
    child: &Arc<dyn Registry>,
    cx: &Context,
    repo: &str,
    digest: &Digest,
    before: Presence,
) -> Rollback {
    match before {
        Presence::Present => Rollback::NotNeeded,
        Presence::Unknown => {
            Rollback::Skipped("whether the blob existed before the write could not be checked")
        }
        Presence::Absent => deleted(child.delete_blob(cx, repo, digest).await),
    }
}

/// Points `tag` back at the manifest `prev` it pointed at before, by pushing that manifest's
/// bytes (read from the same registry) again under the tag.
async fn restore_tag(
    child: &Arc<dyn Registry>,
    cx: &Context,
    repo: &str,
    tag: &str,
    prev: &Descriptor,
) -> Rollback {
    let reader = match child.get_manifest(cx, repo, &prev.digest).await {
        Ok(r) => r,
        Err(e) => return Rollback::Failed(e),
    };
    let mut media_type = reader.descriptor().media_type.clone();
    if media_type.is_empty() {
        media_type.clone_from(&prev.media_type);
    }
    let contents = match reader.bytes(MANIFEST_LIMIT).await {
        Ok(b) => b,
        Err(e) => return Rollback::Failed(e),
    };
    match child
        .push_manifest(
            cx,
            repo,
            Some(tag),
            contents,
            &media_type,
            Some(&prev.digest),
        )
        .await
    {
        Ok(_) => Rollback::Done,
        Err(e) => Rollback::Failed(e),
    }
}

/// Undoes a manifest push in one registry: the tag goes back where it pointed (or is deleted if
/// it did not exist), then the manifest is deleted if it did not exist.
async fn undo_manifest(
    child: &Arc<dyn Registry>,
    cx: &Context,
    repo: &str,
    tag: Option<&str>,
    digest: &Digest,
    before: &(Presence, TagBefore),
) -> Rollback {
    let mut rollback = Rollback::NotNeeded;
    if let Some(tag) = tag {
        rollback = rollback.and(match &before.1 {
            TagBefore::Points(prev) if &prev.digest == digest => Rollback::NotNeeded,
            TagBefore::Points(prev) => restore_tag(child, cx, repo, tag, prev).await,
            TagBefore::Absent => deleted(child.delete_tag(cx, repo, tag).await),
            TagBefore::Unknown => {
                Rollback::Skipped("where the tag pointed before the push could not be read")
            }
        });
    }
    rollback.and(match before.0 {
        Presence::Present => Rollback::NotNeeded,
        Presence::Absent => deleted(child.delete_manifest(cx, repo, digest).await),
        Presence::Unknown => {
            Rollback::Skipped("whether the manifest existed before the push could not be checked")
        }
    })
}

impl Unify {
    /// Settles a write that ran to completion in every registry: all succeeded → the first
    /// result; all failed → the most informative error; mixed → `undo` where it succeeded, and
    /// a [`PartialWriteError`].
    pub(crate) async fn settle<T, U, UFut>(
        &self,
        op: WriteOp,
        repo: &str,
        results: Vec<Result<T>>,
        undo: U,
    ) -> Result<T>
    where
        U: Fn(usize) -> UFut,
        UFut: Future<Output = Rollback>,
    {
        if results.iter().all(Result::is_ok) {
            return results
                .into_iter()
                .next()
                .unwrap_or_else(|| Err(Error::new(Code::Unknown, "no registries")));
        }
        if results.iter().all(Result::is_err) {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        let outcomes = join_all(results.into_iter().enumerate().map(|(i, r)| {
            let undo = &undo;
            async move {
                match r {
                    Ok(_) => Outcome::Succeeded {
                        rollback: undo(i).await,
                    },
                    Err(error) => Outcome::Failed {
                        error,
                        cleanup: Rollback::NotNeeded,
                    },
                }
            }
        }))
        .await;
        Err(PartialWriteError::new(op, repo, outcomes).into())
    }

    pub(crate) async fn push_blob_all(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        if let Some(only) = self.single() {
            return only.push_blob(cx, repo, desc, content).await;
        }
        names::validate_repository(repo)?;
        let children = self.children();
        let digest = &desc.digest;
        let _guard = self
            .shared
            .locks
            .acquire(Key::Blob(repo.to_owned(), digest.clone()))
            .await;
        let before: Vec<Presence> = join_all(
            children
                .iter()
                .map(|c| presence(c.resolve_blob(cx, repo, digest))),
        )
        .await;

        // Every registry reads its own stream, fed chunk by chunk from `content`. The first
        // failure stops everything: the other pushes are dropped (cancelled) rather than
        // completed only to be rolled back.
        let (senders, streams) = tee::channels(children.len());
        let mut pushes: FuturesUnordered<_> = children
            .iter()
            .zip(streams)
            .enumerate()
            .map(|(i, (child, stream))| async move {
                (i, child.push_blob(cx, repo, desc, stream).await)
            })
            .collect();
        let mut feed = std::pin::pin!(tee::feed(content, senders));
        let mut fed: Option<Fed> = None;
        let mut results: Vec<Option<Result<Descriptor>>> =
            (0..children.len()).map(|_| None).collect();
        poll_fn(|tcx| {
            if fed.is_none()
                && let Poll::Ready(f) = feed.as_mut().poll(tcx)
            {
                fed = Some(f);
            }
            loop {
                match pushes.poll_next_unpin(tcx) {
                    Poll::Ready(Some((i, result))) => {
                        let failed = result.is_err();
                        results[i] = Some(result);
                        if failed {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        drop(pushes);

        if results.iter().all(|r| matches!(r, Some(Ok(_)))) {
            return results
                .into_iter()
                .flatten()
                .next()
                .unwrap_or_else(|| Err(Error::new(Code::Unknown, "no registries")));
        }
        // A cancelled push can have landed only if it was given the whole content.
        let whole_content_sent = fed == Some(Fed::Complete);
        let outcomes = join_all(results.into_iter().enumerate().map(|(i, r)| {
            let (child, before) = (&children[i], before[i]);
            async move {
                match r {
                    Some(Ok(_)) => Outcome::Succeeded {
                        rollback: undo_blob(child, cx, repo, digest, before).await,
                    },
                    Some(Err(error)) => Outcome::Failed {
                        error,
                        cleanup: Rollback::NotNeeded,
                    },
                    None if whole_content_sent => Outcome::Cancelled {
                        rollback: undo_blob(child, cx, repo, digest, before).await,
                    },
                    None => Outcome::Cancelled {
                        rollback: Rollback::NotNeeded,
                    },
                }
            }
        }))
        .await;
        let partial = outcomes.iter().any(|o| match o {
            Outcome::Succeeded { .. } => true,
            Outcome::Cancelled { rollback } => !matches!(rollback, Rollback::NotNeeded),
            Outcome::Failed { .. } | Outcome::Unchanged => false,
        });
        if partial {
            return Err(PartialWriteError::new(crate::WriteOp::PushBlob, repo, outcomes).into());
        }
        Err(best_error(outcomes.into_iter().filter_map(|o| match o {
            Outcome::Failed { error, .. } => Some(error),
            _ => None,
        })))
    }

    pub(crate) async fn push_manifest_all(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        if let Some(only) = self.single() {
            return only
                .push_manifest(cx, repo, tag, contents, media_type, digest)
                .await;
        }
        names::validate_repository(repo)?;
        if let Some(tag) = tag {
            names::validate_tag(tag)?;
        }
        let children = self.children();
        let stored_as = digest.cloned().unwrap_or_else(|| Digest::sha256(&contents));
        // Manifest first, then tag: the order every write that takes both uses.
        let _manifest = self
            .shared
            .locks
            .acquire(Key::Manifest(repo.to_owned(), stored_as.clone()))
            .await;
        let _tag = match tag {
            Some(tag) => Some(
                self.shared
                    .locks
                    .acquire(Key::Tag(repo.to_owned(), tag.to_owned()))
                    .await,
            ),
            None => None,
        };
        let stored_as = &stored_as;
        let before: Vec<(Presence, TagBefore)> = join_all(children.iter().map(|c| async move {
            let manifest = presence(c.resolve_manifest(cx, repo, stored_as));
            let tag = async {
                match tag {
                    Some(tag) => tag_before(c.resolve_tag(cx, repo, tag)).await,
                    None => TagBefore::Absent,
                }
            };
            futures_util::future::join(manifest, tag).await
        }))
        .await;
        let results = join_all(
            children
                .iter()
                .map(|c| c.push_manifest(cx, repo, tag, contents.clone(), media_type, digest)),
        )
        .await;
        self.settle(WriteOp::PushManifest, repo, results, |i| {
            undo_manifest(&children[i], cx, repo, tag, stored_as, &before[i])
        })
        .await
    }

    pub(crate) async fn mount_blob_all(
        &self,
        cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        if let Some(only) = self.single() {
            return only.mount_blob(cx, from_repo, to_repo, digest).await;
        }
        names::validate_repository(to_repo)?;
        let children = self.children();
        let _guard = self
            .shared
            .locks
            .acquire(Key::Blob(to_repo.to_owned(), digest.clone()))
            .await;
        let before: Vec<Presence> = join_all(
            children
                .iter()
                .map(|c| presence(c.resolve_blob(cx, to_repo, digest))),
        )
        .await;
        let results = join_all(
            children
                .iter()
                .map(|c| c.mount_blob(cx, from_repo, to_repo, digest)),
        )
        .await;
        self.settle(WriteOp::MountBlob, to_repo, results, |i| {
            undo_blob(&children[i], cx, to_repo, digest, before[i])
        })
        .await
    }

    /// Deletes from every registry. Registries that do not hold the item (not-found) are fine as
    /// long as one deleted it; when none holds it, the most informative not-found. A deletion
    /// that failed somewhere else is not rolled back (see the crate docs).
    async fn delete_all<'a, F, Fut>(&'a self, op: WriteOp, repo: &str, f: F) -> Result<()>
    where
        F: Fn(&'a Arc<dyn Registry>) -> Fut,
        Fut: Future<Output = Result<()>> + 'a,
    {
        let results = join_all(self.children().iter().map(f)).await;
        let deleted = results.iter().filter(|r| r.is_ok()).count();
        let failed = results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| !e.is_not_found()))
            .count();
        if failed == 0 && deleted > 0 {
            return Ok(());
        }
        if deleted == 0 {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        let outcomes = results
            .into_iter()
            .map(|r| match r {
                Ok(()) => Outcome::Succeeded {
                    rollback: Rollback::Skipped(
                        "deletes are not rolled back; repeating the delete completes it",
                    ),
                },
                Err(e) if e.is_not_found() => Outcome::Unchanged,
                Err(error) => Outcome::Failed {
                    error,
                    cleanup: Rollback::NotNeeded,
                },
            })
            .collect();
        Err(PartialWriteError::new(op, repo, outcomes).into())
    }

    pub(crate) async fn delete_blob_all(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<()> {
        if let Some(only) = self.single() {
            return only.delete_blob(cx, repo, digest).await;
        }
        let _guard = self
            .shared
            .locks
            .acquire(Key::Blob(repo.to_owned(), digest.clone()))
            .await;
        self.delete_all(WriteOp::DeleteBlob, repo, move |c| {
            c.delete_blob(cx, repo, digest)
        })
        .await
    }

    pub(crate) async fn delete_manifest_all(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<()> {
        if let Some(only) = self.single() {
            return only.delete_manifest(cx, repo, digest).await;
        }
        let _guard = self
            .shared
            .locks
            .acquire(Key::Manifest(repo.to_owned(), digest.clone()))
            .await;
        self.delete_all(WriteOp::DeleteManifest, repo, move |c| {
            c.delete_manifest(cx, repo, digest)
        })
        .await
    }

    pub(crate) async fn delete_tag_all(&self, cx: &Context, repo: &str, tag: &str) -> Result<()> {
        if let Some(only) = self.single() {
            return only.delete_tag(cx, repo, tag).await;
        }
        let _guard = self
            .shared
            .locks
            .acquire(Key::Tag(repo.to_owned(), tag.to_owned()))
            .await;
        self.delete_all(WriteOp::DeleteTag, repo, move |c| {
            c.delete_tag(cx, repo, tag)
        })
        .await
    }
}
