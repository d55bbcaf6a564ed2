//! A client of OCI registries (Docker Hub, GHCR, ECR, GAR, Quay, Harbor, Artifactory, CNCF
//! Distribution, ...) implementing the [`Registry`](ociregistry_core::Registry) trait over the
//! distribution HTTP API.
//!
//! Pulling a manifest by reference:
//!
//! ```
//! use ociregistry_client::{Client, ClientOptions};
//! use ociregistry_core::{Context, Reference, Registry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let host = listener.local_addr()?.to_string();
//! # let mem = std::sync::Arc::new(ociregistry_mem::MemRegistry::new());
//! # let service = ociregistry_server::RegistryService::new(mem.clone());
//! # tokio::spawn(ociregistry_server::serve(listener, service, Default::default(), std::future::pending()));
//! # let manifest = bytes::Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
//! # mem.push_manifest(&Context::new(), "library/hello", Some("latest"), manifest, "application/vnd.oci.image.index.v1+json", None).await?;
//! let reference = Reference::parse(&format!("{host}/library/hello:latest"))?;
//! let mut options = ClientOptions::default();
//! options.insecure = true; // this registry is a plain-HTTP one on the loopback interface
//! let client = Client::new(reference.host.as_deref().unwrap_or_default(), options)?;
//!
//! let cx = Context::new();
//! let reader = match (&reference.digest, &reference.tag) {
//!     (Some(digest), _) => client.get_manifest(&cx, &reference.repository, digest).await?,
//!     (None, Some(tag)) => client.get_tag(&cx, &reference.repository, tag).await?,
//!     (None, None) => client.get_tag(&cx, &reference.repository, "latest").await?,
//! };
//! let desc = reader.descriptor().clone();
//! let manifest = reader.bytes(4 << 20).await?; // already read and verified against its digest
//! println!("{} {} ({} bytes)", desc.media_type, desc.digest, manifest.len());
//! assert_eq!(desc.media_type, "application/vnd.oci.image.index.v1+json");
//! # Ok(())
//! # }
//! ```
//!
//! The same against a public registry, with credentials from the docker and podman
//! configuration files (see [`auth`]):
//!
//! ```no_run
//! use ociregistry_client::{Client, ClientOptions};
//! use ociregistry_core::{Context, Registry};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("ghcr.io", ClientOptions::default())?;
//! let desc = client.resolve_tag(&Context::new(), "homebrew/core/hello", "2.12.1").await?;
//! println!("{desc:?}");
//! # Ok(())
//! # }
//! ```
//!
//! # What the client does for you
//!
//! - **Verification.** Blobs and manifests read by digest are checked against the digest asked
//!   for (not the registry's `Docker-Content-Digest`), with any algorithm (SHA-256, SHA-512);
//!   blobs while they stream (an oversized body fails as soon as it passes the announced size),
//!   manifests before they are returned. A mismatch is `DIGEST_INVALID`.
//! - **Bounds.** Every body the client buffers has a limit: manifests
//!   ([`ClientOptions::max_manifest_size`]), list pages
//!   ([`ClientOptions::max_list_page_bytes`]), error bodies
//!   ([`ClientOptions::error_body_limit`]) and token responses (1 MiB). Stalled connections
//!   time out ([`ClientOptions::response_timeout`], [`ClientOptions::body_timeout`]).
//! - **Uploads.** `push_blob` is a `POST` then one `PUT`; chunked uploads send `PATCH`es of
//!   the chunk size (honouring `OCI-Chunk-Min-Length`) and put the rest in the final `PUT`;
//!   upload `Location`s keep their query parameters exactly; `cancel` deletes the session; a
//!   resumed upload asks the registry where it stands.
//! - **Quirks of real registries.** Tag `GET`s without `Docker-Content-Digest` (AWS ECR) are
//!   hashed; list pages are capped at 1000 entries (ECR) and registries that ignore paging
//!   (GHCR, Google) or omit `Link` are handled without ever looping; registries without the
//!   referrers API get the referrers tag schema, both for listing and, as the spec requires,
//!   for pushing; a `Range` request answered with the whole blob is cut to the range; `HEAD`
//!   `404`s are resolved to the precise error.
//! - **Errors.** Every failure is an [`ociregistry_core::Error`] with the registry's code,
//!   the HTTP status, headers and (bounded) body, and the registry host in its message.
//! - **Network.** HTTPS with rustls and the system's roots (plain HTTP only with
//!   [`ClientOptions::insecure`]); HTTP/2; redirects followed for `GET` and `HEAD` (never
//!   downgrading to HTTP, never carrying credentials to another origin); idempotent requests
//!   retried with backoff on connection errors, `429` and `5xx`, honouring `Retry-After`.
//! - **Authentication** through [`ClientOptions::authenticator`]: Basic and Bearer token
//!   flows with the scope each request needs, credentials only ever sent to the registry's own
//!   origin.
//! - **HTTP proxies** ([`ClientOptions::proxy`]): `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY` by default, as curl and Go do; HTTPS through a `CONNECT` tunnel.

pub mod auth;
/// [`Client`] and its `Registry` implementation.
mod client;
/// Error responses into `Error`s; descriptor headers.
mod decode;
/// The pager of `tags` and `repositories`.
mod list;
/// `push_manifest`, manifest and tag deletes, the referrers tag.
mod manifest;
/// [`ClientOptions`], [`RetryPolicy`], [`ConfigError`].
mod options;
/// HTTP proxies: [`ProxyConfig`] and the connector through them.
mod proxy;
/// Blob and manifest reads, `resolve_*`.
mod read;
/// `referrers`, and the referrers tag schema.
mod referrers;
/// The HTTP stack: TLS, authentication, redirects, retries, timeouts.
mod transport;
/// `push_blob`, chunked uploads, mounts, blob deletes.
mod upload;
/// Origins, locations, the upload `digest=` parameter.
mod urls;

pub use client::Client;
pub use options::{ClientOptions, ConfigError, RetryPolicy};
pub use proxy::ProxyConfig;
pub use referrers::referrers_tag;
/// The TLS library of [`ClientOptions::tls_config`], re-exported so that configurations are
/// built with the same version.
pub use rustls;
