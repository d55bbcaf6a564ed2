//! Two registries over one directory, as two processes sharing a store would be: uploads,
//! tags and concurrent tag updates.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{content, temp_dir};
use ociregistry_core::bytes::Bytes;
use ociregistry_core::{Context, Digest, Registry, stream};
use ociregistry_store::ObjectStoreRegistry;

const REPO: &str = "shared/a";
const OPAQUE: &str = "application/x.test";

#[tokio::test]
async fn upload_started_in_one_finishes_in_the_other() {
    let dir = temp_dir();
    let (a, b) = (
        ObjectStoreRegistry::local(&dir).unwrap(),
        ObjectStoreRegistry::local(&dir).unwrap(),
    );
    let cx = Context::new();
    let data = content(3, 5000);
    let digest = Digest::sha256(&data);
    let mut w = a.push_blob_chunked(&cx, REPO, None).await.unwrap();
    w.write(data.slice(..2000)).await.unwrap();
    let st = w.close().await.unwrap();
    let mut w = b
        .push_blob_chunked_resume(&cx, REPO, &st.id, Some(2000), None)
        .await
        .unwrap();
    w.write(data.slice(2000..)).await.unwrap();
    w.commit(&digest).await.unwrap();
    let got = a.get_blob(&cx, REPO, &digest).await.unwrap();
    assert_eq!(got.bytes(1 << 20).await.unwrap(), data);
    // The session is gone for both.
    assert!(
        a.push_blob_chunked_resume(&cx, REPO, &st.id, None, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tags_pushed_through_one_are_read_through_the_other() {
    let dir = temp_dir();
    let (a, b) = (
        ObjectStoreRegistry::local(&dir).unwrap(),
        ObjectStoreRegistry::local(&dir).unwrap(),
    );
    let cx = Context::new();
    let m = Bytes::from_static(b"manifest one");
    b.push_manifest(&cx, REPO, Some("t"), m.clone(), OPAQUE, None)
        .await
        .unwrap();
    let got = a.get_tag(&cx, REPO, "t").await.unwrap();
    assert_eq!(got.descriptor().media_type, OPAQUE);
    assert_eq!(got.bytes(1 << 20).await.unwrap(), m);
    assert_eq!(
        stream::collect(a.repositories(&cx, None)).await.unwrap(),
        [REPO]
    );
    a.delete_tag(&cx, REPO, "t").await.unwrap();
    assert!(b.resolve_tag(&cx, REPO, "t").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tag_updates_through_both_lose_nothing() {
    let dir = temp_dir();
    let registries = [
        ObjectStoreRegistry::local(&dir).unwrap(),
        ObjectStoreRegistry::local(&dir).unwrap(),
    ];
    let manifests: Vec<Bytes> = (0..16)
        .map(|i| Bytes::from(format!("manifest {i}")))
        .collect();
    let mut tasks = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let r = registries[i % 2].clone();
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            r.push_manifest(&Context::new(), REPO, Some("t"), m, OPAQUE, None)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let pushed: HashSet<Digest> = manifests.iter().map(|m| Digest::sha256(m)).collect();
    let cx = Context::new();
    let a = registries[0].resolve_tag(&cx, REPO, "t").await.unwrap();
    let b = registries[1].resolve_tag(&cx, REPO, "t").await.unwrap();
    assert_eq!(a, b);
    assert!(pushed.contains(&a.digest));
    // Every update got its own log entry: the newest is number 15, and names the tag's value.
    let log = dir.join("repos/shared/a/_tags/t!");
    let mut entries: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    entries.sort();
    let newest = entries.last().unwrap();
    assert_eq!(newest.parse::<u64>().unwrap(), 15, "{entries:?}");
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join(newest)).unwrap()).unwrap();
    assert_eq!(entry["target"], a.digest.as_str());
    assert!(entries.len() <= 3, "old entries are pruned: {entries:?}");
}
