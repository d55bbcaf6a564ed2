//! The load generator's HTTP side: a keep-alive hyper client bound to one registry, and the
//! distribution API requests the scenarios make.
//!
//! Two transports: a pooled client ([`Registry::new`], for setup and the sequential big-blob
//! scenarios) and one dedicated keep-alive connection ([`Registry::dedicated`]) for each task of
//! the concurrent load, whose connection task runs on the same single-threaded runtime as the
//! load task. The latter keeps the load generator's own CPU cost per request low: no pool
//! bookkeeping, no task spawned per request, no wake-ups across threads. On a machine where
//! the load generator and the server share the cores, that cost is taken from the server.
//!
//! Request bodies are [`Full`] over [`Bytes`] slices of the shared data, so a 1 GiB push is
//! written from memory without a copy per request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HOST, HeaderName, HeaderValue, LINK,
    LOCATION,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest as _, Sha256};

use super::data::{Blob, MANIFEST_TYPE, digest_string};

/// How long one request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A client for one registry at `base` (`http://HOST:PORT`).
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    transport: Transport,
    base: Arc<str>,
}

#[derive(Clone, Debug)]
enum Transport {
    Pool(Box<Client<HttpConnector, Full<Bytes>>>),
    /// One connection, opened on first use and again after it closes; for one task at a time.
    Dedicated(Arc<tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>>),
}

/// A failed request, as text for the report.
pub(crate) type Failure = String;

impl Registry {
    /// A client with a keep-alive pool (one connection per concurrent request) and
    /// `TCP_NODELAY`.
    pub(crate) fn new(base: &str) -> Registry {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Registry {
            transport: Transport::Pool(Box::new(client)),
            base: base.trim_end_matches('/').into(),
        }
    }

