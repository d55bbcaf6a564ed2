//! Writes that succeed in some registries and fail in others: a structured error with the
//! failure's code and every registry's outcome, and the successful side rolled back (manifest
//! absent again, previous tag restored, new blob deleted, upload sessions cancelled). Deletes
//! tolerate not-found; concurrent tag pushes through a union end the same everywhere.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use ociregistry_core::testing::{
    assert_blob, assert_manifest, assert_no_blob, assert_no_manifest, assert_no_tag, assert_tag,
    image_manifest, push_blob, push_manifest, tags,
};
use ociregistry_core::{
    BlobWriter, Code, Context, Descriptor, Digest, Error, Registry, Result, async_trait,
    bytes::Bytes,
};
use ociregistry_mem::MemRegistry;
use ociregistry_unify::{Outcome, PartialWriteError, ReadPolicy, Rollback, WriteOp, unify};

/// A union of a healthy registry and a faulty one (failing nothing yet).
fn pair() -> (
    Arc<MemRegistry>,
    Arc<MemRegistry>,
    Faulty,
    Arc<dyn Registry>,
) {
    let (a, b) = (mem(), mem());
    let fb = Faulty::new(b.clone());
    let u: Arc<dyn Registry> = Arc::new(unify(a.clone(), Arc::new(fb.clone())));
    (a, b, fb, u)
}

fn partial(err: &Error) -> &PartialWriteError {
    match PartialWriteError::find(err) {
        Some(p) => p,
        None => panic!("not a partial write error: {err} ({err:?})"),
    }
}

fn assert_failed_with(outcome: &Outcome, code: Code) {
    match outcome {
        Outcome::Failed { error, .. } => assert!(error.is(&code), "{error}"),
        other => panic!("expected a failure, got {other}"),
    }
}

#[tokio::test]
async fn push_manifest_rolls_back_a_new_manifest() {
    let repo = "partial/manifest";
    let (a, b, fb, u) = pair();
    let mut c = content("partial-manifest");
    let image = c.image(2);
    push_image_blobs(&*u, repo, &image).await;
    fb.read_only();

    let err = try_push_manifest(&*u, repo, None, &image.manifest)
        .await
        .unwrap_err();
    assert!(err.is(&Code::Denied), "the failure's code: {err}");
    assert_eq!(err.status().as_u16(), 403);
    let p = partial(&err);
    assert_eq!(p.operation, WriteOp::PushManifest);
    assert_eq!(p.repo, repo);
    assert_eq!(p.outcomes.len(), 2);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::Done
        }
    ));
    assert_failed_with(&p.outcomes[1], Code::Denied);
    assert!(p.is_rolled_back());
    assert!(err.message().contains("registry 1 failed"), "{err}");
    let detail: serde_json::Value = serde_json::from_str(err.detail().unwrap().get()).unwrap();
    assert_eq!(detail["operation"], "push_manifest");
    assert_eq!(detail["registries"][0]["outcome"], "succeeded");
    assert_eq!(detail["registries"][0]["rollback"], "done");
    assert_eq!(detail["registries"][1]["error"]["code"], "DENIED");

    assert_no_manifest(&*a, repo, &image.manifest.digest).await;
    assert_no_manifest(&*b, repo, &image.manifest.digest).await;
    assert_no_manifest(&*u, repo, &image.manifest.digest).await;
}

