//! The request vocabulary of the OCI distribution API: every route, parsed once at the edge and
//! constructed by clients, so that client and server can never disagree.
//!
//! [`Route::parse`] turns a method, path and query into a typed [`Route`] (or the error the spec
//! wants answered); [`Route::method`] and [`Route::target`] go the other way.
//!
//! ```
//! use http::Method;
//! use ociregistry_core::route::Route;
//!
//! let route = Route::parse(&Method::GET, "/v2/library/app/tags/list", Some("n=10&last=v1")).unwrap();
//! let Route::TagsList { repo, list } = &route else { panic!() };
//! assert_eq!((repo.as_str(), list.n, list.last.as_deref()), ("library/app", Some(10), Some("v1")));
//! assert_eq!(route.target(), "/v2/library/app/tags/list?n=10&last=v1");
//! ```

use base64::Engine as _;
use http::{Method, StatusCode};

use crate::digest::Digest;
use crate::error::{Code, Error};
use crate::names::{self, TagOrDigest};

/// The `n` and `last` parameters of a list request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ListQuery {
    /// The most entries wanted (`n`), if given.
    pub n: Option<usize>,
    /// List strictly after this entry (`last`), if given.
    pub last: Option<String>,
}

/// One request of the distribution API (the spec's endpoint ids in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `GET /v2/` [end-1].
    Ping,
    /// `GET /v2/_catalog` (outside the OCI spec, as CNCF Distribution serves it).
    Catalog {
        /// Pagination.
        list: ListQuery,
    },
    /// `GET /v2/<repo>/blobs/<digest>` [end-2].
    BlobGet {
        /// Repository.
        repo: String,
        /// Blob digest.
        digest: Digest,
    },
    /// `HEAD /v2/<repo>/blobs/<digest>` [end-2].
    BlobHead {
        /// Repository.
        repo: String,
        /// Blob digest.
        digest: Digest,
    },
    /// `DELETE /v2/<repo>/blobs/<digest>` [end-10].
    BlobDelete {
        /// Repository.
        repo: String,
        /// Blob digest.
        digest: Digest,
    },
    /// `POST /v2/<repo>/blobs/uploads/` [end-4a]: start an upload session.
    UploadStart {
        /// Repository.
        repo: String,
    },
    /// `POST /v2/<repo>/blobs/uploads/?digest=<digest>` [end-4b]: a single-request upload.
    UploadMonolithic {
        /// Repository.
        repo: String,
        /// The blob's digest.
        digest: Digest,
    },
    /// `POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other>` [end-11].
    UploadMount {
        /// Repository to mount into.
        repo: String,
        /// The blob's digest.
        digest: Digest,
        /// Repository to mount from; `None` for an anonymous mount (any repository).
        from: Option<String>,
    },
    /// `GET /v2/<repo>/blobs/uploads/<id>` [end-13]: upload status.
    UploadStatus {
        /// Repository.
        repo: String,
        /// The backend's upload id.
        id: String,
    },
    /// `PATCH /v2/<repo>/blobs/uploads/<id>` [end-5]: upload a chunk.
    UploadChunk {
        /// Repository.
        repo: String,
        /// The backend's upload id.
        id: String,
    },
    /// `PUT /v2/<repo>/blobs/uploads/<id>?digest=<digest>` [end-6]: complete an upload.
    UploadComplete {
        /// Repository.
        repo: String,
        /// The backend's upload id.
        id: String,
        /// The blob's digest.
        digest: Digest,
    },
    /// `DELETE /v2/<repo>/blobs/uploads/<id>`: cancel an upload.
    UploadCancel {
        /// Repository.
        repo: String,
        /// The backend's upload id.
        id: String,
    },
    /// `GET /v2/<repo>/manifests/<reference>` [end-3].
    ManifestGet {
        /// Repository.
        repo: String,
        /// Tag or digest.
        reference: TagOrDigest,
    },
    /// `HEAD /v2/<repo>/manifests/<reference>` [end-3].
    ManifestHead {
        /// Repository.
        repo: String,
        /// Tag or digest.
        reference: TagOrDigest,
    },
    /// `PUT /v2/<repo>/manifests/<reference>[?tag=<t>...]` [end-7].
    ManifestPut {
        /// Repository.
        repo: String,
        /// Tag or digest.
        reference: TagOrDigest,
        /// Further tags to point at the manifest (`?tag=` parameters).
        tags: Vec<String>,
    },
    /// `DELETE /v2/<repo>/manifests/<reference>` [end-9].
    ManifestDelete {
        /// Repository.
        repo: String,
        /// Tag or digest.
        reference: TagOrDigest,
    },
    /// `GET /v2/<repo>/tags/list` [end-8a, end-8b].
    TagsList {
        /// Repository.
        repo: String,
        /// Pagination.
        list: ListQuery,
    },
    /// `GET /v2/<repo>/referrers/<digest>[?artifactType=<type>]` [end-12].
    Referrers {
        /// Repository.
        repo: String,
        /// The subject's digest.
        digest: Digest,
        /// Only referrers of this artifact type.
        artifact_type: Option<String>,
    },
}

