//! The errors only a union has: writes that succeeded on some registries and failed on others
//! ([`PartialWriteError`]), and tags that point at different manifests in different registries
//! ([`TagConflict`]).
//!
//! Both convert into an [`ociregistry_core::Error`] (what every [`Registry`] operation returns):
//! the code is one a client can act on, the JSON `detail` describes each registry's part (so the
//! facts survive a trip over HTTP), and the typed value rides along as the error's
//! [`source`](std::error::Error::source), from where [`PartialWriteError::find`] and
//! [`TagConflict::find`] get it back.
//!
//! [`Registry`]: ociregistry_core::Registry

use std::fmt;

use http::StatusCode;
use ociregistry_core::{Code, Digest, Error};
use serde_json::{Value, json};

/// The code of the error for a tag that points at different manifests in different registries.
///
/// It is not one of the codes of the distribution specification: no standard code says "this
/// name is ambiguous". `MANIFEST_UNKNOWN` would make clients believe the image does not exist
/// (and `docker pull` would say so), `DENIED` would send users after their credentials. An
/// unknown code with the HTTP status `409 Conflict` is what the situation is: a request that
/// conflicts with the state of the resource, which a push of the tag through the union resolves
/// (it writes the tag everywhere).
pub const TAG_CONFLICT: &str = "TAG_CONFLICT";

/// [`TAG_CONFLICT`] as a [`Code`].
pub fn tag_conflict_code() -> Code {
    Code::Other(TAG_CONFLICT.into())
}

/// Whether `err` is a tag conflict (by code, so it also recognises one received over HTTP).
pub fn is_tag_conflict(err: &Error) -> bool {
    err.code().as_str() == TAG_CONFLICT
}

/// A tag that points at different manifests in different registries of a union.
///
/// Returned (as an [`Error`] with code [`TAG_CONFLICT`] and status 409) by `get_tag` and
/// `resolve_tag`; such tags are left out of `tags()` listings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagConflict {
    /// The repository.
    pub repo: String,
    /// The tag.
    pub tag: String,
    /// The registries that have the tag (by index in the union) and the digest it points at in
    /// each, in registry order.
    pub targets: Vec<(usize, Digest)>,
}

impl TagConflict {
    pub(crate) fn new(repo: &str, tag: &str, targets: Vec<(usize, Digest)>) -> TagConflict {
        TagConflict {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            targets,
        }
    }

    /// The tag conflict `err` was made from, if any (only in the process that made it: over
    /// HTTP, only the code and the JSON detail arrive).
    pub fn find(err: &Error) -> Option<&TagConflict> {
        std::error::Error::source(err)?.downcast_ref()
    }

    fn detail(&self) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|(i, d)| json!({"registry": i, "digest": d.as_str()}))
            .collect();
        json!({"repository": self.repo, "tag": self.tag, "targets": targets})
    }
}

impl fmt::Display for TagConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tag {:?} of {} points at different manifests in the unified registries:",
            self.tag, self.repo
        )?;
        for (n, (i, d)) in self.targets.iter().enumerate() {
            let sep = if n == 0 { " " } else { ", " };
            write!(f, "{sep}registry {i}: {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TagConflict {}

impl From<TagConflict> for Error {
    fn from(c: TagConflict) -> Error {
        Error::new(tag_conflict_code(), c.to_string())
            .with_status(StatusCode::CONFLICT)
            .with_detail(&c.detail())
            .with_source(c)
    }
}

/// A write operation of the union, as named in a [`PartialWriteError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteOp {
    /// `push_blob`.
    PushBlob,
    /// `push_manifest`.
    PushManifest,
    /// `mount_blob`.
    MountBlob,
    /// `delete_blob`.
    DeleteBlob,
    /// `delete_manifest`.
    DeleteManifest,
    /// `delete_tag`.
    DeleteTag,
    /// `push_blob_chunked`: starting an upload session in every registry.
    StartUpload,
    /// `push_blob_chunked_resume`: resuming the session in every registry.
    ResumeUpload,
    /// `BlobWriter::write` of a unified upload.
    UploadWrite,
    /// `BlobWriter::close` of a unified upload.
    UploadClose,
    /// `BlobWriter::commit` of a unified upload.
    UploadCommit,
    /// `BlobWriter::cancel` of a unified upload.
    UploadCancel,
}

impl WriteOp {
    /// The operation's name, e.g. `push_manifest` or `upload commit`.
    pub fn name(self) -> &'static str {
        match self {
            WriteOp::PushBlob => "push_blob",
            WriteOp::PushManifest => "push_manifest",
            WriteOp::MountBlob => "mount_blob",
            WriteOp::DeleteBlob => "delete_blob",
            WriteOp::DeleteManifest => "delete_manifest",
            WriteOp::DeleteTag => "delete_tag",
            WriteOp::StartUpload => "push_blob_chunked",
            WriteOp::ResumeUpload => "push_blob_chunked_resume",
            WriteOp::UploadWrite => "upload write",
            WriteOp::UploadClose => "upload close",
            WriteOp::UploadCommit => "upload commit",
            WriteOp::UploadCancel => "upload cancel",
        }
    }
}