#[tokio::test]
async fn push_manifest_restores_the_previous_tag() {
    let repo = "partial/tag";
    let (a, _b, fb, u) = pair();
    let mut c = content("partial-tag");
    let (one, two) = (c.image(1), c.image(1));
    push_image_blobs(&*u, repo, &one).await;
    push_image_blobs(&*u, repo, &two).await;
    push_manifest(&*u, repo, Some("latest"), &one.manifest).await;
    fb.fail("push_manifest", Code::TooManyRequests);

    let err = try_push_manifest(&*u, repo, Some("latest"), &two.manifest)
        .await
        .unwrap_err();
    assert!(err.is(&Code::TooManyRequests), "{err}");
    assert!(partial(&err).is_rolled_back());
    assert_tag(&*a, repo, "latest", &one.manifest).await;
    assert_tag(&*u, repo, "latest", &one.manifest).await;
    assert_no_manifest(&*a, repo, &two.manifest.digest).await;
    assert_eq!(tags(&*u, repo, None).await, ["latest"]);

    // A new tag on an existing manifest: the tag goes, the manifest stays.
    let err = try_push_manifest(&*u, repo, Some("new"), &one.manifest)
        .await
        .unwrap_err();
    assert!(partial(&err).is_rolled_back());
    assert_no_tag(&*a, repo, "new").await;
    assert_manifest(&*a, repo, &one.manifest).await;
}

#[tokio::test]
async fn push_manifest_keeps_what_existed_before() {
    let repo = "partial/existing";
    let (a, _b, fb, u) = pair();
    let mut c = content("partial-existing");
    let image = c.image(1);
    push_image_blobs(&*u, repo, &image).await;
    // Already in the first registry (tagged), not in the second.
    push_manifest(&*a, repo, Some("v1"), &image.manifest).await;
    fb.read_only();
    let err = try_push_manifest(&*u, repo, Some("v1"), &image.manifest)
        .await
        .unwrap_err();
    let p = partial(&err);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::NotNeeded
        }
    ));
    assert_tag(&*a, repo, "v1", &image.manifest).await;
}

#[tokio::test]
async fn failed_rollbacks_are_reported() {
    let repo = "partial/rollback-fails";
    let (a, b) = (mem(), mem());
    let (fa, fb) = (Faulty::new(a.clone()), Faulty::new(b));
    let u = unify(Arc::new(fa.clone()), Arc::new(fb.clone()));
    let mut c = content("partial-rollback-fails");
    let image = c.image(1);
    push_image_blobs(&u, repo, &image).await;
    fb.fail("push_manifest", Code::Denied);
    fa.fail("delete_manifest", Code::Unsupported);
    let err = try_push_manifest(&u, repo, None, &image.manifest)
        .await
        .unwrap_err();
    assert!(err.is(&Code::Denied), "{err}");
    let p = partial(&err);
    assert!(!p.is_rolled_back());
    match &p.outcomes[0] {
        Outcome::Succeeded {
            rollback: Rollback::Failed(e),
        } => assert!(e.is_unsupported(), "{e}"),
        other => panic!("expected a failed rollback, got {other}"),
    }
    assert!(err.message().contains("rollback failed"), "{err}");
    // The manifest is left in the first registry, as reported.
    assert_manifest(&*a, repo, &image.manifest).await;

    // When the state before the write cannot be read, nothing is undone.
    fa.heal();
    fa.fail("resolve_manifest", Code::Unknown);
    let other = c.image(1);
    push_image_blobs(&u, repo, &other).await;
    let err = try_push_manifest(&u, repo, None, &other.manifest)
        .await
        .unwrap_err();
    let p = partial(&err);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::Skipped(_)
        }
    ));
    assert_manifest(&*a, repo, &other.manifest).await;
}

#[tokio::test]
async fn writes_failing_everywhere_are_plain_errors() {
    let repo = "partial/everywhere";
    let (a, b) = (Faulty::new(mem()), Faulty::new(mem()));
    a.fail("push_manifest", Code::Unknown);
    b.fail("push_manifest", Code::Denied);
    let u = unify(Arc::new(a), Arc::new(b));
    let m = content("everywhere").sparse_image().build();
    let err = try_push_manifest(&u, repo, Some("t"), &m)
        .await
        .unwrap_err();
    assert!(PartialWriteError::find(&err).is_none(), "{err:?}");
    assert!(
        err.is(&Code::Unknown),
        "the first of equally informative errors: {err}"
    );
}

