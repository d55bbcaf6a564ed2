//! Crash safety: each operation is run against a store that "crashes" (fails every operation
//! from then on) after N operations, for N = 0, 1, 2, ... until the operation completes. After
//! each crash, a fresh registry on the same directory must find a consistent state in which the
//! operation happened either fully or not at all.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::sync::Arc;

use common::{CrashingStore, content, temp_dir};
use object_store::local::LocalFileSystem;
use ociregistry_core::bytes::Bytes;
use ociregistry_core::media_type::{OCI_EMPTY, OCI_MANIFEST};

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
use ociregistry_core::{Code, Context, Descriptor, Digest, ManifestInfo, Registry, stream};
use ociregistry_store::{GcOptions, ObjectStoreRegistry, StoreConfig};

const REPO: &str = "crash/a";

/// Small parts, so that blobs and uploads go through multipart uploads and several parts.
fn config() -> StoreConfig {
    StoreConfig::default().part_size(1024)
}

fn open(dir: &std::path::Path) -> ObjectStoreRegistry {
    ObjectStoreRegistry::local_with_config(dir, config()).unwrap()
}

fn crashing(dir: &std::path::Path, budget: usize) -> ObjectStoreRegistry {
    let fs = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    ObjectStoreRegistry::new(Arc::new(CrashingStore::new(fs, budget)), config())
}

async fn push_blob(r: &dyn Registry, data: &Bytes) -> Descriptor {
    let desc = Descriptor::new(OCI_LAYER, Digest::sha256(data), data.len() as u64);
    r.push_blob(&Context::new(), REPO, &desc, stream::bytes(data.clone()))
        .await
        .unwrap();
    desc
}

/// An image manifest with the given config, layers and subject.
fn manifest(config: &Descriptor, layers: &[&Descriptor], subject: Option<&Descriptor>) -> Bytes {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    if let Some(s) = subject {
        m["subject"] = serde_json::to_value(s).unwrap();
    }
    Bytes::from(m.to_string())
}

/// Whether blob `digest` is readable and whole in `REPO`; panics if it is visible but wrong.
async fn blob_state(r: &dyn Registry, digest: &Digest) -> bool {
    match r.get_blob(&Context::new(), REPO, digest).await {
        Ok(reader) => {
            let data = reader.verified(digest).bytes(1 << 24).await.unwrap();
            assert!(digest.verify(&data));
            true
        }
        Err(e) => {
            assert!(
                e.is(&Code::BlobUnknown) || e.is(&Code::NameUnknown),
                "unexpected {e}"
            );
            false
        }
    }
}

/// The global invariants: every tag resolves to a readable manifest whose bytes hash to its
/// digest, and every blob such a manifest needs is readable and verifies.
async fn check_consistent(r: &dyn Registry) {
    let cx = Context::new();
    let tags = match stream::collect(r.tags(&cx, REPO, None)).await {
        Ok(t) => t,
        Err(e) if e.is(&Code::NameUnknown) => return,
        Err(e) => panic!("tags: {e}"),
    };
    for tag in tags {
        let reader = r.get_tag(&cx, REPO, &tag).await.unwrap();
        let desc = reader.descriptor().clone();
        let data = reader.bytes(1 << 20).await.unwrap();
        assert!(desc.digest.verify(&data), "tag {tag}");
        let info = ManifestInfo::parse(&desc.media_type, &data).unwrap();
        for (_, b) in info.required_blobs() {
            assert!(
                blob_state(r, &b.digest).await,
                "blob {} of tag {tag}",
                b.digest
            );
        }
    }
}

/// Runs `op` with crash budgets 0, 1, 2, ... on fresh copies of the state `setup` makes, and
/// `check` after each crash (`true`: the operation had returned success). Returns how many
/// crash points were tried.
async fn crash_loop<S, SF, O, OF, C, CF>(setup: S, op: O, check: C) -> usize
where
    S: Fn(ObjectStoreRegistry) -> SF,
    SF: Future<Output = ()>,
    O: Fn(ObjectStoreRegistry) -> OF,
    OF: Future<Output = ociregistry_core::Result<()>>,
    C: Fn(ObjectStoreRegistry, bool) -> CF,
    CF: Future<Output = ()>,
{
    for budget in 0..500 {
        let dir = temp_dir();
        setup(open(&dir)).await;
        let ok = op(crashing(&dir, budget)).await.is_ok();
        let fresh = open(&dir);
        check_consistent(&fresh).await;
        check(fresh, ok).await;
        std::fs::remove_dir_all(&dir).unwrap();
        if ok {
            return budget + 1;
        }
    }
    panic!("the operation never completed");
}

