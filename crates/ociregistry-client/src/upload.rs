//! Writes of blobs: `push_blob` (POST then PUT), chunked and resumable uploads ([`Upload`], the
//! client's [`BlobWriter`]), mounts and blob deletes.

use std::collections::VecDeque;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, LOCATION, RANGE};
use http::{Method, StatusCode};
use ociregistry_core::header::OCI_CHUNK_MIN_LENGTH;
use ociregistry_core::media_type::OCTET_STREAM;
use ociregistry_core::range::{ChunkRange, parse_upload_range};
use ociregistry_core::route::Route;
use ociregistry_core::{BlobWriter, ByteStream, Code, Descriptor, Digest, Error, UploadStatus};
use url::Url;

use crate::auth::Scope;
use crate::client::{Client, check_repo};
use crate::decode::{self, Subject, with_host};
use crate::transport::{Body, Req, Resp};
use crate::urls;

const ACCEPTED: &[StatusCode] = &[StatusCode::ACCEPTED];
const CREATED: &[StatusCode] = &[StatusCode::CREATED, StatusCode::OK, StatusCode::NO_CONTENT];
const CHUNK_OK: &[StatusCode] = &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT];
const DELETED: &[StatusCode] = &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NO_CONTENT];

/// An upload session just opened by a `POST`.
struct Session {
    location: Url,
    min_chunk: Option<usize>,
}

impl Client {
    /// `POST /v2/<repo>/blobs/uploads/`: opens an upload session.
    async fn open_session(&self, repo: &str) -> Result<Session, Error> {
        let url = self.url(&Route::UploadStart {
            repo: repo.to_owned(),
        })?;
        let resp = self
            .send(Req::new(Method::POST, url, Client::push(repo)))
            .await?;
        let resp = self.expect(resp, ACCEPTED, Subject::Repository).await?;
        let location = location(&resp)?;
        Ok(Session {
            location,
            min_chunk: min_chunk(&resp),
        })
    }

    /// Deletes an upload session, best effort (for cleaning up after a failure).
    async fn discard_session(&self, repo: &str, location: &Url) {
        let req = Req::new(Method::DELETE, location.clone(), self.delete_scope(repo));
        if let Ok(resp) = self.send(req).await {
            let _ = self.expect(resp, DELETED, Subject::Upload).await;
        }
    }

