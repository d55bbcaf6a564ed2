//! Connection hygiene and hostile clients, over real sockets on loopback.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ociregistry_core::{Context, Digest, Registry};
use ociregistry_mem::MemRegistry;
use ociregistry_server::{RegistryService, ServeConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    mem: Arc<MemRegistry>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServeConfig) -> Server {
    start_with(config, ociregistry_server::Options::default()).await
}

async fn start_with(config: ServeConfig, options: ociregistry_server::Options) -> Server {
    let mem = Arc::new(MemRegistry::new());
    let reg: Arc<dyn Registry> = mem.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(serve(
        listener,
        RegistryService::with_options(reg, options),
        config,
        async {
            let _ = rx.await;
        },
    ));
    Server {
        addr,
        mem,
        stop: Some(tx),
        done,
    }
}

fn quick() -> ServeConfig {
    let mut c = ServeConfig::default();
    c.header_read_timeout = Duration::from_millis(300);
    c.shutdown_grace = Duration::from_secs(5);
    c
}

/// Reads until the peer closes (or 5 s pass); returns what was read and whether it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let server = start(quick()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut s).await;
    assert!(closed, "connection left open");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let server = start(quick()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "idle connection left open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_framing_is_refused_and_closed() {
    let server = start(quick()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let d = Digest::sha256(b"abc");
    let req = format!(
        "POST /v2/a/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (text, closed) = read_until_closed(&mut s).await;
    // hyper follows RFC 9112 section 6.3: Transfer-Encoding wins over Content-Length, and the
    // connection is closed after the response, so nothing can be smuggled behind it. (The
    // service itself refuses such requests when another HTTP stack passes both headers on;
    // see the api tests.)
    assert!(closed, "the connection must be closed");
    assert!(text.contains("connection: close"), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "no second request was served: {text}"
    );
    let stored = server.mem.resolve_blob(&Context::new(), "a", &d).await;
    if text.starts_with("HTTP/1.1 201") {
        assert_eq!(stored.unwrap().size, 3, "the chunked body, not more");
    } else {
        assert!(stored.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused() {
    let mut config = quick();
    config.max_header_bytes = 8192;
    let server = start(config).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let big = "x".repeat(20_000);
    let req = format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let (text, closed) = read_until_closed(&mut s).await;
    assert!(closed);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_limit_is_not_the_read_buffer() {
    // The read buffer (1 MiB by default) is for bodies; heads stay bounded by max_header_bytes.
    let mut config = quick();
    config.max_header_bytes = 16 << 10;
    assert!(config.read_buffer_bytes >= 1 << 20);
    let server = start(config).await;
    for (size, refused) in [(8_000, false), (100_000, true)] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let big = "x".repeat(size);
        let req =
            format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
        let _ = s.write_all(req.as_bytes()).await;
        let (text, closed) = read_until_closed(&mut s).await;
        assert!(closed);
        if refused {
            assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 431"),
                "{text}"
            );
        } else {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_preface_sent_byte_by_byte_is_recognised() {
    let server = start(quick()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    // Dribble the preface, then hand the connection to a real HTTP/2 client that skips it.
    let mut stream = stream;
    for b in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        stream.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The server now speaks HTTP/2: its first frame is a SETTINGS frame (type 4).
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head[3], 4, "first frame type is SETTINGS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_upload_leaves_no_blob() {
    let server = start(quick()).await;
    let data = vec![7u8; 100_000];
    let d = Digest::sha256(&data);
    // Single POST: half the declared body, then gone.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v2/dc/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..50_000]).await.unwrap();
    drop(s);
    // Chunked: open a session, send half a chunk, disconnect, then try to finish anyway.
    let client = Client::new(server.addr);
    let r = client
        .send("POST", "/v2/dc/blobs/uploads/", &[], Bytes::new())
        .await;
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nContent-Range: 0-{}\r\n\r\n",
        data.len(),
        data.len() - 1
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..50_000]).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = client
        .send("PUT", &format!("{loc}?digest={d}"), &[], Bytes::new())
        .await;
    assert_eq!(r.status(), 400, "the partial upload must not commit");
    let r = client
        .send("HEAD", &format!("/v2/dc/blobs/{d}"), &[], Bytes::new())
        .await;
    assert_eq!(r.status(), 404);
    // The server is still healthy.
    let r = client.send("GET", "/v2/", &[], Bytes::new()).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_longer_than_declared_does_not_smuggle_a_request() {
    let server = start(quick()).await;
    let d = Digest::sha256(b"abc");
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // The declared 3 bytes are the blob; what follows is parsed as a (bad) next request.
    let req = format!(
        "POST /v2/l/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdef"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut server = start(quick()).await;
    let data = vec![1u8; 1 << 20];
    let d = Digest::sha256(&data);
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v2/g/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..1000]).await.unwrap();
    // Let the server start on the request, shut down while it is in flight, then finish it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = server.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(&data[1000..]).await.unwrap();
    let (text, _) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_works() {
    let server = start(quick()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/v2/", server.addr))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
}

/// A small HTTP/1.1 client for the tests.
struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    addr: SocketAddr,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Client { inner, addr }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> http::Response<Bytes> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .inner
            .request(req.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_times_out_and_stores_nothing() {
    let mut options = ociregistry_server::Options::default();
    options.body_timeout = Some(Duration::from_millis(300));
    let mut config = quick();
    config.header_read_timeout = Duration::from_secs(30);
    let server = start_with(config, options).await;
    let d = Digest::sha256(&[5u8; 100]);
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v2/st/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[5u8; 10]).await.unwrap();
    let started = Instant::now();
    let (text, _) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("SIZE_INVALID"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        server
            .mem
            .resolve_blob(&Context::new(), "st", &d)
            .await
            .is_err()
    );
}
