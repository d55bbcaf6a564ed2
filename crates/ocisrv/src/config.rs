//! The TOML configuration: server settings and the registry stack to serve.
//!
//! ```toml
//! [server]
//! addr = "127.0.0.1:5000"
//! disable_referrers_filtering = false
//!
//! [registry]           # the stack, outermost first
//! type = "mem"
//! lax_child_references = true
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ociregistry_core::Registry;
use ociregistry_server::{Options, ServeConfig};
use serde::Deserialize;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) server: ServerConfig,
    #[serde(default)]
    pub(crate) registry: Stack,
    /// Users and permissions; absent: no authentication.
    pub(crate) auth: Option<crate::auth::AuthSection>,
    /// Garbage collection inside the server.
    #[serde(default)]
    pub(crate) gc: GcConfig,
    /// The directory relative paths in the file are resolved against.
    #[serde(skip)]
    pub(crate) base: std::path::PathBuf,
}

/// `[gc]`: garbage collection run by the server itself, for a durable `[registry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GcConfig {
    /// Seconds between collections; absent or 0: the server never collects (run `ocisrv gc`).
    pub(crate) interval_secs: Option<u64>,
    /// Seconds content must be unreferenced before it is collected (default 3600).
    pub(crate) grace_secs: Option<u64>,
}

impl GcConfig {
    /// How often to collect, if at all.
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.interval_secs
            .filter(|&s| s > 0)
            .map(Duration::from_secs)
    }

    /// The grace period.
    pub(crate) fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_secs.unwrap_or(3600))
    }
}

/// `[server]`: the listening address, connection settings and server options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Where to listen.
    pub(crate) addr: SocketAddr,
    /// Seconds a client may take to send request headers or stay idle.
    pub(crate) header_read_timeout_secs: u64,
    /// Seconds a request body may stall.
    pub(crate) body_timeout_secs: u64,
    /// The largest request head in bytes.
    pub(crate) max_header_bytes: usize,
    /// Accept h2c.
    pub(crate) http2: bool,
    /// The largest manifest accepted, in bytes.
    pub(crate) max_manifest_size: usize,
    /// The most entries one list page holds.
    pub(crate) list_page_cap: usize,
    /// Reject list requests with `n` above this (emulates ECR).
    pub(crate) max_list_page_size: Option<usize>,
    /// Answer the referrers API with 404.
    pub(crate) disable_referrers_api: bool,
    /// Ignore `artifactType` filters on referrers.
    pub(crate) disable_referrers_filtering: bool,
    /// Treat single-POST uploads as upload starts.
    pub(crate) disable_single_post_upload: bool,
    /// Ignore `n` and `last` on lists.
    pub(crate) ignore_pagination: bool,
    /// Omit `Docker-Content-Digest` from manifest GET-by-tag responses.
    pub(crate) omit_digest_from_tag_get_response: bool,
    /// Never send `Link` headers.
    pub(crate) omit_link_header_from_responses: bool,
    /// The most threads doing blocking work at once (the local-disk store's file operations);
    /// `None`: 4 per CPU core.
    pub(crate) blocking_threads: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let opts = Options::default();
        let serve = ServeConfig::default();
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            header_read_timeout_secs: serve.header_read_timeout.as_secs(),
            body_timeout_secs: opts.body_timeout.map_or(0, |d| d.as_secs()),
            max_header_bytes: serve.max_header_bytes,
            http2: serve.http2,
            max_manifest_size: opts.max_manifest_size,
            list_page_cap: opts.list_page_cap,
            max_list_page_size: opts.max_list_page_size,
            disable_referrers_api: opts.disable_referrers_api,
            disable_referrers_filtering: opts.disable_referrers_filtering,
            disable_single_post_upload: opts.disable_single_post_upload,
            ignore_pagination: opts.ignore_pagination,
            omit_digest_from_tag_get_response: opts.omit_digest_from_tag_get_response,
            omit_link_header_from_responses: opts.omit_link_header_from_responses,
            blocking_threads: None,
        }
    }
}

impl ServerConfig {
    /// The most threads doing blocking work at once: the configured number (at least 1), else
    /// 4 per CPU core. A few threads that each run queued file operations back to back beat
    /// tokio's default of 512, which under concurrent small writes spends its time waking and
    /// switching between threads (measured: 1.5–1.7× more small pushes and manifest PUTs per
    /// second on the local-disk store).
    pub(crate) fn blocking_threads(&self) -> usize {
        self.blocking_threads.map_or_else(
            || std::thread::available_parallelism().map_or(8, |n| 4 * n.get()),
            |n| n.max(1),
        )
    }

