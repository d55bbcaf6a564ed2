//! Chunked uploads: sessions, resumption, commit, cancel, expiry and the session cap.

use std::time::Duration;

use bytes::Bytes;
use ociregistry_core::{Algorithm, BlobWriter, Code, Digest, Registry};
use ociregistry_mem::{Config, MemRegistry};

use crate::common::*;

async fn write_all(w: &mut Box<dyn BlobWriter>, parts: &[&[u8]]) {
    for p in parts {
        w.write(Bytes::copy_from_slice(p)).await.unwrap();
    }
}

#[tokio::test]
async fn chunked_upload_close_resume_commit() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    assert_eq!(w.chunk_size(), 64 * 1024);
    let id = w.id().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    // The repository exists from the start of the upload.
    assert_eq!(
        list(r.tags(&cx(), "up", None)).await.unwrap(),
        Vec::<String>::new()
    );
    write_all(&mut w, &[b"hello ", b"chunked "]).await;
    assert_eq!(w.size(), 14);
    let status = w.close().await.unwrap();
    assert_eq!((status.id.as_str(), status.size), (id.as_str(), 14));
    assert_eq!(r.upload_count(), 1);

    let mut w = r
        .push_blob_chunked_resume(&cx(), "up", &id, Some(14), Some(10))
        .await
        .unwrap();
    assert_eq!((w.size(), w.chunk_size()), (14, 10));
    write_all(&mut w, &[b"world"]).await;
    assert_eq!(w.size(), 19);
    // Another writer resumed at the current size sees everything written.
    let w2 = r
        .push_blob_chunked_resume(&cx(), "up", &id, None, None)
        .await
        .unwrap();
    assert_eq!(w2.size(), 19);
    drop(w2);
    let digest = Digest::sha256(b"hello chunked world");
    let desc = w.commit(&digest).await.unwrap();
    assert_eq!(
        (desc.media_type.as_str(), desc.size),
        ("application/octet-stream", 19)
    );
    assert_eq!(
        read(r.get_blob(&cx(), "up", &digest).await.unwrap()).await,
        b"hello chunked world"
    );
    assert_eq!(r.upload_count(), 0);
    // A committed session is gone.
    assert_eq!(
        code(
            r.push_blob_chunked_resume(&cx(), "up", &id, None, None)
                .await
        ),
        Code::BlobUploadUnknown
    );
}

#[tokio::test]
async fn unknown_ids_are_never_adopted() {
    let r = MemRegistry::new();
    for id in ["", "0123456789abcdef0123456789abcdef", "../x"] {
        assert_eq!(
            code(
                r.push_blob_chunked_resume(&cx(), "up", id, None, None)
                    .await
            ),
            Code::BlobUploadUnknown
        );
        assert_eq!(
            code(
                r.push_blob_chunked_resume(&cx(), "up", id, Some(0), None)
                    .await
            ),
            Code::BlobUploadUnknown
        );
    }
    assert_eq!(r.upload_count(), 0);
}

#[tokio::test]
async fn ids_are_bound_to_their_repository() {
    let r = MemRegistry::new();
    let w = r.push_blob_chunked(&cx(), "mine", None).await.unwrap();
    let id = w.close().await.unwrap().id;
    assert_eq!(
        code(
            r.push_blob_chunked_resume(&cx(), "theirs", &id, None, None)
                .await
        ),
        Code::BlobUploadUnknown
    );
    r.push_blob_chunked_resume(&cx(), "mine", &id, Some(0), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn resuming_at_the_wrong_offset() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    write_all(&mut w, &[b"abc"]).await;
    let id = w.close().await.unwrap().id;
    for offset in [0, 2, 4, u64::MAX] {
        let msg = expect_err(
            r.push_blob_chunked_resume(&cx(), "up", &id, Some(offset), None)
                .await
                .map(|w| w.size()),
            Code::RangeInvalid,
        );
        assert!(msg.contains("3 bytes"), "{msg}");
    }
    // The session is unharmed.
    let w = r
        .push_blob_chunked_resume(&cx(), "up", &id, Some(3), None)
        .await
        .unwrap();
    w.commit(&Digest::sha256(b"abc")).await.unwrap();
}

#[tokio::test]
async fn a_wrong_digest_keeps_the_session_and_cancel_frees_it() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    write_all(&mut w, &[b"content"]).await;
    let id = w.id().to_owned();
    assert_eq!(
        code(w.commit(&Digest::sha256(b"other")).await),
        Code::DigestInvalid
    );
    assert_eq!(r.upload_count(), 1);
    assert_eq!(
        code(
            r.resolve_blob(&cx(), "up", &Digest::sha256(b"content"))
                .await
        ),
        Code::BlobUnknown
    );

    let a = r
        .push_blob_chunked_resume(&cx(), "up", &id, Some(7), None)
        .await
        .unwrap();
    let mut b = r
        .push_blob_chunked_resume(&cx(), "up", &id, None, None)
        .await
        .unwrap();
    a.cancel().await.unwrap();
    assert_eq!(r.upload_count(), 0);
    // Everything about a cancelled session is unknown, and cancelling again succeeds.
    assert_eq!(
        code(b.write(Bytes::from_static(b"x")).await),
        Code::BlobUploadUnknown
    );
    b.cancel().await.unwrap();
    assert_eq!(
        code(
            r.push_blob_chunked_resume(&cx(), "up", &id, None, None)
                .await
        ),
        Code::BlobUploadUnknown
    );
    let c = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    let id = c.id().to_owned();
    let d = r
        .push_blob_chunked_resume(&cx(), "up", &id, None, None)
        .await
        .unwrap();
    c.cancel().await.unwrap();
    assert_eq!(code(d.close().await), Code::BlobUploadUnknown);
}