/// A registry failing before it reads anything stops the push: the others are cancelled before
/// they get the whole content, so nothing landed anywhere and the error is a plain one.
#[tokio::test]
async fn push_blob_failing_early_cancels_the_others() {
    let repo = "partial/blob";
    let (a, b, fb, u) = pair();
    let mut c = content("partial-blob");
    push_blob(&*u, repo, &c.layer(5)).await;
    let blob = c.layer(100_000);
    fb.fail("push_blob", Code::Denied);
    let err = u
        .push_blob(&Context::new(), repo, &blob.descriptor(), blob.stream(7000))
        .await
        .unwrap_err();
    assert!(err.is(&Code::Denied), "{err}");
    assert!(PartialWriteError::find(&err).is_none(), "{err}");
    assert_no_blob(&*a, repo, &blob.digest).await;
    assert_no_blob(&*b, repo, &blob.digest).await;
}

/// A registry that accepts a push only after reading the whole stream, then fails: the other
/// registry completes, so its blob is rolled back.
#[tokio::test]
async fn push_blob_failing_at_the_end_rolls_back_the_others() {
    struct FailAfterReading(Arc<MemRegistry>);
    #[async_trait]
    impl Registry for FailAfterReading {
        async fn push_blob(
            &self,
            _cx: &Context,
            _repo: &str,
            _desc: &Descriptor,
            content: ociregistry_core::ByteStream,
        ) -> Result<Descriptor> {
            let n = ociregistry_core::stream::read_to_bytes(content, usize::MAX).await?;
            // Let the other registry finish first.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(Error::new(
                Code::Unknown,
                format!("disk full after {} bytes", n.len()),
            ))
        }
        async fn resolve_blob(&self, cx: &Context, repo: &str, d: &Digest) -> Result<Descriptor> {
            self.0.resolve_blob(cx, repo, d).await
        }
    }
    let repo = "partial/blob-end";
    let a = mem();
    let u = unify(a.clone(), Arc::new(FailAfterReading(mem())));
    let blob = content("blob-end").layer(50_000);
    let err = u
        .push_blob(&Context::new(), repo, &blob.descriptor(), blob.stream(1000))
        .await
        .unwrap_err();
    assert!(err.is(&Code::Unknown), "{err}");
    let p = partial(&err);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::Done
        }
    ));
    assert_no_blob(&*a, repo, &blob.digest).await;

    // A blob the first registry held before stays.
    let old = content("blob-end-old").layer(1000);
    push_blob(&*a, repo, &old).await;
    let err = u
        .push_blob(&Context::new(), repo, &old.descriptor(), old.stream(100))
        .await
        .unwrap_err();
    let p = partial(&err);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::NotNeeded
        }
    ));
    assert_blob(&*a, repo, &old).await;
}

#[tokio::test]
async fn mount_blob_rolls_back() {
    let (from, to) = ("partial/mount-from", "partial/mount-to");
    let (a, b, fb, u) = pair();
    let blob = content("partial-mount").layer(500);
    push_blob(&*u, from, &blob).await;
    push_blob(&*u, to, &content("other").layer(5)).await;
    fb.fail("mount_blob", Code::Unsupported);
    let err = u
        .mount_blob(&Context::new(), Some(from), to, &blob.digest)
        .await
        .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
    assert!(partial(&err).is_rolled_back());
    assert_no_blob(&*a, to, &blob.digest).await;
    assert_no_blob(&*b, to, &blob.digest).await;
    assert_blob(&*a, from, &blob).await;
}

#[tokio::test]
async fn upload_start_failure_cancels_the_started_sessions() {
    let repo = "partial/upload-start";
    let (a, _b, fb, u) = pair();
    fb.fail("push_blob_chunked", Code::TooManyRequests);
    let err = u
        .push_blob_chunked(&Context::new(), repo, None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::TooManyRequests), "{err}");
    let p = partial(&err);
    assert_eq!(p.operation, WriteOp::StartUpload);
    assert!(p.is_rolled_back());
    assert_eq!(a.upload_count(), 0);
}

