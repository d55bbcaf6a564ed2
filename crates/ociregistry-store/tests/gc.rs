//! Garbage collection: unreferenced blobs go, referenced and recent ones stay, abandoned
//! uploads go.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{content, temp_dir};
use ociregistry_core::bytes::Bytes;
use ociregistry_core::media_type::{OCI_EMPTY, OCI_MANIFEST};
use ociregistry_core::{Code, Context, Descriptor, Digest, Registry, stream};
use ociregistry_store::{GcOptions, ObjectStoreRegistry, StoreConfig};

const REPO: &str = "gc/a";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

async fn push(r: &ObjectStoreRegistry, repo: &str, data: Bytes, mt: &str) -> Descriptor {
    let desc = Descriptor::new(mt, Digest::sha256(&data), data.len() as u64);
    r.push_blob(&Context::new(), repo, &desc, stream::bytes(data))
        .await
        .unwrap();
    desc
}

async fn readable(r: &ObjectStoreRegistry, repo: &str, d: &Digest) -> bool {
    match r.get_blob(&Context::new(), repo, d).await {
        Ok(reader) => {
            reader.verified(d).bytes(1 << 20).await.unwrap();
            true
        }
        Err(e) => {
            assert!(e.is(&Code::BlobUnknown), "{e}");
            false
        }
    }
}

#[tokio::test]
async fn collects_unreferenced_blobs_and_abandoned_uploads() {
    let dir = temp_dir();
    // Generous times, so that a loaded machine (CI, builds beside it) does not expire the live
    // upload or age the recent blob before the collection looks at them.
    let config = StoreConfig::default().upload_idle_timeout(Duration::from_millis(1500));
    let r = ObjectStoreRegistry::local_with_config(&dir, config).unwrap();
    let cx = Context::new();

    // Referenced: config and layer of a tagged manifest, the layer also held by another
    // repository. Unreferenced: a blob pushed into two repositories.
    let config_blob = push(&r, REPO, Bytes::from_static(b"{}"), OCI_EMPTY).await;
    let layer = push(&r, REPO, content(1, 3000), LAYER).await;
    r.mount_blob(&cx, Some(REPO), "gc/b", &layer.digest)
        .await
        .unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_blob, "layers": [layer],
    });
    r.push_manifest(
        &cx,
        REPO,
        Some("v1"),
        Bytes::from(m.to_string()),
        OCI_MANIFEST,
        None,
    )
    .await
    .unwrap();
    let garbage = push(&r, REPO, content(2, 5000), LAYER).await;
    r.mount_blob(&cx, Some(REPO), "gc/b", &garbage.digest)
        .await
        .unwrap();
    // An abandoned upload.
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    w.write(content(3, 100)).await.unwrap();
    let abandoned = w.close().await.unwrap().id;

    tokio::time::sleep(Duration::from_millis(2000)).await;
    // In flight: a blob pushed just now, and an upload in progress.
    let recent = push(&r, REPO, content(4, 100), LAYER).await;
    let mut w = r.push_blob_chunked(&cx, REPO, None).await.unwrap();
    w.write(content(5, 100)).await.unwrap();
    let live = w.close().await.unwrap().id;

    let grace = GcOptions::default().grace_period(Duration::from_millis(1500));
    let dry = r
        .collect_garbage(grace.clone().dry_run(true))
        .await
        .unwrap();
    assert_eq!(dry.blobs_deleted, 1, "{dry:?}");
    assert!(
        readable(&r, REPO, &garbage.digest).await,
        "a dry run deletes nothing"
    );

    let report = r.collect_garbage(grace).await.unwrap();
    assert_eq!(report.blobs_deleted, 1, "{report:?}");
    assert_eq!(report.bytes_deleted, 5000, "{report:?}");
    assert_eq!(report.markers_deleted, 2, "{report:?}");
    assert_eq!(report.uploads_deleted, 1, "{report:?}");
    assert_eq!(report.repositories, 2, "{report:?}");

    for repo in [REPO, "gc/b"] {
        assert!(
            !readable(&r, repo, &garbage.digest).await,
            "garbage stays in {repo}"
        );
        assert!(
            readable(&r, repo, &layer.digest).await,
            "referenced layer gone from {repo}"
        );
    }
    assert!(readable(&r, REPO, &config_blob.digest).await);
    assert!(
        readable(&r, REPO, &recent.digest).await,
        "a recent blob was collected"
    );
    let e = r
        .push_blob_chunked_resume(&cx, REPO, &abandoned, None, None)
        .await
        .err()
        .unwrap();
    assert!(e.is(&Code::BlobUploadUnknown));
    let w = r
        .push_blob_chunked_resume(&cx, REPO, &live, Some(100), None)
        .await
        .unwrap();
    w.commit(&Digest::sha256(&content(5, 100))).await.unwrap();
    // The tagged manifest is untouched.
    assert!(r.resolve_tag(&cx, REPO, "v1").await.is_ok());
}