fn not_found() -> Error {
    Error::new(Code::Unknown, "page not found").with_status(StatusCode::NOT_FOUND)
}

fn method_not_allowed() -> Error {
    Error::new(Code::Unsupported, "method not allowed").with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Encodes a backend upload id for an upload URL path segment (unpadded base64url), so that any
/// id (even an absolute URL of an upstream registry) fits in one segment.
pub fn encode_upload_id(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Decodes an upload id path segment; anything that is not one is an unknown upload.
pub fn decode_upload_id(segment: &str) -> Result<String, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::new(Code::BlobUploadUnknown, "malformed upload id"))
}

fn parse_digest(s: &str) -> Result<Digest, Error> {
    Digest::parse(s).map_err(Error::from)
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn list(&self) -> Result<ListQuery, Error> {
        let n = match self.get("n") {
            None | Some("") => None,
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                Error::new(
                    Code::Unsupported,
                    "query parameter n is not a valid integer",
                )
            })?),
        };
        let last = self
            .get("last")
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        Ok(ListQuery { n, last })
    }
}

impl Route {
    /// Parses a request. `path` is the URL path as sent (percent-encoding is not decoded: no
    /// valid name, tag or digest contains `%`); `query` the raw query string.
    ///
    /// Errors are those the spec wants answered: 404 for paths outside the API, 405 for a
    /// method a route does not take, `NAME_INVALID` for a bad repository name, `DIGEST_INVALID`
    /// for a malformed digest, `BLOB_UPLOAD_UNKNOWN` for a malformed upload id.
    pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<Route, Error> {
        let Some(rest) = path.strip_prefix("/v2") else {
            return Err(Error::new(Code::NameUnknown, "unknown URL path")
                .with_status(StatusCode::NOT_FOUND));
        };
        let is = |m: &Method| method == m;
        if rest.is_empty() || rest == "/" {
            return if is(&Method::GET) || is(&Method::HEAD) {
                Ok(Route::Ping)
            } else {
                Err(method_not_allowed())
            };
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return Err(not_found());
        };
        let q = Query::parse(query);
        if rest == "_catalog" {
            return if is(&Method::GET) {
                Ok(Route::Catalog { list: q.list()? })
            } else {
                Err(method_not_allowed())
            };
        }
        if let Some(repo) = rest.strip_suffix("/tags/list") {
            let repo = repository(repo)?;
            return if is(&Method::GET) {
                Ok(Route::TagsList {
                    repo,
                    list: q.list()?,
                })
            } else {
                Err(method_not_allowed())
            };
        }
        let Some((prefix, last)) = rest.rsplit_once('/') else {
            return Err(not_found());
        };
        if let Some(repo) = prefix.strip_suffix("/blobs/uploads") {
            let repo = repository(repo)?;
            if last.is_empty() {
                return Self::upload_post(method, repo, &q);
            }
            let id = decode_upload_id(last);
            return match *method {
                Method::GET => Ok(Route::UploadStatus { repo, id: id? }),
                Method::PATCH => Ok(Route::UploadChunk { repo, id: id? }),
                Method::PUT => {
                    let id = id?;
                    let digest = q.get("digest").ok_or_else(|| {
                        Error::new(Code::DigestInvalid, "digest parameter missing")
                    })?;
                    Ok(Route::UploadComplete {
                        repo,
                        id,
                        digest: parse_digest(digest)?,
                    })
                }
                Method::DELETE => Ok(Route::UploadCancel { repo, id: id? }),
                _ => Err(method_not_allowed()),
            };
        }
        if rest.ends_with("/blobs/uploads") {
            // POST /v2/<repo>/blobs/uploads (no trailing slash).
            let repo = repository(prefix.strip_suffix("/blobs").ok_or_else(not_found)?)?;
            return Self::upload_post(method, repo, &q);
        }
        let Some((repo, kind)) = prefix.rsplit_once('/') else {
            return Err(not_found());
        };
        match kind {
            "blobs" => {
                let repo = repository(repo)?;
                let digest = parse_digest(last)?;
                match *method {
                    Method::GET => Ok(Route::BlobGet { repo, digest }),
                    Method::HEAD => Ok(Route::BlobHead { repo, digest }),
                    Method::DELETE => Ok(Route::BlobDelete { repo, digest }),
                    _ => Err(method_not_allowed()),
                }
            }
            "manifests" => {
                let repo = repository(repo)?;
                let reference = || -> Result<TagOrDigest, Error> {
                    match TagOrDigest::parse(last) {
                        Ok(r) => Ok(r),
                        // A malformed digest is a client error; a malformed tag names nothing.
                        Err(e) if e.is(&Code::DigestInvalid) => Err(e),
                        Err(e) if *method == Method::PUT => Err(e),
                        Err(_) => Err(Error::new(
                            Code::ManifestUnknown,
                            "no such manifest: invalid tag",
                        )),
                    }
                };
                match *method {
                    Method::GET => Ok(Route::ManifestGet {
                        repo,
                        reference: reference()?,
                    }),
                    Method::HEAD => Ok(Route::ManifestHead {
                        repo,
                        reference: reference()?,
                    }),
                    Method::PUT => {
                        let reference = reference()?;
                        let mut tags = Vec::new();
                        for t in q.all("tag") {
                            names::validate_tag(t)?;
                            if !tags.iter().any(|x| x == t) {
                                tags.push(t.to_owned());
                            }
                        }
                        Ok(Route::ManifestPut {
                            repo,
                            reference,
                            tags,
                        })
                    }
                    Method::DELETE => Ok(Route::ManifestDelete {
                        repo,
                        reference: reference()?,
                    }),
                    _ => Err(method_not_allowed()),
                }
            }
            "referrers" => {
                let repo = repository(repo)?;
                if !is(&Method::GET) {
                    return Err(method_not_allowed());
                }
                Ok(Route::Referrers {
                    repo,
                    digest: parse_digest(last)?,
                    artifact_type: q
                        .get("artifactType")
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned),
                })
            }
            _ => Err(not_found()),
        }
    }

    fn upload_post(method: &Method, repo: String, q: &Query) -> Result<Route, Error> {
        if *method != Method::POST {
            return Err(method_not_allowed());
        }
        if let Some(mount) = q.get("mount") {
            let digest = parse_digest(mount)?;
            let from = q.get("from").map(repository).transpose()?;
            return Ok(Route::UploadMount { repo, digest, from });
        }
        if let Some(d) = q.get("digest") {
            return Ok(Route::UploadMonolithic {
                repo,
                digest: parse_digest(d)?,
            });
        }
        Ok(Route::UploadStart { repo })
    }

    /// The HTTP method of the route.
    pub fn method(&self) -> Method {
        match self {
            Route::Ping
            | Route::Catalog { .. }
            | Route::BlobGet { .. }
            | Route::UploadStatus { .. }
            | Route::ManifestGet { .. }
            | Route::TagsList { .. }
            | Route::Referrers { .. } => Method::GET,
            Route::BlobHead { .. } | Route::ManifestHead { .. } => Method::HEAD,
            Route::BlobDelete { .. }
            | Route::UploadCancel { .. }
            | Route::ManifestDelete { .. } => Method::DELETE,
            Route::UploadStart { .. }
            | Route::UploadMonolithic { .. }
            | Route::UploadMount { .. } => Method::POST,
            Route::UploadChunk { .. } => Method::PATCH,
            Route::UploadComplete { .. } | Route::ManifestPut { .. } => Method::PUT,
        }
    }

    /// The repository the route is about, if any (the target repository for a mount).
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Ping | Route::Catalog { .. } => None,
            Route::BlobGet { repo, .. }
            | Route::BlobHead { repo, .. }
            | Route::BlobDelete { repo, .. }
            | Route::UploadStart { repo }
            | Route::UploadMonolithic { repo, .. }
            | Route::UploadMount { repo, .. }
            | Route::UploadStatus { repo, .. }
            | Route::UploadChunk { repo, .. }
            | Route::UploadComplete { repo, .. }
            | Route::UploadCancel { repo, .. }
            | Route::ManifestGet { repo, .. }
            | Route::ManifestHead { repo, .. }
            | Route::ManifestPut { repo, .. }
            | Route::ManifestDelete { repo, .. }
            | Route::TagsList { repo, .. }
            | Route::Referrers { repo, .. } => Some(repo),
        }
    }

    /// The path and query of the route, percent-encoded, e.g. `/v2/app/tags/list?n=10`.
    pub fn target(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let path = match self {
            Route::Ping => "/v2/".to_owned(),
            Route::Catalog { list } => {
                list_query(&mut query, list);
                "/v2/_catalog".to_owned()
            }
            Route::BlobGet { repo, digest }
            | Route::BlobHead { repo, digest }
            | Route::BlobDelete { repo, digest } => format!("/v2/{repo}/blobs/{digest}"),
            Route::UploadStart { repo } => format!("/v2/{repo}/blobs/uploads/"),
            Route::UploadMonolithic { repo, digest } => {
                query.append_pair("digest", digest.as_str());
                format!("/v2/{repo}/blobs/uploads/")
            }
            Route::UploadMount { repo, digest, from } => {
                query.append_pair("mount", digest.as_str());
                if let Some(from) = from {
                    query.append_pair("from", from);
                }
                format!("/v2/{repo}/blobs/uploads/")
            }
            Route::UploadStatus { repo, id }
            | Route::UploadChunk { repo, id }
            | Route::UploadCancel { repo, id } => upload_path(repo, id),
            Route::UploadComplete { repo, id, digest } => {
                query.append_pair("digest", digest.as_str());
                upload_path(repo, id)
            }
            Route::ManifestGet { repo, reference }
            | Route::ManifestHead { repo, reference }
            | Route::ManifestDelete { repo, reference } => {
                format!("/v2/{repo}/manifests/{reference}")
            }
            Route::ManifestPut {
                repo,
                reference,
                tags,
            } => {
                for t in tags {
                    query.append_pair("tag", t);
                }
                format!("/v2/{repo}/manifests/{reference}")
            }
            Route::TagsList { repo, list } => {
                list_query(&mut query, list);
                format!("/v2/{repo}/tags/list")
            }
            Route::Referrers {
                repo,
                digest,
                artifact_type,
            } => {
                if let Some(a) = artifact_type {
                    query.append_pair("artifactType", a);
                }
                format!("/v2/{repo}/referrers/{digest}")
            }
        };
        let query = query.finish();
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    }
}