impl fmt::Display for WriteOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What was done to undo (or clean up after) one registry's part of a write that did not
/// succeed everywhere.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Rollback {
    /// Nothing to undo: the write created nothing new there (what it wrote existed before, or
    /// it never landed).
    NotNeeded,
    /// Undone: the registry is as it was before the write.
    Done,
    /// Not attempted, for the reason given (for example, the state before the write could not
    /// be read, so undoing might destroy what was there before).
    Skipped(&'static str),
    /// Attempted, and failed with this error: the registry keeps the write.
    Failed(Error),
}

impl Rollback {
    /// Whether the registry is left as it was before the write (`NotNeeded` or `Done`).
    pub fn is_clean(&self) -> bool {
        matches!(self, Rollback::NotNeeded | Rollback::Done)
    }

    /// Combines the results of two steps of one registry's rollback: a failure wins, then a
    /// skip, then `Done`.
    pub(crate) fn and(self, other: Rollback) -> Rollback {
        match (self, other) {
            (f @ Rollback::Failed(_), _) | (_, f @ Rollback::Failed(_)) => f,
            (s @ Rollback::Skipped(_), _) | (_, s @ Rollback::Skipped(_)) => s,
            (Rollback::Done, _) | (_, Rollback::Done) => Rollback::Done,
            _ => Rollback::NotNeeded,
        }
    }

    fn detail(&self) -> Value {
        match self {
            Rollback::NotNeeded => json!("not-needed"),
            Rollback::Done => json!("done"),
            Rollback::Skipped(why) => json!({"skipped": why}),
            Rollback::Failed(e) => json!({"failed": error_detail(e)}),
        }
    }
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::NotNeeded => f.write_str("nothing to undo"),
            Rollback::Done => f.write_str("rolled back"),
            Rollback::Skipped(why) => write!(f, "not rolled back: {why}"),
            Rollback::Failed(e) => write!(f, "rollback failed: {e}"),
        }
    }
}

/// One registry's part in a [`PartialWriteError`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// The write succeeded there, and was then rolled back as told.
    Succeeded {
        /// What was done to undo it.
        rollback: Rollback,
    },
    /// The write failed there.
    Failed {
        /// The registry's error.
        error: Error,
        /// What was done to clean up after it (for example, cancelling its upload session).
        cleanup: Rollback,
    },
    /// The write was abandoned there (its future dropped) when another registry failed.
    Cancelled {
        /// What was done in case it had landed anyway.
        rollback: Rollback,
    },
    /// There was nothing to do there (a delete of something that registry does not hold).
    Unchanged,
}

