//! Blob uploads: single-request, POST-then-PUT, chunked, resumable, mounted and cancelled.
//!
//! The server keeps no upload state: an upload URL is `/v2/<repo>/blobs/uploads/<id>` where
//! `<id>` is the registry's own upload id (base64url-encoded), and every request on it resumes
//! the registry's session.

use futures_util::StreamExt;
use http::header::{CONTENT_RANGE, LOCATION, RANGE};
use http::{Response, StatusCode};
use ociregistry_core::header::{DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, OCI_CHUNK_MIN_LENGTH};
use ociregistry_core::range::{self, ChunkRange};
use ociregistry_core::route;
use ociregistry_core::{BlobWriter, ByteStream, Code, Descriptor, Digest, Error, media_type};

use crate::body::ResponseBody;
use crate::response::Reply;
use crate::service::{Handler, Incoming};

impl Handler {
    fn upload_location(&self, repo: &str, id: &str) -> Result<String, Error> {
        match &self.opts.location_for_upload_id {
            Some(f) => f(id),
            None => Ok(route::upload_path(repo, id)),
        }
    }

    fn blob_location(&self, repo: &str, desc: &Descriptor) -> Result<String, Error> {
        if let Some(locations) = &self.opts.locations_for_descriptor
            && let Some(loc) = locations(false, desc)?.into_iter().next()
        {
            return Ok(loc);
        }
        Ok(format!("/v2/{repo}/blobs/{}", desc.digest))
    }

    /// The 202 response describing an open upload session.
    fn session_reply(
        &self,
        status: StatusCode,
        repo: &str,
        id: &str,
        size: u64,
    ) -> Result<Reply, Error> {
        Ok(Reply::new(status)
            .header(LOCATION, self.upload_location(repo, id)?)
            .header(RANGE, range::upload_range(size))
            .header(DOCKER_UPLOAD_UUID, route::encode_upload_id(id))
            .content_length(0))
    }

    /// The 201 response for a stored blob.
    fn created_blob(&self, repo: &str, desc: &Descriptor) -> Result<Response<ResponseBody>, Error> {
        Ok(Reply::new(StatusCode::CREATED)
            .header(LOCATION, self.blob_location(repo, desc)?)
            .header(DOCKER_CONTENT_DIGEST, desc.digest.as_str())
            .content_length(0)
            .finish())
    }

    pub(crate) async fn upload_start(
        &self,
        req: &mut Incoming,
        repo: &str,
    ) -> Result<Response<ResponseBody>, Error> {
        let writer = self.registry.push_blob_chunked(&req.cx, repo, None).await?;
        let chunk = writer.chunk_size();
        let status = writer.close().await?;
        Ok(self
            .session_reply(StatusCode::ACCEPTED, repo, &status.id, status.size)?
            .header(OCI_CHUNK_MIN_LENGTH, chunk.to_string())
            .finish())
    }

