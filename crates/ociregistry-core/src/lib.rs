//! The core of [ociregistry]: one async trait for everything an OCI registry can do, and the
//! protocol vocabulary every implementation shares.
//!
//! A registry is anything that implements [`Registry`]: an in-memory store, an HTTP client for a
//! remote registry, a filter over another registry, a union of two. Because they all speak the
//! same trait, they stack: serve a client and you have a proxy; serve a union and you have a
//! merged registry. This crate is deliberately small and stable (no HTTP stack, no runtime), so
//! every backend can depend on it cheaply.
//!
//! ```
//! use std::sync::Arc;
//! use ociregistry_core::{Context, Descriptor, Digest, Funcs, Registry};
//!
//! # futures_util::FutureExt::now_or_never(async {
//! // A registry made of closures; real backends are other crates (`ociregistry-mem`, ...).
//! let manifest = br#"{"schemaVersion":2}"#;
//! let registry: Arc<dyn Registry> = Arc::new(Funcs::new().with_resolve_tag(move |_cx, _repo, _tag| async move {
//!     Ok(Descriptor::new("application/vnd.oci.image.index.v1+json", Digest::sha256(manifest), manifest.len() as u64))
//! }));
//!
//! let desc = registry.resolve_tag(&Context::new(), "library/app", "latest").await?;
//! assert_eq!(desc.digest, Digest::sha256(manifest));
//! // Operations a backend does not implement fail with UNSUPPORTED.
//! assert!(registry.get_tag(&Context::new(), "library/app", "latest").await.unwrap_err().is_unsupported());
//! # Ok::<(), ociregistry_core::Error>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! [ociregistry]: https://github.com/ociregistry-rs/ociregistry

pub mod background_digester;
pub mod blob;
pub mod context;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod funcs;
pub mod header;
pub mod manifest;
pub mod media_type;
pub mod names;
pub mod range;
pub mod registry;
pub mod route;
pub mod stream;
/// The behaviour suite every backend runs, with its content builders (feature `testing`).
/// Not a stable part of the API: it changes with the contract it tests.
#[cfg(feature = "testing")]
pub mod testing;

pub use blob::{BlobReader, BlobWriter, UploadStatus, new_upload_id};
pub use context::{Context, Identity};
pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest, Digester};
pub use error::{Code, Error, Result};
pub use funcs::Funcs;
pub use manifest::ManifestInfo;
pub use names::{Reference, TagOrDigest};
pub use range::ByteRange;
pub use registry::{Operation, Registry, Unsupported};
pub use stream::{ByteStream, ListStream};

// Re-exported so that implementers use the same versions as the trait.
pub use async_trait::async_trait;
pub use bytes;
