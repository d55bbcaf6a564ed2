//! The HTTP stack: hyper with rustls, and around each request the authentication handshake,
//! redirects, retries with backoff, and timeouts.

use std::collections::hash_map::RandomState;
use std::error::Error as StdError;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, HeaderValue, LOCATION, PROXY_AUTHORIZATION, RETRY_AFTER,
    USER_AGENT,
};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ociregistry_core::{ByteStream, Code, Error};
use tokio::sync::oneshot;
use url::Url;

use crate::auth::{Authenticator, HttpSend, Scope};
use crate::decode::{self, with_host};
use crate::options::{ClientOptions, ConfigError, RetryPolicy};
use crate::proxy::{Proxies, ProxyConnector};
use crate::urls::{self, origin, same_origin};

type BoxError = Box<dyn StdError + Send + Sync>;
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;
type Http = HyperClient<HttpsConnector<ProxyConnector>, ReqBody>;

/// The most bytes of a token response read (the authentication module's token fetches).
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// A request body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// Bytes in memory: the request can be sent again (after a `401`, or to retry).
    Chunks(Vec<Bytes>),
    /// A stream, sent once; the caller sets `Content-Length`.
    Stream(ByteStream),
}

impl Body {
    fn rewindable(&self) -> bool {
        !matches!(self, Body::Stream(_))
    }
}

/// One request to the registry (or to where it sends the client).
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// The token scope the request needs.
    pub(crate) scope: Scope,
    /// Whether the request may be repeated (`GET`, `HEAD`, `DELETE`, manifest `PUT`).
    pub(crate) idempotent: bool,
}

impl Req {
    /// A request without body.
    pub(crate) fn new(method: Method, url: Url, scope: Scope) -> Req {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        Req {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scope,
            idempotent,
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: http::HeaderName, value: HeaderValue) -> Req {
        self.headers.insert(name, value);
        self
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: Body) -> Req {
        self.body = body;
        self
    }
}

/// A response, its body not yet read.
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The URL that answered (after redirects).
    pub(crate) url: Url,
    /// The method that was sent.
    pub(crate) method: Method,
    /// The registry host, for error messages.
    pub(crate) host: Arc<str>,
    body: Incoming,
    body_timeout: Option<Duration>,
}

impl Resp {
    /// The body as a stream of chunks; it fails if the body stalls longer than the body
    /// timeout.
    pub(crate) fn into_stream(self) -> ByteStream {
        body_stream(self.body, self.body_timeout, self.host)
    }

    /// The whole body, failing with `SIZE_INVALID` (after reading at most `limit` bytes) when it
    /// is larger.
    pub(crate) async fn read(self, limit: usize, what: &str) -> Result<Bytes, Error> {
        if let Some(len) = decode::content_length(&self.headers)
            && len > limit as u64
        {
            return Err(with_host(
                Error::new(
                    Code::SizeInvalid,
                    format!("{what} of {len} bytes is larger than the limit of {limit} bytes"),
                ),
                &self.host,
            ));
        }
        let host = self.host.clone();
        ociregistry_core::stream::read_to_bytes(self.into_stream(), limit)
            .await
            .map_err(|e| {
                if e.is(&Code::SizeInvalid) {
                    with_host(
                        Error::new(
                            Code::SizeInvalid,
                            format!("{what} is larger than the limit of {limit} bytes"),
                        ),
                        &host,
                    )
                } else {
                    e
                }
            })
    }

    /// At most `limit` bytes of the body; the rest is discarded, as are read errors.
    pub(crate) async fn read_prefix(self, limit: usize) -> Bytes {
        let mut stream = self.into_stream();
        let mut buf = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= limit {
                break;
            }
        }
        Bytes::from(buf)
    }
}

/// Sends requests: owns the connection pool and the per-client authentication state.
pub(crate) struct Transport {
    http: Http,
    proxies: Option<Arc<Proxies>>,
    base: Url,
    host: Arc<str>,
    auth: Option<Authenticator>,
    retry: RetryPolicy,
    user_agent: HeaderValue,
    response_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    max_redirects: usize,
    error_body_limit: usize,
}