    /// A client with one keep-alive connection of its own, for one load task. The connection's
    /// task is spawned on the runtime of the first request.
    pub(crate) fn dedicated(base: &str) -> Registry {
        Registry {
            transport: Transport::Dedicated(Arc::default()),
            base: base.trim_end_matches('/').into(),
        }
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `path` (`/v2/...`) or an absolute URL, as an absolute URL.
    pub(crate) fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.base)
        } else {
            format!("{}/{path_or_url}", self.base)
        }
    }

    /// Sends a request and returns the response head (the body still to read).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<Response<Incoming>, Failure> {
        let mut req = Request::builder().method(method.clone());
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        if !body.is_empty() || matches!(method, Method::PUT | Method::POST | Method::PATCH) {
            req = req.header(CONTENT_LENGTH, body.len());
        }
        let sent = match &self.transport {
            Transport::Pool(client) => {
                let req = req
                    .uri(url)
                    .body(Full::new(body))
                    .map_err(|e| format!("{method} {url}: {e}"))?;
                let call = async {
                    client
                        .request(req)
                        .await
                        .map_err(|e| format!("{method} {url}: {}", error_chain(&e)))
                };
                tokio::time::timeout(REQUEST_TIMEOUT, call).await
            }
            Transport::Dedicated(conn) => {
                let (authority, path) = split_url(url);
                let req = req
                    .uri(path)
                    .header(HOST, authority)
                    .body(Full::new(body))
                    .map_err(|e| format!("{method} {url}: {e}"))?;
                let call = async {
                    let response = {
                        let mut guard = conn.lock().await;
                        let sender = match guard.take() {
                            Some(s) if !s.is_closed() => s,
                            _ => connect(authority).await?,
                        };
                        let sender = guard.insert(sender);
                        sender
                            .ready()
                            .await
                            .map_err(|e| format!("connection to {authority}: {e}"))?;
                        sender.send_request(req)
                    };
                    response
                        .await
                        .map_err(|e| format!("{method} {url}: {}", error_chain(&e)))
                };
                tokio::time::timeout(REQUEST_TIMEOUT, call).await
            }
        };
        sent.unwrap_or_else(|_| {
            Err(format!(
                "{method} {url}: no response within {}s",
                REQUEST_TIMEOUT.as_secs()
            ))
        })
    }

    /// Sends a request, reads the whole response body and checks the status.
    pub(crate) async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Bytes,
        want: StatusCode,
    ) -> Result<(hyper::http::response::Parts, Bytes), Failure> {
        let resp = self.send(method.clone(), url, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = read_body(body)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        if parts.status != want {
            return Err(unexpected(&method, url, parts.status, want, &body));
        }
        Ok((parts, body))
    }

    /// Starts an upload session: the URL to continue it at.
    pub(crate) async fn start_upload(&self, repo: &str) -> Result<String, Failure> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let (parts, _) = self
            .call(Method::POST, &url, &[], Bytes::new(), StatusCode::ACCEPTED)
            .await?;
        location(&parts, &url).map(|l| self.url(&l))
    }

    /// Pushes `blob` with POST then one PUT carrying the whole body.
    pub(crate) async fn push_monolithic(&self, repo: &str, blob: &Blob) -> Result<(), Failure> {
        let loc = self.start_upload(repo).await?;
        self.finish_upload(&loc, blob, blob.data.clone()).await
    }

    /// Pushes `blob` with POST, PATCHes of `chunk` bytes, and a final empty PUT.
    pub(crate) async fn push_chunked(
        &self,
        repo: &str,
        blob: &Blob,
        chunk: usize,
    ) -> Result<(), Failure> {
        let mut loc = self.start_upload(repo).await?;
        let mut start = 0usize;
        while start < blob.data.len() {
            let end = (start + chunk.max(1)).min(blob.data.len());
            let range = format!("{start}-{}", end - 1);
            let (parts, _) = self
                .call(
                    Method::PATCH,
                    &loc,
                    &[
                        (CONTENT_TYPE, "application/octet-stream"),
                        (CONTENT_RANGE, &range),
                    ],
                    blob.data.slice(start..end),
                    StatusCode::ACCEPTED,
                )
                .await?;
            loc = self.url(&location(&parts, &loc)?);
            start = end;
        }
        self.finish_upload(&loc, blob, Bytes::new()).await
    }

    /// Closes the upload at `loc` with a PUT of `body` and `blob`'s digest.
    async fn finish_upload(&self, loc: &str, blob: &Blob, body: Bytes) -> Result<(), Failure> {
        let url = with_query(loc, "digest", &blob.digest);
        self.call(
            Method::PUT,
            &url,
            &[(CONTENT_TYPE, "application/octet-stream")],
            body,
            StatusCode::CREATED,
        )
        .await
        .map(|_| ())
    }

    /// Mounts `blob` from `from` into `repo`; a registry that answers the mount with an upload
    /// session (202) gets the content pushed into it instead.
    pub(crate) async fn mount_or_push(
        &self,
        repo: &str,
        from: &str,
        blob: &Blob,
    ) -> Result<(), Failure> {
        let url = self.url(&format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={from}",
            blob.digest
        ));
        let resp = self.send(Method::POST, &url, &[], Bytes::new()).await?;
        let (parts, body) = resp.into_parts();
        let body = read_body(body)
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        match parts.status {
            StatusCode::CREATED => Ok(()),
            StatusCode::ACCEPTED => {
                let loc = self.url(&location(&parts, &url)?);
                self.finish_upload(&loc, blob, blob.data.clone()).await
            }
            s => Err(unexpected(
                &Method::POST,
                &url,
                s,
                StatusCode::CREATED,
                &body,
            )),
        }
    }

    /// `HEAD` of a blob, expecting 200.
    pub(crate) async fn head_blob(&self, repo: &str, digest: &str) -> Result<(), Failure> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        self.call(Method::HEAD, &url, &[], Bytes::new(), StatusCode::OK)
            .await
            .map(|_| ())
    }

    /// Deletes a blob; whether it worked does not matter to the caller (it only frees memory).
    pub(crate) async fn delete_blob(&self, repo: &str, digest: &str) {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        if let Ok(resp) = self.send(Method::DELETE, &url, &[], Bytes::new()).await {
            let _ = read_body(resp.into_body()).await;
        }
    }

    /// Pulls a blob, reading it as it arrives; with `verify`, hashes it and compares the
    /// digest. Returns the bytes read.
    pub(crate) async fn pull_blob(
        &self,
        repo: &str,
        digest: &str,
        verify: bool,
    ) -> Result<u64, Failure> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self.send(Method::GET, &url, &[], Bytes::new()).await?;
        let (parts, mut body) = resp.into_parts();
        if parts.status != StatusCode::OK {
            let text = read_body(body).await.unwrap_or_default();
            return Err(unexpected(
                &Method::GET,
                &url,
                parts.status,
                StatusCode::OK,
                &text,
            ));
        }
        let mut hasher = verify.then(Sha256::new);
        let mut n = 0u64;
        let read = async {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
                if let Ok(data) = frame.into_data() {
                    n += data.len() as u64;
                    if let Some(h) = hasher.as_mut() {
                        h.update(&data);
                    }
                }
            }
            Ok::<(), Failure>(())
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
            Ok(r) => r?,
            Err(_) => return Err(format!("GET {url}: body not read within the timeout")),
        }
        if let Some(h) = hasher {
            let got = digest_string(&h.finalize());
            if got != digest {
                return Err(format!("GET {url}: content has digest {got}"));
            }
        }
        Ok(n)
    }

    /// PUTs a manifest under `reference` (a tag or digest).
    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        body: Bytes,
    ) -> Result<(), Failure> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.call(
            Method::PUT,
            &url,
            &[(CONTENT_TYPE, MANIFEST_TYPE)],
            body,
            StatusCode::CREATED,
        )
        .await
        .map(|_| ())
    }

    /// GETs a manifest by tag or digest; returns its size.
    pub(crate) async fn get_manifest(&self, repo: &str, reference: &str) -> Result<usize, Failure> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let (_, body) = self
            .call(
                Method::GET,
                &url,
                &[(ACCEPT, MANIFEST_ACCEPT)],
                Bytes::new(),
                StatusCode::OK,
            )
            .await?;
        Ok(body.len())
    }

    /// GETs one page of a list at `url`: the entries under `key` and the `Link` to the next
    /// page, if any.
    pub(crate) async fn list_page(
        &self,
        url: &str,
        key: &str,
    ) -> Result<(Vec<String>, Option<String>), Failure> {
        let (parts, body) = self
            .call(Method::GET, url, &[], Bytes::new(), StatusCode::OK)
            .await?;
        let entries = parse_list(&body, key).map_err(|e| format!("GET {url}: {e}"))?;
        let next = parts
            .headers
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_next_link);
        Ok((entries, next))
    }
}

