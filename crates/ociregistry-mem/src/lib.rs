//! A complete OCI registry held in memory: [`MemRegistry`] implements every operation of the
//! [`ociregistry_core::Registry`] trait.
//!
//! ```
//! use ociregistry_core::{bytes::Bytes, media_type, stream, Context, Descriptor, Digest, Registry};
//! use ociregistry_mem::MemRegistry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> ociregistry_core::Result<()> {
//! let registry = MemRegistry::new();
//! let cx = Context::new();
//!
//! // Push a config blob, then an image manifest that refers to it, tagged `latest`.
//! let config = Bytes::from_static(b"{}");
//! let config_desc = Descriptor::new(media_type::OCI_EMPTY, Digest::sha256(&config), 2);
//! registry.push_blob(&cx, "library/app", &config_desc, stream::bytes(config)).await?;
//!
//! let manifest = format!(
//!     r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[]}}"#,
//!     media_type::OCI_MANIFEST,
//!     serde_json::to_string(&config_desc).unwrap(),
//! );
//! let pushed = registry
//!     .push_manifest(&cx, "library/app", Some("latest"), manifest.clone().into(), media_type::OCI_MANIFEST, None)
//!     .await?;
//!
//! // Read both back.
//! let reader = registry.get_tag(&cx, "library/app", "latest").await?;
//! assert_eq!(reader.descriptor().digest, pushed.digest);
//! assert_eq!(reader.bytes(1 << 20).await?, manifest.as_bytes());
//! let blob = registry.get_blob(&cx, "library/app", &config_desc.digest).await?;
//! assert_eq!(&blob.bytes(1 << 20).await?[..], b"{}");
//! # Ok(())
//! # }
//! ```
//!
//! It is the Rust counterpart of Go's `ocimem`, and the reference backend of the project: it
//! follows the shared behaviour contract of the `Registry` trait exactly, and the behaviour
//! suite of `ociregistry-core` runs against it.
//!
//! # What it stores
//!
//! - **Blobs** are content-addressed across the whole registry: identical content is stored
//!   once, however many repositories hold it, and freed when the last one deletes it
//!   ([`MemRegistry::blob_bytes`] tells how much is held). Visibility is still per repository:
//!   a repository reads only the blobs pushed or mounted into it. Content is kept as the
//!   chunks it arrived in (tiny chunks are coalesced), is hashed as it flows, and is read back
//!   as shared slices of those chunks: nothing is ever copied into one big buffer.
//! - **Manifests** are kept per repository, as the exact bytes pushed, in a namespace of their
//!   own (the digest of a manifest is not a blob unless the same bytes were pushed as one).
//! - **Tags** name manifests. Deleting a manifest **deletes the tags that point at it**, so a
//!   tag never dangles (Go's `ocimem` left them behind). Re-pushing a tag moves it, unless tags
//!   are immutable.
//! - **Referrers** are indexed by subject digest as manifests are pushed and deleted.
//! - **Upload sessions** are bound to their repository, named by 128 random bits, expire after
//!   an idle timeout and are capped in number; ending one frees its memory at once
//!   ([`MemRegistry::upload_count`] tells how many are open).
//!
//! Repositories come into existence on the first push into them and are never removed.
//!
//! # Behaviour
//!
//! - Every digest algorithm of `ociregistry-core` works, SHA-256 and SHA-512 alike, for
//!   `push_blob`, chunked uploads (a SHA-512 commit hashes the stored chunks) and manifests
//!   pushed with an explicit digest.
//! - Every failure carries its OCI code: `NAME_INVALID`, `NAME_UNKNOWN`, `BLOB_UNKNOWN`,
//!   `MANIFEST_UNKNOWN`, `MANIFEST_INVALID`, `MANIFEST_BLOB_UNKNOWN` (a config, layer or index
//!   child missing from the repository), `DIGEST_INVALID`, `SIZE_INVALID`, `RANGE_INVALID`,
//!   `BLOB_UPLOAD_UNKNOWN`, `TOOMANYREQUESTS`, `DENIED`.
//! - Child references of manifests are checked unless
//!   [`Config::lax_child_references`] is set; non-distributable layers and `subject`s are never
//!   required.
//! - With [`Config::immutable_tags`], tags never move nor go away, and nothing a tag reaches
//!   (through index children, config, layers and `subject` links) can be deleted.
//! - `repositories` and `tags` are lazy: they copy the next few hundred names at a time, so a
//!   short page of a huge listing stays cheap.
//!
//! # Concurrency
//!
//! A `MemRegistry` is a cheap, cloneable handle (`Send + Sync`) usable from any number of
//! tasks. Its state sits behind one read-write lock, taken only for short map updates: streams
//! are read and hashed, and manifests parsed, before it is taken, and it is never held across
//! an `.await`. Concurrent pushes of the same blob or tag leave a consistent state: one of the
//! pushed values wins, whole. No runtime is needed: every operation completes without waiting
//! on anything but the streams it is given.
//!
//! # Modules
//!
//! - `config`: the [`Config`].
//! - `registry`: [`MemRegistry`] and its `Registry` implementation.
//! - `content`: the content-addressed chunk store.
//! - `manifest`: manifests, tags, referrers and the reachability walks of immutable tags.
//! - `upload`: upload sessions and their `BlobWriter`.
//! - `list`: the lazy listings.

mod config;
mod content;
mod list;
mod manifest;
mod registry;
mod upload;

pub use config::Config;
pub use registry::MemRegistry;
