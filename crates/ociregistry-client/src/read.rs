//! Reads: blobs (whole, verified against the digest asked for; or a range), manifests by digest
//! or tag (read whole, bounded, verified), and the `HEAD`-based `resolve_*` operations.

use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_RANGE, HeaderValue, RANGE};
use http::{Method, StatusCode};
use ociregistry_core::media_type::{self, OCTET_STREAM};
use ociregistry_core::route::Route;
use ociregistry_core::{
    BlobReader, ByteRange, ByteStream, Code, Descriptor, Digest, Error, TagOrDigest,
};

use crate::client::{Client, check_repo};
use crate::decode::{self, Subject, with_host};
use crate::transport::{Req, Resp};

/// The `Accept` header of manifest requests: every manifest type this project knows, the
/// deprecated OCI artifact manifest, and anything else (opaque manifests are allowed).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.artifact.manifest.v1+json, \
     */*;q=0.8";

const OK: &[StatusCode] = &[StatusCode::OK];

impl Client {
    fn manifest_req(
        &self,
        method: Method,
        repo: &str,
        reference: &TagOrDigest,
    ) -> Result<Req, Error> {
        let route = match method {
            Method::HEAD => Route::ManifestHead {
                repo: repo.to_owned(),
                reference: reference.clone(),
            },
            _ => Route::ManifestGet {
                repo: repo.to_owned(),
                reference: reference.clone(),
            },
        };
        Ok(Req::new(method, self.url(&route)?, Client::pull(repo))
            .header(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT)))
    }

    fn blob_req(&self, method: Method, repo: &str, digest: &Digest) -> Result<Req, Error> {
        let route = match method {
            Method::HEAD => Route::BlobHead {
                repo: repo.to_owned(),
                digest: digest.clone(),
            },
            _ => Route::BlobGet {
                repo: repo.to_owned(),
                digest: digest.clone(),
            },
        };
        Ok(Req::new(method, self.url(&route)?, Client::pull(repo)))
    }

    /// `get_blob`: a reader verified against `digest` and the size the registry announced.
    pub(crate) async fn blob_get(&self, repo: &str, digest: &Digest) -> Result<BlobReader, Error> {
        check_repo(repo)?;
        let resp = self.send(self.blob_req(Method::GET, repo, digest)?).await?;
        let resp = self.expect(resp, OK, Subject::Blob).await?;
        decode::check_header_digest(&resp.headers, digest)
            .map_err(|e| with_host(e, self.host()))?;
        let size = match decode::content_length(&resp.headers) {
            Some(n) => n,
            // A chunked response: the size comes from a HEAD, so that the verifier can stop
            // an endless body.
            None => self.blob_resolve(repo, digest).await?.size,
        };
        let desc = Descriptor::new(OCTET_STREAM, digest.clone(), size);
        Ok(BlobReader::new(desc, resp.into_stream()).verified(digest))
    }

    /// `get_blob_range`: a `Range` request. A `206` must cover the range asked for; a `200` (the
    /// registry ignored `Range`) is cut down to the range; either way the reader yields exactly
    /// the range's bytes (not verified: a part cannot be).
    pub(crate) async fn blob_get_range(
        &self,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader, Error> {
        check_repo(repo)?;
        let value = HeaderValue::from_str(&range.to_string())
            .map_err(|e| Error::new(Code::RangeInvalid, e.to_string()))?;
        let req = self
            .blob_req(Method::GET, repo, digest)?
            .header(RANGE, value);
        let resp = self.send(req).await?;
        match resp.status {
            StatusCode::PARTIAL_CONTENT => {
                decode::check_header_digest(&resp.headers, digest)
                    .map_err(|e| with_host(e, self.host()))?;
                let Some((given, total)) =
                    decode::header_str(&resp.headers, &CONTENT_RANGE).and_then(parse_content_range)
                else {
                    return Err(decode::protocol(
                        self.host(),
                        "206 response without a valid Content-Range",
                    ));
                };
                let size = match total {
                    Some(n) => n,
                    None => self.blob_resolve(repo, digest).await?.size,
                };
                let wanted = range
                    .resolve(size)
                    .map_err(|e| with_host(e.into(), self.host()))?;
                if given.start > wanted.start || given.end < wanted.end || given.end > size {
                    return Err(decode::protocol(
                        self.host(),
                        format!(
                            "registry answered bytes {}-{} for a request of {range}",
                            given.start,
                            given.end.saturating_sub(1)
                        ),
                    ));
                }
                let body = window(
                    resp.into_stream(),
                    wanted.start - given.start,
                    wanted.end - given.start,
                );
                let desc = Descriptor::new(OCTET_STREAM, digest.clone(), size);
                Ok(BlobReader::new_range(desc, wanted, body))
            }
            StatusCode::OK => {
                decode::check_header_digest(&resp.headers, digest)
                    .map_err(|e| with_host(e, self.host()))?;
                let size = match decode::content_length(&resp.headers) {
                    Some(n) => n,
                    None => self.blob_resolve(repo, digest).await?.size,
                };
                let wanted = range
                    .resolve(size)
                    .map_err(|e| with_host(e.into(), self.host()))?;
                let body = window(resp.into_stream(), wanted.start, wanted.end);
                let desc = Descriptor::new(OCTET_STREAM, digest.clone(), size);
                Ok(BlobReader::new_range(desc, wanted, body))
            }
            _ => {
                let unsatisfied = decode::header_str(&resp.headers, &CONTENT_RANGE)
                    .and_then(|v| v.trim().strip_prefix("bytes */"))
                    .and_then(|n| n.trim().parse::<u64>().ok());
                let err = self
                    .expect(resp, OK, Subject::Blob)
                    .await
                    .err()
                    .unwrap_or_else(|| Error::from_code(Code::Unknown));
                match unsatisfied {
                    Some(size) if !err.message().contains(&size.to_string()) => {
                        let message = format!("{} (the blob has {size} bytes)", err.message());
                        Err(err.with_message(message))
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// `resolve_blob`: a `HEAD`.
    pub(crate) async fn blob_resolve(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor, Error> {
        check_repo(repo)?;
        let resp = self
            .head(
                self.blob_req(Method::HEAD, repo, digest)?,
                || self.blob_req(Method::GET, repo, digest),
                Subject::Blob,
            )
            .await?;
        decode::check_header_digest(&resp.headers, digest)
            .map_err(|e| with_host(e, self.host()))?;
        let size = match decode::content_length(&resp.headers) {
            Some(n) => n,
            None => {
                return Err(decode::protocol(
                    self.host(),
                    format!("no Content-Length in the answer for blob {digest}"),
                ));
            }
        };
        Ok(Descriptor::new(OCTET_STREAM, digest.clone(), size))
    }

    /// A `HEAD`; on `404` (when [`refine_not_found`](crate::ClientOptions::refine_not_found) is
    /// set) the same request as a `GET` tells what exactly is missing.
    async fn head(
        &self,
        req: Req,
        get: impl FnOnce() -> Result<Req, Error>,
        subject: Subject,
    ) -> Result<Resp, Error> {
        let resp = self.send(req).await?;
        if resp.status == StatusCode::NOT_FOUND && self.opts().refine_not_found {
            let head_err = self.expect(resp, OK, subject).await.err();
            let resp = self.send(get()?).await?;
            return match self.expect(resp, OK, subject).await {
                Err(e) => Err(e),
                // The GET found it after all: report the HEAD's answer.
                Ok(_) => Err(head_err.unwrap_or_else(|| Error::from_code(Code::Unknown))),
            };
        }
        self.expect(resp, OK, subject).await
    }

    /// `get_manifest` and `get_tag`: the manifest read whole (up to the manifest size limit) and
    /// verified: by digest against the digest asked for; by tag against the registry's
    /// `Docker-Content-Digest`, or, when there is none (as AWS ECR answers), against the digest
    /// of a `HEAD` or the content's SHA-256.
    pub(crate) async fn manifest_get(
        &self,
        repo: &str,
        reference: &TagOrDigest,
    ) -> Result<BlobReader, Error> {
        check_repo(repo)?;
        let resp = self
            .send(self.manifest_req(Method::GET, repo, reference)?)
            .await?;
        let resp = self.expect(resp, OK, Subject::Manifest).await?;
        let host = resp.host.clone();
        let header = decode::header_digest(&resp.headers).map_err(|e| with_host(e, &host))?;
        let content_type = decode::content_type(&resp.headers);
        let limit = self.opts().max_manifest_size;
        let data = resp.read(limit, "manifest").await?;
        let digest = match reference {
            TagOrDigest::Digest(d) => {
                if let Some(h) = &header
                    && h.algorithm() == d.algorithm()
                    && h != d
                {
                    return Err(with_host(
                        Error::new(
                            Code::DigestInvalid,
                            format!("registry answered with digest {h} for {d}"),
                        ),
                        &host,
                    ));
                }
                d.clone()
            }
            TagOrDigest::Tag(_) => match header {
                Some(h) => h,
                None => self.tag_digest(repo, reference, &data).await,
            },
        };
        if !digest.verify(&data) {
            return Err(with_host(
                Error::new(
                    Code::DigestInvalid,
                    format!(
                        "manifest content has digest {}, expected {digest}",
                        Digest::compute(digest.algorithm(), &data)
                    ),
                ),
                &host,
            ));
        }
        let media_type = content_type.unwrap_or_else(|| sniff_media_type(&data));
        let desc = Descriptor::new(media_type, digest, data.len() as u64);
        Ok(BlobReader::from_bytes(desc, data))
    }

    /// The digest of a manifest read by tag from a registry that did not send
    /// `Docker-Content-Digest` (AWS ECR): the digest a `HEAD` of the tag gives when it matches
    /// the content (the manifest may be stored under another algorithm than SHA-256), else the
    /// SHA-256 of the content.
    async fn tag_digest(&self, repo: &str, reference: &TagOrDigest, data: &Bytes) -> Digest {
        let from_head = async {
            let req = self.manifest_req(Method::HEAD, repo, reference).ok()?;
            let resp = self.send(req).await.ok()?;
            if !resp.status.is_success() {
                return None;
            }
            decode::header_digest(&resp.headers).ok().flatten()
        };
        match from_head.await {
            Some(d) if d.verify(data) => d,
            _ => Digest::sha256(data),
        }
    }

    /// `resolve_manifest` and `resolve_tag`: a `HEAD`, falling back to a `GET` (hashing the
    /// content) when the answer lacks the digest (by tag) or the size.
    pub(crate) async fn manifest_resolve(
        &self,
        repo: &str,
        reference: &TagOrDigest,
    ) -> Result<Descriptor, Error> {
        check_repo(repo)?;
        let resp = self
            .head(
                self.manifest_req(Method::HEAD, repo, reference)?,
                || self.manifest_req(Method::GET, repo, reference),
                Subject::Manifest,
            )
            .await?;
        let host = resp.host.clone();
        let header = decode::header_digest(&resp.headers).map_err(|e| with_host(e, &host))?;
        let size = decode::content_length(&resp.headers);
        let media_type = decode::content_type(&resp.headers);
        let digest = match (reference, header) {
            (TagOrDigest::Digest(d), h) => {
                if let Some(h) = h
                    && h.algorithm() == d.algorithm()
                    && h != *d
                {
                    return Err(with_host(
                        Error::new(
                            Code::DigestInvalid,
                            format!("registry answered with digest {h} for {d}"),
                        ),
                        &host,
                    ));
                }
                Some(d.clone())
            }
            (TagOrDigest::Tag(_), h) => h,
        };
        match (digest, size, media_type) {
            (Some(digest), Some(size), Some(media_type)) => {
                Ok(Descriptor::new(media_type, digest, size))
            }
            _ => {
                let reader = self.manifest_get(repo, reference).await?;
                Ok(reader.descriptor().resolved())
            }
        }
    }
}

/// The media type of a manifest served without `Content-Type`: its `mediaType` field, if any.
fn sniff_media_type(data: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct MediaTypeOnly {
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaTypeOnly>(data)
        .ok()
        .and_then(|m| m.media_type)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| media_type::OCTET_STREAM.to_owned())
}

/// Parses `Content-Range: bytes <first>-<last>/<total or *>` into the byte range (end
/// exclusive) and the total size.
fn parse_content_range(value: &str) -> Option<(Range<u64>, Option<u64>)> {
    let v = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = v.split_once('/')?;
    let (first, last) = range.trim().split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first..last.checked_add(1)?, total))
}

