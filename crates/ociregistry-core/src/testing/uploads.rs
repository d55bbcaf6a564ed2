//! Chunked upload tests: [`BlobWriter`](crate::BlobWriter) sessions.

use std::sync::Arc;

use bytes::Bytes;

use super::content::*;
use crate::media_type::OCTET_STREAM;
use crate::{Algorithm, Code, Context, Descriptor, Digest, Registry, UploadStatus};

/// Resumes `id` expecting failure with `code`: at `push_blob_chunked_resume` itself or, for
/// backends that check lazily (the trait allows the offset check to happen "no later than the
/// first write or the close"), at the first write or the close of the resumed writer.
pub async fn expect_resume_error(
    registry: &dyn Registry,
    repo: &str,
    id: &str,
    offset: Option<u64>,
    code: Code,
    what: &str,
) {
    let cx = Context::new();
    match registry
        .push_blob_chunked_resume(&cx, repo, id, offset, None)
        .await
    {
        Err(e) => {
            expect_code::<()>(Err(e), code, what);
        }
        Ok(mut w) => {
            let res = match w.write(Bytes::from_static(b"x")).await {
                Err(e) => Err(e),
                Ok(()) => w.close().await.map(|_| ()),
            };
            expect_code(res, code, &format!("{what} (first write or close)"));
        }
    }
}

/// Starts an upload in `repo`, writes `parts` and closes it; returns the status.
pub async fn start_upload(registry: &dyn Registry, repo: &str, parts: &[&[u8]]) -> UploadStatus {
    let cx = Context::new();
    let mut w = expect_ok(
        registry.push_blob_chunked(&cx, repo, None).await,
        &format!("push_blob_chunked in {repo}"),
    );
    for p in parts {
        expect_ok(w.write(Bytes::copy_from_slice(p)).await, "write");
    }
    let want: usize = parts.iter().map(|p| p.len()).sum();
    assert_eq!(w.size(), want as u64, "size() after writes");
    let st = expect_ok(w.close().await, "close");
    assert_eq!(st.size, want as u64, "close(): size");
    assert!(!st.id.is_empty(), "close(): empty id");
    st
}

/// A chunked upload: ids are non-empty and distinct per session, `chunk_size()` follows the
/// hint, `size()` counts every write, and `commit` returns `{application/octet-stream, digest,
/// size}` and makes the blob readable. Two sessions in one repository do not interfere.
pub async fn upload_chunked(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_chunked/a";
    let mut c = Content::new("upload_chunked");
    let one = c.layer(50_000);
    let two = c.layer(777);

    let mut w1 = expect_ok(
        r.push_blob_chunked(&cx, repo, None).await,
        "push_blob_chunked",
    );
    assert!(w1.chunk_size() > 0, "chunk_size() is 0");
    assert_eq!(w1.size(), 0, "size() of a new upload");
    let hint = 64 << 10;
    let mut w2 = expect_ok(
        r.push_blob_chunked(&cx, repo, Some(hint)).await,
        "push_blob_chunked with a chunk size hint",
    );
    assert!(
        w2.chunk_size() >= hint,
        "chunk_size() {} is below the hint {hint}",
        w2.chunk_size()
    );
    assert!(!w1.id().is_empty(), "empty upload id");
    assert_ne!(w1.id(), w2.id(), "two uploads have the same id");

    // Interleave the writes of the two sessions.
    let mut written = 0;
    let mut parts2 = two.data.chunks(100);
    for part in one.data.chunks(7000) {
        expect_ok(w1.write(Bytes::copy_from_slice(part)).await, "write");
        written += part.len() as u64;
        assert_eq!(w1.size(), written, "size() after a write");
        if let Some(p) = parts2.next() {
            expect_ok(w2.write(Bytes::copy_from_slice(p)).await, "write");
        }
        expect_ok(w2.write(Bytes::new()).await, "write of no bytes");
    }
    for p in parts2 {
        expect_ok(w2.write(Bytes::copy_from_slice(p)).await, "write");
    }
    assert_eq!(w2.size(), two.size(), "size() of the second upload");

    let desc = expect_ok(w1.commit(&one.digest).await, "commit");
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, one.digest.clone(), one.size()),
        "commit: descriptor"
    );
    let desc = expect_ok(w2.commit(&two.digest).await, "commit of the second upload");
    assert_eq!(desc.digest, two.digest, "commit of the second upload");
    assert_blob(r, repo, &one).await;
    assert_blob(r, repo, &two).await;
}

