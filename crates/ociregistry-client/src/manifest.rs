//! Writes of manifests: `push_manifest` (with the referrers tag kept for registries without the
//! referrers API), `delete_manifest` and `delete_tag`.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use ociregistry_core::header::{OCI_SUBJECT, OCI_TAG};
use ociregistry_core::media_type::OCI_INDEX;
use ociregistry_core::route::Route;
use ociregistry_core::{Algorithm, Code, Descriptor, Digest, Error, ManifestInfo, TagOrDigest};
use serde_json::{Map, Value};

use crate::client::{Client, check_repo, check_tag};
use crate::decode::{self, Subject, with_host};
use crate::referrers::referrers_tag;
use crate::transport::{Body, Req};

const CREATED: &[StatusCode] = &[
    StatusCode::CREATED,
    StatusCode::OK,
    StatusCode::ACCEPTED,
    StatusCode::NO_CONTENT,
];
const DELETED: &[StatusCode] = &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NO_CONTENT];

impl Client {
    /// `push_manifest`.
    ///
    /// The digest is checked locally first (`DIGEST_INVALID`, nothing sent). The manifest is
    /// `PUT` by tag when there is a tag and the digest is the SHA-256 the registry computes
    /// anyway (the most widely supported form), else by digest, with `?tag=` for a tag (the
    /// registry must confirm it with `OCI-Tag`, or the tag must resolve to the digest
    /// afterwards; `UNSUPPORTED` otherwise). A `Docker-Content-Digest` in the answer must agree.
    /// A manifest with a subject, answered without `OCI-Subject`, is added to the subject's
    /// referrers tag index.
    pub(crate) async fn manifest_push(
        &self,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor, Error> {
        check_repo(repo)?;
        if let Some(t) = tag {
            check_tag(t)?;
        }
        if media_type.trim().is_empty() {
            return Err(Error::new(
                Code::ManifestInvalid,
                "push_manifest needs a media type",
            ));
        }
        let digest = match digest {
            Some(d) => {
                if !d.verify(&contents) {
                    return Err(Error::new(
                        Code::DigestInvalid,
                        format!(
                            "manifest content has digest {}, not {d}",
                            Digest::compute(d.algorithm(), &contents)
                        ),
                    ));
                }
                d.clone()
            }
            None => Digest::sha256(&contents),
        };
        let desc = Descriptor::new(media_type, digest.clone(), contents.len() as u64);
        let subject = if self.opts().maintain_referrers_tag {
            ManifestInfo::parse(media_type, &contents)
                .ok()
                .and_then(|info| info.subject.clone().map(|s| (s, info)))
        } else {
            None
        };

        let (reference, tags) = match tag {
            Some(t) if digest.algorithm() == Algorithm::Sha256 => {
                (TagOrDigest::Tag(t.to_owned()), Vec::new())
            }
            Some(t) => (TagOrDigest::Digest(digest.clone()), vec![t.to_owned()]),
            None => (TagOrDigest::Digest(digest.clone()), Vec::new()),
        };
        let headers = self
            .put_manifest(repo, reference, tags.clone(), contents, media_type)
            .await?;
        decode::check_header_digest(&headers, &digest).map_err(|e| with_host(e, self.host()))?;

        if let Some(t) = tags.first() {
            let confirmed = headers
                .get_all(OCI_TAG)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|v| v.trim() == t);
            if !confirmed {
                let now = self
                    .manifest_resolve(repo, &TagOrDigest::Tag(t.clone()))
                    .await;
                if !matches!(&now, Ok(d) if d.digest == digest) {
                    return Err(with_host(
                        Error::new(
                            Code::Unsupported,
                            format!(
                                "the registry stored {digest} but did not point tag {t:?} at it \
                                 (tagging a manifest by a digest other than sha256 needs \
                                 support for the ?tag= parameter)"
                            ),
                        ),
                        self.host(),
                    ));
                }
            }
        }

        if let Some((subject, info)) = subject {
            let indexed = headers
                .get(OCI_SUBJECT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == subject.digest.as_str());
            if !indexed {
                self.mark_referrers_tag();
                let mut referrer = desc.clone();
                referrer.artifact_type = info.referrer_artifact_type().map(str::to_owned);
                referrer.annotations = info.annotations.clone();
                self.update_referrers_tag(repo, &subject.digest, |manifests| {
                    manifests.retain(|m| !same_digest(m, &digest));
                    manifests.push(serde_json::to_value(&referrer).unwrap_or(Value::Null));
                })
                .await?;
            }
        }
        Ok(desc)
    }