#[tokio::test]
async fn upload_commit_failure_deletes_the_blob_and_cancels_the_sessions() {
    let repo = "partial/upload-commit";
    let (a, b, fb, u) = pair();
    let blob = content("partial-commit").layer(3000);
    let cx = Context::new();
    let mut w = u.push_blob_chunked(&cx, repo, None).await.unwrap();
    w.write(blob.data.slice(..1000)).await.unwrap();
    w.write(blob.data.slice(1000..)).await.unwrap();
    assert_eq!(w.size(), 3000);
    assert_eq!((a.upload_count(), b.upload_count()), (1, 1));
    fb.fail(COMMIT, Code::Unknown);

    let err = w.commit(&blob.digest).await.unwrap_err();
    assert!(err.is(&Code::Unknown), "{err}");
    let p = partial(&err);
    assert_eq!(p.operation, WriteOp::UploadCommit);
    assert!(p.is_rolled_back(), "{err}");
    match &p.outcomes[1] {
        Outcome::Failed { cleanup, .. } => assert!(matches!(cleanup, Rollback::Done), "{cleanup}"),
        other => panic!("{other}"),
    }
    assert_no_blob(&*a, repo, &blob.digest).await;
    assert_eq!((a.upload_count(), b.upload_count()), (0, 0));
}

#[tokio::test]
async fn upload_write_failure_cancels_the_upload_everywhere() {
    let repo = "partial/upload-write";
    let (a, b, fb, u) = pair();
    let cx = Context::new();
    let mut w = u.push_blob_chunked(&cx, repo, None).await.unwrap();
    w.write(Bytes::from_static(b"first")).await.unwrap();
    let id = w.id().to_owned();
    fb.fail(WRITE, Code::Unknown);
    let err = w.write(Bytes::from_static(b"second")).await.unwrap_err();
    assert!(err.is(&Code::Unknown), "{err}");
    assert_eq!(partial(&err).operation, WriteOp::UploadWrite);
    assert!(partial(&err).is_rolled_back(), "{err}");
    assert_eq!((a.upload_count(), b.upload_count()), (0, 0));
    fb.heal();
    // The writer is dead, and so is the upload.
    let err = w.write(Bytes::from_static(b"x")).await.unwrap_err();
    assert!(err.is(&Code::BlobUploadUnknown), "{err}");
    w.cancel().await.unwrap();
    let err = u
        .push_blob_chunked_resume(&cx, repo, &id, None, None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::BlobUploadUnknown), "{err}");

    // A write failing in every registry leaves the upload as it is, to retry.
    let (fa2, fb2) = (Faulty::new(a.clone()), Faulty::new(b.clone()));
    let u2 = unify(Arc::new(fa2.clone()), Arc::new(fb2.clone()));
    let mut w = u2.push_blob_chunked(&cx, repo, None).await.unwrap();
    fa2.fail(WRITE, Code::Unknown);
    fb2.fail(WRITE, Code::Unknown);
    let err = w.write(Bytes::from_static(b"retry")).await.unwrap_err();
    assert!(PartialWriteError::find(&err).is_none(), "{err}");
    assert_eq!((a.upload_count(), b.upload_count()), (1, 1));
    fa2.heal();
    fb2.heal();
    w.write(Bytes::from_static(b"retry")).await.unwrap();
    assert_eq!(w.size(), 5);
    w.cancel().await.unwrap();
    assert_eq!((a.upload_count(), b.upload_count()), (0, 0));
}