    /// `push_blob`: `POST` a session, then `PUT` the whole content with `?digest=`. The content
    /// must be exactly `desc.size` bytes (`SIZE_INVALID` otherwise, and nothing is stored).
    pub(crate) async fn blob_push(
        &self,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor, Error> {
        check_repo(repo)?;
        let session = self.open_session(repo).await?;
        let url = urls::with_digest(&session.location, &desc.digest);
        let mut req = Req::new(Method::PUT, url, Client::push(repo))
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .header(CONTENT_LENGTH, HeaderValue::from(desc.size))
            .body(Body::Stream(exact_length(content, desc.size)));
        if let Some(r) = ChunkRange::new(0, desc.size) {
            req = req.header(CONTENT_RANGE, header_value(&r.to_string()));
        }
        let result = match self.send(req).await {
            Ok(resp) => self.expect(resp, CREATED, Subject::Upload).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(resp) => {
                decode::check_header_digest(&resp.headers, &desc.digest)
                    .map_err(|e| with_host(e, self.host()))?;
                Ok(Descriptor::new(
                    OCTET_STREAM,
                    desc.digest.clone(),
                    desc.size,
                ))
            }
            Err(e) => {
                self.discard_session(repo, &session.location).await;
                Err(e)
            }
        }
    }

    /// `push_blob_chunked`: opens a session.
    pub(crate) async fn upload_start(
        &self,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Upload, Error> {
        check_repo(repo)?;
        let session = self.open_session(repo).await?;
        Ok(Upload::new(
            self.clone(),
            repo,
            session.location,
            0,
            self.chunk_size(chunk_size, session.min_chunk),
        ))
    }

    fn chunk_size(&self, hint: Option<usize>, min: Option<usize>) -> usize {
        let size = hint.filter(|&n| n > 0).unwrap_or(self.opts().chunk_size);
        size.max(min.unwrap_or(0)).max(1)
    }

    /// `push_blob_chunked_resume`: the id is the session's URL. It must be on the registry's
    /// own origin and, when it has the distribution form `/v2/<repo>/blobs/uploads/...`, name
    /// `repo` (`BLOB_UPLOAD_UNKNOWN` otherwise: an id is never followed anywhere else, so that a
    /// forged id cannot send the client's credentials elsewhere). With `offset: None` a `GET`
    /// asks where the session stands; with `Some(n)` nothing is sent, and a wrong offset is
    /// reported by the registry (`416`, `RANGE_INVALID`) at the first chunk.
    pub(crate) async fn upload_resume(
        &self,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Upload, Error> {
        check_repo(repo)?;
        let unknown = |why: &str| {
            with_host(
                Error::new(
                    Code::BlobUploadUnknown,
                    format!("upload id {:?}: {why}", urls::truncate(id)),
                ),
                self.host(),
            )
        };
        let url = Url::parse(id).map_err(|_| unknown("not an upload URL"))?;
        if !urls::same_origin(&url, self.base_url()) {
            return Err(unknown("not on this registry"));
        }
        if let Some(other) = urls::upload_repository(&url)
            && other != repo
        {
            return Err(unknown(&format!(
                "an upload of another repository, not {repo}"
            )));
        }
        match offset {
            Some(n) => Ok(Upload::new(
                self.clone(),
                repo,
                url,
                n,
                self.chunk_size(chunk_size, None),
            )),
            None => {
                let resp = self
                    .send(Req::new(Method::GET, url.clone(), Client::push(repo)))
                    .await?;
                let resp = self
                    .expect(
                        resp,
                        &[StatusCode::NO_CONTENT, StatusCode::OK],
                        Subject::Upload,
                    )
                    .await?;
                let Some(size) =
                    decode::header_str(&resp.headers, &RANGE).and_then(parse_upload_range)
                else {
                    return Err(with_host(
                        Error::new(
                            Code::BlobUploadInvalid,
                            "the upload status has no valid Range header",
                        ),
                        self.host(),
                    ));
                };
                let location = match resp.headers.get(LOCATION) {
                    Some(_) => location(&resp)?,
                    None => url,
                };
                let chunk = self.chunk_size(chunk_size, min_chunk(&resp));
                Ok(Upload::new(self.clone(), repo, location, size, chunk))
            }
        }
    }

    /// `mount_blob`: `POST ?mount=<digest>[&from=<repo>]`. A `201` is a mount (its size comes
    /// from a `HEAD`, as the answer has none); a `202` means the registry opened an ordinary
    /// upload instead: that session is deleted, and the error says why when it can be known
    /// (the source lacks the blob: `NAME_UNKNOWN`/`BLOB_UNKNOWN`), else `UNSUPPORTED`.
    pub(crate) async fn blob_mount(
        &self,
        from: Option<&str>,
        to: &str,
        digest: &Digest,
    ) -> Result<Descriptor, Error> {
        check_repo(to)?;
        let mut scope = Client::push(to);
        if let Some(from) = from {
            check_repo(from)?;
            scope = scope.union(&Client::pull(from));
        }
        let url = self.url(&Route::UploadMount {
            repo: to.to_owned(),
            digest: digest.clone(),
            from: from.map(str::to_owned),
        })?;
        let resp = self.send(Req::new(Method::POST, url, scope)).await?;
        let resp = self
            .expect(
                resp,
                &[StatusCode::CREATED, StatusCode::ACCEPTED],
                Subject::Repository,
            )
            .await?;
        if resp.status == StatusCode::CREATED {
            decode::check_header_digest(&resp.headers, digest)
                .map_err(|e| with_host(e, self.host()))?;
            drop(resp);
            let desc = self.blob_resolve(to, digest).await?;
            return Ok(desc);
        }
        if let Ok(loc) = location(&resp) {
            self.discard_session(to, &loc).await;
        }
        if let Some(from) = from
            && let Err(e) = self.blob_resolve(from, digest).await
            && e.is_not_found()
        {
            return Err(e);
        }
        Err(with_host(
            Error::new(
                Code::Unsupported,
                format!("the registry did not mount {digest} (it opened an upload instead)"),
            ),
            self.host(),
        ))
    }

    /// `delete_blob`.
    pub(crate) async fn blob_delete(&self, repo: &str, digest: &Digest) -> Result<(), Error> {
        check_repo(repo)?;
        let url = self.url(&Route::BlobDelete {
            repo: repo.to_owned(),
            digest: digest.clone(),
        })?;
        let resp = self
            .send(Req::new(Method::DELETE, url, self.delete_scope(repo)))
            .await?;
        self.expect(resp, DELETED, Subject::Blob).await?;
        Ok(())
    }
}

/// The `Location` of a response, resolved against the request URL.
fn location(resp: &Resp) -> Result<Url, Error> {
    let Some(value) = decode::header_str(&resp.headers, &LOCATION) else {
        return Err(decode::protocol(
            &resp.host,
            format!("no Location in the answer to {} {}", resp.method, resp.url),
        ));
    };
    urls::resolve(&resp.url, value, "Location").map_err(|e| with_host(e, &resp.host))
}

/// The registry's `OCI-Chunk-Min-Length`, if any.
fn min_chunk(resp: &Resp) -> Option<usize> {
    decode::header_str(&resp.headers, &OCI_CHUNK_MIN_LENGTH)?
        .trim()
        .parse()
        .ok()
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A stream that must be exactly `size` bytes: fails with `SIZE_INVALID` as soon as it is
/// longer, or when it ends shorter.
fn exact_length(content: ByteStream, size: u64) -> ByteStream {
    Box::pin(futures_util::stream::unfold(
        Some((content, 0u64)),
        move |state| async move {
            let (mut content, seen) = state?;
            match content.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > size {
                        let e = Error::new(
                            Code::SizeInvalid,
                            format!("content is longer than the declared {size} bytes"),
                        );
                        return Some((Err(e), None));
                    }
                    Some((Ok(chunk), Some((content, seen))))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None if seen != size => {
                    let e = Error::new(
                        Code::SizeInvalid,
                        format!("content is {seen} bytes, declared {size}"),
                    );
                    Some((Err(e), None))
                }
                None => None,
            }
        },
    ))
}

/// The client's [`BlobWriter`]: a chunked upload session on the registry.
///
/// Writes are buffered (the caller's chunks are kept, not copied). Whenever more than
/// `chunk_size` bytes are buffered, exactly `chunk_size` of them go out as one `PATCH` with
/// `Content-Range` and `Content-Length`; the `Location` of each answer is adopted. `close`
/// sends what is buffered; `commit` sends it in the final `PUT ?digest=` (saving a round trip);
/// `cancel` deletes the session. [`id`](BlobWriter::id) is the session's current absolute URL.
/// Dropping it without any of these discards what is buffered and not yet sent; the session
/// keeps what was sent, and can be resumed with `offset: None`.
pub(crate) struct Upload {
    client: Client,
    repo: String,
    location: Url,
    id: String,
    chunk_size: usize,
    buf: VecDeque<Bytes>,
    buffered: usize,
    /// Bytes the registry holds (as far as the client knows).
    flushed: u64,
    scope: Scope,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("repo", &self.repo)
            .field("location", &self.id)
            .field("chunk_size", &self.chunk_size)
            .field("buffered", &self.buffered)
            .field("flushed", &self.flushed)
            .finish()
    }
}

impl Upload {
    fn new(client: Client, repo: &str, location: Url, offset: u64, chunk_size: usize) -> Upload {
        Upload {
            scope: Client::push(repo),
            client,
            repo: repo.to_owned(),
            id: location.to_string(),
            location,
            chunk_size,
            buf: VecDeque::new(),
            buffered: 0,
            flushed: offset,
        }
    }

    /// Takes the first `n` buffered bytes (splitting a chunk without copying).
    fn take(&mut self, n: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some(mut front) = self.buf.pop_front() else {
                break;
            };
            if front.len() > need {
                let head = front.split_to(need);
                self.buf.push_front(front);
                out.push(head);
                need = 0;
            } else {
                need -= front.len();
                out.push(front);
            }
        }
        let took = n - need;
        self.buffered -= took;
        out
    }

    /// Sends `chunks` as a `PATCH` and adopts the answer's `Location`.
    async fn patch(&mut self, chunks: Vec<Bytes>) -> Result<(), Error> {
        let len: usize = chunks.iter().map(Bytes::len).sum();
        let Some(range) = ChunkRange::new(self.flushed, len as u64) else {
            return Ok(());
        };
        let req = Req::new(Method::PATCH, self.location.clone(), self.scope.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .header(CONTENT_LENGTH, HeaderValue::from(len as u64))
            .header(CONTENT_RANGE, header_value(&range.to_string()))
            .body(Body::Chunks(chunks));
        let resp = self.client.send(req).await?;
        let resp = self.client.expect(resp, CHUNK_OK, Subject::Upload).await?;
        if resp.headers.contains_key(LOCATION) {
            self.set_location(location(&resp)?);
        }
        self.flushed += len as u64;
        Ok(())
    }

    fn set_location(&mut self, url: Url) {
        self.id = url.to_string();
        self.location = url;
    }
}

#[async_trait]
impl BlobWriter for Upload {
    async fn write(&mut self, data: Bytes) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        self.buffered += data.len();
        self.buf.push_back(data);
        while self.buffered > self.chunk_size {
            let chunk = self.take(self.chunk_size);
            if let Err(e) = self.patch(chunk).await {
                // What was not sent is gone from the buffer: the upload must be resumed from
                // where the registry stands.
                self.buf.clear();
                self.buffered = 0;
                return Err(e);
            }
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.flushed + self.buffered as u64
    }

    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn id(&self) -> &str {
        &self.id
    }

    async fn close(mut self: Box<Self>) -> Result<UploadStatus, Error> {
        let all = self.take(self.buffered);
        self.patch(all).await?;
        Ok(UploadStatus {
            id: self.id.clone(),
            size: self.flushed,
        })
    }

    async fn commit(mut self: Box<Self>, digest: &Digest) -> Result<Descriptor, Error> {
        let rest = self.take(self.buffered);
        let len: usize = rest.iter().map(Bytes::len).sum();
        let url = urls::with_digest(&self.location, digest);
        let mut req = Req::new(Method::PUT, url, self.scope.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .header(CONTENT_LENGTH, HeaderValue::from(len as u64));
        if let Some(range) = ChunkRange::new(self.flushed, len as u64) {
            req = req
                .header(CONTENT_RANGE, header_value(&range.to_string()))
                .body(Body::Chunks(rest));
        }
        let resp = self.client.send(req).await?;
        let resp = self.client.expect(resp, CREATED, Subject::Upload).await?;
        decode::check_header_digest(&resp.headers, digest)
            .map_err(|e| with_host(e, self.client.host()))?;
        Ok(Descriptor::new(
            OCTET_STREAM,
            digest.clone(),
            self.flushed + len as u64,
        ))
    }

    async fn cancel(self: Box<Self>) -> Result<(), Error> {
        let scope = self.client.delete_scope(&self.repo);
        let req = Req::new(Method::DELETE, self.location.clone(), scope);
        let resp = self.client.send(req).await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        self.client.expect(resp, DELETED, Subject::Upload).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exact_length_checks_both_ways() {
        let s = |parts: Vec<&'static [u8]>| -> ByteStream {
            Box::pin(futures_util::stream::iter(
                parts.into_iter().map(|p| Ok(Bytes::from_static(p))),
            ))
        };
        let read = |st: ByteStream| ociregistry_core::stream::read_to_bytes(st, 100);
        assert_eq!(
            &read(exact_length(s(vec![b"ab", b"c"]), 3)).await.unwrap()[..],
            b"abc"
        );
        assert!(
            read(exact_length(s(vec![b"ab", b"cd"]), 3))
                .await
                .unwrap_err()
                .is(&Code::SizeInvalid)
        );
        assert!(
            read(exact_length(s(vec![b"ab"]), 3))
                .await
                .unwrap_err()
                .is(&Code::SizeInvalid)
        );
        assert!(read(exact_length(s(vec![]), 0)).await.unwrap().is_empty());
    }
}
