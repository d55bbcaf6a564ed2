//! `ocisrv --storage DIR`: what it acknowledged survives SIGKILL at any moment, two servers
//! can share one store, and `ocisrv gc` collects garbage.
//!
//! `OCISRV_CRASH_ROUNDS` sets how many kill-and-restart rounds the crash test runs (default 4;
//! CI keeps it modest, run it with more by hand).

#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Ocisrv;
use ociregistry_client::{Client, ClientOptions};
use ociregistry_core::{Context, Descriptor, Digest, Registry, stream};

fn start(dir: &Path) -> Ocisrv {
    common::start([OsStr::new("--storage"), dir.as_os_str()])
}

fn client(addr: &str) -> Client {
    let mut o = ClientOptions::default();
    o.insecure = true;
    o.retry = ociregistry_client::RetryPolicy::never();
    Client::new(addr, o).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ocisrv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn blob(seed: u64, len: usize) -> Bytes {
    Bytes::from(common::data(seed, len))
}

async fn push_image(
    r: &Client,
    repo: &str,
    tag: &str,
    seed: u64,
) -> ociregistry_core::Result<Digest> {
    let cx = Context::new();
    let config = Bytes::from(format!("{{\"seed\":{seed}}}"));
    // Every fourth image has a layer of several 1 MiB PATCHes: stored as a composite blob.
    let many_parts = seed.is_multiple_of(4);
    let layer_len = if many_parts {
        (2 << 20) + 12_345
    } else {
        20_000 + (seed as usize % 50_000)
    };
    let layer = blob(seed, layer_len);
    let mut descs = Vec::new();
    for (mt, data) in [
        ("application/vnd.oci.image.config.v1+json", config),
        ("application/vnd.oci.image.layer.v1.tar", layer),
    ] {
        let d = Descriptor::new(mt, Digest::sha256(&data), data.len() as u64);
        if many_parts && data.len() > 1 << 20 {
            let mut w = r.push_blob_chunked(&cx, repo, Some(1 << 20)).await?;
            w.write(data).await?;
            w.commit(&d.digest).await?;
        } else {
            r.push_blob(&cx, repo, &d, stream::bytes(data)).await?;
        }
        descs.push(d);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descs[0], "layers": [descs[1]],
    });
    let m = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    Ok(r.push_manifest(&cx, repo, Some(tag), m, OCI_MANIFEST, None)
        .await?
        .digest)
}