#[tokio::test]
async fn upload_resume_with_a_session_gone_somewhere_cancels_the_rest() {
    let repo = "partial/upload-resume";
    let (a, b) = (mem(), mem());
    let u = unify(a.clone(), b.clone());
    let cx = Context::new();
    let mut w = u.push_blob_chunked(&cx, repo, None).await.unwrap();
    w.write(Bytes::from_static(b"abc")).await.unwrap();
    let st = w.close().await.unwrap();
    assert_eq!(st.size, 3);

    // Resuming works, at the size both registries hold.
    let w = u
        .push_blob_chunked_resume(&cx, repo, &st.id, None, None)
        .await
        .unwrap();
    assert_eq!(w.size(), 3);
    drop(w);
    // A wrong offset fails everywhere and leaves the upload alone.
    let err = u
        .push_blob_chunked_resume(&cx, repo, &st.id, Some(2), None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::RangeInvalid), "{err}");
    assert_eq!((a.upload_count(), b.upload_count()), (1, 1));

    // The session expires in the second registry: the upload is gone, the first's cancelled.
    let ids = decode(&st.id);
    b.push_blob_chunked_resume(&cx, repo, &ids[1], None, None)
        .await
        .unwrap()
        .cancel()
        .await
        .unwrap();
    let err = u
        .push_blob_chunked_resume(&cx, repo, &st.id, None, None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::BlobUploadUnknown), "{err}");
    assert_eq!(partial(&err).operation, WriteOp::ResumeUpload);
    assert_eq!(a.upload_count(), 0);

    // An id of another shape is an unknown upload.
    for bad in [encode(&["one"]), encode(&["a", "b", "c"]), "garbage".into()] {
        let err = u
            .push_blob_chunked_resume(&cx, repo, &bad, None, None)
            .await
            .err()
            .unwrap();
        assert!(err.is(&Code::BlobUploadUnknown), "{bad}: {err}");
    }
}

#[tokio::test]
async fn upload_resume_with_disagreeing_sizes_is_cancelled() {
    let repo = "partial/upload-sizes";
    let (a, b) = (mem(), mem());
    let cx = Context::new();
    let mut wa = a.push_blob_chunked(&cx, repo, None).await.unwrap();
    wa.write(Bytes::from_static(b"abc")).await.unwrap();
    let mut wb = b.push_blob_chunked(&cx, repo, None).await.unwrap();
    wb.write(Bytes::from_static(b"ab")).await.unwrap();
    let id = encode(&[&wa.close().await.unwrap().id, &wb.close().await.unwrap().id]);
    let u = unify(a.clone(), b.clone());
    let err = u
        .push_blob_chunked_resume(&cx, repo, &id, None, None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::BlobUploadUnknown), "{err}");
    assert!(err.message().contains("disagree"), "{err}");
    assert_eq!((a.upload_count(), b.upload_count()), (0, 0));
}

fn encode(ids: &[&str]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(ids).unwrap())
}

fn decode(id: &str) -> Vec<String> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test]
async fn deletes_tolerate_not_found_in_some_registries() {
    let repo = "partial/delete";
    let (a, b) = (mem(), mem());
    let u = unify(a.clone(), b.clone());
    let mut c = content("partial-delete");
    let image = c.image(1);
    push_image_blobs(&u, repo, &image).await;
    // Only in the second registry.
    push_manifest(&*b, repo, Some("t"), &image.manifest).await;
    let cx = Context::new();
    u.delete_tag(&cx, repo, "t").await.unwrap();
    assert_no_tag(&*b, repo, "t").await;
    u.delete_manifest(&cx, repo, &image.manifest.digest)
        .await
        .unwrap();
    assert_no_manifest(&*b, repo, &image.manifest.digest).await;
    // Nowhere: the not-found.
    let err = u
        .delete_manifest(&cx, repo, &image.manifest.digest)
        .await
        .unwrap_err();
    assert!(err.is(&Code::ManifestUnknown), "{err}");
    // A repository one registry does not know at all.
    let only = "partial/delete-only-a";
    push_blob(&*a, only, &image.config).await;
    u.delete_blob(&cx, only, &image.config.digest)
        .await
        .unwrap();
    let err = u
        .delete_blob(&cx, only, &image.config.digest)
        .await
        .unwrap_err();
    assert!(
        err.is(&Code::BlobUnknown),
        "BLOB_UNKNOWN wins over NAME_UNKNOWN: {err}"
    );
}