#[tokio::test]
async fn blob_push_is_all_or_nothing() {
    for len in [100, 3000] {
        let data = content(len as u64, len);
        let digest = Digest::sha256(&data);
        let points = crash_loop(
            |_| async {},
            |r| {
                let data = data.clone();
                async move {
                    let desc = Descriptor::new(OCI_LAYER, Digest::sha256(&data), data.len() as u64);
                    r.push_blob(&Context::new(), REPO, &desc, stream::bytes(data))
                        .await
                        .map(|_| ())
                }
            },
            |r, ok| {
                let digest = digest.clone();
                async move {
                    let visible = blob_state(&r, &digest).await;
                    assert!(visible || !ok, "a pushed blob is missing");
                }
            },
        )
        .await;
        assert!(points > 3, "{points}");
    }
}

/// After a crash in an upload's commit: the blob is visible, or (the commit had not returned
/// success) garbage collection leaves the interrupted upload alone, including any parts its
/// commit had already published, and the client's retry of its request publishes it.
async fn committed_or_retried<R, F>(r: ObjectStoreRegistry, ok: bool, digest: Digest, retry: R)
where
    R: FnOnce(ObjectStoreRegistry) -> F,
    F: Future<Output = ociregistry_core::Result<()>>,
{
    if blob_state(&r, &digest).await {
        return;
    }
    assert!(!ok, "a committed blob is missing");
    r.collect_garbage(GcOptions::default()).await.unwrap();
    retry(r.clone()).await.unwrap();
    assert!(blob_state(&r, &digest).await);
}

#[tokio::test]
async fn chunked_commit_is_all_or_nothing() {
    let data = content(7, 3000);
    let digest = Digest::sha256(&data);
    let id = std::sync::Mutex::new(String::new());
    let commit = |r: ObjectStoreRegistry, id: String| {
        let digest = digest.clone();
        async move {
            let w = r
                .push_blob_chunked_resume(&Context::new(), REPO, &id, Some(3000), None)
                .await?;
            w.commit(&digest).await.map(|_| ())
        }
    };
    let points = crash_loop(
        |r| {
            let data = data.clone();
            let id = &id;
            async move {
                let mut w = r
                    .push_blob_chunked(&Context::new(), REPO, None)
                    .await
                    .unwrap();
                for part in data.chunks(700) {
                    w.write(Bytes::copy_from_slice(part)).await.unwrap();
                }
                *id.lock().unwrap() = w.close().await.unwrap().id;
            }
        },
        |r| commit(r, id.lock().unwrap().clone()),
        |r, ok| {
            committed_or_retried(r, ok, digest.clone(), |r| {
                commit(r, id.lock().unwrap().clone())
            })
        },
    )
    .await;
    assert!(points > 5, "{points}");
}

/// The state the manifest tests start from: config and layer blobs, manifest `m1` tagged
/// `t` and `u`. Returns (config, layer, m1 bytes).
async fn setup_manifests(r: &ObjectStoreRegistry) -> (Descriptor, Descriptor, Bytes) {
    let config = push_blob(r, &Bytes::from_static(b"{}")).await;
    let config = Descriptor::new(OCI_EMPTY, config.digest, 2);
    let layer = push_blob(r, &content(1, 2000)).await;
    let layer = Descriptor::new(OCI_LAYER, layer.digest, 2000);
    let m1 = manifest(&config, &[&layer], None);
    for tag in ["t", "u"] {
        r.push_manifest(
            &Context::new(),
            REPO,
            Some(tag),
            m1.clone(),
            OCI_MANIFEST,
            None,
        )
        .await
        .unwrap();
    }
    (config, layer, m1)
}