impl Outcome {
    fn detail(&self, registry: usize) -> Value {
        match self {
            Outcome::Succeeded { rollback } => {
                json!({"registry": registry, "outcome": "succeeded", "rollback": rollback.detail()})
            }
            Outcome::Failed { error, cleanup } => json!({
                "registry": registry,
                "outcome": "failed",
                "error": error_detail(error),
                "cleanup": cleanup.detail(),
            }),
            Outcome::Cancelled { rollback } => {
                json!({"registry": registry, "outcome": "cancelled", "rollback": rollback.detail()})
            }
            Outcome::Unchanged => json!({"registry": registry, "outcome": "unchanged"}),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Succeeded { rollback } => write!(f, "succeeded ({rollback})"),
            Outcome::Failed {
                error,
                cleanup: Rollback::NotNeeded,
            } => write!(f, "failed ({error})"),
            Outcome::Failed { error, cleanup } => write!(f, "failed ({error}; cleanup: {cleanup})"),
            Outcome::Cancelled { rollback } => write!(f, "cancelled ({rollback})"),
            Outcome::Unchanged => f.write_str("unchanged"),
        }
    }
}

fn error_detail(e: &Error) -> Value {
    json!({"code": e.code().as_str(), "message": e.message()})
}

/// A write that succeeded on some registries of a union and failed on others.
///
/// Go's `ociunify` reports this as a plain "one push succeeded where the other failed" and leaves
/// the successful half in place. Here the union undoes what it can before returning (see the
/// crate documentation for exactly what is rolled back), and reports every registry's part.
///
/// Converted into an [`Error`] whose code is that of the (first) failure, so a client reacts as
/// it would to that failure; whose message lists every registry's outcome; whose JSON detail is
/// `{"operation", "repository", "registries": [{"registry", "outcome", ...}]}`; and whose
/// source is this value ([`PartialWriteError::find`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PartialWriteError {
    /// The operation.
    pub operation: WriteOp,
    /// The repository written to.
    pub repo: String,
    /// Each registry's outcome, in registry order.
    pub outcomes: Vec<Outcome>,
}

impl PartialWriteError {
    pub(crate) fn new(operation: WriteOp, repo: &str, outcomes: Vec<Outcome>) -> PartialWriteError {
        PartialWriteError {
            operation,
            repo: repo.to_owned(),
            outcomes,
        }
    }

    /// The partial write `err` was made from, if any (only in the process that made it: over
    /// HTTP, only the code and the JSON detail arrive).
    pub fn find(err: &Error) -> Option<&PartialWriteError> {
        std::error::Error::source(err)?.downcast_ref()
    }

    /// The first failure, which gives the error its code.
    pub fn first_failure(&self) -> Option<&Error> {
        self.outcomes.iter().find_map(|o| match o {
            Outcome::Failed { error, .. } => Some(error),
            _ => None,
        })
    }

    /// Whether every registry is left as it was before the write: every success and every
    /// cancelled attempt was undone (or had nothing to undo).
    pub fn is_rolled_back(&self) -> bool {
        self.outcomes.iter().all(|o| match o {
            Outcome::Succeeded { rollback } | Outcome::Cancelled { rollback } => {
                rollback.is_clean()
            }
            Outcome::Failed { .. } | Outcome::Unchanged => true,
        })
    }

    fn detail(&self) -> Value {
        let registries: Vec<Value> = self
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| o.detail(i))
            .collect();
        json!({
            "operation": self.operation.name(),
            "repository": self.repo,
            "registries": registries,
        })
    }
}

