//! Commits that use the running hash (every part written by this process) and commits that
//! re-read the parts (parts written elsewhere): both publish exactly the pushed bytes, and a
//! wrong digest leaves the upload open for the right one.

#![allow(clippy::unwrap_used)]

mod common;

use common::{content, temp_dir, write_in_pieces as write};
use ociregistry_core::bytes::Bytes;
use ociregistry_core::{BlobWriter, Code, Context, Digest, Registry};
use ociregistry_store::{ObjectStoreRegistry, StoreConfig};

const REPO: &str = "up/a";

async fn assert_stored(r: &ObjectStoreRegistry, digest: &Digest, data: &Bytes) {
    let got = r.get_blob(&Context::new(), REPO, digest).await.unwrap();
    assert_eq!(got.bytes(64 << 20).await.unwrap(), *data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_part_upload_survives_a_wrong_digest_and_commits() {
    let dir = temp_dir();
    let r = ObjectStoreRegistry::local(&dir).unwrap();
    let cx = Context::new();
    // Big enough for the running hash to move to its thread, small enough for one part.
    let data = content(11, 3 << 20);
    let digest = Digest::sha256(&data);
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    let id = w.id().to_owned();
    write(&mut w, &data, 100_000).await;
    let err = w.commit(&Digest::sha256(b"other")).await.unwrap_err();
    assert!(err.is(&Code::DigestInvalid), "{err}");
    let w = r
        .push_blob_chunked_resume(&cx, REPO, &id, Some(data.len() as u64), None)
        .await
        .unwrap();
    w.commit(&digest).await.unwrap();
    assert_stored(&r, &digest, &data).await;
    // The session is gone, and the blob outlives its (linked) part.
    let err = r
        .push_blob_chunked_resume(&cx, REPO, &id, None, None)
        .await
        .err()
        .unwrap();
    assert!(err.is(&Code::BlobUploadUnknown), "{err}");
    let reopened = ObjectStoreRegistry::local(&dir).unwrap();
    assert_stored(&reopened, &digest, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_part_upload_across_writers_commits_the_exact_bytes() {
    let dir = temp_dir();
    let r =
        ObjectStoreRegistry::local_with_config(&dir, StoreConfig::default().part_size(64 << 10))
            .unwrap();
    let cx = Context::new();
    let data = content(12, (2 << 20) + 12_345);
    let digest = Digest::sha256(&data);
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    let half = data.len() / 2;
    write(&mut w, &data.slice(..half), 50_000).await;
    let st = w.close().await.unwrap();
    assert_eq!(st.size, half as u64);
    // The next writer (the next PATCH) carries the running hash on.
    let mut w = r
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(half as u64), None)
        .await
        .unwrap();
    write(&mut w, &data.slice(half..), 70_000).await;
    w.commit(&digest).await.unwrap();
    assert_stored(&r, &digest, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_written_by_another_registry_are_hashed_from_the_store() {
    let dir = temp_dir();
    let (a, b) = (
        ObjectStoreRegistry::local(&dir).unwrap(),
        ObjectStoreRegistry::local(&dir).unwrap(),
    );
    let cx = Context::new();
    let data = content(13, 2 << 20);
    let digest = Digest::sha256(&data);
    // a writes the start, b the rest: neither has a running hash of the whole.
    let mut w = a.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write(&mut w, &data.slice(..1 << 20), 1 << 20).await;
    let st = w.close().await.unwrap();
    let mut w = b
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(1 << 20), None)
        .await
        .unwrap();
    write(&mut w, &data.slice(1 << 20..), 1 << 20).await;
    let st = w.close().await.unwrap();
    // Back on a, whose cached hash covers only the first MiB: it must not be used.
    let w = a
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(2 << 20), None)
        .await
        .unwrap();
    let err = w
        .commit(&Digest::sha256(&data[..1 << 20]))
        .await
        .unwrap_err();
    assert!(err.is(&Code::DigestInvalid), "{err}");
    let w = a
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(2 << 20), None)
        .await
        .unwrap();
    w.commit(&digest).await.unwrap();
    assert_stored(&b, &digest, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_known_content_again_only_verifies() {
    let dir = temp_dir();
    let r = ObjectStoreRegistry::local(&dir).unwrap();
    let cx = Context::new();
    let data = content(14, 1_500_000);
    let digest = Digest::sha256(&data);
    for _ in 0..2 {
        let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
        write(&mut w, &data, 300_000).await;
        w.commit(&digest).await.unwrap();
        assert_stored(&r, &digest, &data).await;
    }
    // A wrong upload of the same size is still refused.
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write(&mut w, &content(15, 1_500_000), 300_000).await;
    assert!(
        w.commit(&digest)
            .await
            .unwrap_err()
            .is(&Code::DigestInvalid)
    );
}

#[tokio::test]
async fn ended_sessions_do_not_count_against_the_session_cap() {
    // Regression: ended sessions left empty directories behind on the local disk, counted as
    // open sessions, so a store refused every upload after `max_uploads` of them.
    let dir = temp_dir();
    let r = ObjectStoreRegistry::local_with_config(&dir, StoreConfig::default().max_uploads(3))
        .unwrap();
    let cx = Context::new();
    // Directories left by an older version (or another tool) count no more than ended ones.
    for i in 0..5 {
        std::fs::create_dir_all(dir.join(format!("uploads/{i:032x}/parts"))).unwrap();
    }
    for i in 0..10u64 {
        let data = content(100 + i, 4096);
        let digest = Digest::sha256(&data);
        let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
        w.write(data.clone()).await.unwrap();
        w.commit(&digest).await.unwrap();
        let w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
        w.cancel().await.unwrap();
    }
    let leftover: Vec<_> = std::fs::read_dir(dir.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftover.len(),
        5,
        "only the foreign directories remain: {leftover:?}"
    );
    // The cap still holds for sessions really open.
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(r.push_blob_chunked(&cx, REPO, None).await.unwrap());
    }
    let err = r.push_blob_chunked(&cx, REPO, None).await.err().unwrap();
    assert!(err.is(&Code::TooManyRequests), "{err}");
}

#[tokio::test]
async fn large_objects_stream_back_in_large_pieces() {
    let dir = temp_dir();
    let r = ObjectStoreRegistry::local(&dir).unwrap();
    let cx = Context::new();
    let data = content(21, (3 << 20) + 17);
    let digest = Digest::sha256(&data);
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write(&mut w, &data, 1 << 20).await;
    w.commit(&digest).await.unwrap();
    let mut reader = r.get_blob(&cx, REPO, &digest).await.unwrap();
    let mut pieces = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut reader).await {
        pieces.push(chunk.unwrap());
    }
    assert_eq!(pieces.concat(), data.to_vec());
    assert!(pieces.len() <= 4, "{} pieces for 3 MiB", pieces.len());
    // A range, too.
    let part = r
        .get_blob_range(
            &cx,
            REPO,
            &digest,
            ociregistry_core::ByteRange::Bounded {
                start: 5,
                end: 2_000_005,
            },
        )
        .await
        .unwrap();
    assert_eq!(part.bytes(8 << 20).await.unwrap(), data.slice(5..2_000_005));
}
