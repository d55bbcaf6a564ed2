//! `push_blob` tees the content to every registry without buffering it: with a 64 MiB blob in
//! 1 MiB chunks, each registry gets the first chunk long before the source has produced the
//! last, the source is never more than a few chunks ahead of any registry, and a slow registry
//! holds the source (and so the fast registry) back.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use ociregistry_core::{
    Algorithm, ByteStream, Context, Descriptor, Digest, Digester, Registry, Result, async_trait,
    bytes::Bytes,
};
use ociregistry_mem::MemRegistry;
use ociregistry_unify::unify;

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 64;
/// How far (in chunks) the source may run ahead of a registry: the tee's few chunks of channel
/// plus the one in hand. Far below the 64 of the whole blob.
const MAX_LAG: usize = 8;

fn chunk(i: usize) -> Bytes {
    let mut v = vec![0u8; CHUNK];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i * 31 + j * 7 + j / 251) as u8;
    }
    Bytes::from(v)
}

fn digest() -> Digest {
    let mut d = Digester::new(Algorithm::Sha256);
    for i in 0..CHUNKS {
        d.update(&chunk(i));
    }
    d.finish()
}

/// The source: chunks made on demand, counting how many it has produced.
fn source(produced: Arc<AtomicUsize>) -> ByteStream {
    Box::pin(futures_util::stream::iter(0..CHUNKS).map(move |i| {
        produced.fetch_add(1, Ordering::SeqCst);
        Ok(chunk(i))
    }))
}

/// What a watching registry saw.
#[derive(Default)]
struct Seen {
    received: AtomicUsize,
    produced_at_first: AtomicUsize,
    max_lag: AtomicUsize,
}

/// A registry that stores into `inner`, watching how far behind the source it receives chunks,
/// optionally taking `delay` per chunk. `peer` is the other registry's view, to check how far
/// ahead of it this one gets.
struct Watching {
    inner: Arc<MemRegistry>,
    produced: Arc<AtomicUsize>,
    seen: Arc<Seen>,
    peer: Arc<Seen>,
    max_ahead_of_peer: Arc<AtomicUsize>,
    delay: Option<Duration>,
}

#[async_trait]
impl Registry for Watching {
    async fn resolve_blob(&self, cx: &Context, repo: &str, d: &Digest) -> Result<Descriptor> {
        self.inner.resolve_blob(cx, repo, d).await
    }

    async fn push_blob(
        &self,
        cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        let (produced, seen, peer, ahead) = (
            self.produced.clone(),
            self.seen.clone(),
            self.peer.clone(),
            self.max_ahead_of_peer.clone(),
        );
        let delay = self.delay;
        let watched = content.then(move |item| {
            let (produced, seen, peer, ahead) =
                (produced.clone(), seen.clone(), peer.clone(), ahead.clone());
            async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let n = seen.received.fetch_add(1, Ordering::SeqCst) + 1;
                let p = produced.load(Ordering::SeqCst);
                if n == 1 {
                    seen.produced_at_first.store(p, Ordering::SeqCst);
                }
                seen.max_lag.fetch_max(p - n, Ordering::SeqCst);
                let other = peer.received.load(Ordering::SeqCst);
                ahead.fetch_max(n.saturating_sub(other), Ordering::SeqCst);
                item
            }
        });
        self.inner
            .push_blob(cx, repo, desc, Box::pin(watched))
            .await
    }
}

async fn push_through_union(slow: Option<Duration>) -> (Arc<Seen>, Arc<Seen>, usize) {
    let repo = "streaming/a";
    let produced = Arc::new(AtomicUsize::new(0));
    let (sa, sb) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
    let ahead = Arc::new(AtomicUsize::new(0));
    let (ma, mb) = (Arc::new(MemRegistry::new()), Arc::new(MemRegistry::new()));
    let fast = Watching {
        inner: ma.clone(),
        produced: produced.clone(),
        seen: sa.clone(),
        peer: sb.clone(),
        max_ahead_of_peer: ahead.clone(),
        delay: None,
    };
    let other = Watching {
        inner: mb.clone(),
        produced: produced.clone(),
        seen: sb.clone(),
        peer: sa.clone(),
        max_ahead_of_peer: Arc::new(AtomicUsize::new(0)),
        delay: slow,
    };
    let u = unify(Arc::new(fast), Arc::new(other));
    let size = (CHUNK * CHUNKS) as u64;
    let desc = Descriptor::new("application/octet-stream", digest(), size);
    let got = tokio::time::timeout(
        Duration::from_secs(120),
        u.push_blob(&Context::new(), repo, &desc, source(produced.clone())),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got.digest, desc.digest);
    assert_eq!(produced.load(Ordering::SeqCst), CHUNKS);
    for m in [&ma, &mb] {
        let d = m
            .resolve_blob(&Context::new(), repo, &desc.digest)
            .await
            .unwrap();
        assert_eq!(d.size, size);
    }
    (sa, sb, ahead.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_64_mib_blob_is_teed_without_buffering() {
    let (a, b, _) = push_through_union(None).await;
    for (name, seen) in [("first", &a), ("second", &b)] {
        assert_eq!(seen.received.load(Ordering::SeqCst), CHUNKS, "{name}");
        let at_first = seen.produced_at_first.load(Ordering::SeqCst);
        assert!(
            at_first < CHUNKS,
            "{name}: the first chunk arrived only after all {at_first} were produced"
        );
        assert!(at_first <= MAX_LAG, "{name}: first chunk after {at_first}");
        let lag = seen.max_lag.load(Ordering::SeqCst);
        assert!(lag <= MAX_LAG, "{name}: the source ran {lag} chunks ahead");
    }
}

#[tokio::test]
async fn a_slow_registry_holds_the_source_back() {
    let (a, b, ahead) = push_through_union(Some(Duration::from_millis(2))).await;
    let lag = b.max_lag.load(Ordering::SeqCst);
    assert!(
        lag <= MAX_LAG,
        "the source ran {lag} chunks ahead of the slow registry"
    );
    assert!(
        ahead <= MAX_LAG,
        "the fast registry got {ahead} chunks ahead of the slow one"
    );
    assert_eq!(a.received.load(Ordering::SeqCst), CHUNKS);
}
