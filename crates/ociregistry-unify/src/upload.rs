//! Chunked uploads: one session in every registry behind one id.
//!
//! The union's upload id is `base64url(JSON([id0, id1, ...]))` (unpadded), the registries'
//! session ids in registry order, as Go's `ociunify` makes it for two. Every method of the
//! unified [`BlobWriter`] runs on every registry's writer concurrently; the size is tracked
//! locally and the chunk size is the largest of the registries'.
//!
//! An upload whose sessions no longer agree (a write, close or commit that succeeded in some
//! registries only, or a resume that finds a session gone or of another size) cannot be
//! completed, so it is cancelled in every registry rather than left to leak.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::future::join_all;
use ociregistry_core::{
    BlobWriter, Code, Context, Descriptor, Digest, Error, Registry, Result, UploadStatus, names,
};
use serde_json::json;

use crate::error::{Outcome, PartialWriteError, Rollback, WriteOp, best_error};
use crate::locks::Key;
use crate::unify::{Shared, Unify};
use crate::write::{presence, undo_blob};

/// The union's upload id for the registries' session ids.
fn encode_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.into_iter().collect();
    // A list of strings always serializes.
    let json = serde_json::to_vec(&ids).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The registries' session ids of the union's upload id `id`; anything else (not base64url, not
/// a JSON list of strings, not one per registry) is an upload this union never issued.
fn decode_ids(id: &str, n: usize) -> Result<Vec<String>> {
    let unknown = |why: &str| {
        Error::new(
            Code::BlobUploadUnknown,
            format!("upload id {id:?} was not issued by this union: {why}"),
        )
    };
    let json = URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| unknown("not base64url"))?;
    let ids: Vec<String> =
        serde_json::from_slice(&json).map_err(|_| unknown("not a list of session ids"))?;
    if ids.len() != n {
        return Err(unknown(&format!(
            "{} session ids for {n} registries",
            ids.len()
        )));
    }
    Ok(ids)
}

/// The rollback of cancelling a session: gone (or already gone) is clean.
fn cancelled(result: Result<()>) -> Rollback {
    match result {
        Ok(()) => Rollback::Done,
        Err(e) if e.is(&Code::BlobUploadUnknown) => Rollback::NotNeeded,
        Err(e) => Rollback::Failed(e),
    }
}

/// Cancels the session `id` of one registry through a fresh writer (the one that made it was
/// consumed).
async fn cancel_session(child: &Arc<dyn Registry>, cx: &Context, repo: &str, id: &str) -> Rollback {
    match child
        .push_blob_chunked_resume(cx, repo, id, None, None)
        .await
    {
        Ok(w) => cancelled(w.cancel().await),
        Err(e) => cancelled(Err(e)),
    }
}

fn abandoned() -> Error {
    Error::new(
        Code::BlobUploadUnknown,
        "the upload was cancelled after it failed in some of the unified registries",
    )
}

fn disagreeing_sizes(sizes: &[u64]) -> Error {
    Error::new(
        Code::BlobUploadUnknown,
        format!(
            "the unified registries disagree on the size of the upload ({sizes:?}); it was \
             cancelled: start the upload again"
        ),
    )
    .with_detail(&json!({ "sizes": sizes }))
}