impl Transport {
    /// Builds the HTTP stack for the registry at `base`.
    pub(crate) fn new(
        base: Url,
        host: &str,
        opts: &ClientOptions,
    ) -> Result<Transport, ConfigError> {
        let tls = match &opts.tls_config {
            Some(c) => (**c).clone(),
            None => default_tls(&opts.root_certificates)?,
        };
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(opts.connect_timeout);
        connector.set_nodelay(true);
        let proxies = Proxies::new(&opts.proxy)?.map(Arc::new);
        let connector = ProxyConnector::new(connector, proxies.clone());
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let builder = if opts.insecure {
            builder.https_or_http()
        } else {
            builder.https_only()
        };
        let https = if opts.http2 {
            builder
                .enable_http1()
                .enable_http2()
                .wrap_connector(connector)
        } else {
            builder.enable_http1().wrap_connector(connector)
        };
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        let user_agent =
            HeaderValue::from_str(&opts.user_agent).map_err(|_| ConfigError::InvalidOption {
                name: "user_agent",
                reason: "not a valid header value",
            })?;
        Ok(Transport {
            http,
            proxies,
            base,
            host: Arc::from(host),
            auth: opts.authenticator.clone(),
            retry: opts.retry.clone(),
            user_agent,
            response_timeout: opts.response_timeout,
            body_timeout: opts.body_timeout,
            max_redirects: opts.max_redirects,
            error_body_limit: opts.error_body_limit,
        })
    }

    /// The registry host, for messages.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The registry's base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// Sends `req` and returns the response whatever its status, after:
    /// - authentication: credentials only ever go to the registry's own origin; a `401` there
    ///   is handed to the authenticator and the request sent once more with what it returns
    ///   (when the body can be sent again); a `401` to that retry fails with `DENIED` when the
    ///   retry carried a fresh token (the permission is missing), and stays `UNAUTHORIZED`
    ///   when it carried Basic credentials;
    /// - redirects (`GET` and `HEAD` only, up to the limit, never to another scheme than http(s)
    ///   nor from https to http; a hop to another origin carries no credentials);
    /// - retries of idempotent requests after connection errors, timeouts, `429` and `5xx`.
    pub(crate) async fn send(&self, req: Req) -> Result<Resp, Error> {
        let Req {
            mut method,
            mut url,
            headers,
            body,
            scope,
            idempotent,
        } = req;
        let rewindable = body.rewindable();
        let mut body = Some(body);
        let follow = matches!(method, Method::GET | Method::HEAD);
        let mut attempt: u32 = 0;
        let mut hops = 0usize;
        // The header obtained after a 401, for the one retry it allows.
        let mut fresh: Option<HeaderValue> = None;
        let mut reauthenticated = false;
        loop {
            let to_registry = same_origin(&url, &self.base);
            let authorization = match (&self.auth, to_registry) {
                (Some(auth), true) => match &fresh {
                    Some(h) => Some(h.clone()),
                    None => auth
                        .authorization(&origin(&url), &scope)
                        .await
                        .map_err(|e| with_host(e, &self.host))?,
                },
                _ => None,
            };
            let sent_authorization = authorization.clone();
            let this_body = match &body {
                Some(Body::Empty) => Body::Empty,
                Some(Body::Chunks(c)) => Body::Chunks(c.clone()),
                _ => match body.take() {
                    Some(b) => b,
                    None => {
                        return Err(self.error(
                            Code::Unknown,
                            format!("{method} {url}: the request body was already sent"),
                        ));
                    }
                },
            };
            let sent = self
                .execute(&method, &url, &headers, this_body, authorization)
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(SendError::Body(e)) => return Err(e),
                Err(SendError::Transport(e)) => {
                    if idempotent && rewindable && attempt + 1 < self.retry.max_attempts {
                        tracing::debug!(%method, %url, error = %e, attempt, "retrying after a transport error");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(e);
                }
            };
            let status = resp.status();

            if status == StatusCode::UNAUTHORIZED
                && to_registry
                && let Some(auth) = &self.auth
            {
                if reauthenticated {
                    // Credentials were obtained for this very request and still refused: a
                    // fresh token means the permission is missing (DENIED); Basic credentials
                    // that are refused leave the 401 as it is (UNAUTHORIZED).
                    let denied = fresh
                        .as_ref()
                        .and_then(|h| auth.retry_rejected(&origin(&url), h));
                    let r = self.wrap(resp, method, url);
                    return match denied {
                        Some(d) => {
                            let err = decode::error_from(
                                r,
                                decode::Subject::Other,
                                self.error_body_limit,
                            )
                            .await;
                            let message = format!("{}; {}", d.message(), err.message());
                            Err(err.with_code(Code::Denied).with_message(message))
                        }
                        None => Ok(r),
                    };
                }
                let sender = TokenSender {
                    http: self.http.clone(),
                    user_agent: self.user_agent.clone(),
                    response_timeout: self.response_timeout,
                    body_timeout: self.body_timeout,
                };
                let next = auth
                    .on_unauthorized_with(
                        &sender,
                        &origin(&url),
                        &scope,
                        &Scope::empty(),
                        sent_authorization.as_ref(),
                        resp.headers(),
                    )
                    .await
                    .map_err(|e| with_host(e, &self.host))?;
                match next {
                    Some(h) if rewindable => {
                        fresh = Some(h);
                        reauthenticated = true;
                        continue;
                    }
                    _ => return Ok(self.wrap(resp, method, url)),
                }
            }

            if follow && is_redirect(status) {
                hops += 1;
                if hops > self.max_redirects {
                    return Err(self.error(
                        Code::Unknown,
                        format!("more than {} redirects from {url}", self.max_redirects),
                    ));
                }
                let Some(location) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok())
                else {
                    return Err(self.error(
                        Code::Unknown,
                        format!("redirect {status} without a Location from {url}"),
                    ));
                };
                let next = urls::resolve(&url, location, "redirect")
                    .map_err(|e| with_host(e, &self.host))?;
                if status == StatusCode::SEE_OTHER && method != Method::HEAD {
                    method = Method::GET;
                }
                tracing::debug!(%status, from = %url, to = %next, "following redirect");
                url = next;
                fresh = None;
                continue;
            }

            if idempotent
                && rewindable
                && is_retryable(status)
                && attempt + 1 < self.retry.max_attempts
            {
                let delay = match retry_after(resp.headers()) {
                    Some(d) if d > self.retry.max_retry_after => {
                        return Ok(self.wrap(resp, method, url));
                    }
                    Some(d) => d,
                    None => self.backoff(attempt),
                };
                tracing::debug!(%method, %url, %status, ?delay, attempt, "retrying");
                drop(resp);
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            return Ok(self.wrap(resp, method, url));
        }
    }

