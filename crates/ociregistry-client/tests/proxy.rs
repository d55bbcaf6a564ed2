//! Go's TestProxyRequests, ported: a client → server(client) → server(mem) chain adds no HTTP
//! requests. Each incoming request at the proxy becomes exactly one request at the backend.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::Recorder;
use ociregistry_client::Client;
use ociregistry_core::{Context, Descriptor, Digest, Registry, stream};
use ociregistry_mem::MemRegistry;
use ociregistry_server::RegistryService;

struct Chain {
    top: Client,
    proxy: Recorder,
    backend: Recorder,
    mem: Arc<MemRegistry>,
}

/// A backend (server over mem) and a proxy (server over a client of the backend, whose chunk
/// size is `proxy_chunk` when set), both recording, and a client of the proxy.
async fn chain(proxy_chunk: Option<usize>) -> Chain {
    let mem = Arc::new(MemRegistry::new());
    let backend = Recorder::new(RegistryService::new(mem.clone()));
    let backend_host = common::serve(backend.clone()).await;
    let upstream = common::client_with(&backend_host, |o| {
        if let Some(c) = proxy_chunk {
            o.chunk_size = c;
        }
    });
    let proxy = Recorder::new(RegistryService::new(Arc::new(upstream)));
    let proxy_host = common::serve(proxy.clone()).await;
    Chain {
        top: common::client(&proxy_host),
        proxy,
        backend,
        mem,
    }
}

fn small() -> Bytes {
    Bytes::from(vec![b'x'; 10])
}

fn large() -> Bytes {
    Bytes::from(vec![b'x'; 150 * 1024])
}

async fn push_blob(c: &Chain, data: Bytes) {
    let desc = Descriptor::new(
        "application/octet-stream",
        Digest::sha256(&data),
        data.len() as u64,
    );
    c.top
        .push_blob(
            &Context::new(),
            "foo/bar",
            &desc,
            stream::bytes(data.clone()),
        )
        .await
        .unwrap();
    let got = c
        .mem
        .get_blob(&Context::new(), "foo/bar", &desc.digest)
        .await
        .unwrap()
        .bytes(1 << 20)
        .await
        .unwrap();
    assert_eq!(got, data);
}

#[tokio::test]
async fn push_blob_small() {
    let c = chain(None).await;
    push_blob(&c, small()).await;
    let want = ["POST len=0", "PUT len=10"];
    assert_eq!(c.proxy.requests(), want);
    assert_eq!(c.backend.requests(), want);
}

#[tokio::test]
async fn push_blob_large() {
    // A proxy whose chunk size covers the incoming PUT forwards it as one PUT.
    let c = chain(Some(256 << 10)).await;
    push_blob(&c, large()).await;
    let want = ["POST len=0", "PUT len=153600"];
    assert_eq!(c.proxy.requests(), want);
    assert_eq!(c.backend.requests(), want);
}

#[tokio::test]
async fn push_blob_large_default_chunks() {
    // Even with the default 64 KiB chunks the proxy forwards the incoming PUT as one PUT: the
    // server passes the chunk's length to the client as its chunk-size hint (Go's
    // TestProxyRequests expectation: identical requests at proxy and backend).
    let c = chain(None).await;
    push_blob(&c, large()).await;
    let want = ["POST len=0", "PUT len=153600"];
    assert_eq!(c.proxy.requests(), want);
    assert_eq!(c.backend.requests(), want);
}

#[tokio::test]
async fn push_blob_chunked_large_one_write() {
    let c = chain(None).await;
    let data = large();
    let mut w = c
        .top
        .push_blob_chunked(&Context::new(), "foo/bar", None)
        .await
        .unwrap();
    w.write(data.clone()).await.unwrap();
    let digest = Digest::sha256(&data);
    w.commit(&digest).await.unwrap();
    let want = [
        "POST len=0",
        "PATCH len=65536",
        "PATCH len=65536",
        "PUT len=22528",
    ];
    assert_eq!(c.proxy.requests(), want);
    assert_eq!(c.backend.requests(), want);
    let got = c
        .mem
        .get_blob(&Context::new(), "foo/bar", &digest)
        .await
        .unwrap()
        .bytes(1 << 20)
        .await
        .unwrap();
    assert_eq!(got, data);
}

#[tokio::test]
async fn chunked_close_resume_and_reads() {
    let c = chain(None).await;
    let cx = Context::new();
    let data = Bytes::from(vec![b'y'; 1000]);
    let mut w = c.top.push_blob_chunked(&cx, "foo/bar", None).await.unwrap();
    w.write(data.slice(..400)).await.unwrap();
    let st = w.close().await.unwrap();
    assert_eq!(st.size, 400);
    let mut w = c
        .top
        .push_blob_chunked_resume(&cx, "foo/bar", &st.id, None, None)
        .await
        .unwrap();
    assert_eq!(w.size(), 400);
    w.write(data.slice(400..)).await.unwrap();
    let digest = Digest::sha256(&data);
    w.commit(&digest).await.unwrap();
    let got = c
        .top
        .get_blob(&cx, "foo/bar", &digest)
        .await
        .unwrap()
        .bytes(4096)
        .await
        .unwrap();
    assert_eq!(got, data);
    let desc = c.top.resolve_blob(&cx, "foo/bar", &digest).await.unwrap();
    assert_eq!(desc.size, 1000);
    let want = [
        "POST len=0",
        "PATCH len=400",
        "GET len=0",
        "PUT len=600",
        "GET len=0",
        "HEAD len=0",
    ];
    assert_eq!(c.proxy.requests(), want);
    assert_eq!(c.backend.requests(), want);
}

#[tokio::test]
async fn manifests_and_tags() {
    let c = chain(None).await;
    let cx = Context::new();
    let m = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
    let mt = "application/vnd.oci.image.index.v1+json";
    c.top
        .push_manifest(&cx, "foo/bar", Some("v1"), m.clone(), mt, None)
        .await
        .unwrap();
    let r = c.top.get_tag(&cx, "foo/bar", "v1").await.unwrap();
    assert_eq!(r.descriptor().digest, Digest::sha256(&m));
    c.top.resolve_tag(&cx, "foo/bar", "v1").await.unwrap();
    let tags = stream::collect(c.top.tags(&cx, "foo/bar", None))
        .await
        .unwrap();
    assert_eq!(tags, ["v1"]);
    c.top.delete_tag(&cx, "foo/bar", "v1").await.unwrap();
    assert_eq!(c.proxy.requests(), c.backend.requests());
    assert_eq!(c.proxy.requests().len(), 5, "{:?}", c.proxy.requests());
}