    /// One manifest `PUT`; returns the answer's headers.
    async fn put_manifest(
        &self,
        repo: &str,
        reference: TagOrDigest,
        tags: Vec<String>,
        contents: Bytes,
        media_type: &str,
    ) -> Result<http::HeaderMap, Error> {
        let url = self.url(&Route::ManifestPut {
            repo: repo.to_owned(),
            reference,
            tags,
        })?;
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            Error::new(
                Code::ManifestInvalid,
                format!("media type {media_type:?} is not a valid header value"),
            )
        })?;
        let mut req = Req::new(Method::PUT, url, Client::push(repo))
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, HeaderValue::from(contents.len() as u64))
            .body(Body::Chunks(vec![contents]));
        // The body is in memory: the PUT can be repeated.
        req.idempotent = true;
        let resp = self.send(req).await?;
        let resp = self.expect(resp, CREATED, Subject::Manifest).await?;
        Ok(resp.headers.clone())
    }

    /// Reads the referrers tag index of `subject` (an empty one when there is none, or when
    /// what is there is not an index), lets `edit` change its `manifests`, and pushes it back
    /// if it changed. Concurrent updates of one subject's index can lose each other's
    /// additions: the tag schema has no compare-and-swap.
    async fn update_referrers_tag(
        &self,
        repo: &str,
        subject: &Digest,
        edit: impl FnOnce(&mut Vec<Value>),
    ) -> Result<(), Error> {
        let tag = referrers_tag(subject);
        let existing = match self
            .manifest_get(repo, &TagOrDigest::Tag(tag.clone()))
            .await
        {
            Ok(reader) => {
                let limit = self.opts().max_manifest_size;
                Some(reader.bytes(limit).await?)
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let mut index: Map<String, Value> = existing
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default();
        let mut manifests = match index.remove("manifests") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let before = manifests.clone();
        edit(&mut manifests);
        if manifests == before && (existing.is_some() || manifests.is_empty()) {
            return Ok(());
        }
        index.insert("schemaVersion".into(), Value::from(2));
        index.insert("mediaType".into(), Value::from(OCI_INDEX));
        index.insert("manifests".into(), Value::Array(manifests));
        let data = serde_json::to_vec(&Value::Object(index))
            .map_err(|e| Error::new(Code::Unknown, e.to_string()))?;
        self.put_manifest(
            repo,
            TagOrDigest::Tag(tag),
            Vec::new(),
            Bytes::from(data),
            OCI_INDEX,
        )
        .await?;
        Ok(())
    }

    /// `delete_manifest`. On a registry known to lack the referrers API, the manifest is read
    /// first so that, once deleted, it can be removed from its subject's referrers tag index.
    pub(crate) async fn manifest_delete(&self, repo: &str, digest: &Digest) -> Result<(), Error> {
        check_repo(repo)?;
        let subject = if self.opts().maintain_referrers_tag && self.uses_referrers_tag() {
            match self
                .manifest_get(repo, &TagOrDigest::Digest(digest.clone()))
                .await
            {
                Ok(reader) => {
                    let media_type = reader.descriptor().media_type.clone();
                    let data = reader.bytes(self.opts().max_manifest_size).await?;
                    ManifestInfo::parse(&media_type, &data)
                        .ok()
                        .and_then(|i| i.subject)
                }
                Err(_) => None,
            }
        } else {
            None
        };
        self.delete(repo, TagOrDigest::Digest(digest.clone()))
            .await?;
        if let Some(subject) = subject {
            self.update_referrers_tag(repo, &subject.digest, |manifests| {
                manifests.retain(|m| !same_digest(m, digest));
            })
            .await?;
        }
        Ok(())
    }

    /// `delete_tag`.
    pub(crate) async fn tag_delete(&self, repo: &str, tag: &str) -> Result<(), Error> {
        check_repo(repo)?;
        check_tag(tag)?;
        self.delete(repo, TagOrDigest::Tag(tag.to_owned())).await
    }

    async fn delete(&self, repo: &str, reference: TagOrDigest) -> Result<(), Error> {
        let url = self.url(&Route::ManifestDelete {
            repo: repo.to_owned(),
            reference,
        })?;
        let resp = self
            .send(Req::new(Method::DELETE, url, self.delete_scope(repo)))
            .await?;
        self.expect(resp, DELETED, Subject::Manifest).await?;
        Ok(())
    }
}

fn same_digest(entry: &Value, digest: &Digest) -> bool {
    entry.get("digest").and_then(Value::as_str) == Some(digest.as_str())
}
