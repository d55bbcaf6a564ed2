//! [`ClientOptions`]: everything about a [`Client`](crate::Client) that is not the registry host.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::proxy::ProxyConfig;

/// How a [`Client`](crate::Client) talks to its registry. `ClientOptions::default()` suits a
/// public HTTPS registry; every field is public, so set what you need:
///
/// ```
/// use std::time::Duration;
/// use ociregistry_client::ClientOptions;
///
/// let mut options = ClientOptions::default();
/// options.insecure = true; // a plain-HTTP registry on this machine
/// options.chunk_size = 1 << 20;
/// options.retry.max_attempts = 2;
/// options.response_timeout = Some(Duration::from_secs(10));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Talk plain HTTP instead of HTTPS (default false). Nothing is inferred from the host name:
    /// a registry on `localhost`, `127.0.0.1` or `[::1]` is also reached over HTTPS unless this
    /// is set. With it set, redirects to HTTPS hosts (object storage) still work; without it,
    /// plain HTTP is refused everywhere, including redirects and token realms.
    pub insecure: bool,
    /// How many entries to ask for per page of `tags` and `repositories` (the `n` parameter;
    /// default 1000, the most AWS ECR accepts).
    pub list_page_size: usize,
    /// The chunk size of [`BlobWriter`](ociregistry_core::BlobWriter)s when the caller gives no
    /// hint (default 64 KiB). Every `PATCH` of a chunked upload carries exactly this many bytes
    /// (or the registry's `OCI-Chunk-Min-Length`, when larger), and the final `PUT` carries the
    /// rest. A proxy (a server in front of this client) should set it at least as large as the
    /// chunks its own clients send, so that each incoming chunk becomes one upstream request.
    pub chunk_size: usize,
    /// The largest manifest the client reads (default 4 MiB, as CNCF Distribution's limit);
    /// larger manifests fail with `SIZE_INVALID` after reading at most this many bytes.
    pub max_manifest_size: usize,
    /// The largest body of one page of `tags`, `repositories` or `referrers` the client reads
    /// (default 16 MiB); larger pages fail with `SIZE_INVALID`.
    pub max_list_page_bytes: usize,
    /// How much of an error response's body is read and kept (default 8 KiB); the rest is
    /// discarded and the status is kept.
    pub error_body_limit: usize,
    /// When and how requests are retried.
    pub retry: RetryPolicy,
    /// Extra trust roots (DER-encoded certificates) for HTTPS, added to the system's (or, when
    /// the system has none, to the Mozilla roots of `webpki-roots`). For registries with a
    /// private CA, and tests.
    pub root_certificates: Vec<Vec<u8>>,
    /// A complete TLS configuration, replacing the one built from the system roots and
    /// `root_certificates` (for client certificates or a custom verifier). ALPN is set by the
    /// client.
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// Authentication: credentials and the token cache (default none: anonymous access, and a
    /// `401` fails with `UNAUTHORIZED`).
    pub authenticator: Option<Authenticator>,
    /// The `User-Agent` header (default `ociregistry-client/<version>`).
    pub user_agent: String,
    /// How long establishing a connection (TCP and TLS) may take (default 30 s).
    pub connect_timeout: Option<Duration>,
    /// How long the registry may take to start answering, counted from the moment the request,
    /// body included, has been sent (default 120 s).
    pub response_timeout: Option<Duration>,
    /// How long a response body may stall between two chunks (default 60 s).
    pub body_timeout: Option<Duration>,
    /// The most redirects followed for one `GET` or `HEAD` (default 10). Other methods never
    /// follow redirects.
    pub max_redirects: usize,
    /// A `HEAD` answered `404` carries no body saying what is missing; with this set (the
    /// default) the client then sends the same request as a `GET` to read the registry's error
    /// code (`NAME_UNKNOWN` versus `BLOB_UNKNOWN` or `MANIFEST_UNKNOWN`). Without it, the error
    /// is derived from what was asked for (`BLOB_UNKNOWN` for blobs, `MANIFEST_UNKNOWN` for
    /// manifests and tags), saving a round trip on every miss.
    pub refine_not_found: bool,
    /// Ask for the `delete` action (besides `push`) in the token scope of `DELETE` requests, as
    /// CNCF Distribution's token authentication requires (default true).
    pub delete_action: bool,
    /// Maintain the referrers tag (`<alg>-<hex>` of the subject) when pushing a manifest with a
    /// subject to a registry that does not answer with `OCI-Subject`, and when deleting one from
    /// a registry known to lack the referrers API, as the distribution spec requires of clients
    /// (default true).
    pub maintain_referrers_tag: bool,
    /// Offer HTTP/2 (through ALPN) on HTTPS connections (default true).
    pub http2: bool,
    /// Whether connections go through an HTTP proxy (default: as the environment's
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` say, never for loopback hosts).
    pub proxy: ProxyConfig,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure: false,
            list_page_size: 1000,
            chunk_size: 64 << 10,
            max_manifest_size: 4 << 20,
            max_list_page_bytes: 16 << 20,
            error_body_limit: 8 << 10,
            retry: RetryPolicy::default(),
            root_certificates: Vec::new(),
            tls_config: None,
            authenticator: None,
            user_agent: concat!("ociregistry-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Some(Duration::from_secs(30)),
            response_timeout: Some(Duration::from_secs(120)),
            body_timeout: Some(Duration::from_secs(60)),
            max_redirects: 10,
            refine_not_found: true,
            delete_action: true,
            maintain_referrers_tag: true,
            http2: true,
            proxy: ProxyConfig::default(),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("insecure", &self.insecure)
            .field("list_page_size", &self.list_page_size)
            .field("chunk_size", &self.chunk_size)
            .field("max_manifest_size", &self.max_manifest_size)
            .field("max_list_page_bytes", &self.max_list_page_bytes)
            .field("error_body_limit", &self.error_body_limit)
            .field("retry", &self.retry)
            .field("root_certificates", &self.root_certificates.len())
            .field("tls_config", &self.tls_config.is_some())
            .field("authenticator", &self.authenticator.is_some())
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_redirects", &self.max_redirects)
            .field("refine_not_found", &self.refine_not_found)
            .field("delete_action", &self.delete_action)
            .field("maintain_referrers_tag", &self.maintain_referrers_tag)
            .field("http2", &self.http2)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// When requests are retried: only idempotent ones (`GET`, `HEAD`, `DELETE` and manifest
/// `PUT`s, whose bodies are in memory), after a connection error, a timeout, `429` or a `5xx`
/// other than `501` and `505`, with exponential backoff and full jitter, honouring
/// `Retry-After` (seconds or an HTTP date) up to [`max_retry_after`](Self::max_retry_after).
/// Uploads (`POST`, `PATCH`, blob `PUT`) are never retried: their body is a stream already
/// consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most attempts per request, the first included (default 4; 1 disables retries).
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles with each retry (default 200 ms).
    pub base_delay: Duration,
    /// The longest backoff between two attempts (default 10 s).
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured (default 60 s): a registry asking to wait longer gets
    /// its error (usually `TOOMANYREQUESTS`) returned at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
}

/// Why a [`Client`](crate::Client) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The host is not `host[:port]`.
    #[error("invalid registry host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate of [`ClientOptions::root_certificates`] was refused.
    #[error("invalid root certificate #{index}: {source}")]
    InvalidRootCertificate {
        /// Its position in the list.
        index: usize,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// An option has an unusable value.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option's field name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}
