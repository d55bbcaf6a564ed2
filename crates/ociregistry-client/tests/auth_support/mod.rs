//! Test fixtures for the auth tests: a tiny HTTP server on 127.0.0.1, an `HttpSend` over
//! hyper-util's client, and a driver that follows the `Authenticator` retry protocol the way
//! the client does.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ociregistry_client::auth::{Authenticator, HttpSend, MAX_TOKEN_RESPONSE_BYTES, Scope};

pub type Body = BoxBody<Bytes, Infallible>;
pub type Handler = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

/// A response with a full body.
pub fn resp(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

/// A JSON response.
pub fn json(body: serde_json::Value) -> Response<Body> {
    let mut r = resp(200, body.to_string());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A 401 with the given `WWW-Authenticate` value.
pub fn challenge(value: &str) -> Response<Body> {
    let mut r = resp(401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"x"}]}"#);
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_str(value).unwrap(),
    );
    r
}

/// A 200 whose body is `chunks` chunks of `chunk` bytes, one every `every`.
pub fn dripping(chunks: usize, chunk: usize, every: Duration) -> Response<Body> {
    let stream = futures_util::stream::unfold(0usize, move |i| async move {
        if i >= chunks {
            return None;
        }
        tokio::time::sleep(every).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b' '; chunk]))),
            i + 1,
        ))
    });
    Response::builder()
        .status(200)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

/// An HTTP/1 server on 127.0.0.1, stopped on drop, counting its requests.
pub struct Server {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let hits2 = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let hits = hits2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        hits.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, Infallible>(handler(Request::from_parts(parts, body)).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Server { addr, hits, task }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `HttpSend` over hyper-util's client, capping bodies like the real client does.
#[derive(Clone)]
pub struct HyperSend {
    client: Client<HttpConnector, Full<Bytes>>,
    pub sent: Arc<AtomicUsize>,
}

impl HyperSend {
    pub fn new() -> HyperSend {
        HyperSend {
            client: Client::builder(TokioExecutor::new()).build_http(),
            sent: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends any request, reading the body with a cap.
    pub async fn request(
        &self,
        req: Request<Bytes>,
        cap: usize,
    ) -> Result<Response<Bytes>, ociregistry_core::Error> {
        let (parts, body) = req.into_parts();
        let resp = self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(ociregistry_core::Error::internal)?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, cap)
            .collect()
            .await
            .map_err(|e| {
                ociregistry_core::Error::new(ociregistry_core::Code::Unknown, e.to_string())
            })?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    }
}

#[async_trait::async_trait]
impl HttpSend for HyperSend {
    async fn send(&self, req: Request<Bytes>) -> Result<Response<Bytes>, ociregistry_core::Error> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.request(req, MAX_TOKEN_RESPONSE_BYTES).await
    }
}

/// A token whose text encodes its scope, as in the Go tests.
pub fn token_for(scope: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("token-{scope}"))
}

/// The scope encoded in a request's `Bearer` token.
pub fn scope_of(headers: &HeaderMap) -> Option<Scope> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let tok = h.strip_prefix("Bearer ")?;
    let text = base64::engine::general_purpose::STANDARD.decode(tok).ok()?;
    let text = String::from_utf8(text).ok()?;
    Some(Scope::parse(text.strip_prefix("token-")?))
}

/// The Basic credentials of a request.
pub fn basic_of(headers: &HeaderMap) -> Option<(String, String)> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let b = h.strip_prefix("Basic ")?;
    let text = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    let text = String::from_utf8(text).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The query or form parameters named `name`.
pub fn params(req: &Request<Bytes>, name: &str) -> Vec<String> {
    let source: Vec<u8> = if req.method() == http::Method::POST {
        req.body().to_vec()
    } else {
        req.uri().query().unwrap_or_default().as_bytes().to_vec()
    };
    url::form_urlencoded::parse(&source)
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Failed checks made inside server handlers, asserted empty by the test.
#[derive(Clone, Default)]
pub struct Checks(Arc<Mutex<Vec<String>>>);

impl Checks {
    pub fn check(&self, ok: bool, what: impl Into<String>) -> bool {
        if !ok {
            self.0.lock().unwrap().push(what.into());
        }
        ok
    }

    pub fn assert_ok(&self) {
        let v = self.0.lock().unwrap();
        assert!(v.is_empty(), "failed checks: {v:#?}");
    }
}

/// How the driver reports the 401 to the authenticator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// `on_unauthorized` (what the failed request carried is unknown).
    Plain,
    /// `on_unauthorized_with`, passing what was sent.
    WithSent,
}

/// Performs `GET url` with the client's auth protocol; returns the final status and body, or
/// the error the client would return.
pub async fn get(
    auth: &Authenticator,
    http: &HyperSend,
    origin: &str,
    path: &str,
    scope: &Scope,
    wanted: &Scope,
    mode: Mode,
) -> Result<(StatusCode, Bytes), ociregistry_core::Error> {
    let url = format!("{origin}{path}");
    let send = |h: Option<HeaderValue>| {
        let mut req = Request::get(url.as_str());
        if let Some(h) = h {
            req = req.header(http::header::AUTHORIZATION, h);
        }
        http.request(req.body(Bytes::new()).unwrap(), 1 << 20)
    };
    let sent = auth.authorization(origin, scope).await?;
    let resp = send(sent.clone()).await?;
    if resp.status() != StatusCode::UNAUTHORIZED {
        return Ok((resp.status(), resp.into_body()));
    }
    let retry = match mode {
        Mode::Plain => {
            auth.on_unauthorized(http, origin, scope, resp.headers())
                .await?
        }
        Mode::WithSent => {
            auth.on_unauthorized_with(http, origin, scope, wanted, sent.as_ref(), resp.headers())
                .await?
        }
    };
    let Some(h) = retry else {
        return Ok((resp.status(), resp.into_body()));
    };
    let resp = send(Some(h.clone())).await?;
    if resp.status() == StatusCode::UNAUTHORIZED
        && let Some(denied) = auth.retry_rejected(origin, &h)
    {
        return Err(denied);
    }
    Ok((resp.status(), resp.into_body()))
}

/// `get` expecting 200 "test ok".
pub async fn get_ok(
    auth: &Authenticator,
    http: &HyperSend,
    origin: &str,
    path: &str,
    scope: &Scope,
    wanted: &Scope,
    mode: Mode,
) {
    let (status, body) = get(auth, http, origin, path, scope, wanted, mode)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, StatusCode::OK, "GET {path}: {body:?}");
    assert_eq!(&body[..], b"test ok");
}

/// Twice, as the Go tests do: the second request exercises the cache.
pub async fn get_ok_twice(
    auth: &Authenticator,
    http: &HyperSend,
    origin: &str,
    path: &str,
    scope: &Scope,
    wanted: &Scope,
    mode: Mode,
) {
    get_ok(auth, http, origin, path, scope, wanted, mode).await;
    get_ok(auth, http, origin, path, scope, wanted, mode).await;
}
