//! Manifests: `GET`, `HEAD`, `PUT` and `DELETE /v2/<repo>/manifests/<tag-or-digest>`.

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};
use ociregistry_core::header::{DOCKER_CONTENT_DIGEST, OCI_SUBJECT, OCI_TAG};
use ociregistry_core::{
    Code, Context, Digest, Digester, Error, ManifestInfo, TagOrDigest, media_type,
};

use crate::body::{self, ResponseBody};
use crate::response::Reply;
use crate::service::{Handler, Incoming};

impl Handler {
    pub(crate) async fn manifest_get(
        &self,
        req: &mut Incoming,
        repo: &str,
        reference: &TagOrDigest,
        head: bool,
    ) -> Result<Response<ResponseBody>, Error> {
        let registry = &self.registry;
        let by_tag = matches!(reference, TagOrDigest::Tag(_));
        let (desc, content) = if head {
            let desc = match reference {
                TagOrDigest::Tag(t) => registry.resolve_tag(&req.cx, repo, t).await?,
                TagOrDigest::Digest(d) => registry.resolve_manifest(&req.cx, repo, d).await?,
            };
            (desc, None)
        } else {
            let reader = match reference {
                TagOrDigest::Tag(t) => registry.get_tag(&req.cx, repo, t).await?,
                TagOrDigest::Digest(d) => registry.get_manifest(&req.cx, repo, d).await?,
            };
            let (desc, content) = reader.into_parts();
            (desc, Some(content))
        };
        let mut reply = Reply::new(StatusCode::OK)
            .header(CONTENT_TYPE, &desc.media_type)
            .content_length(desc.size);
        if !(by_tag && !head && self.opts.omit_digest_from_tag_get_response) {
            reply = reply.header(DOCKER_CONTENT_DIGEST, desc.digest.as_str());
        }
        if let Some(content) = content {
            reply = reply.body(body::stream(content));
        }
        Ok(reply.finish())
    }

    pub(crate) async fn manifest_put(
        &self,
        req: &mut Incoming,
        repo: &str,
        reference: &TagOrDigest,
        extra_tags: &[String],
    ) -> Result<Response<ResponseBody>, Error> {
        let limit = self.opts.max_manifest_size;
        let too_large = || {
            Error::new(
                Code::ManifestInvalid,
                format!("manifest is larger than the limit of {limit} bytes"),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        };
        if req.content_length()?.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = req.take_body();
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        let data = buf.freeze();
        let content_type = match req.header_str(&CONTENT_TYPE) {
            Some(ct) if !ct.trim().is_empty() => ct.trim().to_owned(),
            _ => sniff_media_type(&data),
        };
        let digest = match reference {
            TagOrDigest::Digest(d) => {
                let mut h = Digester::new(d.algorithm());
                h.update(&data);
                if h.finish() != *d {
                    return Err(Error::new(
                        Code::DigestInvalid,
                        "manifest content does not match the digest in the URL",
                    ));
                }
                Some(d.clone())
            }
            TagOrDigest::Tag(_) => None,
        };
        // Parse before storing: for the OCI-Subject header, and to fail fast on bad JSON.
        let info = ManifestInfo::parse(&content_type, &data)?;
        let mut tags: Vec<&str> = Vec::new();
        if let TagOrDigest::Tag(t) = reference {
            tags.push(t);
        }
        for t in extra_tags {
            if !tags.contains(&t.as_str()) {
                tags.push(t);
            }
        }
        let desc = self
            .push(
                &req.cx,
                repo,
                tags.first().copied(),
                data.clone(),
                &content_type,
                digest.as_ref(),
            )
            .await?;
        for tag in tags.iter().skip(1) {
            self.push(
                &req.cx,
                repo,
                Some(tag),
                data.clone(),
                &content_type,
                Some(&desc.digest),
            )
            .await?;
        }
        let mut reply = Reply::new(StatusCode::CREATED)
            .header(LOCATION, format!("/v2/{repo}/manifests/{}", desc.digest))
            .header(DOCKER_CONTENT_DIGEST, desc.digest.as_str())
            .content_length(0);
        // A registry without the referrers API must not claim to index subjects: clients
        // then maintain the referrers tag themselves.
        if let Some(subject) = &info.subject
            && !self.opts.disable_referrers_api
        {
            reply = reply.header(OCI_SUBJECT, subject.digest.as_str());
        }
        if !extra_tags.is_empty() {
            for tag in &tags {
                reply = reply.header(OCI_TAG, tag);
            }
        }
        Ok(reply.finish())
    }

    async fn push(
        &self,
        cx: &Context,
        repo: &str,
        tag: Option<&str>,
        data: Bytes,
        content_type: &str,
        digest: Option<&Digest>,
    ) -> Result<ociregistry_core::Descriptor, Error> {
        self.registry
            .push_manifest(cx, repo, tag, data, content_type, digest)
            .await
    }

    pub(crate) async fn manifest_delete(
        &self,
        req: &mut Incoming,
        repo: &str,
        reference: &TagOrDigest,
    ) -> Result<Response<ResponseBody>, Error> {
        match reference {
            TagOrDigest::Tag(t) => self.registry.delete_tag(&req.cx, repo, t).await?,
            TagOrDigest::Digest(d) => self.registry.delete_manifest(&req.cx, repo, d).await?,
        }
        Ok(Reply::new(StatusCode::ACCEPTED).content_length(0).finish())
    }
}

/// The media type of a manifest pushed without `Content-Type`: its `mediaType` field, if any.
fn sniff_media_type(data: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct MediaTypeOnly {
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaTypeOnly>(data)
        .ok()
        .and_then(|m| m.media_type)
        .unwrap_or_else(|| media_type::OCTET_STREAM.to_owned())
}