    fn wrap(&self, resp: http::Response<Incoming>, method: Method, url: Url) -> Resp {
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            url,
            method,
            host: self.host.clone(),
            body,
            body_timeout: self.body_timeout,
        }
    }

    fn error(&self, code: Code, message: String) -> Error {
        with_host(Error::new(code, message), &self.host)
    }

    /// Sends one HTTP request.
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: Body,
        authorization: Option<HeaderValue>,
    ) -> Result<http::Response<Incoming>, SendError> {
        let uri: http::Uri = url.as_str().parse().map_err(|e: http::uri::InvalidUri| {
            SendError::Transport(self.error(Code::Unknown, format!("invalid URL {url}: {e}")))
        })?;
        let (tx, rx) = oneshot::channel();
        let has_body = !matches!(body, Body::Empty);
        let proxy_authorization = self
            .proxies
            .as_ref()
            .and_then(|p| p.http_authorization(&uri));
        let mut builder = http::Request::builder().method(method.clone()).uri(uri);
        if let Some(h) = builder.headers_mut() {
            h.extend(headers.clone());
            h.insert(USER_AGENT, self.user_agent.clone());
            if let Some(a) = authorization {
                h.insert(AUTHORIZATION, a);
            }
            if let Some(a) = proxy_authorization {
                h.insert(PROXY_AUTHORIZATION, a);
            }
            if !has_body
                && matches!(*method, Method::POST | Method::PUT | Method::PATCH)
                && !h.contains_key(CONTENT_LENGTH)
            {
                h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            }
        }
        // Where a failing body stream leaves its error: HTTP/2 does not pass it on.
        let slot: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
        let request = builder
            .body(request_body(body, tx, slot.clone()))
            .map_err(|e| SendError::Transport(self.error(Code::Unknown, e.to_string())))?;
        let fut = self.http.request(request);
        let result = match self.response_timeout {
            None => fut.await,
            Some(timeout) => {
                tokio::pin!(fut);
                let timer = async {
                    if has_body {
                        // Counted from when the body has been sent (or abandoned).
                        let _ = rx.await;
                    }
                    tokio::time::sleep(timeout).await;
                };
                tokio::select! {
                    r = &mut fut => r,
                    () = timer => {
                        return Err(SendError::Transport(self.error(
                            Code::Unknown,
                            format!("{method} {url}: no response within {timeout:?}"),
                        )));
                    }
                }
            }
        };
        let stored = slot.lock().ok().and_then(|mut s| s.take());
        result.map_err(|e| match stored.or_else(|| body_error(&e)) {
            Some(err) => SendError::Body(err),
            None => SendError::Transport(
                self.error(Code::Unknown, format!("{method} {url}: {}", chain(&e)))
                    .with_source(e),
            ),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX));
        let cap = exp.min(self.retry.max_delay);
        // Equal jitter: half fixed, half random.
        cap / 2 + cap.mul_f64(random_fraction() / 2.0)
    }
}

