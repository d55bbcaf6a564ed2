//! Blob reads and deletes: `GET`, `HEAD` and `DELETE /v2/<repo>/blobs/<digest>`.

use futures_util::StreamExt;
use http::header::{ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use http::{Response, StatusCode};
use ociregistry_core::header::DOCKER_CONTENT_DIGEST;
use ociregistry_core::range::{self, ByteRange};
use ociregistry_core::{BlobReader, Code, Context, Digest, Error};

use crate::body::{self, ResponseBody};
use crate::response::Reply;
use crate::service::{Handler, Incoming};

impl Handler {
    pub(crate) async fn blob_get(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, Error> {
        let registry = &self.registry;
        if let Some(locations) = &self.opts.locations_for_descriptor {
            let desc = registry.resolve_blob(&req.cx, repo, digest).await?;
            if let Some(loc) = locations(false, &desc)?.into_iter().next() {
                return Ok(Reply::new(StatusCode::TEMPORARY_REDIRECT)
                    .header(LOCATION, loc)
                    .header(DOCKER_CONTENT_DIGEST, digest.as_str())
                    .finish());
            }
        }
        let Some(range_header) = req.header_str(&RANGE) else {
            let reader = registry.get_blob(&req.cx, repo, digest).await?;
            return Ok(blob_response(StatusCode::OK, digest, reader));
        };
        let range = match ByteRange::parse_header(range_header) {
            Ok(r) => r,
            Err(e) => return self.unsatisfiable(&req.cx, repo, digest, e.into()).await,
        };
        let reader = match registry.get_blob_range(&req.cx, repo, digest, range).await {
            Ok(r) => r,
            // A backend without ranged reads: read the whole blob and skip to the range.
            Err(e) if e.is_unsupported() => {
                let reader = registry.get_blob(&req.cx, repo, digest).await?;
                slice_reader(reader, range)?
            }
            Err(e) if e.is_range_invalid() => {
                return self.unsatisfiable(&req.cx, repo, digest, e).await;
            }
            Err(e) => return Err(e),
        };
        Ok(blob_response(StatusCode::PARTIAL_CONTENT, digest, reader))
    }

    /// The 416 response, with `Content-Range: bytes */SIZE` when the blob exists; the
    /// blob's own not-found error when it does not.
    async fn unsatisfiable(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        err: Error,
    ) -> Result<Response<ResponseBody>, Error> {
        let err = err.with_code(Code::RangeInvalid);
        match self.registry.resolve_blob(cx, repo, digest).await {
            Err(e) if e.is_not_found() => Err(e),
            Err(_) => Err(err),
            Ok(desc) => {
                let mut resp = crate::response::write_error(&self.opts, &err, false);
                if let Ok(v) = range::unsatisfied_content_range(desc.size).parse() {
                    resp.headers_mut().insert(CONTENT_RANGE, v);
                }
                Ok(resp)
            }
        }
    }

    pub(crate) async fn blob_head(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, Error> {
        let desc = self.registry.resolve_blob(&req.cx, repo, digest).await?;
        Ok(Reply::new(StatusCode::OK)
            .header(CONTENT_TYPE, non_empty(&desc.media_type))
            .content_length(desc.size)
            .header(DOCKER_CONTENT_DIGEST, digest.as_str())
            .header(ACCEPT_RANGES, "bytes")
            .finish())
    }

    pub(crate) async fn blob_delete(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, Error> {
        self.registry.delete_blob(&req.cx, repo, digest).await?;
        Ok(Reply::new(StatusCode::ACCEPTED).content_length(0).finish())
    }
}

fn non_empty(media_type: &str) -> &str {
    if media_type.is_empty() {
        ociregistry_core::media_type::OCTET_STREAM
    } else {
        media_type
    }
}

/// A 200 or 206 response streaming `reader`.
fn blob_response(
    status: StatusCode,
    digest: &Digest,
    reader: BlobReader,
) -> Response<ResponseBody> {
    let desc = reader.descriptor().clone();
    let len = reader.len();
    let mut reply = Reply::new(status)
        .header(CONTENT_TYPE, non_empty(&desc.media_type))
        .content_length(len)
        .header(DOCKER_CONTENT_DIGEST, digest.as_str())
        .header(ACCEPT_RANGES, "bytes");
    if let Some(r) = reader.range() {
        reply = reply.header(CONTENT_RANGE, range::content_range(r, desc.size));
    }
    let (_, stream) = reader.into_parts();
    reply.body(body::stream(stream)).finish()
}

/// Serves `range` of a whole-blob reader by skipping and truncating its chunks.
fn slice_reader(reader: BlobReader, range: ByteRange) -> Result<BlobReader, Error> {
    let size = reader.descriptor().size;
    let wanted = range.resolve(size)?;
    let (desc, stream) = reader.into_parts();
    let (start, end) = (wanted.start, wanted.end);
    let mut pos = 0u64;
    let sliced = stream.filter_map(move |chunk| {
        let out = match chunk {
            Err(e) => Some(Err(e)),
            Ok(c) => {
                let (lo, hi) = (pos, pos + c.len() as u64);
                pos = hi;
                if hi <= start || lo >= end {
                    None
                } else {
                    let from = start.saturating_sub(lo) as usize;
                    let to = (end.min(hi) - lo) as usize;
                    Some(Ok(c.slice(from..to)))
                }
            }
        };
        std::future::ready(out)
    });
    Ok(BlobReader::new_range(desc, wanted, Box::pin(sliced)))
}