    pub(crate) fn options(&self) -> Options {
        let mut o = Options::default();
        o.max_manifest_size = self.max_manifest_size;
        o.list_page_cap = self.list_page_cap.max(1);
        o.max_list_page_size = self.max_list_page_size;
        o.body_timeout =
            (self.body_timeout_secs > 0).then(|| Duration::from_secs(self.body_timeout_secs));
        o.disable_referrers_api = self.disable_referrers_api;
        o.disable_referrers_filtering = self.disable_referrers_filtering;
        o.disable_single_post_upload = self.disable_single_post_upload;
        o.ignore_pagination = self.ignore_pagination;
        o.omit_digest_from_tag_get_response = self.omit_digest_from_tag_get_response;
        o.omit_link_header_from_responses = self.omit_link_header_from_responses;
        o
    }

    pub(crate) fn serve_config(&self) -> ServeConfig {
        let mut c = ServeConfig::default();
        c.header_read_timeout = Duration::from_secs(self.header_read_timeout_secs.max(1));
        c.max_header_bytes = self.max_header_bytes;
        c.http2 = self.http2;
        c
    }
}

/// `[registry]`: one layer of the stack, chosen by `type`. Wrappers hold the registry they
/// wrap in a nested `registry` table (`[registry.registry]`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Stack {
    /// An in-memory registry.
    Mem(MemConfig),
    /// Reads pass; writes and deletes fail with UNSUPPORTED.
    ReadOnly {
        /// The registry wrapped.
        registry: Box<Stack>,
    },
    /// Content can be added, never removed, and tags never move.
    Immutable {
        /// The registry wrapped.
        registry: Box<Stack>,
    },
    /// Only repositories matching `include` and not matching `exclude` (regular expressions
    /// matched against the whole name; both optional) are visible.
    Select {
        /// The registry wrapped.
        registry: Box<Stack>,
        /// Repositories to show (default: all).
        include: Option<String>,
        /// Repositories to hide (default: none).
        exclude: Option<String>,
    },
    /// The repositories under `prefix/`, served as the root.
    Sub {
        /// The registry wrapped.
        registry: Box<Stack>,
        /// The prefix.
        prefix: String,
    },
    /// A `tracing` span per operation (logged at info level).
    Traced {
        /// The registry wrapped.
        registry: Box<Stack>,
    },
    /// A durable registry in a directory of the local disk (`ociregistry-store`).
    Fs(FsConfig),
    /// A durable registry in an S3 (or S3-compatible) bucket. Needs ocisrv built with the `s3`
    /// feature.
    S3(Box<S3Config>),
    /// A remote registry, through the HTTP client. With an `upstream` table, that registry is
    /// started in this process on a free loopback port first (handy for tests and demos).
    Client(Box<ClientConfig>),
    /// One registry made of several (`[[registry.registries]]`): reads from any, writes to
    /// all, merged listings.
    Unify {
        /// The registries, in order of preference.
        registries: Vec<Stack>,
        /// `sequential` (default: try them in order) or `concurrent` (ask all, first answer
        /// wins).
        #[serde(default)]
        read_policy: ReadPolicyConfig,
    },
}

/// `type = "fs"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FsConfig {
    /// The directory (relative paths are against the config file's directory). Absent: a new
    /// temporary directory, for tests and demos.
    pub(crate) dir: Option<PathBuf>,
    /// Accept manifests whose blobs and child manifests are missing.
    pub(crate) lax_child_references: bool,
    /// Seconds an upload session may sit idle before it expires (default 3600).
    pub(crate) upload_idle_timeout_secs: Option<u64>,
}

/// `type = "s3"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct S3Config {
    /// The bucket.
    pub(crate) bucket: String,
    /// A key prefix inside the bucket.
    pub(crate) prefix: String,
    /// The region (default `us-east-1`).
    pub(crate) region: Option<String>,
    /// An endpoint for S3-compatible stores (MinIO, SeaweedFS, moto, ...).
    pub(crate) endpoint: Option<String>,
    /// Access key id (default: the AWS environment and profiles).
    pub(crate) access_key_id: Option<String>,
    /// Secret access key.
    pub(crate) secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint.
    pub(crate) allow_http: bool,
    /// Accept manifests whose blobs and child manifests are missing.
    pub(crate) lax_child_references: bool,
}

