//! Helpers shared by the integration tests: loopback servers and clients of them.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use ociregistry_client::{Client, ClientOptions, RetryPolicy};
use ociregistry_core::Registry;
use ociregistry_server::{Options, RegistryService, ResponseBody, ServeConfig};

/// Serves any tower service on a fresh loopback port (for the lifetime of the test's runtime)
/// and returns its `host:port`.
pub async fn serve<S>(service: S) -> String
where
    S: tower_service::Service<
            Request<Incoming>,
            Response = Response<ResponseBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(ociregistry_server::serve(
        listener,
        service,
        ServeConfig::default(),
        std::future::pending(),
    ));
    addr
}

/// Serves `registry` with `options` and returns its `host:port`.
pub async fn serve_registry(registry: Arc<dyn Registry>, options: Options) -> String {
    serve(RegistryService::with_options(registry, options)).await
}

/// Options for a client of a loopback test server: plain HTTP, quick retries.
pub fn options() -> ClientOptions {
    let mut o = ClientOptions::default();
    o.insecure = true;
    let mut retry = RetryPolicy::default();
    retry.base_delay = Duration::from_millis(5);
    retry.max_delay = Duration::from_millis(50);
    o.retry = retry;
    o
}

/// A client of `host` with [`options`].
pub fn client(host: &str) -> Client {
    Client::new(host, options()).unwrap()
}

/// A client of `host` with [`options`] changed by `f`.
pub fn client_with(host: &str, f: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut o = options();
    f(&mut o);
    Client::new(host, o).unwrap()
}

/// A [`RegistryService`] that records every request as `"METHOD len=N"` (the declared
/// `Content-Length`, 0 when absent) and can drop response headers (to emulate registries that
/// do not send them).
#[derive(Clone)]
pub struct Recorder {
    inner: RegistryService,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    strip: Arc<Vec<http::HeaderName>>,
}

impl Recorder {
    /// Records requests to `inner`.
    pub fn new(inner: RegistryService) -> Recorder {
        Recorder {
            inner,
            log: Arc::default(),
            strip: Arc::new(Vec::new()),
        }
    }

    /// Also removes `headers` from every response.
    pub fn stripping(mut self, headers: &[http::HeaderName]) -> Recorder {
        self.strip = Arc::new(headers.to_vec());
        self
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The requests so far, with their paths and queries.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl tower_service::Service<Request<Incoming>> for Recorder {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let len = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let entry = if query.is_empty() || req.method() != http::Method::GET {
            format!("{} len={len}", req.method())
        } else {
            format!("{} len={len} ?{query}", req.method())
        };
        self.log.lock().unwrap().push(entry);
        let inner = self.inner.clone();
        let strip = self.strip.clone();
        Box::pin(async move {
            let mut resp = inner.handle(req).await;
            for h in strip.iter() {
                resp.headers_mut().remove(h);
            }
            Ok(resp)
        })
    }
}

/// The response body type of scripted servers.
pub type ScriptBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::io::Error>;

/// A request a scripted server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: http::Method,
    /// Path and query.
    pub target: String,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body (read whole).
    pub body: bytes::Bytes,
}

impl Seen {
    /// Whether the request carried an `Authorization` header.
    pub fn authorized(&self) -> bool {
        self.headers.contains_key(http::header::AUTHORIZATION)
    }
}

/// A scripted HTTP server: answers each request with what the handler returns.
pub struct Scripted {
    /// `127.0.0.1:port`.
    pub host: String,
    log: Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl Scripted {
    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// Starts a scripted server. The handler gets each request and its index (0, 1, ...).
pub async fn scripted<F>(handler: F) -> Scripted
where
    F: Fn(&Seen, usize) -> Response<ScriptBody> + Send + Sync + 'static,
{
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
    let handler = Arc::new(handler);
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let seen = Seen {
                            method: parts.method,
                            target: parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            headers: parts.headers,
                            body,
                        };
                        let index = {
                            let mut l = log.lock().unwrap();
                            l.push(seen.clone());
                            l.len() - 1
                        };
                        Ok::<_, Infallible>(handler(&seen, index))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    Scripted { host, log }
}

/// A response with a fixed body.
pub fn respond(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<bytes::Bytes>,
) -> Response<ScriptBody> {
    use http_body_util::BodyExt;
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(
        http_body_util::Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
    .unwrap()
}

/// A response whose body repeats `chunk` forever (or `count` times).
pub fn respond_stream(
    status: u16,
    headers: &[(&str, &str)],
    chunk: bytes::Bytes,
    count: Option<usize>,
) -> Response<ScriptBody> {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    let frames = futures_util::stream::repeat(chunk)
        .take(count.unwrap_or(usize::MAX))
        .map(|c| Ok::<_, std::io::Error>(hyper::body::Frame::data(c)));
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(http_body_util::StreamBody::new(frames).boxed_unsync())
        .unwrap()
}

/// A minimal HTTP proxy on loopback: `CONNECT host:port` tunnels, and absolute-form requests
/// (`GET http://host:port/...`) forwarded as they are. Each connection's first request line and
/// its `Proxy-Authorization` are logged.
pub struct TestProxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `(request line, Proxy-Authorization)` of each connection.
    pub log: ProxyLog,
}

/// What a [`TestProxy`] saw: `(request line, Proxy-Authorization)` per connection.
pub type ProxyLog = Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

pub async fn test_proxy() -> TestProxy {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log: ProxyLog = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    if conn.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let mut lines = text.split("\r\n");
                let line = lines.next().unwrap_or_default().to_owned();
                let auth = lines
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
                    .map(|(_, v)| v.trim().to_owned());
                seen.lock().unwrap().push((line.clone(), auth));
                let mut parts = line.split(' ');
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let (dest, forward) = if method == "CONNECT" {
                    (target.to_owned(), None)
                } else {
                    let rest = target.strip_prefix("http://").unwrap_or(target);
                    (rest.split('/').next().unwrap_or("").to_owned(), Some(head))
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&dest).await else {
                    let _ = conn
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                match forward {
                    None => {
                        if conn
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Some(head) => {
                        if upstream.write_all(&head).await.is_err() {
                            return;
                        }
                    }
                }
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
            });
        }
    });
    TestProxy { url, log }
}
