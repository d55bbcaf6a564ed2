//! A durable OCI registry kept in an [`object_store`]: [`ObjectStoreRegistry`] implements every
//! operation of the [`ociregistry_core::Registry`] trait over any [`object_store::ObjectStore`]:
//! the local disk by default, S3 (and S3-compatible stores) with the `s3` feature.
//!
//! ```
//! use ociregistry_core::{bytes::Bytes, media_type, stream, Context, Descriptor, Digest, Registry};
//! use ociregistry_store::ObjectStoreRegistry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let registry = ObjectStoreRegistry::local(dir.path())?;
//! let cx = Context::new();
//!
//! // Push a config blob, then an image manifest that refers to it, tagged `latest`.
//! let config = Bytes::from_static(b"{}");
//! let config_desc = Descriptor::new(media_type::OCI_EMPTY, Digest::sha256(&config), 2);
//! registry.push_blob(&cx, "library/app", &config_desc, stream::bytes(config)).await?;
//! let manifest = format!(
//!     r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[]}}"#,
//!     media_type::OCI_MANIFEST,
//!     serde_json::to_string(&config_desc)?,
//! );
//! registry
//!     .push_manifest(&cx, "library/app", Some("latest"), manifest.clone().into(), media_type::OCI_MANIFEST, None)
//!     .await?;
//!
//! // Another registry on the same directory (another process, or after a restart) sees it all.
//! let reopened = ObjectStoreRegistry::local(dir.path())?;
//! let reader = reopened.get_tag(&cx, "library/app", "latest").await?;
//! assert_eq!(reader.bytes(1 << 20).await?, manifest.as_bytes());
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Everything lives under a configurable prefix ([`StoreConfig::prefix`]):
//!
//! | key | what |
//! |---|---|
//! | `blobs/<alg>/<hex>` | blob content, content-addressed, stored once for all repositories |
//! | `composite/<alg>/<hex>` | or: the index of a blob published from the parts of an upload |
//! | `parts/<alg>/<hex>/<id>/<offset>` | the parts of a composite blob (from upload `<id>`) |
//! | `claims/<alg>/<hex>` | empty; rewritten whenever a repository takes the blob (for GC) |
//! | `_catalog/<repo>!` | empty; the repository exists |
//! | `repos/<repo>/_blobs/<alg>/<hex>` | empty; the repository holds the blob |
//! | `repos/<repo>/_manifests/<alg>/<hex>` | the media type, a newline, then the exact manifest bytes |
//! | `repos/<repo>/_tags/<tag>!/<seq>` | the tag's update log (see below) |
//! | `repos/<repo>/_tagged/<alg>/<hex>/<tag>!` | empty; the tag was pointed at the manifest |
//! | `repos/<repo>/_referrers/<alg>/<hex>/<alg>-<hex>` | a referrer's descriptor, under its subject |
//! | `uploads/<id>/info`, `uploads/<id>/parts/<offset>` | an upload session and its parts |
//!
//! Tag and catalog keys end in `!`, which sorts before every character of a name, so key order
//! is name order and a name never clashes with a directory. (So on a case-insensitive file
//! system, tags that differ only in case share a log: use a case-sensitive one.) A manifest's media type is stored in
//! the same object as its bytes (one atomic write, readable on every store; the local file
//! system does not support object attributes).
//!
//! # Guarantees
//!
//! - **Visibility**: a repository reads a blob only when it holds both a membership marker and
//!   the content; manifests are per repository; reads of an unknown repository fail with
//!   `NAME_UNKNOWN`. Behaviour follows the shared contract of the `Registry` trait (the
//!   behaviour suite of `ociregistry-core` runs against the local-disk store).
//! - **Tags never lose an update**: a tag is an append-only log whose newest entry wins;
//!   entries are created with create-only puts ([`PutMode::Create`](object_store::PutMode)),
//!   which every store supports (the local file system does not support
//!   `PutMode::Update`), so of two concurrent writers reading the same state exactly one wins
//!   and the other retries on the new state: a compare-and-swap.
//! - **Crash safety**: every operation has one atomic object write or delete as its commit
//!   point, and the writes before it are invisible until it happens:
//!   content is published whole (one `put`, or a multipart upload completed only after the
//!   content hashed to its digest; or the parts of an upload, copied once they hashed to the
//!   digest, then the composite index that names them), before the membership marker that
//!   makes it visible;
//!   index entries (referrers, the tag reverse index) are written before the manifest they
//!   index and count only while it exists; the manifest is written before the tag that names
//!   it; deleting a manifest deletes the manifest first (tags naming a missing manifest are
//!   unknown, and are deleted by the same delete or its retry). Killing the process at any
//!   instant leaves no partial blob, no tag naming missing content and no corrupt index, and
//!   a fresh registry on the same store serves it without any repair step. (A tagged push
//!   interrupted between its manifest and its tag leaves the manifest pushed untagged.)
//! - **Sharing**: any number of registries, in any number of processes, may use one store:
//!   everything, upload sessions included, is in the store, so an upload started through one
//!   finishes through another.
//! - **Uploads** persist as parts and expire after [`StoreConfig::upload_idle_timeout`] (see
//!   the `upload` module docs).
//! - **Garbage collection**: [`ObjectStoreRegistry::collect_garbage`] deletes blobs no
//!   manifest refers to, with a grace period that protects pushes in flight, and abandoned
//!   uploads (see the [`gc`] module).
//!
//! On the local disk, multipart content interrupted by a crash can leave a staging file
//! (`<key>#<n>`) that no listing shows; it takes space but is never visible. For durability
//! across power loss (not only process crashes), build the store with
//! [`LocalFileSystem::with_fsync`](object_store::local::LocalFileSystem::with_fsync) and pass
//! it to [`ObjectStoreRegistry::new`].
//!
//! # Modules
//!
//! - `config`: [`StoreConfig`].
//! - `registry`: [`ObjectStoreRegistry`] and its `Registry` implementation.
//! - `layout`: the keys.
//! - `content`: blob content, whole or composite (published from upload parts).
//! - `store`: helpers over the object store, and the sink that publishes content whole.
//! - `tags`: the tag update logs.
//! - `upload`: upload sessions and their `BlobWriter`.
//! - `list`: the listings.
//! - [`gc`]: garbage collection.

mod config;
mod content;
pub mod gc;
mod layout;
mod list;
mod registry;
mod store;
mod tags;
mod upload;

pub use config::StoreConfig;
pub use gc::{GcOptions, GcReport};
pub use registry::{ObjectStoreRegistry, OpenError};

/// The `object_store` crate this registry is built on, re-exported so that callers build
/// stores with the same version.
pub use object_store;