/// The bytes `start..end` of a body: skips the bytes before `start`, stops after
/// `end` (dropping the rest of the body), and fails with `SIZE_INVALID` when the body ends
/// before `end`.
fn window(body: ByteStream, start: u64, end: u64) -> ByteStream {
    struct State {
        body: ByteStream,
        pos: u64,
    }
    Box::pin(futures_util::stream::unfold(
        Some(State { body, pos: 0 }),
        move |state| async move {
            let mut st = state?;
            loop {
                if st.pos >= end {
                    return None;
                }
                match st.body.next().await {
                    None => {
                        let err = Error::new(
                            Code::SizeInvalid,
                            format!("response body ended at byte {} of {end}", st.pos),
                        );
                        return Some((Err(err), None));
                    }
                    Some(Err(e)) => return Some((Err(e), None)),
                    Some(Ok(chunk)) => {
                        let lo = st.pos;
                        let hi = lo + chunk.len() as u64;
                        st.pos = hi;
                        if hi <= start {
                            continue;
                        }
                        let from = start.saturating_sub(lo) as usize;
                        let to = (end.min(hi) - lo) as usize;
                        let part: Bytes = chunk.slice(from..to);
                        if part.is_empty() {
                            continue;
                        }
                        return Some((Ok(part), Some(st)));
                    }
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 1-4/11"), Some((1..5, Some(11))));
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0..1, None)));
        assert_eq!(parse_content_range("bytes 5-4/11"), None);
        assert_eq!(parse_content_range("bytes */11"), None);
        assert_eq!(parse_content_range("1-4/11"), None);
        assert_eq!(parse_content_range("bytes 1-x/11"), None);
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let v: Vec<Result<Bytes, Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures_util::stream::iter(v))
    }

    #[tokio::test]
    async fn windows() {
        let body = || chunks(&[b"abc", b"defg", b"", b"hijk"]);
        assert_eq!(
            collect(window(body(), 0, 11)).await.unwrap(),
            b"abcdefghijk"
        );
        assert_eq!(collect(window(body(), 2, 5)).await.unwrap(), b"cde");
        assert_eq!(collect(window(body(), 3, 7)).await.unwrap(), b"defg");
        assert_eq!(collect(window(body(), 10, 11)).await.unwrap(), b"k");
        let e = collect(window(body(), 5, 20)).await.unwrap_err();
        assert!(e.is(&Code::SizeInvalid));
    }

    #[test]
    fn sniffs() {
        assert_eq!(sniff_media_type(br#"{"mediaType":"a/b"}"#), "a/b");
        assert_eq!(sniff_media_type(b"xx"), OCTET_STREAM);
    }
}