/// Every tag of `repo` resolves to a manifest whose bytes and blobs verify.
async fn check_consistent(r: &Client, repo: &str) -> usize {
    let cx = Context::new();
    let tags = match stream::collect(r.tags(&cx, repo, None)).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return 0,
        Err(e) => panic!("listing tags: {e}"),
    };
    for tag in &tags {
        let m = r
            .get_tag(&cx, repo, tag)
            .await
            .unwrap_or_else(|e| panic!("tag {tag} dangles: {e}"));
        let digest = m.descriptor().digest.clone();
        let data = m.bytes(1 << 20).await.unwrap();
        assert!(digest.verify(&data), "manifest of {tag} is corrupt");
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        for d in std::iter::once(&v["config"]).chain(v["layers"].as_array().unwrap()) {
            let d: Descriptor = serde_json::from_value(d.clone()).unwrap();
            let content = r
                .get_blob(&cx, repo, &d.digest)
                .await
                .unwrap_or_else(|e| panic!("blob of {tag} missing: {e}"));
            let bytes = content
                .bytes(1 << 24)
                .await
                .unwrap_or_else(|e| panic!("blob of {tag} corrupt: {e}"));
            assert!(d.digest.verify(&bytes));
        }
    }
    tags.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_sigkill() {
    let rounds: u64 = std::env::var("OCISRV_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = scratch("crash");
    let acked: Arc<Mutex<Vec<(String, Digest)>>> = Arc::default();
    for round in 0..rounds {
        let server = start(&dir);
        let addr = server.addr.clone();
        let mut workers = Vec::new();
        for w in 0..4u64 {
            let acked = acked.clone();
            let addr = addr.clone();
            workers.push(tokio::spawn(async move {
                let r = client(&addr);
                for i in 0.. {
                    let tag = format!("r{round}-w{w}-{i}");
                    match push_image(&r, "crash/app", &tag, round * 1_000_000 + w * 10_000 + i)
                        .await
                    {
                        Ok(d) => acked.lock().unwrap().push((tag, d)),
                        Err(_) => break,
                    }
                }
            }));
        }
        // Kill at a moment that varies from round to round.
        let delay = 150 + (round * 137) % 400;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let pid = server.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success()
        );
        for w in workers {
            let _ = w.await;
        }
        drop(server);

        let server = start(&dir);
        let r = client(&server.addr);
        let tags = check_consistent(&r, "crash/app").await;
        let acked = acked.lock().unwrap().clone();
        assert!(
            tags >= acked.len(),
            "round {round}: {tags} tags for {} acknowledged pushes",
            acked.len()
        );
        let cx = Context::new();
        for (tag, digest) in &acked {
            let d = r
                .resolve_tag(&cx, "crash/app", tag)
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged {tag} lost: {e}"));
            assert_eq!(&d.digest, digest, "round {round}: {tag} moved");
        }
    }
    assert!(
        !acked.lock().unwrap().is_empty(),
        "nothing was pushed at all"
    );
    let composites = std::fs::read_dir(dir.join("composite/sha256")).map_or(0, Iterator::count);
    assert!(composites > 0, "no layer was stored as a composite blob");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_store() {
    let dir = scratch("shared");
    let (a, b) = (start(&dir), start(&dir));
    let (ra, rb) = (client(&a.addr), client(&b.addr));
    let cx = Context::new();
    // An upload started on one server finishes on the other.
    let data = blob(7, 300_000);
    let d = Digest::sha256(&data);
    let mut w = ra.push_blob_chunked(&cx, "shared/app", None).await.unwrap();
    w.write(data.slice(..100_000)).await.unwrap();
    let status = w.close().await.unwrap();
    let id = status.id.replacen(&a.addr, &b.addr, 1);
    let mut w = rb
        .push_blob_chunked_resume(&cx, "shared/app", &id, Some(100_000), None)
        .await
        .unwrap();
    w.write(data.slice(100_000..)).await.unwrap();
    w.commit(&d).await.unwrap();
    assert!(
        d.verify(
            &ra.get_blob(&cx, "shared/app", &d)
                .await
                .unwrap()
                .bytes(1 << 20)
                .await
                .unwrap()
        )
    );
    // A tag pushed through one is read through the other.
    let m = push_image(&ra, "shared/app", "v1", 1).await.unwrap();
    assert_eq!(
        rb.resolve_tag(&cx, "shared/app", "v1")
            .await
            .unwrap()
            .digest,
        m
    );
    // Concurrent updates of one tag through both end in one consistent state.
    let mut pushes = Vec::new();
    for i in 0..8u64 {
        let r = if i % 2 == 0 {
            client(&a.addr)
        } else {
            client(&b.addr)
        };
        pushes.push(tokio::spawn(async move {
            push_image(&r, "shared/app", "latest", 100 + i)
                .await
                .unwrap()
        }));
    }
    let mut pushed = Vec::new();
    for p in pushes {
        pushed.push(p.await.unwrap());
    }
    let via_a = ra
        .resolve_tag(&cx, "shared/app", "latest")
        .await
        .unwrap()
        .digest;
    let via_b = rb
        .resolve_tag(&cx, "shared/app", "latest")
        .await
        .unwrap()
        .digest;
    assert_eq!(via_a, via_b);
    assert!(pushed.contains(&via_a));
    check_consistent(&rb, "shared/app").await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pushes a 10,000-byte blob no manifest refers to into `gc/app`.
async fn push_orphan(r: &Client, seed: u64) -> Descriptor {
    let orphan = blob(seed, 10_000);
    let od = Descriptor::new(
        "application/octet-stream",
        Digest::sha256(&orphan),
        orphan.len() as u64,
    );
    r.push_blob(&Context::new(), "gc/app", &od, stream::bytes(orphan))
        .await
        .unwrap();
    od
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_collects_unreferenced_blobs_only() {
    let dir = scratch("gc");
    let server = start(&dir);
    let r = client(&server.addr);
    let cx = Context::new();
    let kept = push_image(&r, "gc/app", "v1", 1).await.unwrap();
    let od = push_orphan(&r, 99).await;
    drop(server);
    let gc = |grace: &str| {
        Command::new(env!("CARGO_BIN_EXE_ocisrv"))
            .args(["gc", "--grace-secs", grace, "--storage"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    // Within the grace period nothing goes.
    let out = gc("3600");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(&dir);
    let r = client(&server.addr);
    assert!(r.resolve_blob(&cx, "gc/app", &od.digest).await.is_ok());
    drop(server);
    let started = Instant::now();
    let out = gc("0");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let server = start(&dir);
    let r = client(&server.addr);
    assert!(
        r.resolve_blob(&cx, "gc/app", &od.digest)
            .await
            .unwrap_err()
            .is_not_found(),
        "the orphan stayed"
    );
    assert_eq!(
        r.resolve_tag(&cx, "gc/app", "v1").await.unwrap().digest,
        kept
    );
    assert_eq!(check_consistent(&r, "gc/app").await, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_collects_garbage_itself_when_asked() {
    let dir = scratch("online-gc");
    let server = common::start([
        OsStr::new("--gc-interval-secs"),
        OsStr::new("1"),
        OsStr::new("--gc-grace-secs"),
        OsStr::new("3"),
        OsStr::new("--storage"),
        dir.as_os_str(),
    ]);
    let r = client(&server.addr);
    let cx = Context::new();
    let od = push_orphan(&r, 98).await;
    let kept = push_image(&r, "gc/app", "v1", 2).await.unwrap();
    // Within the grace period the orphan stays; past it, a collection removes it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(r.resolve_blob(&cx, "gc/app", &od.digest).await.is_ok());
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.resolve_blob(&cx, "gc/app", &od.digest).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server never collected the orphan"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        r.resolve_tag(&cx, "gc/app", "v1").await.unwrap().digest,
        kept
    );
    assert_eq!(check_consistent(&r, "gc/app").await, 1);
    drop(server);

    // Only a durable store can be collected: asked on the in-memory default, ocisrv says so.
    let out = Command::new(env!("CARGO_BIN_EXE_ocisrv"))
        .args(["--addr", "127.0.0.1:0", "--gc-interval-secs", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("durable store"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
