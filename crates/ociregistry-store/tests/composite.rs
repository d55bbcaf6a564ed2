//! Composite blobs: an upload of several parts is published by copying (linking) its parts
//! and writing an index, never by rewriting the bytes; reads stitch the parts, ranges across
//! part boundaries included; identical content pushed twice keeps one copy; garbage
//! collection removes composite blobs whole and parts that no index names.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{content, files_under, temp_dir, write_in_pieces};
use ociregistry_core::bytes::Bytes;
use ociregistry_core::{ByteRange, Context, Digest, Registry};
use ociregistry_store::{GcOptions, ObjectStoreRegistry, StoreConfig};

const REPO: &str = "comp/a";
const PART: usize = 64 << 10;

fn registry(dir: &std::path::Path) -> ObjectStoreRegistry {
    ObjectStoreRegistry::local_with_config(dir, StoreConfig::default().part_size(PART)).unwrap()
}

/// Uploads `data` through one writer in `piece`-byte writes and commits it.
async fn upload(r: &ObjectStoreRegistry, repo: &str, data: &Bytes, piece: usize) -> Digest {
    let digest = Digest::sha256(data);
    let mut w = r
        .push_blob_chunked(&Context::new(), repo, None)
        .await
        .unwrap();
    write_in_pieces(&mut w, data, piece).await;
    w.commit(&digest).await.unwrap();
    digest
}

fn under<'a>(files: &'a [String], prefix: &str) -> Vec<&'a String> {
    files.iter().filter(|f| f.starts_with(prefix)).collect()
}