enum SendError {
    /// The request body failed (the caller's stream): the caller's error.
    Body(Error),
    /// The connection or the protocol failed.
    Transport(Error),
}

/// The registry error a request body stream failed with, if that is why the request failed.
fn body_error(e: &(dyn StdError + 'static)) -> Option<Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(core) = err.downcast_ref::<Error>() {
            return Some(core.clone());
        }
        cur = err.source();
    }
    None
}

/// An error and its sources, as one line.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = err.source();
    }
    out
}

fn request_body(
    body: Body,
    done: oneshot::Sender<()>,
    slot: Arc<std::sync::Mutex<Option<Error>>>,
) -> ReqBody {
    let signal = futures_util::stream::once(async move {
        let _ = done.send(());
    })
    .filter_map(|()| futures_util::future::ready(None::<Result<Frame<Bytes>, BoxError>>));
    match body {
        Body::Empty => Empty::new()
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync(),
        Body::Chunks(chunks) => {
            let frames = futures_util::stream::iter(
                chunks
                    .into_iter()
                    .map(|c| Ok::<_, BoxError>(Frame::data(c))),
            );
            StreamBody::new(frames.chain(signal)).boxed_unsync()
        }
        Body::Stream(stream) => {
            let frames = stream.map(move |r| {
                r.map(Frame::data).map_err(|e| {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(e.clone());
                    }
                    Box::new(e) as BoxError
                })
            });
            StreamBody::new(frames.chain(signal)).boxed_unsync()
        }
    }
}

/// A response body as a stream of data chunks, failing when it stalls longer than `idle`.
pub(crate) fn body_stream(body: Incoming, idle: Option<Duration>, host: Arc<str>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(Some(body), move |state| {
        let host = host.clone();
        async move {
            let mut body = state?;
            loop {
                let frame = match idle {
                    Some(t) => match tokio::time::timeout(t, body.frame()).await {
                        Ok(f) => f,
                        Err(_) => {
                            let e = with_host(
                                Error::new(
                                    Code::Unknown,
                                    format!("response body stalled for {t:?}"),
                                ),
                                &host,
                            );
                            return Some((Err(e), None));
                        }
                    },
                    None => body.frame().await,
                };
                match frame {
                    None => return None,
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data()
                            && !data.is_empty()
                        {
                            return Some((Ok(data), Some(body)));
                        }
                    }
                    Some(Err(e)) => {
                        let err = with_host(
                            Error::new(
                                Code::Unknown,
                                format!("reading response body: {}", chain(&e)),
                            ),
                            &host,
                        )
                        .with_source(e);
                        return Some((Err(err), None));
                    }
                }
            }
        }
    }))
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// The delay a `Retry-After` header asks for: seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A number in `[0, 1)`, different on every call.
fn random_fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The TLS configuration from the system's roots (or Mozilla's when the system has none) plus
/// `extra` DER certificates.
fn default_tls(extra: &[Vec<u8>]) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Unparseable system certificates are skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for (index, der) in extra.iter().enumerate() {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|source| ConfigError::InvalidRootCertificate { index, source })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The [`HttpSend`] the authenticator fetches tokens with: the client's connections, no
/// credentials of the client's own, no redirects, bounded bodies and time.
struct TokenSender {
    http: Http,
    user_agent: HeaderValue,
    response_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
}

#[async_trait::async_trait]
impl HttpSend for TokenSender {
    async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        let (mut parts, body) = req.into_parts();
        let host: Arc<str> = Arc::from(parts.uri.host().unwrap_or_default());
        parts
            .headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        let len = body.len();
        if len > 0 || matches!(parts.method, Method::POST | Method::PUT) {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(len as u64));
        }
        let body = Full::new(body)
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync();
        let request = http::Request::from_parts(parts, body);
        let fut = self.http.request(request);
        let resp = match self.response_timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(with_host(
                        Error::new(Code::Unknown, format!("no token response within {t:?}")),
                        &host,
                    ));
                }
            },
            None => fut.await,
        }
        .map_err(|e| {
            with_host(
                Error::new(Code::Unknown, format!("token request: {}", chain(&e))),
                &host,
            )
        })?;
        let (parts, body) = resp.into_parts();
        let stream = body_stream(body, self.body_timeout, host.clone());
        let data = ociregistry_core::stream::read_to_bytes(stream, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| with_host(e, &host))?;
        Ok(http::Response::from_parts(parts, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2099 07:28:00 GMT"),
        );
        assert!(retry_after(&h).unwrap() > Duration::from_secs(365 * 24 * 3600));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 400, 401, 404, 416, 501, 505] {
            assert!(!is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        assert!(!is_redirect(StatusCode::NOT_MODIFIED));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