impl Unify {
    pub(crate) async fn start_upload(
        &self,
        cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        if let Some(only) = self.single() {
            return only.push_blob_chunked(cx, repo, chunk_size).await;
        }
        names::validate_repository(repo)?;
        let results = join_all(
            self.children()
                .iter()
                .map(|c| c.push_blob_chunked(cx, repo, chunk_size)),
        )
        .await;
        if results.iter().all(Result::is_ok) {
            let writers = results.into_iter().filter_map(Result::ok).collect();
            return Ok(Box::new(UnifiedWriter::new(
                self.shared.clone(),
                cx,
                repo,
                writers,
                0,
            )));
        }
        if results.iter().all(Result::is_err) {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        // Cancel the sessions that did start.
        let outcomes = join_all(results.into_iter().map(|r| async move {
            match r {
                Ok(w) => Outcome::Succeeded {
                    rollback: cancelled(w.cancel().await),
                },
                Err(error) => Outcome::Failed {
                    error,
                    cleanup: Rollback::NotNeeded,
                },
            }
        }))
        .await;
        Err(PartialWriteError::new(WriteOp::StartUpload, repo, outcomes).into())
    }

    pub(crate) async fn resume_upload(
        &self,
        cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        if let Some(only) = self.single() {
            return only
                .push_blob_chunked_resume(cx, repo, id, offset, chunk_size)
                .await;
        }
        let children = self.children();
        let ids = decode_ids(id, children.len())?;
        let results = join_all(
            children
                .iter()
                .zip(&ids)
                .map(|(c, id)| c.push_blob_chunked_resume(cx, repo, id, offset, chunk_size)),
        )
        .await;

        if results.iter().all(Result::is_ok) {
            let writers: Vec<Box<dyn BlobWriter>> =
                results.into_iter().filter_map(Result::ok).collect();
            let sizes: Vec<u64> = writers.iter().map(|w| w.size()).collect();
            if sizes.windows(2).any(|w| w[0] != w[1]) {
                join_all(writers.into_iter().map(|w| w.cancel())).await;
                return Err(disagreeing_sizes(&sizes));
            }
            let size = sizes.first().copied().unwrap_or(0);
            return Ok(Box::new(UnifiedWriter::new(
                self.shared.clone(),
                cx,
                repo,
                writers,
                size,
            )));
        }
        let gone_somewhere = results
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.is(&Code::BlobUploadUnknown)));
        if results.iter().all(Result::is_err) || !gone_somewhere {
            // Nothing changed anywhere (resuming writes nothing), so the upload is left as it
            // is for the caller to retry, e.g. with the right offset.
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        // The session is gone in some registry: the upload can never complete, so the others'
        // sessions are cancelled rather than left to expire.
        let outcomes = join_all(results.into_iter().map(|r| async move {
            match r {
                Ok(w) => Outcome::Succeeded {
                    rollback: cancelled(w.cancel().await),
                },
                Err(error) => Outcome::Failed {
                    error,
                    cleanup: Rollback::NotNeeded,
                },
            }
        }))
        .await;
        let err: Error = PartialWriteError::new(WriteOp::ResumeUpload, repo, outcomes).into();
        Err(err.with_code(Code::BlobUploadUnknown))
    }
}

/// The [`BlobWriter`] of a union's upload: one writer per registry.
struct UnifiedWriter {
    shared: Arc<Shared>,
    cx: Context,
    repo: String,
    /// One per registry, in registry order; empty once abandoned.
    writers: Vec<Box<dyn BlobWriter>>,
    size: u64,
    chunk_size: usize,
    id: String,
    /// Set when a write failed in some registries only: the upload was cancelled everywhere.
    abandoned: bool,
}

impl UnifiedWriter {
    fn new(
        shared: Arc<Shared>,
        cx: &Context,
        repo: &str,
        writers: Vec<Box<dyn BlobWriter>>,
        size: u64,
    ) -> UnifiedWriter {
        let chunk_size = writers.iter().map(|w| w.chunk_size()).max().unwrap_or(0);
        let id = encode_ids(writers.iter().map(|w| w.id()));
        UnifiedWriter {
            shared,
            cx: cx.clone(),
            repo: repo.to_owned(),
            writers,
            size,
            chunk_size,
            id,
            abandoned: false,
        }
    }
}