/// `close` leaves an upload resumable: resuming with offset `None` continues at the current size
/// and with `Some(size)` too; after `commit` the upload is gone (`BLOB_UPLOAD_UNKNOWN`).
pub async fn upload_close_resume(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_close_resume/a";
    let mut c = Content::new("upload_close_resume");
    let blob = c.layer(4000);
    let d = &blob.data;

    let st = start_upload(r, repo, &[&d[..1000], &d[1000..1500]]).await;

    let mut w = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, None, None)
            .await,
        "resume with offset None",
    );
    assert_eq!(w.size(), 1500, "size() after resuming with offset None");
    expect_ok(w.write(d.slice(1500..2500)).await, "write after resume");
    assert_eq!(w.size(), 2500, "size() after a write");
    let st = expect_ok(w.close().await, "close after resume");
    assert_eq!(st.size, 2500, "close(): size");

    let mut w = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(2500), None)
            .await,
        "resume with the right offset",
    );
    assert_eq!(w.size(), 2500, "size() after resuming with an offset");
    expect_ok(w.write(d.slice(2500..)).await, "write after resume");
    let desc = expect_ok(w.commit(&blob.digest).await, "commit after resume");
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, blob.digest.clone(), blob.size()),
        "commit after resume"
    );
    assert_blob(r, repo, &blob).await;

    expect_resume_error(
        r,
        repo,
        &st.id,
        None,
        Code::BlobUploadUnknown,
        "resume of a committed upload",
    )
    .await;
}

/// Resuming with an offset other than the upload's size fails with `RANGE_INVALID` and leaves
/// the upload intact.
pub async fn upload_wrong_offset(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_wrong_offset/a";
    let mut c = Content::new("upload_wrong_offset");
    let blob = c.layer(15);
    let st = start_upload(r, repo, &[&blob.data[..10]]).await;

    for offset in [0, 5, 9, 11, 1000] {
        expect_resume_error(
            r,
            repo,
            &st.id,
            Some(offset),
            Code::RangeInvalid,
            &format!("resume at offset {offset} of an upload of 10 bytes"),
        )
        .await;
    }

    let mut w = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(10), None)
            .await,
        "resume at the right offset after wrong ones",
    );
    assert_eq!(w.size(), 10, "size() after the failed resumes");
    expect_ok(w.write(blob.data.slice(10..)).await, "write");
    expect_ok(w.commit(&blob.digest).await, "commit");
    assert_blob(r, repo, &blob).await;
}

/// Resuming an id the registry never issued fails with `BLOB_UPLOAD_UNKNOWN`, and does not create
/// an upload with that id.
pub async fn upload_unknown_id(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "upload_unknown_id/a";
    let mut c = Content::new("upload_unknown_id");
    push_blob(r, repo, &c.layer(5)).await;
    let ids = [c.rng().hex(16), c.rng().hex(32), "0".repeat(64)];
    for id in &ids {
        for offset in [None, Some(0), None] {
            expect_resume_error(
                r,
                repo,
                id,
                offset,
                Code::BlobUploadUnknown,
                &format!("resume of the never issued id {id:?} at {offset:?}"),
            )
            .await;
        }
    }
}

/// An upload is bound to its repository: resuming its id in another fails with
/// `BLOB_UPLOAD_UNKNOWN`, and the upload still completes in its own.
pub async fn upload_other_repository(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let a = "upload_other_repository/a";
    let b = "upload_other_repository/b";
    let mut c = Content::new("upload_other_repository");
    push_blob(r, b, &c.layer(5)).await;
    let blob = c.layer(100);
    let st = start_upload(r, a, &[&blob.data[..40]]).await;

    for offset in [None, Some(40)] {
        expect_resume_error(
            r,
            b,
            &st.id,
            offset,
            Code::BlobUploadUnknown,
            &format!("resume in {b} of an upload of {a} at {offset:?}"),
        )
        .await;
    }

    let mut w = expect_ok(
        r.push_blob_chunked_resume(&cx, a, &st.id, Some(40), None)
            .await,
        "resume in its own repository",
    );
    expect_ok(w.write(blob.data.slice(40..)).await, "write");
    expect_ok(w.commit(&blob.digest).await, "commit");
    assert_blob(r, a, &blob).await;
    assert_no_blob(r, b, &blob.digest).await;
}