impl fmt::Display for PartialWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} did not succeed in every unified registry:",
            self.operation, self.repo
        )?;
        for (i, o) in self.outcomes.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            write!(f, "{sep}registry {i} {o}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PartialWriteError {}

impl From<PartialWriteError> for Error {
    fn from(p: PartialWriteError) -> Error {
        let code = p
            .first_failure()
            .map_or(Code::Unknown, |e| e.code().clone());
        Error::new(code, p.to_string())
            .with_detail(&p.detail())
            .with_source(p)
    }
}

/// How informative an error is when every registry failed (lower is better): a real failure
/// (`DENIED`, `RANGE_INVALID`, an I/O error...) over a specific not-found (`BLOB_UNKNOWN`,
/// `MANIFEST_UNKNOWN`, `BLOB_UPLOAD_UNKNOWN`), over `NAME_UNKNOWN` (some registry may know the
/// repository but not the item), over `UNSUPPORTED` (a registry that cannot do something does
/// not say anything about the content).
fn rank(e: &Error) -> u8 {
    match e.code() {
        Code::NameUnknown => 2,
        Code::Unsupported => 3,
        _ if e.is_not_found() => 1,
        _ => 0,
    }
}

/// The most informative of the errors of the registries that failed (see [`rank`]); among
/// equals, the first in registry order.
pub(crate) fn best_error(errors: impl IntoIterator<Item = Error>) -> Error {
    let mut best: Option<Error> = None;
    for e in errors {
        match &best {
            Some(b) if rank(b) <= rank(&e) => {}
            _ => best = Some(e),
        }
    }
    best.unwrap_or_else(|| Error::new(Code::Unknown, "no registry answered"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_error_prefers_real_failures_then_specific_not_found() {
        let e = |c: Code| Error::from_code(c);
        let best = best_error([e(Code::NameUnknown), e(Code::BlobUnknown)]);
        assert!(best.is(&Code::BlobUnknown));
        let best = best_error([
            e(Code::Unsupported),
            e(Code::NameUnknown),
            e(Code::Denied),
            e(Code::BlobUnknown),
        ]);
        assert!(best.is(&Code::Denied));
        let best = best_error([e(Code::Unsupported), e(Code::NameUnknown)]);
        assert!(best.is(&Code::NameUnknown));
        let best = best_error([
            Error::new(Code::ManifestUnknown, "first"),
            Error::new(Code::ManifestUnknown, "second"),
        ]);
        assert_eq!(best.message(), "first");
    }

    #[test]
    fn partial_write_error_converts_with_code_detail_and_source() {
        let p = PartialWriteError::new(
            WriteOp::PushManifest,
            "a/b",
            vec![
                Outcome::Succeeded {
                    rollback: Rollback::Done,
                },
                Outcome::Failed {
                    error: Error::new(Code::Denied, "read-only"),
                    cleanup: Rollback::NotNeeded,
                },
            ],
        );
        assert!(p.is_rolled_back());
        let err: Error = p.into();
        assert!(err.is(&Code::Denied));
        assert_eq!(err.status().as_u16(), 403);
        assert!(
            err.message().contains("registry 0 succeeded (rolled back)"),
            "{err}"
        );
        assert!(err.message().contains("registry 1 failed"), "{err}");
        let detail: Value = serde_json::from_str(err.detail().unwrap().get()).unwrap();
        assert_eq!(detail["operation"], "push_manifest");
        assert_eq!(detail["registries"][0]["rollback"], "done");
        assert_eq!(detail["registries"][1]["error"]["code"], "DENIED");
        let back = PartialWriteError::find(&err).unwrap();
        assert_eq!(back.outcomes.len(), 2);
    }

    #[test]
    fn tag_conflict_converts_with_code_status_and_source() {
        let d0 = Digest::sha256(b"0");
        let d1 = Digest::sha256(b"1");
        let err: Error =
            TagConflict::new("r", "latest", vec![(0, d0.clone()), (1, d1.clone())]).into();
        assert!(is_tag_conflict(&err));
        assert_eq!(err.code(), &tag_conflict_code());
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert!(err.message().contains(d1.as_str()));
        assert_eq!(TagConflict::find(&err).unwrap().targets[0], (0, d0));
    }

    #[test]
    fn rollback_and_keeps_the_worst() {
        let r = Rollback::Done.and(Rollback::NotNeeded);
        assert!(matches!(r, Rollback::Done));
        let r = Rollback::Skipped("x").and(Rollback::Done);
        assert!(matches!(r, Rollback::Skipped(_)));
        let r = Rollback::Skipped("x").and(Rollback::Failed(Error::from_code(Code::Denied)));
        assert!(matches!(r, Rollback::Failed(_)));
        assert!(Rollback::NotNeeded.and(Rollback::NotNeeded).is_clean());
    }
}
