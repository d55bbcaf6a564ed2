//! Blobs stream through the server in both directions: the backend sees the first bytes of a
//! push before the client has sent the rest, and the client gets the first bytes of a pull
//! before the backend has produced the rest. A server that buffered whole blobs would deadlock
//! here (and the tests would time out).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use ociregistry_core::{BlobReader, Descriptor, Digest, Funcs, Registry};
use ociregistry_server::RegistryService;
use tokio::sync::{mpsc, oneshot};
use tower::ServiceExt;

const CHUNK: usize = 1 << 20;

#[tokio::test]
async fn pushes_stream_into_the_backend() {
    let (first_seen_tx, first_seen_rx) = oneshot::channel::<()>();
    let first_seen_tx = Arc::new(std::sync::Mutex::new(Some(first_seen_tx)));
    let reg = Funcs::new().with_push_blob(move |_cx, _repo, desc, mut content| {
        let first_seen_tx = first_seen_tx.clone();
        async move {
            let mut total = 0u64;
            let mut largest = 0usize;
            while let Some(chunk) = content.next().await {
                let chunk = chunk?;
                total += chunk.len() as u64;
                largest = largest.max(chunk.len());
                if let Some(tx) = first_seen_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
            assert!(
                largest <= 2 * CHUNK,
                "chunks are passed on, not joined ({largest})"
            );
            Ok(Descriptor::new(
                "application/octet-stream",
                desc.digest,
                total,
            ))
        }
    });
    let svc = RegistryService::new(Arc::new(reg) as Arc<dyn Registry>);
    let total = 64 * CHUNK;
    let digest = Digest::sha256(b"not checked by this backend");
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    let body = StreamBody::new(tokio_stream_from(rx));
    let req = Request::post(format!("/v2/s/blobs/uploads/?digest={digest}"))
        .header("content-length", total.to_string())
        .body(body)
        .unwrap();
    let call = tokio::spawn(svc.oneshot(req));
    tx.send(Ok(Frame::data(Bytes::from(vec![1u8; CHUNK]))))
        .await
        .unwrap();
    // The backend must see data while the client still holds the rest.
    tokio::time::timeout(Duration::from_secs(10), first_seen_rx)
        .await
        .expect("the backend saw nothing before the whole body arrived")
        .unwrap();
    for _ in 1..64 {
        tx.send(Ok(Frame::data(Bytes::from(vec![1u8; CHUNK]))))
            .await
            .unwrap();
    }
    drop(tx);
    let resp = call.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn pulls_stream_out_of_the_backend() {
    let (more_tx, more_rx) = oneshot::channel::<()>();
    let more_rx = Arc::new(std::sync::Mutex::new(Some(more_rx)));
    let digest = Digest::sha256(b"streamed");
    let d2 = digest.clone();
    let reg = Funcs::new().with_get_blob(move |_cx, _repo, _digest| {
        let more_rx = more_rx.clone();
        let desc = Descriptor::new("application/octet-stream", d2.clone(), 2 * CHUNK as u64);
        async move {
            let rx = more_rx.lock().unwrap().take().expect("one read");
            let first = futures_util::stream::once(async { Ok(Bytes::from(vec![0u8; CHUNK])) });
            let second = futures_util::stream::once(async move {
                // The second half is produced only once the client has the first.
                let _ = rx.await;
                Ok(Bytes::from(vec![0u8; CHUNK]))
            });
            Ok(BlobReader::new(desc, Box::pin(first.chain(second))))
        }
    });
    let svc = RegistryService::new(Arc::new(reg) as Arc<dyn Registry>);
    let req = Request::get(format!("/v2/s/blobs/{digest}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], (2 * CHUNK).to_string());
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("no bytes before the whole blob was produced")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap().len(), CHUNK);
    more_tx.send(()).unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest.len(), CHUNK);
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