/// `commit` with a digest the content does not hash to (SHA-256 or SHA-512) fails with
/// `DIGEST_INVALID`, makes nothing visible, and leaves the upload to be committed right.
pub async fn upload_commit_wrong_digest(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_commit_wrong_digest/a";
    let mut c = Content::new("upload_commit_wrong_digest");
    let blob = c.layer(200);
    let wrong = c.layer(200);
    let st = start_upload(r, repo, &[&blob.data[..100], &blob.data[100..]]).await;

    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let bad = Digest::compute(alg, &wrong.data);
        let w = expect_ok(
            r.push_blob_chunked_resume(&cx, repo, &st.id, Some(200), None)
                .await,
            "resume",
        );
        expect_code(
            w.commit(&bad).await,
            Code::DigestInvalid,
            &format!("commit with a {alg} digest of other content"),
        );
        assert_no_blob(r, repo, &bad).await;
        assert_no_blob(r, repo, &Digest::compute(alg, &blob.data)).await;
    }

    let w = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(200), None)
            .await,
        "resume after failed commits",
    );
    expect_ok(
        w.commit(&blob.digest).await,
        "commit with the right digest after failed commits",
    );
    assert_blob(r, repo, &blob).await;
}

/// `cancel` removes the upload (resuming it fails with `BLOB_UPLOAD_UNKNOWN`, nothing is
/// visible) and is idempotent: a second writer of the same upload, obtained before the cancel,
/// cancels without error; cancelling after another writer committed succeeds and leaves the blob.
pub async fn upload_cancel(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_cancel/a";
    let mut c = Content::new("upload_cancel");

    // A fresh upload cancels.
    let w = expect_ok(
        r.push_blob_chunked(&cx, repo, None).await,
        "push_blob_chunked",
    );
    expect_ok(w.cancel().await, "cancel of a fresh upload");

    // Cancel, then cancel again through another writer of the same upload.
    let blob = c.layer(64);
    let st = start_upload(r, repo, &[&blob.data[..]]).await;
    let w1 = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, None, None)
            .await,
        "resume (first writer)",
    );
    let w2 = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(64), None)
            .await,
        "resume (second writer)",
    );
    expect_ok(w1.cancel().await, "cancel");
    expect_ok(w2.cancel().await, "cancel of an already cancelled upload");
    expect_resume_error(
        r,
        repo,
        &st.id,
        None,
        Code::BlobUploadUnknown,
        "resume of a cancelled upload",
    )
    .await;
    assert_no_blob(r, repo, &blob.digest).await;

    // Commit through one writer, then cancel through another: the blob stays.
    let blob = c.layer(65);
    let st = start_upload(r, repo, &[&blob.data[..]]).await;
    let w1 = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(65), None)
            .await,
        "resume (first writer)",
    );
    let w2 = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(65), None)
            .await,
        "resume (second writer)",
    );
    expect_ok(w1.commit(&blob.digest).await, "commit");
    expect_ok(w2.cancel().await, "cancel of a committed upload");
    assert_blob(r, repo, &blob).await;
}

/// An empty blob through a chunked upload: committing with no write, after an empty write, and
/// after a close and resume at offset 0.
pub async fn upload_empty_blob(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "upload_empty_blob/a";
    let empty = Blob::new(OCTET_STREAM, Bytes::new());

    let w = expect_ok(
        r.push_blob_chunked(&cx, repo, None).await,
        "push_blob_chunked",
    );
    let desc = expect_ok(w.commit(&empty.digest).await, "commit of an empty upload");
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, empty.digest.clone(), 0),
        "commit of an empty upload"
    );
    assert_blob(r, repo, &empty).await;

    let mut w = expect_ok(
        r.push_blob_chunked(&cx, repo, None).await,
        "push_blob_chunked",
    );
    expect_ok(w.write(Bytes::new()).await, "write of no bytes");
    assert_eq!(w.size(), 0, "size() after a write of no bytes");
    expect_ok(
        w.commit(&empty.digest).await,
        "commit after a write of no bytes",
    );

    let st = start_upload(r, repo, &[]).await;
    let w = expect_ok(
        r.push_blob_chunked_resume(&cx, repo, &st.id, Some(0), None)
            .await,
        "resume of an empty upload at offset 0",
    );
    assert_eq!(w.size(), 0, "size() of a resumed empty upload");
    expect_ok(
        w.commit(&empty.digest).await,
        "commit of a resumed empty upload",
    );
    assert_blob(r, repo, &empty).await;
}
