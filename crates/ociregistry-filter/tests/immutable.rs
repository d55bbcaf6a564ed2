//! `Immutable`: deletes and tag moves are refused with `DENIED`; concurrent first pushes of a
//! tag have one winner; a race with a writer that bypasses the filter is detected.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ociregistry_core::bytes::Bytes;
use ociregistry_core::testing::{Content, assert_blob, assert_tag, push_image};
use ociregistry_core::{Code, Context, Descriptor, Digest, Registry, Result, async_trait, stream};
use ociregistry_filter::immutable;
use ociregistry_mem::MemRegistry;

const OPAQUE: &str = "application/vnd.example.opaque";

#[tokio::test]
async fn deletes_are_denied() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("deletes_are_denied");
    let image = c.image(1);
    let loose = c.layer(10);
    push_image(&*mem, "app", Some("v1"), &image).await;
    ociregistry_core::testing::push_blob(&*mem, "app", &loose).await;
    let r = immutable(Arc::clone(&mem));
    let cx = Context::new();
    let md = &image.manifest.digest;
    for (op, e) in [
        ("delete_tag", r.delete_tag(&cx, "app", "v1").await),
        ("delete_manifest", r.delete_manifest(&cx, "app", md).await),
        (
            "delete_blob",
            r.delete_blob(&cx, "app", &loose.digest).await,
        ),
        ("delete_tag", r.delete_tag(&cx, "missing", "v1").await),
    ] {
        let e = e.unwrap_err();
        assert_eq!(e.code(), &Code::Denied, "{op}");
        assert_eq!(
            e.message(),
            format!("this registry is immutable: {op} is not allowed")
        );
    }
    assert_tag(&*mem, "app", "v1", &image.manifest).await;
    assert_blob(&*mem, "app", &loose).await;
}

#[tokio::test]
async fn tags_never_move() {
    let mem = Arc::new(MemRegistry::new());
    let r = immutable(Arc::clone(&mem));
    let cx = Context::new();
    let one = Bytes::from_static(b"one");
    let two = Bytes::from_static(b"two");
    let push = |tag: Option<&'static str>, data: &Bytes, mt: &'static str, d: Option<Digest>| {
        let r = &r;
        let cx = &cx;
        let data = data.clone();
        async move { r.push_manifest(cx, "app", tag, data, mt, d.as_ref()).await }
    };

    let first = push(Some("v1"), &one, OPAQUE, None).await.unwrap();
    assert_eq!(first.digest, Digest::sha256(b"one"));
    // The same again: the existing descriptor, nothing written.
    assert_eq!(push(Some("v1"), &one, OPAQUE, None).await.unwrap(), first);
    assert_eq!(
        push(Some("v1"), &one, OPAQUE, Some(first.digest.clone()))
            .await
            .unwrap(),
        first
    );
    // Other content, or the same under another media type: refused.
    let e = push(Some("v1"), &two, OPAQUE, None).await.unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    assert_eq!(
        e.message(),
        "this registry is immutable: tag v1 already points at other content"
    );
    let e = push(Some("v1"), &one, "application/vnd.example.other", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    // Claiming the existing digest with other content is caught, as a real push would.
    let e = push(Some("v1"), &two, OPAQUE, Some(first.digest.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::DigestInvalid);
    // New tags, untagged pushes and blobs are fine.
    push(Some("v2"), &two, OPAQUE, None).await.unwrap();
    push(None, &two, OPAQUE, None).await.unwrap();
    let blob = Content::new("tags_never_move").layer(9);
    ociregistry_core::testing::push_blob(&r, "app", &blob).await;

    let tag = mem.resolve_tag(&cx, "app", "v1").await.unwrap();
    assert_eq!(tag.digest, first.digest);
    let tags = stream::collect(mem.tags(&cx, "app", None)).await.unwrap();
    assert_eq!(tags, ["v1", "v2"]);
}

/// A registry that takes its time, and counts the tagged pushes that reach it.
struct Slow {
    mem: MemRegistry,
    tagged_pushes: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Registry for Slow {
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.mem.resolve_tag(cx, repo, tag).await
    }

    async fn push_manifest(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        if tag.is_some() {
            self.tagged_pushes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.mem
            .push_manifest(cx, repo, tag, contents, media_type, digest)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_pushes_have_one_winner() {
    let slow = Arc::new(Slow {
        mem: MemRegistry::new(),
        tagged_pushes: Default::default(),
    });
    let r = Arc::new(immutable(Arc::clone(&slow)));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let r = Arc::clone(&r);
            tokio::spawn(async move {
                let data = Bytes::from(format!("manifest {i}"));
                r.push_manifest(&Context::new(), "app", Some("latest"), data, OPAQUE, None)
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(desc) => winners.push(desc),
            Err(e) => assert_eq!(e.code(), &Code::Denied, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // Only the winner reached the registry: the tag never pointed anywhere else.
    let pushes = slow.tagged_pushes.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(pushes, 1);
    let tag = slow
        .mem
        .resolve_tag(&Context::new(), "app", "latest")
        .await
        .unwrap();
    assert_eq!(tag.digest, winners[0].digest);
}

/// A registry where another writer, bypassing the filter, pushes the same tag right after
/// each tagged push.
struct Racer(MemRegistry);

#[async_trait]
impl Registry for Racer {
    async fn resolve_tag(&self, cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        self.0.resolve_tag(cx, repo, tag).await
    }

    async fn push_manifest(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        let desc = self
            .0
            .push_manifest(cx, repo, tag, contents, media_type, digest)
            .await?;
        self.0
            .push_manifest(cx, repo, tag, Bytes::from_static(b"intruder"), OPAQUE, None)
            .await?;
        Ok(desc)
    }
}

#[tokio::test]
async fn a_lost_race_is_reported() {
    let r = immutable(Racer(MemRegistry::new()));
    let e = r
        .push_manifest(
            &Context::new(),
            "app",
            Some("v1"),
            Bytes::from_static(b"mine"),
            OPAQUE,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    assert_eq!(
        e.message(),
        "this registry is immutable: tag v1 was pushed concurrently"
    );
}