    pub(crate) async fn upload_monolithic(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, Error> {
        if self.opts.disable_single_post_upload {
            return self.upload_start(req, repo).await;
        }
        let body = req.take_body();
        let desc = match req.content_length()? {
            Some(size) => {
                let desc = Descriptor::new(media_type::OCTET_STREAM, digest.clone(), size);
                self.registry.push_blob(&req.cx, repo, &desc, body).await?
            }
            // No declared length: stream through an upload session instead.
            None => {
                let writer = self.registry.push_blob_chunked(&req.cx, repo, None).await?;
                let id = writer.id().to_owned();
                let result = match write_all(writer, body, None).await {
                    Ok(writer) => writer.commit(digest).await,
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    // Nobody can resume this session: free it now rather than at expiry.
                    if let Ok(w) = self
                        .registry
                        .push_blob_chunked_resume(&req.cx, repo, &id, None, None)
                        .await
                    {
                        let _ = w.cancel().await;
                    }
                }
                result?
            }
        };
        self.created_blob(repo, &desc)
    }

    pub(crate) async fn upload_mount(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
        from: Option<&str>,
    ) -> Result<Response<ResponseBody>, Error> {
        match self.registry.mount_blob(&req.cx, from, repo, digest).await {
            Ok(desc) => self.created_blob(repo, &desc),
            // The spec's fallback: when a mount cannot be done, open an upload session (202).
            // Answering so also reveals nothing about the source repository.
            Err(_) => self.upload_start(req, repo).await,
        }
    }

    pub(crate) async fn upload_status(
        &self,
        req: &mut Incoming,
        repo: &str,
        id: &str,
    ) -> Result<Response<ResponseBody>, Error> {
        let writer = self
            .registry
            .push_blob_chunked_resume(&req.cx, repo, id, None, None)
            .await?;
        let status = writer.close().await?;
        Ok(self
            .session_reply(StatusCode::NO_CONTENT, repo, &status.id, status.size)?
            .finish())
    }

    pub(crate) async fn upload_chunk(
        &self,
        req: &mut Incoming,
        repo: &str,
        id: &str,
    ) -> Result<Response<ResponseBody>, Error> {
        let (offset, expected) = chunk_extent(req)?;
        // The chunk's length as the chunk-size hint: a backend that forwards chunks (a client
        // of another registry) can then send this one as one request.
        let hint = chunk_hint(expected);
        let writer = self
            .registry
            .push_blob_chunked_resume(&req.cx, repo, id, offset, hint)
            .await?;
        let writer = write_all(writer, req.take_body(), expected).await?;
        let status = writer.close().await?;
        Ok(self
            .session_reply(StatusCode::ACCEPTED, repo, &status.id, status.size)?
            .finish())
    }

    pub(crate) async fn upload_complete(
        &self,
        req: &mut Incoming,
        repo: &str,
        id: &str,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, Error> {
        let (offset, expected) = chunk_extent(req)?;
        let writer = self
            .registry
            .push_blob_chunked_resume(&req.cx, repo, id, offset, chunk_hint(expected))
            .await?;
        let writer = write_all(writer, req.take_body(), expected).await?;
        let desc = writer.commit(digest).await?;
        self.created_blob(repo, &desc)
    }

    pub(crate) async fn upload_cancel(
        &self,
        req: &mut Incoming,
        repo: &str,
        id: &str,
    ) -> Result<Response<ResponseBody>, Error> {
        let writer = self
            .registry
            .push_blob_chunked_resume(&req.cx, repo, id, None, None)
            .await?;
        writer.cancel().await?;
        Ok(Reply::new(StatusCode::NO_CONTENT)
            .content_length(0)
            .finish())
    }
}

/// A chunk-size hint from a chunk's declared length (none for empty or undeclared chunks).
fn chunk_hint(expected: Option<u64>) -> Option<usize> {
    expected
        .filter(|&n| n > 0)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Where a chunk starts (from `Content-Range`) and how long it must be (from `Content-Range`
/// and `Content-Length`, which must agree).
fn chunk_extent(req: &Incoming) -> Result<(Option<u64>, Option<u64>), Error> {
    let length = req.content_length()?;
    let Some(value) = req.header_str(&CONTENT_RANGE) else {
        if req.headers.contains_key(CONTENT_RANGE) {
            return Err(Error::new(
                Code::RangeInvalid,
                "Content-Range is not valid text",
            ));
        }
        return Ok((None, length));
    };
    let range = ChunkRange::parse(value).ok_or_else(|| {
        Error::new(
            Code::RangeInvalid,
            format!(
                "Content-Range {:?} is not of the form <start>-<end>",
                value.chars().take(64).collect::<String>()
            ),
        )
    })?;
    if let Some(len) = length
        && len != range.len()
    {
        return Err(Error::new(
            Code::SizeInvalid,
            format!(
                "Content-Range {range} covers {} bytes but Content-Length is {len}",
                range.len()
            ),
        )
        .with_status(StatusCode::BAD_REQUEST));
    }
    Ok((Some(range.start), Some(range.len())))
}

/// Copies `body` into `writer`. A body that fails, or whose length differs from `expected`,
/// fails the request; what was written stays in the session, whose size tells a client where
/// to resume.
async fn write_all(
    mut writer: Box<dyn BlobWriter>,
    mut body: ByteStream,
    expected: Option<u64>,
) -> Result<Box<dyn BlobWriter>, Error> {
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if chunk.is_empty() {
            continue;
        }
        written += chunk.len() as u64;
        if expected.is_some_and(|e| written > e) {
            return Err(Error::new(Code::SizeInvalid, "body longer than declared"));
        }
        writer.write(chunk).await?;
    }
    if expected.is_some_and(|e| written != e) {
        return Err(Error::new(Code::SizeInvalid, "body shorter than declared"));
    }
    Ok(writer)
}