fn list_query(q: &mut form_urlencoded::Serializer<'_, String>, list: &ListQuery) {
    if let Some(n) = list.n {
        q.append_pair("n", &n.to_string());
    }
    if let Some(last) = &list.last {
        q.append_pair("last", last);
    }
}

/// The path of this server's upload session URL for the backend upload `id`.
pub fn upload_path(repo: &str, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{}", encode_upload_id(id))
}

fn repository(s: &str) -> Result<String, Error> {
    names::validate_repository(s)?;
    Ok(s.to_owned())
}

/// The `Link` header value pointing at the next page of a list: `<path?n=N&last=LAST>; rel="next"`.
pub fn next_link(path: &str, n: usize, last: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", last)
        .finish();
    format!("<{path}?{query}>; rel=\"next\"")
}

/// The URL of the `rel="next"` entry of a `Link` header, if any.
pub fn parse_next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (url, params) = link.trim().split_once(';').unwrap_or((link.trim(), ""));
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=").is_some_and(|v| {
                v.trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        is_next.then_some(url)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(method: Method, path: &str, query: Option<&str>) -> Result<Route, Error> {
        Route::parse(&method, path, query)
    }

    #[test]
    fn parses_every_route_and_round_trips() {
        let d = Digest::parse(D).unwrap();
        let id = "https://upstream.example/v2/a/blobs/uploads/123?state=x";
        let cases = vec![
            Route::Ping,
            Route::Catalog {
                list: ListQuery {
                    n: Some(5),
                    last: Some("a/b".into()),
                },
            },
            Route::BlobGet {
                repo: "a/b".into(),
                digest: d.clone(),
            },
            Route::BlobHead {
                repo: "a".into(),
                digest: d.clone(),
            },
            Route::BlobDelete {
                repo: "a".into(),
                digest: d.clone(),
            },
            Route::UploadStart { repo: "a".into() },
            Route::UploadMonolithic {
                repo: "a".into(),
                digest: d.clone(),
            },
            Route::UploadMount {
                repo: "a".into(),
                digest: d.clone(),
                from: Some("b/c".into()),
            },
            Route::UploadMount {
                repo: "a".into(),
                digest: d.clone(),
                from: None,
            },
            Route::UploadStatus {
                repo: "a".into(),
                id: id.into(),
            },
            Route::UploadChunk {
                repo: "a".into(),
                id: id.into(),
            },
            Route::UploadComplete {
                repo: "a".into(),
                id: id.into(),
                digest: d.clone(),
            },
            Route::UploadCancel {
                repo: "a".into(),
                id: id.into(),
            },
            Route::ManifestGet {
                repo: "a".into(),
                reference: TagOrDigest::Tag("v1".into()),
            },
            Route::ManifestHead {
                repo: "a".into(),
                reference: TagOrDigest::Digest(d.clone()),
            },
            Route::ManifestPut {
                repo: "a".into(),
                reference: TagOrDigest::Digest(d.clone()),
                tags: vec!["x".into(), "y".into()],
            },
            Route::ManifestDelete {
                repo: "a".into(),
                reference: TagOrDigest::Tag("v1".into()),
            },
            Route::TagsList {
                repo: "blobs/uploads".into(),
                list: ListQuery::default(),
            },
            Route::Referrers {
                repo: "a".into(),
                digest: d.clone(),
                artifact_type: Some("application/vnd x+json".into()),
            },
        ];
        for route in cases {
            let target = route.target();
            let (path, query) = target
                .split_once('?')
                .map_or((target.as_str(), None), |(p, q)| (p, Some(q)));
            let back =
                parse(route.method(), path, query).unwrap_or_else(|e| panic!("{target}: {e}"));
            assert_eq!(back, route, "{target}");
        }
    }

    #[test]
    fn upload_paths_with_and_without_trailing_slash() {
        assert_eq!(
            parse(Method::POST, "/v2/a/blobs/uploads", None).unwrap(),
            Route::UploadStart { repo: "a".into() }
        );
        assert_eq!(
            parse(Method::POST, "/v2/a/blobs/uploads/", Some("mount=x"))
                .unwrap_err()
                .code(),
            &Code::DigestInvalid
        );
        assert!(
            parse(Method::PUT, "/v2/a/blobs/uploads/", None)
                .unwrap_err()
                .status()
                == StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn errors_have_the_spec_codes_and_statuses() {
        let cases: Vec<(Method, &str, Option<&str>, Code, u16)> = vec![
            (Method::GET, "/foo", None, Code::NameUnknown, 404),
            (Method::GET, "/v2/bad", None, Code::Unknown, 404),
            (Method::GET, "/v2x", None, Code::Unknown, 404),
            (Method::POST, "/v2/", None, Code::Unsupported, 405),
            (Method::GET, "/v2/A/tags/list", None, Code::NameInvalid, 400),
            (
                Method::GET,
                "/v2/a%2Fb/tags/list",
                None,
                Code::NameInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/../tags/list",
                None,
                Code::NameInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/a/tags/list",
                Some("n=x"),
                Code::Unsupported,
                400,
            ),
            (
                Method::GET,
                "/v2/a/tags/list",
                Some("n=-1"),
                Code::Unsupported,
                400,
            ),
            (
                Method::GET,
                "/v2/a/blobs/sha256:nothex",
                None,
                Code::DigestInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/a/blobs/foo",
                None,
                Code::DigestInvalid,
                400,
            ),
            (
                Method::POST,
                "/v2/a/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                None,
                Code::Unsupported,
                405,
            ),
            (
                Method::GET,
                "/v2/a/manifests/sha256:abc",
                None,
                Code::DigestInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/a/manifests/",
                None,
                Code::ManifestUnknown,
                404,
            ),
            (
                Method::GET,
                "/v2/a/manifests/-bad",
                None,
                Code::ManifestUnknown,
                404,
            ),
            (
                Method::PUT,
                "/v2/a/manifests/-bad",
                None,
                Code::ManifestInvalid,
                400,
            ),
            (
                Method::PUT,
                "/v2/a/manifests/ok",
                Some("tag=%0A"),
                Code::ManifestInvalid,
                400,
            ),
            (
                Method::POST,
                "/v2/a/manifests/v1",
                None,
                Code::Unsupported,
                405,
            ),
            (
                Method::GET,
                "/v2/a/blobs/uploads/!!!",
                None,
                Code::BlobUploadUnknown,
                404,
            ),
            (
                Method::PUT,
                "/v2/a/blobs/uploads/YWJj",
                None,
                Code::DigestInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/a/referrers/v1",
                None,
                Code::DigestInvalid,
                400,
            ),
            (
                Method::POST,
                "/v2/a/blobs/uploads/",
                Some("digest=md5:x"),
                Code::DigestInvalid,
                400,
            ),
            (
                Method::POST,
                "/v2/a/blobs/uploads/",
                Some("mount=sha256:x&from=b"),
                Code::DigestInvalid,
                400,
            ),
            (
                Method::GET,
                "/v2/a/blobs/uploads/YWJj\r\n",
                None,
                Code::BlobUploadUnknown,
                404,
            ),
            (
                Method::GET,
                "/v2/a\0/tags/list",
                None,
                Code::NameInvalid,
                400,
            ),
            (Method::GET, "/v2/a/unknown/x", None, Code::Unknown, 404),
        ];
        for (method, path, query, code, status) in cases {
            let e = parse(method.clone(), path, query).expect_err(path);
            assert_eq!(
                (e.code(), e.status().as_u16()),
                (&code, status),
                "{method} {path} {query:?}: {e}"
            );
        }
    }

    #[test]
    fn duplicate_tag_parameters_collapse() {
        let r = parse(Method::PUT, "/v2/a/manifests/v1", Some("tag=x&tag=y&tag=x")).unwrap();
        let Route::ManifestPut { tags, .. } = r else {
            panic!()
        };
        assert_eq!(tags, ["x", "y"]);
    }

    #[test]
    fn link_headers() {
        let l = next_link("/v2/a/tags/list", 2, "b c");
        assert_eq!(l, "</v2/a/tags/list?n=2&last=b+c>; rel=\"next\"");
        assert_eq!(parse_next_link(&l), Some("/v2/a/tags/list?n=2&last=b+c"));
        assert_eq!(
            parse_next_link("<https://x/a>; rel=\"prev\", <https://x/b>; rel=next"),
            Some("https://x/b")
        );
        assert_eq!(parse_next_link("garbage"), None);
        assert_eq!(parse_next_link(""), None);
    }

    #[test]
    fn upload_ids_round_trip() {
        for id in [
            "a",
            "https://r.example/v2/x/blobs/uploads/uuid?_state=abc==",
        ] {
            assert_eq!(decode_upload_id(&encode_upload_id(id)).unwrap(), id);
        }
        assert!(decode_upload_id("").is_err());
        assert!(decode_upload_id("_-_-").is_err());
    }
}