#[tokio::test]
async fn a_delete_failing_somewhere_is_reported_and_converges_when_repeated() {
    let repo = "partial/delete-fails";
    let (a, b) = (mem(), mem());
    let c0 = mem();
    let fb = Faulty::new(b.clone());
    let u = union_of(
        vec![a.clone(), Arc::new(fb.clone()), c0.clone()],
        ReadPolicy::Sequential,
    );
    let image = content("partial-delete-fails").image(1);
    push_image_blobs(&u, repo, &image).await;
    push_manifest(&*a, repo, None, &image.manifest).await;
    push_manifest(&*b, repo, None, &image.manifest).await;
    fb.fail("delete_manifest", Code::Denied);
    let cx = Context::new();
    let err = u
        .delete_manifest(&cx, repo, &image.manifest.digest)
        .await
        .unwrap_err();
    assert!(err.is(&Code::Denied), "{err}");
    let p = partial(&err);
    assert_eq!(p.operation, WriteOp::DeleteManifest);
    assert!(matches!(
        p.outcomes[0],
        Outcome::Succeeded {
            rollback: Rollback::Skipped(_)
        }
    ));
    assert_failed_with(&p.outcomes[1], Code::Denied);
    assert!(matches!(p.outcomes[2], Outcome::Unchanged));
    // Still readable through the union, from the registry that kept it.
    assert_manifest(&u, repo, &image.manifest).await;
    fb.heal();
    u.delete_manifest(&cx, repo, &image.manifest.digest)
        .await
        .unwrap();
    assert_no_manifest(&u, repo, &image.manifest.digest).await;
}

/// A registry that delays each `push_manifest` so that calls complete in the reverse of the
/// order they were made in.
struct Reversing {
    inner: Arc<MemRegistry>,
    calls: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl Registry for Reversing {
    async fn push_manifest(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40u64.saturating_sub(n * 5))).await;
        self.inner
            .push_manifest(cx, repo, tag, contents, media_type, digest)
            .await
    }
    async fn resolve_manifest(&self, cx: &Context, repo: &str, d: &Digest) -> Result<Descriptor> {
        self.inner.resolve_manifest(cx, repo, d).await
    }
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.inner.resolve_tag(cx, repo, tag).await
    }
}

/// Concurrent pushes of different manifests to one tag reach every registry in the same order,
/// even when one registry answers them out of order: the tag ends at the same manifest in all.
#[tokio::test]
async fn concurrent_tag_pushes_end_the_same_everywhere() {
    let repo = "partial/concurrent";
    let lax = || {
        Arc::new(MemRegistry::with_config(
            ociregistry_mem::Config::default().lax_child_references(true),
        ))
    };
    let (a, b) = (lax(), lax());
    let slow = Arc::new(Reversing {
        inner: b.clone(),
        calls: Default::default(),
    });
    let u = unify(a.clone(), slow);
    let mut c = content("concurrent");
    let config = c.config();
    let manifests: Vec<_> = (0..8)
        .map(|i| {
            image_manifest(&config.descriptor(), &[])
                .annotation("n", &i.to_string())
                .build()
        })
        .collect();
    futures_util::future::join_all(
        manifests
            .iter()
            .map(|m| try_push_manifest(&u, repo, Some("latest"), m)),
    )
    .await
    .into_iter()
    .for_each(|r| {
        r.unwrap();
    });
    let cx = Context::new();
    let in_a = a.resolve_tag(&cx, repo, "latest").await.unwrap();
    let in_b = b.resolve_tag(&cx, repo, "latest").await.unwrap();
    assert_eq!(in_a.digest, in_b.digest);
    u.resolve_tag(&cx, repo, "latest").await.unwrap();
}