impl FsConfig {
    fn store_config(&self) -> ociregistry_store::StoreConfig {
        let mut c = ociregistry_store::StoreConfig::default()
            .lax_child_references(self.lax_child_references);
        if let Some(secs) = self.upload_idle_timeout_secs {
            c = c.upload_idle_timeout(Duration::from_secs(secs.max(1)));
        }
        c
    }

    /// Opens the store.
    pub(crate) fn open(
        &self,
        base: &Path,
    ) -> Result<ociregistry_store::ObjectStoreRegistry, StackError> {
        let dir = match &self.dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => base.join(d),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let d = std::env::temp_dir().join(format!("ocisrv-{}-{nanos}", std::process::id()));
                tracing::info!(dir = %d.display(), "storing in a new temporary directory");
                d
            }
        };
        ociregistry_store::ObjectStoreRegistry::local_with_config(&dir, self.store_config())
            .map_err(StackError::Store)
    }
}

impl S3Config {
    /// Opens the store.
    #[cfg(feature = "s3")]
    pub(crate) fn open(&self) -> Result<ociregistry_store::ObjectStoreRegistry, StackError> {
        use ociregistry_store::object_store::aws::AmazonS3Builder;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(self.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_allow_http(self.allow_http);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = b.build().map_err(|e| StackError::S3(Box::new(e)))?;
        let config = ociregistry_store::StoreConfig::default()
            .prefix(self.prefix.clone())
            .lax_child_references(self.lax_child_references)
            .ordered_listing(true);
        Ok(ociregistry_store::ObjectStoreRegistry::new(
            Arc::new(store),
            config,
        ))
    }

    /// Without the `s3` feature, S3 stacks are a configuration error.
    #[cfg(not(feature = "s3"))]
    pub(crate) fn open(&self) -> Result<ociregistry_store::ObjectStoreRegistry, StackError> {
        Err(StackError::NoS3)
    }
}

/// `type = "client"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientConfig {
    /// `host[:port]` of the registry (not a URL). Omit when `upstream` is given.
    pub(crate) host: Option<String>,
    /// Plain HTTP instead of HTTPS.
    #[serde(default)]
    pub(crate) insecure: bool,
    /// Entries asked for per list page.
    pub(crate) list_page_size: Option<usize>,
    /// Bytes per upload chunk.
    pub(crate) chunk_size: Option<usize>,
    /// Credentials from the docker and containers config files and helpers.
    #[serde(default)]
    pub(crate) docker_config: bool,
    /// A user name for the registry (with `password`).
    pub(crate) username: Option<String>,
    /// The password for `username`.
    pub(crate) password: Option<String>,
    /// A registry to start in-process and point the client at.
    pub(crate) upstream: Option<UpstreamConfig>,
    /// An HTTP proxy URL for every connection, or `"direct"`; absent: as the environment's
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` say.
    pub(crate) proxy: Option<String>,
}

/// `[registry.upstream]`: a server started in-process for a `client` stack.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpstreamConfig {
    /// Its server options (the emulation knobs are useful here); `addr` is ignored: it listens
    /// on a free loopback port.
    #[serde(default)]
    pub(crate) server: ServerConfig,
    /// Its registry stack.
    #[serde(default)]
    pub(crate) registry: Stack,
}

impl ClientConfig {
    fn build(&self, base: &Path) -> Result<Arc<dyn Registry>, StackError> {
        let (host, insecure) = match (&self.host, &self.upstream) {
            (Some(_), Some(_)) | (None, None) => return Err(StackError::ClientHost),
            (Some(h), None) => (h.clone(), self.insecure),
            (None, Some(up)) => (up.start(base)?, true),
        };
        let mut options = ociregistry_client::ClientOptions::default();
        options.insecure = insecure;
        options.proxy = match self.proxy.as_deref() {
            None => ociregistry_client::ProxyConfig::FromEnvironment,
            Some("direct") => ociregistry_client::ProxyConfig::Direct,
            Some(url) => ociregistry_client::ProxyConfig::Url(url.to_owned()),
        };
        if let Some(n) = self.list_page_size {
            options.list_page_size = n;
        }
        if let Some(n) = self.chunk_size {
            options.chunk_size = n;
        }
        options.authenticator = match (&self.username, &self.password, self.docker_config) {
            (Some(user), Some(password), false) => {
                let creds =
                    ociregistry_client::auth::Credentials::basic(user.clone(), password.clone());
                Some(ociregistry_client::auth::Authenticator::new(
                    move |_host: &str| -> Result<_, ociregistry_client::auth::AuthError> {
                        Ok(creds.clone())
                    },
                ))
            }
            (None, None, true) => Some(
                ociregistry_client::auth::Authenticator::from_docker_config()
                    .map_err(StackError::Credentials)?,
            ),
            (None, None, false) => None,
            _ => return Err(StackError::ClientCredentials),
        };
        let client = ociregistry_client::Client::new(&host, options).map_err(StackError::Client)?;
        Ok(Arc::new(client))
    }
}

impl UpstreamConfig {
    /// Starts the upstream server on a free loopback port; returns its `host:port`.
    fn start(&self, base: &Path) -> Result<String, StackError> {
        let registry = self.registry.build(base)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StackError::NoRuntime)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(StackError::Upstream)?;
        listener
            .set_nonblocking(true)
            .map_err(StackError::Upstream)?;
        let addr = listener.local_addr().map_err(StackError::Upstream)?;
        let service =
            ociregistry_server::RegistryService::with_options(registry, self.server.options());
        let config = self.server.serve_config();
        handle.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    let serving = ociregistry_server::serve(
                        listener,
                        service,
                        config,
                        std::future::pending(),
                    );
                    if let Err(e) = serving.await {
                        tracing::error!(error = %e, "upstream server failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "upstream listener failed"),
            }
        });
        tracing::info!(%addr, "upstream registry started");
        Ok(addr.to_string())
    }
}

/// `read_policy` of a `unify` stack.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReadPolicyConfig {
    /// Try the registries in order.
    #[default]
    Sequential,
    /// Ask every registry at once.
    Concurrent,
}

impl Default for Stack {
    fn default() -> Stack {
        Stack::Mem(MemConfig::default())
    }
}

/// `type = "mem"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MemConfig {
    /// Refuse to move or delete tags, and to delete what tags reach.
    pub(crate) immutable_tags: bool,
    /// Accept manifests whose blobs and child manifests are missing.
    pub(crate) lax_child_references: bool,
    /// Seconds an upload session may sit idle before it expires.
    pub(crate) upload_idle_timeout_secs: u64,
    /// The most open upload sessions.
    pub(crate) max_uploads: usize,
}

impl Default for MemConfig {
    fn default() -> MemConfig {
        let c = ociregistry_mem::Config::default();
        MemConfig {
            immutable_tags: c.immutable_tags,
            lax_child_references: c.lax_child_references,
            upload_idle_timeout_secs: c.upload_idle_timeout.as_secs(),
            max_uploads: c.max_uploads,
        }
    }
}

/// Why a stack cannot be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    #[error("select: invalid {which} pattern: {source}")]
    Pattern {
        which: &'static str,
        source: Box<regex::Error>,
    },
    #[error("sub: {0}")]
    Sub(ociregistry_core::Error),
    #[error("unify: {0}")]
    Unify(ociregistry_unify::BuildError),
    #[error("client: set exactly one of host and upstream")]
    ClientHost,
    #[error("client: give username and password together, or docker_config, not both")]
    ClientCredentials,
    #[error("client: {0}")]
    Client(#[source] ociregistry_client::ConfigError),
    #[error("client credentials: {0}")]
    Credentials(#[source] ociregistry_client::auth::AuthError),
    #[error("client upstream: {0}")]
    Upstream(std::io::Error),
    #[error("client upstream: needs a tokio runtime")]
    NoRuntime,
    #[error("fs: {0}")]
    Store(#[source] ociregistry_store::OpenError),
    #[cfg(feature = "s3")]
    #[error("s3: {0}")]
    S3(#[source] Box<ociregistry_store::object_store::Error>),
    #[cfg(not(feature = "s3"))]
    #[error(
        "s3: this ocisrv was built without S3 support (cargo build --release -p ocisrv --features s3)"
    )]
    NoS3,
    #[error("gc needs a durable store: [registry] type = \"fs\" or \"s3\", or --storage DIR")]
    NotDurable,
}

fn anchored(
    which: &'static str,
    pattern: &Option<String>,
) -> Result<Option<regex::Regex>, StackError> {
    pattern
        .as_ref()
        .map(|p| {
            regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| StackError::Pattern {
                which,
                source: Box::new(e),
            })
        })
        .transpose()
}

impl Stack {
    /// Builds the registry the stack describes.
    pub(crate) fn build(&self, base: &Path) -> Result<Arc<dyn Registry>, StackError> {
        Ok(match self {
            Stack::Mem(m) => {
                let config = ociregistry_mem::Config::default()
                    .immutable_tags(m.immutable_tags)
                    .lax_child_references(m.lax_child_references)
                    .upload_idle_timeout(Duration::from_secs(m.upload_idle_timeout_secs.max(1)))
                    .max_uploads(m.max_uploads);
                Arc::new(ociregistry_mem::MemRegistry::with_config(config))
            }
            Stack::ReadOnly { registry } => {
                Arc::new(ociregistry_filter::read_only(registry.build(base)?))
            }
            Stack::Immutable { registry } => {
                Arc::new(ociregistry_filter::immutable(registry.build(base)?))
            }
            Stack::Select {
                registry,
                include,
                exclude,
            } => {
                let include = anchored("include", include)?;
                let exclude = anchored("exclude", exclude)?;
                Arc::new(ociregistry_filter::select(
                    registry.build(base)?,
                    move |repo| {
                        include.as_ref().is_none_or(|r| r.is_match(repo))
                            && !exclude.as_ref().is_some_and(|r| r.is_match(repo))
                    },
                ))
            }
            Stack::Sub { registry, prefix } => Arc::new(
                ociregistry_filter::sub(registry.build(base)?, prefix).map_err(StackError::Sub)?,
            ),
            Stack::Traced { registry } => {
                Arc::new(ociregistry_filter::traced(registry.build(base)?))
            }
            Stack::Client(client) => client.build(base)?,
            Stack::Fs(fs) => Arc::new(fs.open(base)?),
            Stack::S3(s3) => Arc::new(s3.open()?),
            Stack::Unify {
                registries,
                read_policy,
            } => {
                let children = registries
                    .iter()
                    .map(|r| r.build(base))
                    .collect::<Result<Vec<_>, _>>()?;
                let policy = match read_policy {
                    ReadPolicyConfig::Sequential => ociregistry_unify::ReadPolicy::Sequential,
                    ReadPolicyConfig::Concurrent => ociregistry_unify::ReadPolicy::Concurrent,
                };
                let options = ociregistry_unify::Options::new().with_read_policy(policy);
                Arc::new(
                    ociregistry_unify::Unify::new(children, options).map_err(StackError::Unify)?,
                )
            }
        })
    }
}

impl Stack {
    /// The durable store this stack is (for `ocisrv gc`).
    pub(crate) fn durable(
        &self,
        base: &Path,
    ) -> Result<ociregistry_store::ObjectStoreRegistry, StackError> {
        match self {
            Stack::Fs(fs) => fs.open(base),
            Stack::S3(s3) => s3.open(),
            _ => Err(StackError::NotDurable),
        }
    }
}

impl Config {
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    pub(crate) fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_an_in_memory_registry_on_port_5000() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.addr.to_string(), "127.0.0.1:5000");
        assert!(matches!(c.registry, Stack::Mem(_)));
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(c.server.blocking_threads(), 4 * cores);
    }

    #[test]
    fn gc_runs_in_the_server_only_when_asked() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.gc.interval(), None);
        assert_eq!(c.gc.grace(), Duration::from_secs(3600));
        let c = Config::parse("[gc]\ninterval_secs = 600\ngrace_secs = 60\n").unwrap();
        assert_eq!(c.gc.interval(), Some(Duration::from_secs(600)));
        assert_eq!(c.gc.grace(), Duration::from_secs(60));
        let c = Config::parse("[gc]\ninterval_secs = 0\n").unwrap();
        assert_eq!(c.gc.interval(), None);
        assert!(Config::parse("[gc]\nevery = 1\n").is_err());
    }

    #[test]
    fn blocking_threads_are_configurable_and_never_zero() {
        let c = Config::parse("[server]\nblocking_threads = 3\n").unwrap();
        assert_eq!(c.server.blocking_threads(), 3);
        let c = Config::parse("[server]\nblocking_threads = 0\n").unwrap();
        assert_eq!(c.server.blocking_threads(), 1);
    }

    #[test]
    fn parses_every_knob() {
        let c = Config::parse(
            r#"
            [server]
            addr = "127.0.0.1:0"
            disable_referrers_filtering = true
            max_list_page_size = 1000
            max_manifest_size = 1024
            [registry]
            type = "mem"
            lax_child_references = true
            immutable_tags = true
            max_uploads = 3
            "#,
        )
        .unwrap();
        let o = c.server.options();
        assert!(o.disable_referrers_filtering);
        assert_eq!(o.max_list_page_size, Some(1000));
        assert_eq!(o.max_manifest_size, 1024);
        let Stack::Mem(m) = &c.registry else {
            panic!("{:?}", c.registry)
        };
        assert!(m.lax_child_references && m.immutable_tags);
        assert_eq!(m.max_uploads, 3);
    }

    #[tokio::test]
    async fn a_client_stack_takes_a_proxy_setting() {
        let stack = |proxy: &str| {
            Config::parse(&format!(
                "[registry]\ntype = \"client\"\nhost = \"127.0.0.1:1\"\ninsecure = true\n{proxy}"
            ))
            .unwrap()
        };
        for ok in [
            "",
            "proxy = \"direct\"",
            "proxy = \"http://127.0.0.1:3128\"",
        ] {
            assert!(stack(ok).registry.build(Path::new(".")).is_ok(), "{ok}");
        }
        assert!(
            stack("proxy = \"socks5://127.0.0.1:1080\"")
                .registry
                .build(Path::new("."))
                .is_err()
        );
    }

    #[tokio::test]
    async fn builds_wrapper_stacks() {
        let c = Config::parse(
            r#"
            [registry]
            type = "traced"
            [registry.registry]
            type = "read_only"
            [registry.registry.registry]
            type = "select"
            include = "team/.*"
            exclude = "team/secret"
            [registry.registry.registry.registry]
            type = "sub"
            prefix = "mirror"
            [registry.registry.registry.registry.registry]
            type = "mem"
            "#,
        )
        .unwrap();
        let reg = c.registry.build(Path::new(".")).unwrap();
        let cx = ociregistry_core::Context::new();
        // read_only refuses writes before anything else sees them.
        let e = reg
            .push_manifest(
                &cx,
                "team/a",
                Some("v1"),
                "{}".into(),
                "application/x",
                None,
            )
            .await
            .unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        // select hides what does not match.
        let e = reg.resolve_tag(&cx, "other/a", "v1").await.unwrap_err();
        assert!(e.is(&ociregistry_core::Code::NameUnknown), "{e}");
        let e = reg.resolve_tag(&cx, "team/secret", "v1").await.unwrap_err();
        assert!(e.is(&ociregistry_core::Code::NameUnknown), "{e}");
        // A bad pattern or prefix is a configuration error, not a panic.
        let bad = Config::parse(
            "[registry]\ntype = \"select\"\ninclude = \"(\"\n[registry.registry]\ntype = \"mem\"",
        )
        .unwrap();
        assert!(bad.registry.build(Path::new(".")).is_err());
        let bad = Config::parse(
            "[registry]\ntype = \"sub\"\nprefix = \"Bad/\"\n[registry.registry]\ntype = \"mem\"",
        )
        .unwrap();
        assert!(bad.registry.build(Path::new(".")).is_err());
        // Go's ocisrv panicked when select had neither pattern.
        let open =
            Config::parse("[registry]\ntype = \"select\"\n[registry.registry]\ntype = \"mem\"")
                .unwrap();
        assert!(open.registry.build(Path::new(".")).is_ok());
    }

    #[tokio::test]
    async fn builds_unions() {
        let c = Config::parse(
            r#"
            [registry]
            type = "unify"
            read_policy = "concurrent"
            [[registry.registries]]
            type = "mem"
            [[registry.registries]]
            type = "read_only"
            [registry.registries.registry]
            type = "mem"
            "#,
        )
        .unwrap();
        let reg = c.registry.build(Path::new(".")).unwrap();
        let cx = ociregistry_core::Context::new();
        // The second child refuses writes: the union reports it and undoes the first.
        let e = reg
            .push_manifest(&cx, "a", Some("v1"), "{}".into(), "application/x", None)
            .await
            .unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        assert!(reg.resolve_tag(&cx, "a", "v1").await.is_err());
        let empty = Config::parse("[registry]\ntype = \"unify\"\nregistries = []").unwrap();
        assert!(empty.registry.build(Path::new(".")).is_err());
    }

    #[test]
    fn rejects_unknown_fields_and_types() {
        assert!(Config::parse("[server]\nbogus = 1").is_err());
        assert!(Config::parse("[registry]\ntype = \"nope\"").is_err());
    }

    #[test]
    fn example_configs_parse_and_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                c.registry
                    .build(&c.base)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if let Some(auth) = &c.auth {
                    auth.build(&c.base, c.server.addr)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                n += 1;
            }
        }
        assert!(n >= 1, "no example configs in {}", dir.display());
    }

    #[test]
    fn conformance_stacks_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/stacks");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "no stacks found in {}", dir.display());
    }
}
