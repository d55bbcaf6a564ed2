//! [`Client`]: the `Registry` implementation, dispatching each operation to the module that
//! holds it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use ociregistry_core::route::Route;
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Context, Descriptor, Digest, Error, ListStream,
    Registry, TagOrDigest, names,
};
use url::Url;

use crate::auth::Scope;
use crate::decode::{self, Subject};
use crate::options::{ClientOptions, ConfigError};
use crate::transport::{Req, Resp, Transport};
use crate::urls;

/// A client of one OCI registry, implementing [`Registry`] over the distribution HTTP API.
///
/// Cheap to clone (the connection pool and the authentication state are shared) and safe to use
/// from many tasks. Every repository name, tag and digest is validated before anything is sent:
/// invalid ones fail with `NAME_INVALID`, `MANIFEST_INVALID` or `DIGEST_INVALID` and no request.
///
/// What it does beyond the plain API (see the crate documentation for the full list):
/// content read by digest is verified against the digest asked for; manifests are read whole,
/// up to [`ClientOptions::max_manifest_size`]; errors carry the registry's code, status,
/// headers and (bounded) body, and name the registry host.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) opts: ClientOptions,
    /// Set once the registry showed it lacks the referrers API (no `OCI-Subject` on a push of a
    /// manifest with a subject, or a `404` from the referrers endpoint): deletes then keep the
    /// referrers tag up to date too.
    pub(crate) uses_referrers_tag: AtomicBool,
}

impl Client {
    /// A client of the registry at `host` (`host[:port]`, such as `ghcr.io` or
    /// `localhost:5000`; not a URL). Docker Hub's names `docker.io` and `index.docker.io` are
    /// served by `registry-1.docker.io`, which the client talks to instead.
    ///
    /// Fails when the host is not of that form, when an option is unusable (a zero
    /// `list_page_size` or `chunk_size`, an invalid `user_agent`) or when a root certificate
    /// is refused. Nothing is sent yet.
    pub fn new(host: &str, options: ClientOptions) -> Result<Client, ConfigError> {
        let connect_to = match host.to_ascii_lowercase().as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            _ => host,
        };
        let base = urls::base_url(connect_to, options.insecure).map_err(|reason| {
            ConfigError::InvalidHost {
                host: host.to_owned(),
                reason,
            }
        })?;
        if options.list_page_size == 0 {
            return Err(ConfigError::InvalidOption {
                name: "list_page_size",
                reason: "must be at least 1",
            });
        }
        if options.chunk_size == 0 {
            return Err(ConfigError::InvalidOption {
                name: "chunk_size",
                reason: "must be at least 1",
            });
        }
        if options.retry.max_attempts == 0 {
            return Err(ConfigError::InvalidOption {
                name: "retry.max_attempts",
                reason: "must be at least 1",
            });
        }
        let shown = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        let transport = Transport::new(base, &shown, &options)?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                opts: options,
                uses_referrers_tag: AtomicBool::new(false),
            }),
        })
    }

    /// The registry host the client talks to: the one given to [`Client::new`], normalized
    /// (lower case, no default port; Docker Hub's aliases resolved).
    pub fn host(&self) -> &str {
        self.inner.transport.host()
    }

    /// The registry's base URL (`https://host/` or, when insecure, `http://host/`).
    pub fn base_url(&self) -> &Url {
        self.inner.transport.base()
    }

    pub(crate) fn opts(&self) -> &ClientOptions {
        &self.inner.opts
    }

    pub(crate) fn mark_referrers_tag(&self) {
        self.inner.uses_referrers_tag.store(true, Ordering::Relaxed);
    }

    pub(crate) fn uses_referrers_tag(&self) -> bool {
        self.inner.uses_referrers_tag.load(Ordering::Relaxed)
    }

    /// The URL of a route on the registry.
    pub(crate) fn url(&self, route: &Route) -> Result<Url, Error> {
        urls::on_registry(self.base_url(), &route.target())
    }

    /// Sends a request (see [`Transport::send`]).
    pub(crate) async fn send(&self, req: Req) -> Result<Resp, Error> {
        self.inner.transport.send(req).await
    }

    /// The response if its status is one of `ok`, else the error it carries.
    pub(crate) async fn expect(
        &self,
        resp: Resp,
        ok: &[StatusCode],
        subject: Subject,
    ) -> Result<Resp, Error> {
        if ok.contains(&resp.status) {
            return Ok(resp);
        }
        if resp.status.is_success() {
            let status = resp.status;
            let what = format!("{} {}", resp.method, resp.url);
            return Err(decode::protocol(
                self.host(),
                format!("unexpected status {status} for {what}"),
            ));
        }
        Err(decode::error_from(resp, subject, self.opts().error_body_limit).await)
    }

    /// Scope to read a repository.
    pub(crate) fn pull(repo: &str) -> Scope {
        Scope::repository(repo, &["pull"])
    }

    /// Scope to write to a repository.
    pub(crate) fn push(repo: &str) -> Scope {
        Scope::repository(repo, &["pull", "push"])
    }

    /// Scope to delete from a repository.
    pub(crate) fn delete_scope(&self, repo: &str) -> Scope {
        if self.opts().delete_action {
            Scope::repository(repo, &["push", "delete"])
        } else {
            Scope::repository(repo, &["push"])
        }
    }
}