/// Opens a connection to `authority` (`HOST:PORT`) and spawns its task.
async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(authority),
    )
    .await
    .map_err(|_| format!("connecting to {authority}: timed out"))?
    .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `http://HOST:PORT/path?query` as (`HOST:PORT`, `/path?query`).
pub(crate) fn split_url(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

/// What manifest GETs accept.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Reads a whole body.
async fn read_body(body: Incoming) -> Result<Bytes, Failure> {
    match tokio::time::timeout(REQUEST_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(format!("reading the body: {}", error_chain(&e))),
        Err(_) => Err("body not read within the timeout".into()),
    }
}

fn unexpected(
    method: &Method,
    url: &str,
    got: StatusCode,
    want: StatusCode,
    body: &[u8],
) -> Failure {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    format!(
        "{method} {url}: status {got} (wanted {want}){}{}",
        if text.is_empty() { "" } else { ": " },
        text.trim()
    )
}

/// The `Location` header of a response to `url`.
fn location(parts: &hyper::http::response::Parts, url: &str) -> Result<String, Failure> {
    parts
        .headers
        .get(LOCATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("{url}: {} without a Location", parts.status))
}

/// `url` with `key=value` appended to its query.
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// The target of a `Link: <URL>; rel="next"` header.
pub(crate) fn parse_next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .strip_prefix("rel=")
                .is_some_and(|r| r.trim_matches('"') == "next")
        });
        is_next.then(|| target.to_string())
    })
}

/// The string array `key` of a JSON list response (`tags` or `repositories`); `null` is empty.
pub(crate) fn parse_list(body: &[u8], key: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON list: {e}"))?;
    match v.get(key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{key} holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("{key} is not an array")),
    }
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_urls() {
        let r = Registry::new("http://127.0.0.1:5000/");
        assert_eq!(r.base(), "http://127.0.0.1:5000");
        assert_eq!(r.url("/v2/"), "http://127.0.0.1:5000/v2/");
        assert_eq!(r.url("v2/x"), "http://127.0.0.1:5000/v2/x");
        assert_eq!(
            r.url("http://127.0.0.1:1/v2/a/blobs/uploads/u?_state=s"),
            "http://127.0.0.1:1/v2/a/blobs/uploads/u?_state=s"
        );
        assert_eq!(
            with_query("/u", "digest", "sha256:ab"),
            "/u?digest=sha256:ab"
        );
        assert_eq!(
            with_query("/u?_state=x", "digest", "sha256:ab"),
            "/u?_state=x&digest=sha256:ab"
        );
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:5000/v2/a/blobs/uploads/?x=1"),
            ("127.0.0.1:5000", "/v2/a/blobs/uploads/?x=1")
        );
        assert_eq!(split_url("http://h:1"), ("h:1", "/"));
        assert_eq!(split_url("h:1/v2/"), ("h:1", "/v2/"));
    }

    #[test]
    fn parses_next_links() {
        assert_eq!(
            parse_next_link(r#"</v2/r/tags/list?n=100&last=t99>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=100&last=t99")
        );
        assert_eq!(
            parse_next_link(r#"<http://h/v2/_catalog?last=a%2Fb&n=100>;rel=next"#).as_deref(),
            Some("http://h/v2/_catalog?last=a%2Fb&n=100")
        );
        assert_eq!(
            parse_next_link(r#"</first>; rel="prev", </second>; rel="next""#).as_deref(),
            Some("/second")
        );
        assert_eq!(parse_next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(parse_next_link("garbage"), None);
        assert_eq!(parse_next_link(""), None);
    }

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse_list(br#"{"name":"r","tags":["a","b"]}"#, "tags").expect("list"),
            ["a", "b"]
        );
        assert!(
            parse_list(br#"{"name":"r","tags":null}"#, "tags")
                .expect("null")
                .is_empty()
        );
        assert!(
            parse_list(br#"{"repositories":[]}"#, "repositories")
                .expect("empty")
                .is_empty()
        );
        assert!(parse_list(br#"{"tags":[1]}"#, "tags").is_err());
        assert!(parse_list(br#"{"tags":"a"}"#, "tags").is_err());
        assert!(parse_list(b"<html>", "tags").is_err());
    }
}