async fn read_range(r: &ObjectStoreRegistry, d: &Digest, start: u64, end: u64) -> Bytes {
    let range = ByteRange::parse_header(&format!("bytes={start}-{}", end - 1)).unwrap();
    let reader = r
        .get_blob_range(&Context::new(), REPO, d, range)
        .await
        .unwrap();
    reader.bytes(16 << 20).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_part_upload_is_published_as_linked_parts_and_reads_back_exactly() {
    let dir = temp_dir();
    let r = registry(&dir);
    let cx = Context::new();
    let data = content(31, 5 * PART + 1234);
    let digest = upload(&r, REPO, &data, 10_000).await;

    let files = files_under(&dir);
    let hex = digest.hex();
    assert!(
        under(&files, &format!("blobs/sha256/{hex}")).is_empty(),
        "{files:?}"
    );
    assert_eq!(
        under(&files, &format!("composite/sha256/{hex}")).len(),
        1,
        "{files:?}"
    );
    // Writes of 10,000 bytes are stored as parts once 64 KiB are buffered: 70,000 bytes each.
    assert_eq!(
        under(&files, &format!("parts/sha256/{hex}/")).len(),
        5,
        "{files:?}"
    );
    assert!(under(&files, "uploads/").is_empty(), "{files:?}");

    let desc = r.resolve_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(desc.size, data.len() as u64);
    let whole = r.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(whole.descriptor().size, data.len() as u64);
    assert_eq!(whole.verified(&digest).bytes(16 << 20).await.unwrap(), data);
    // Ranges inside one part, across boundaries, across several parts, to the end.
    let p = PART as u64;
    let n = data.len() as u64;
    for (start, end) in [
        (0, 10),
        (p - 5, p + 5),
        (p - 1, 3 * p + 1),
        (10, n),
        (n - 1, n),
        (2 * p, 3 * p),
    ] {
        let got = read_range(&r, &digest, start, end).await;
        assert_eq!(
            got,
            data.slice(start as usize..end as usize),
            "{start}..{end}"
        );
    }
    // A fresh registry on the same directory reads it the same.
    let reopened = registry(&dir);
    let got = reopened.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(got.bytes(16 << 20).await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_content_uploaded_twice_keeps_one_composite() {
    let dir = temp_dir();
    let r = registry(&dir);
    let cx = Context::new();
    let data = content(32, 3 * PART + 77);
    let digest = Digest::sha256(&data);
    // Two sessions of the same content, partitioned differently, both written before either
    // commits: the second commit finds the blob stored and only verifies.
    let mut a = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write_in_pieces(&mut a, &data, 10_000).await;
    let mut b = r.push_blob_chunked(&cx, "comp/b", None).await.unwrap();
    write_in_pieces(&mut b, &data.slice(..1000), 1000).await;
    let st = b.close().await.unwrap();
    let mut b = r
        .push_blob_chunked_resume(&cx, "comp/b", &st.id, Some(1000), None)
        .await
        .unwrap();
    write_in_pieces(&mut b, &data.slice(1000..), 30_000).await;
    a.commit(&digest).await.unwrap();
    b.commit(&digest).await.unwrap();

    let files = files_under(&dir);
    // Only the first commit's parts (3 of 70,000 bytes or less) are kept.
    let parts = under(&files, &format!("parts/sha256/{}/", digest.hex()));
    assert_eq!(parts.len(), 3, "{files:?}");
    assert!(under(&files, "uploads/").is_empty(), "{files:?}");
    for repo in [REPO, "comp/b"] {
        let got = r.get_blob(&cx, repo, &digest).await.unwrap();
        assert_eq!(got.bytes(16 << 20).await.unwrap(), data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composite_blob_from_parts_written_elsewhere_is_verified_from_the_store() {
    let dir = temp_dir();
    let cx = Context::new();
    let data = content(33, 4 * PART + 5);
    let digest = Digest::sha256(&data);
    // One registry writes the parts, another one (another process) commits.
    let first = registry(&dir);
    let mut w = first.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write_in_pieces(&mut w, &data, 20_000).await;
    let st = w.close().await.unwrap();
    let second = registry(&dir);
    let w = second
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(data.len() as u64), None)
        .await
        .unwrap();
    let err = w.commit(&Digest::sha256(b"not it")).await.unwrap_err();
    assert!(err.is(&ociregistry_core::Code::DigestInvalid), "{err}");
    assert!(under(&files_under(&dir), "composite/").is_empty());
    let w = second
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(data.len() as u64), None)
        .await
        .unwrap();
    w.commit(&digest).await.unwrap();
    let got = first.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(got.bytes(16 << 20).await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_unreferenced_composites_and_orphaned_parts_only() {
    let dir = temp_dir();
    let r = registry(&dir);
    let cx = Context::new();
    let data = content(34, 3 * PART);
    let digest = upload(&r, REPO, &data, 50_000).await;
    let hex = digest.hex().to_owned();

    // Parts an interrupted commit left behind (no index names them, the session is gone) and
    // parts of a commit in progress (its session still exists).
    let orphan = content(35, 2 * PART);
    let orphan_digest = Digest::sha256(&orphan);
    let orphan_dir = dir.join(format!(
        "parts/sha256/{}/0123456789abcdef0123456789abcdef",
        orphan_digest.hex()
    ));
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("00000000000000000000"), &orphan[..PART]).unwrap();
    std::fs::write(orphan_dir.join(format!("{PART:020}")), &orphan[PART..]).unwrap();
    let mut live = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write_in_pieces(&mut live, &orphan, PART).await;
    let live = live.close().await.unwrap();
    let live_dir = dir.join(format!("parts/sha256/{}/{}", orphan_digest.hex(), live.id));
    std::fs::create_dir_all(&live_dir).unwrap();
    std::fs::write(live_dir.join("00000000000000000000"), &orphan[..PART]).unwrap();

    // Within the grace period everything stays.
    let report = r.collect_garbage(GcOptions::default()).await.unwrap();
    assert_eq!(report.blobs_deleted, 0, "{report:?}");
    assert_eq!(report.orphan_parts_deleted, 2, "{report:?}");
    let files = files_under(&dir);
    assert!(
        under(
            &files,
            &format!("parts/sha256/{}/0123", orphan_digest.hex())
        )
        .is_empty(),
        "{files:?}"
    );
    assert_eq!(
        under(
            &files,
            &format!("parts/sha256/{}/{}", orphan_digest.hex(), live.id)
        )
        .len(),
        1
    );
    // Writes of 50,000 bytes: parts of 100,000.
    assert_eq!(under(&files, &format!("parts/sha256/{hex}/")).len(), 2);
    let got = r.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(got.bytes(16 << 20).await.unwrap(), data);

    // Past the grace period the unreferenced composite goes whole: index, then parts.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = r
        .collect_garbage(GcOptions::default().grace_period(Duration::from_millis(1)))
        .await
        .unwrap();
    assert_eq!(report.blobs_deleted, 1, "{report:?}");
    assert_eq!(report.bytes_deleted, data.len() as u64, "{report:?}");
    let files = files_under(&dir);
    assert!(
        under(&files, &format!("composite/sha256/{hex}")).is_empty(),
        "{files:?}"
    );
    assert!(
        under(&files, &format!("parts/sha256/{hex}/")).is_empty(),
        "{files:?}"
    );
    let err = r.get_blob(&cx, REPO, &digest).await.err().unwrap();
    assert!(err.is(&ociregistry_core::Code::BlobUnknown), "{err}");
    // The live session's parts stay while it lives.
    assert_eq!(
        under(
            &files,
            &format!("parts/sha256/{}/{}", orphan_digest.hex(), live.id)
        )
        .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_of_very_many_parts_is_rewritten_whole() {
    let dir = temp_dir();
    // Parts of one byte: every write stores one.
    let r =
        ObjectStoreRegistry::local_with_config(&dir, StoreConfig::default().part_size(1)).unwrap();
    let cx = Context::new();
    let data = content(36, 1025);
    let digest = Digest::sha256(&data);
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    write_in_pieces(&mut w, &data, 1).await;
    w.commit(&digest).await.unwrap();
    let files = files_under(&dir);
    assert_eq!(
        under(&files, &format!("blobs/sha256/{}", digest.hex())).len(),
        1
    );
    assert!(under(&files, "composite/").is_empty(), "{files:?}");
    assert!(under(&files, "parts/").is_empty());
    assert!(under(&files, "uploads/").is_empty());
    let got = r.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(got.bytes(1 << 20).await.unwrap(), data);
}