/// Checks a repository name locally (`NAME_INVALID`).
pub(crate) fn check_repo(repo: &str) -> Result<(), Error> {
    names::validate_repository(repo)
}

/// Checks a tag locally (`MANIFEST_INVALID`; an empty tag is invalid, never a panic).
pub(crate) fn check_tag(tag: &str) -> Result<(), Error> {
    names::validate_tag(tag)
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url().as_str())
            .field("options", &self.inner.opts)
            .finish()
    }
}

#[async_trait]
impl Registry for Client {
    async fn get_blob(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<BlobReader, Error> {
        self.blob_get(repo, digest).await
    }

    async fn get_blob_range(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader, Error> {
        self.blob_get_range(repo, digest, range).await
    }

    async fn get_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<BlobReader, Error> {
        self.manifest_get(repo, &TagOrDigest::Digest(digest.clone()))
            .await
    }

    async fn get_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<BlobReader, Error> {
        check_tag(tag)?;
        self.manifest_get(repo, &TagOrDigest::Tag(tag.to_owned()))
            .await
    }

    async fn resolve_blob(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor, Error> {
        self.blob_resolve(repo, digest).await
    }

    async fn resolve_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor, Error> {
        self.manifest_resolve(repo, &TagOrDigest::Digest(digest.clone()))
            .await
    }

    async fn resolve_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<Descriptor, Error> {
        check_tag(tag)?;
        self.manifest_resolve(repo, &TagOrDigest::Tag(tag.to_owned()))
            .await
    }

    async fn push_blob(
        &self,
        _cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor, Error> {
        self.blob_push(repo, desc, content).await
    }

    async fn push_blob_chunked(
        &self,
        _cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>, Error> {
        Ok(Box::new(self.upload_start(repo, chunk_size).await?))
    }

    async fn push_blob_chunked_resume(
        &self,
        _cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>, Error> {
        Ok(Box::new(
            self.upload_resume(repo, id, offset, chunk_size).await?,
        ))
    }

    async fn mount_blob(
        &self,
        _cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor, Error> {
        self.blob_mount(from_repo, to_repo, digest).await
    }

    async fn push_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor, Error> {
        self.manifest_push(repo, tag, contents, media_type, digest)
            .await
    }

    async fn delete_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<(), Error> {
        self.blob_delete(repo, digest).await
    }

    async fn delete_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<(), Error> {
        self.manifest_delete(repo, digest).await
    }

    async fn delete_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<(), Error> {
        self.tag_delete(repo, tag).await
    }

    fn repositories(&self, _cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        self.list_repositories(start_after)
    }

    fn tags(&self, _cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        self.list_tags(repo, start_after)
    }

    fn referrers(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        self.list_referrers(repo, digest, artifact_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_options() {
        let c = Client::new("docker.io", ClientOptions::default()).unwrap();
        assert_eq!(c.host(), "registry-1.docker.io");
        assert_eq!(c.base_url().as_str(), "https://registry-1.docker.io/");
        let c = Client::new("GHCR.io:443", ClientOptions::default()).unwrap();
        assert_eq!(c.host(), "ghcr.io");
        let o = ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        };
        let c = Client::new("localhost:5000", o).unwrap();
        assert_eq!(c.base_url().as_str(), "http://localhost:5000/");
        assert!(format!("{c:?}").contains("localhost:5000"));
        assert!(matches!(
            Client::new("https://ghcr.io", ClientOptions::default()),
            Err(ConfigError::InvalidHost { .. })
        ));
        for f in [
            (|o: &mut ClientOptions| o.list_page_size = 0) as fn(&mut ClientOptions),
            |o| o.chunk_size = 0,
            |o| o.retry.max_attempts = 0,
            |o| o.user_agent = "bad\nagent".into(),
        ] {
            let mut o = ClientOptions::default();
            f(&mut o);
            assert!(matches!(
                Client::new("ghcr.io", o),
                Err(ConfigError::InvalidOption { .. })
            ));
        }
    }

    #[test]
    fn scopes() {
        let c = Client::new("ghcr.io", ClientOptions::default()).unwrap();
        assert_eq!(Client::pull("a/b").to_string(), "repository:a/b:pull");
        assert_eq!(Client::push("a").to_string(), "repository:a:pull,push");
        assert_eq!(c.delete_scope("a").to_string(), "repository:a:delete,push");
        let o = ClientOptions {
            delete_action: false,
            ..ClientOptions::default()
        };
        let c = Client::new("ghcr.io", o).unwrap();
        assert_eq!(c.delete_scope("a").to_string(), "repository:a:push");
    }
}