#[tokio::test]
async fn a_retried_commit_succeeds() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    write_all(&mut w, &[b"retry"]).await;
    let id = w.id().to_owned();
    assert_eq!(
        code(w.commit(&Digest::sha256(b"nope")).await),
        Code::DigestInvalid
    );
    let w = r
        .push_blob_chunked_resume(&cx(), "up", &id, Some(5), None)
        .await
        .unwrap();
    w.commit(&Digest::sha256(b"retry")).await.unwrap();
    assert_eq!(r.upload_count(), 0);
}

#[tokio::test]
async fn sha512_commit() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    for part in data.chunks(4096) {
        w.write(Bytes::copy_from_slice(part)).await.unwrap();
    }
    let id = w.id().to_owned();
    let wrong = Digest::compute(Algorithm::Sha512, b"nope");
    assert_eq!(code(w.commit(&wrong).await), Code::DigestInvalid);
    let w = r
        .push_blob_chunked_resume(&cx(), "up", &id, None, None)
        .await
        .unwrap();
    let digest = Digest::compute(Algorithm::Sha512, &data);
    let desc = w.commit(&digest).await.unwrap();
    assert_eq!((desc.digest.clone(), desc.size), (digest.clone(), 50_000));
    assert_eq!(
        read(r.get_blob(&cx(), "up", &digest).await.unwrap()).await,
        data
    );
}

#[tokio::test]
async fn empty_upload() {
    let r = MemRegistry::new();
    let w = r.push_blob_chunked(&cx(), "up", Some(0)).await.unwrap();
    assert_eq!(w.chunk_size(), 64 * 1024);
    let desc = w.commit(&Digest::sha256(b"")).await.unwrap();
    assert_eq!(desc.size, 0);
    assert!(
        read(r.get_blob(&cx(), "up", &desc.digest).await.unwrap())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn idle_sessions_expire_and_are_freed() {
    let r =
        MemRegistry::with_config(Config::default().upload_idle_timeout(Duration::from_millis(250)));
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    write_all(&mut w, &[b"soon gone"]).await;
    let idle = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    let idle_id = idle.close().await.unwrap().id;
    assert_eq!(r.upload_count(), 2);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(r.upload_count(), 0);
    assert_eq!(
        code(w.write(Bytes::from_static(b"more")).await),
        Code::BlobUploadUnknown
    );
    assert_eq!(
        code(
            r.push_blob_chunked_resume(&cx(), "up", &idle_id, None, None)
                .await
        ),
        Code::BlobUploadUnknown
    );
    assert_eq!(
        code(w.commit(&Digest::sha256(b"soon gone")).await),
        Code::BlobUploadUnknown
    );
}

#[tokio::test]
async fn an_active_writer_whose_session_sat_idle_is_refused() {
    let r =
        MemRegistry::with_config(Config::default().upload_idle_timeout(Duration::from_millis(20)));
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // No sweep happened in between: the writer notices by itself.
    assert_eq!(
        code(w.write(Bytes::from_static(b"late")).await),
        Code::BlobUploadUnknown
    );
    assert_eq!(r.upload_count(), 0);
}

#[tokio::test]
async fn the_number_of_sessions_is_capped() {
    let r = MemRegistry::with_config(Config::default().max_uploads(3));
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(r.push_blob_chunked(&cx(), "up", None).await.unwrap());
    }
    assert_eq!(
        code(r.push_blob_chunked(&cx(), "up", None).await),
        Code::TooManyRequests
    );
    // The refused start created nothing, not even its repository.
    assert_eq!(
        code(r.push_blob_chunked(&cx(), "other", None).await),
        Code::TooManyRequests
    );
    assert_eq!(list(r.repositories(&cx(), None)).await.unwrap(), ["up"]);
    // Ending one makes room.
    open.pop().unwrap().cancel().await.unwrap();
    r.push_blob_chunked(&cx(), "up", None).await.unwrap();
}

#[tokio::test]
async fn ids_are_distinct() {
    let r = MemRegistry::new();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..100 {
        let w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
        assert!(ids.insert(w.id().to_owned()));
        w.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn dropping_a_writer_leaves_the_upload_resumable() {
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "up", None).await.unwrap();
    write_all(&mut w, &[b"dropped"]).await;
    let id = w.id().to_owned();
    drop(w);
    let w = r
        .push_blob_chunked_resume(&cx(), "up", &id, Some(7), None)
        .await
        .unwrap();
    w.commit(&Digest::sha256(b"dropped")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_hash_in_the_background_and_survive_a_wrong_digest() {
    // Past the first MiB the running hash moves to a thread; a commit under a wrong digest
    // must not disturb it, and the right digest then commits, across resumed writers.
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let data = Bytes::from(data);
    let r = MemRegistry::new();
    let mut w = r.push_blob_chunked(&cx(), "big", None).await.unwrap();
    let id = w.id().to_owned();
    let half = 2_500_000;
    for c in data[..half].chunks(123_457) {
        w.write(data.slice_ref(c)).await.unwrap();
    }
    let err = w
        .commit(&Digest::sha256(&data[..half - 1]))
        .await
        .unwrap_err();
    assert!(err.is(&Code::DigestInvalid), "{err}");
    let mut w = r
        .push_blob_chunked_resume(&cx(), "big", &id, Some(half as u64), None)
        .await
        .unwrap();
    for c in data[half..].chunks(200_003) {
        w.write(data.slice_ref(c)).await.unwrap();
    }
    let digest = Digest::sha256(&data);
    let desc = w.commit(&digest).await.unwrap();
    assert_eq!(desc.size, data.len() as u64);
    assert_eq!(
        read(r.get_blob(&cx(), "big", &digest).await.unwrap()).await,
        data
    );
}