#[tokio::test]
async fn tagged_manifest_push_is_all_or_nothing() {
    // m2 refers to m1 as its subject and moves tag `t`.
    let dir = temp_dir();
    let (config, layer, m1) = setup_manifests(&open(&dir)).await;
    std::fs::remove_dir_all(&dir).unwrap();
    let d1 = Digest::sha256(&m1);
    let m1_desc = Descriptor::new(OCI_MANIFEST, d1.clone(), m1.len() as u64);
    let m2 = manifest(&config, &[&layer], Some(&m1_desc));
    let d2 = Digest::sha256(&m2);
    let points = crash_loop(
        |r| async move {
            setup_manifests(&r).await;
        },
        |r| {
            let m2 = m2.clone();
            async move {
                r.push_manifest(&Context::new(), REPO, Some("t"), m2, OCI_MANIFEST, None)
                    .await
                    .map(|_| ())
            }
        },
        |r, ok| {
            let (d1, d2) = (d1.clone(), d2.clone());
            async move {
                let cx = Context::new();
                let t = r.resolve_tag(&cx, REPO, "t").await.unwrap().digest;
                assert!(t == d1 || t == d2, "tag t names {t}");
                if ok {
                    assert_eq!(t, d2, "a pushed tag did not move");
                }
                assert_eq!(r.resolve_tag(&cx, REPO, "u").await.unwrap().digest, d1);
                // The referrers index lists m2 exactly when m2 exists.
                let refs = stream::collect(r.referrers(&cx, REPO, &d1, None))
                    .await
                    .unwrap();
                let exists = r.resolve_manifest(&cx, REPO, &d2).await.is_ok();
                assert_eq!(refs.len(), usize::from(exists), "{refs:?}");
                if t == d2 {
                    assert!(exists);
                }
            }
        },
    )
    .await;
    assert!(points > 5, "{points}");
}

#[tokio::test]
async fn manifest_delete_is_all_or_nothing() {
    let dir = temp_dir();
    let (_, _, m1) = setup_manifests(&open(&dir)).await;
    std::fs::remove_dir_all(&dir).unwrap();
    let d1 = Digest::sha256(&m1);
    let points = crash_loop(
        |r| async move {
            setup_manifests(&r).await;
        },
        |r| {
            let d1 = d1.clone();
            async move { r.delete_manifest(&Context::new(), REPO, &d1).await }
        },
        |r, ok| {
            let d1 = d1.clone();
            async move {
                let cx = Context::new();
                let present = r.resolve_manifest(&cx, REPO, &d1).await.is_ok();
                assert!(!(ok && present), "a deleted manifest is still there");
                for tag in ["t", "u"] {
                    match r.resolve_tag(&cx, REPO, tag).await {
                        Ok(d) => {
                            assert!(present, "tag {tag} outlives its manifest");
                            assert_eq!(d.digest, d1);
                        }
                        Err(e) => {
                            assert!(e.is(&Code::ManifestUnknown), "{e}");
                            assert!(!present, "tag {tag} vanished before its manifest");
                        }
                    }
                }
                let tags = stream::collect(r.tags(&cx, REPO, None)).await.unwrap();
                assert_eq!(tags.len(), if present { 2 } else { 0 }, "{tags:?}");
                if !present {
                    // Retrying the delete finishes it.
                    let e = r.delete_manifest(&cx, REPO, &d1).await.unwrap_err();
                    assert!(e.is(&Code::ManifestUnknown));
                }
            }
        },
    )
    .await;
    assert!(points > 3, "{points}");
}

#[tokio::test]
async fn a_whole_content_commit_is_all_or_nothing() {
    // A session opened empty (POST), then one PUT carrying all of a small blob: the content
    // goes straight to its blob key.
    let data = content(8, 700);
    let digest = Digest::sha256(&data);
    let id = std::sync::Mutex::new(String::new());
    let put = |r: ObjectStoreRegistry, id: String| {
        let data = data.clone();
        let digest = digest.clone();
        async move {
            let mut w = r
                .push_blob_chunked_resume(&Context::new(), REPO, &id, Some(0), None)
                .await?;
            w.write(data).await?;
            w.commit(&digest).await.map(|_| ())
        }
    };
    let points = crash_loop(
        |r| {
            let id = &id;
            async move {
                let w = r
                    .push_blob_chunked(&Context::new(), REPO, None)
                    .await
                    .unwrap();
                *id.lock().unwrap() = w.close().await.unwrap().id;
            }
        },
        |r| put(r, id.lock().unwrap().clone()),
        |r, ok| {
            committed_or_retried(r, ok, digest.clone(), |r| {
                put(r, id.lock().unwrap().clone())
            })
        },
    )
    .await;
    assert!(points > 3, "{points}");
}
