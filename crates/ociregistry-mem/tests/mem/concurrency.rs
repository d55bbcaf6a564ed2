//! Many tasks pushing the same things at once.

use std::sync::Arc;

use bytes::Bytes;
use ociregistry_core::{Digest, Registry, stream};
use ociregistry_mem::MemRegistry;

use crate::common::*;

const TASKS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_the_same_blob_and_tag() {
    let r = MemRegistry::new();
    let data = Bytes::from(vec![5u8; 256 * 1024]);
    let blob = blob_desc(CONFIG_TYPE, &data);
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));

    // Phase 1: every task pushes the same blob, then its own manifest under the same tag.
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let (r, data, blob, barrier) = (r.clone(), data.clone(), blob.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let parts: Vec<_> = data
                .chunks(10_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            r.push_blob(
                &cx(),
                "c",
                &blob,
                Box::pin(futures_util::stream::iter(parts)),
            )
            .await
            .unwrap();
            let m = image(&blob, &[], None, &[("task", &i.to_string())]);
            push_manifest(&r, "c", Some("latest"), &m, OCI_MANIFEST)
                .await
                .unwrap()
        }));
    }
    let mut pushed = Vec::new();
    for h in handles {
        pushed.push(h.await.unwrap());
    }
    let tagged = r.resolve_tag(&cx(), "c", "latest").await.unwrap();
    assert!(
        pushed.contains(&tagged),
        "the tag names a manifest nobody pushed"
    );
    let content = read(r.get_tag(&cx(), "c", "latest").await.unwrap()).await;
    assert_eq!(Digest::sha256(&content), tagged.digest);
    assert_eq!(
        read(r.get_blob(&cx(), "c", &blob.digest).await.unwrap()).await,
        data
    );
    assert_eq!(r.blob_bytes(), data.len() as u64);
    assert_eq!(list(r.tags(&cx(), "c", None)).await.unwrap(), ["latest"]);
    for d in &pushed {
        r.resolve_manifest(&cx(), "c", &d.digest).await.unwrap();
    }

    // Phase 2: every task pushes the same manifest under the same tag, into fresh repositories
    // too, while others delete and re-push the blob in their own repository.
    let same = image(&blob, &[], None, &[("same", "yes")]);
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let (r, same, data, blob, barrier) = (
            r.clone(),
            same.clone(),
            data.clone(),
            blob.clone(),
            barrier.clone(),
        );
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let d = push_manifest(&r, "c", Some("latest"), &same, OCI_MANIFEST)
                .await
                .unwrap();
            let own = format!("own/{}", i % 4);
            r.push_blob(&cx(), &own, &blob, stream::bytes(data.clone()))
                .await
                .unwrap();
            let _ = r.delete_blob(&cx(), &own, &blob.digest).await;
            r.push_blob(&cx(), &own, &blob, stream::bytes(data))
                .await
                .unwrap();
            d
        }));
    }
    for h in handles {
        let d = h.await.unwrap();
        assert_eq!(d.digest, Digest::sha256(&same));
    }
    let tagged = r.resolve_tag(&cx(), "c", "latest").await.unwrap();
    assert_eq!(tagged.digest, Digest::sha256(&same));
    assert_eq!(
        read(r.get_tag(&cx(), "c", "latest").await.unwrap()).await,
        same
    );
    for i in 0..4 {
        let own = format!("own/{i}");
        assert_eq!(
            read(r.get_blob(&cx(), &own, &blob.digest).await.unwrap()).await,
            data
        );
    }
    assert_eq!(r.blob_bytes(), data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_to_one_registry() {
    let r = MemRegistry::new();
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let r = r.clone();
        handles.push(tokio::spawn(async move {
            let data = Bytes::from(format!("upload number {i}").repeat(1000));
            let mut w = r.push_blob_chunked(&cx(), "up", Some(1000)).await.unwrap();
            for c in data.chunks(1000) {
                w.write(Bytes::copy_from_slice(c)).await.unwrap();
            }
            let id = w.close().await.unwrap().id;
            let w = r
                .push_blob_chunked_resume(&cx(), "up", &id, Some(data.len() as u64), None)
                .await
                .unwrap();
            let d = w.commit(&Digest::sha256(&data)).await.unwrap();
            (d, data)
        }));
    }
    for h in handles {
        let (d, data) = h.await.unwrap();
        assert_eq!(
            read(r.get_blob(&cx(), "up", &d.digest).await.unwrap()).await,
            data
        );
    }
    assert_eq!(r.upload_count(), 0);
}