impl fmt::Debug for UnifiedWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnifiedWriter")
            .field("repo", &self.repo)
            .field("id", &self.id)
            .field("size", &self.size)
            .field("writers", &self.writers.len())
            .field("abandoned", &self.abandoned)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BlobWriter for UnifiedWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.abandoned {
            return Err(abandoned());
        }
        let results = join_all(self.writers.iter_mut().map(|w| w.write(data.clone()))).await;
        if results.iter().all(Result::is_ok) {
            self.size += data.len() as u64;
            return Ok(());
        }
        if results.iter().all(Result::is_err) {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        // The registries now hold different content: cancel the upload everywhere.
        self.abandoned = true;
        let writers = std::mem::take(&mut self.writers);
        let cancels = join_all(writers.into_iter().map(|w| w.cancel())).await;
        let outcomes = results
            .into_iter()
            .zip(cancels)
            .map(|(r, c)| match r {
                Ok(()) => Outcome::Succeeded {
                    rollback: cancelled(c),
                },
                Err(error) => Outcome::Failed {
                    error,
                    cleanup: cancelled(c),
                },
            })
            .collect();
        Err(PartialWriteError::new(WriteOp::UploadWrite, &self.repo, outcomes).into())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn id(&self) -> &str {
        &self.id
    }

    async fn close(self: Box<Self>) -> Result<UploadStatus> {
        let this = *self;
        if this.abandoned {
            return Err(abandoned());
        }
        let (cx, repo) = (&this.cx, this.repo.as_str());
        let children = &this.shared.children;
        let ids: Vec<String> = this.writers.iter().map(|w| w.id().to_owned()).collect();
        let results = join_all(this.writers.into_iter().map(|w| w.close())).await;
        if results.iter().all(Result::is_ok) {
            let statuses: Vec<UploadStatus> = results.into_iter().filter_map(Result::ok).collect();
            let sizes: Vec<u64> = statuses.iter().map(|s| s.size).collect();
            if sizes.windows(2).any(|w| w[0] != w[1]) {
                join_all(
                    children
                        .iter()
                        .zip(&statuses)
                        .map(|(c, s)| cancel_session(c, cx, repo, &s.id)),
                )
                .await;
                return Err(disagreeing_sizes(&sizes));
            }
            return Ok(UploadStatus {
                id: encode_ids(statuses.iter().map(|s| s.id.as_str())),
                size: sizes.first().copied().unwrap_or(0),
            });
        }
        if results.iter().all(Result::is_err) {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        // Some sessions hold what was written and others may not: cancel them all.
        let outcomes = join_all(results.into_iter().enumerate().map(|(i, r)| {
            let (child, id) = (&children[i], &ids[i]);
            async move {
                match r {
                    Ok(status) => Outcome::Succeeded {
                        rollback: cancel_session(child, cx, repo, &status.id).await,
                    },
                    Err(error) => Outcome::Failed {
                        error,
                        cleanup: cancel_session(child, cx, repo, id).await,
                    },
                }
            }
        }))
        .await;
        Err(PartialWriteError::new(WriteOp::UploadClose, repo, outcomes).into())
    }

    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        let this = *self;
        if this.abandoned {
            return Err(abandoned());
        }
        let (cx, repo) = (&this.cx, this.repo.as_str());
        let children = &this.shared.children;
        let _guard = this
            .shared
            .locks
            .acquire(Key::Blob(repo.to_owned(), digest.clone()))
            .await;
        let ids: Vec<String> = this.writers.iter().map(|w| w.id().to_owned()).collect();
        let before = join_all(
            children
                .iter()
                .map(|c| presence(c.resolve_blob(cx, repo, digest))),
        )
        .await;
        let results = join_all(this.writers.into_iter().map(|w| w.commit(digest))).await;
        if results.iter().all(Result::is_ok) {
            return results
                .into_iter()
                .next()
                .unwrap_or_else(|| Err(Error::new(Code::Unknown, "no registries")));
        }
        if results.iter().all(Result::is_err) {
            // As in every registry, a failed commit (e.g. DIGEST_INVALID) leaves the upload to
            // be committed right or cancelled.
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        // The blob is visible in some registries only: delete it where it is new, and cancel
        // the sessions that did not commit (the upload cannot be completed consistently).
        let outcomes = join_all(results.into_iter().enumerate().map(|(i, r)| {
            let (child, id, before) = (&children[i], &ids[i], before[i]);
            async move {
                match r {
                    Ok(_) => Outcome::Succeeded {
                        rollback: undo_blob(child, cx, repo, digest, before).await,
                    },
                    Err(error) => Outcome::Failed {
                        error,
                        cleanup: cancel_session(child, cx, repo, id).await,
                    },
                }
            }
        }))
        .await;
        Err(PartialWriteError::new(WriteOp::UploadCommit, repo, outcomes).into())
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        let this = *self;
        if this.abandoned {
            return Ok(());
        }
        let results = join_all(this.writers.into_iter().map(|w| w.cancel())).await;
        if results.iter().all(Result::is_ok) {
            return Ok(());
        }
        if results.iter().all(Result::is_err) {
            return Err(best_error(results.into_iter().filter_map(Result::err)));
        }
        let outcomes = results
            .into_iter()
            .map(|r| match r {
                Ok(()) => Outcome::Succeeded {
                    rollback: Rollback::Skipped("a cancelled upload cannot be restored"),
                },
                Err(error) => Outcome::Failed {
                    error,
                    cleanup: Rollback::NotNeeded,
                },
            })
            .collect();
        Err(PartialWriteError::new(WriteOp::UploadCancel, &this.repo, outcomes).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_what_was_not_issued() {
        let id = encode_ids(["a", "https://x/v2/r/blobs/uploads/1?_state=a=="]);
        assert_eq!(
            decode_ids(&id, 2).unwrap(),
            ["a", "https://x/v2/r/blobs/uploads/1?_state=a=="]
        );
        for (bad, n) in [
            (id.as_str(), 3),
            ("0".repeat(64).as_str(), 2),
            ("not base64!", 2),
            ("", 2),
        ] {
            let e = decode_ids(bad, n).unwrap_err();
            assert!(e.is(&Code::BlobUploadUnknown), "{bad:?}: {e}");
        }
        // Go's encoding of ["x","y"]: base64.RawURLEncoding of `["x","y"]`.
        assert_eq!(encode_ids(["x", "y"]), "WyJ4IiwieSJd");
    }
}
