//! The behaviour suite of the [`Registry`](crate::Registry) trait: one set of tests every backend
//! runs (the in-memory registry, the HTTP client talking to the server, filters, unions), plus
//! the content builders and push helpers they are made of.
//!
//! Every test is a public async function taking an `Arc<dyn Registry>` and panicking with a clear
//! message on failure. Each test works in its own repositories, named after the test
//! (`blob_range/a`, ...), so the tests can also share one registry, concurrently.
//!
//! # Running the suite against a backend
//!
//! Enable the `testing` feature in the backend's dev-dependencies, together with tokio's `macros`
//! and `rt` features, and invoke [`registry_behaviour_tests!`](crate::registry_behaviour_tests)
//! in a test file, once per group, with a factory: a closure returning a future of a fresh
//! `Arc<dyn Registry>` (called once per test):
//!
//! ```toml
//! [dev-dependencies]
//! ociregistry-core = { workspace = true, features = ["testing"] }
//! tokio = { workspace = true, features = ["macros", "rt"] }
//! ```
//!
//! ```ignore
//! // tests/behaviour.rs
//! use std::sync::Arc;
//! use ociregistry_core::Registry;
//! use ociregistry_mem::{Config, MemRegistry};
//!
//! // Every read/write/delete/list behaviour of a mutable, strict registry.
//! ociregistry_core::registry_behaviour_tests!(full, || async {
//!     Arc::new(MemRegistry::new()) as Arc<dyn Registry>
//! });
//! // Sparse manifests accepted.
//! ociregistry_core::registry_behaviour_tests!(lax, || async {
//!     Arc::new(MemRegistry::with_config(Config::default().lax_child_references(true)))
//!         as Arc<dyn Registry>
//! });
//! // Immutable tags.
//! ociregistry_core::registry_behaviour_tests!(immutable, || async {
//!     Arc::new(MemRegistry::with_config(Config::default().immutable_tags(true)))
//!         as Arc<dyn Registry>
//! });
//! ```
//!
//! Each invocation expands to a module named after the group (`full`, `lax`, `immutable`)
//! holding one `#[tokio::test]` per suite function, so failures are reported per test
//! (`full::blob_range`, ...). The module glob-imports its parent, so the factory can use the
//! test file's imports. Two more forms:
//!
//! - `registry_behaviour_tests!(full as shared_full, factory)` names the module, to run a group
//!   more than once in one file (e.g. against two configurations).
//! - Attributes before the group are put on every generated test, e.g.
//!   `registry_behaviour_tests!(#[ignore = "not yet"] full, factory)`.
//!
//! # Groups
//!
//! - `full`: blobs ([`blob_push_get_resolve`], [`blob_unknown`], [`blob_push_size_mismatch`],
//!   [`blob_push_digest_mismatch`], [`blob_push_stream_error`], [`blob_sha512`], [`blob_range`],
//!   [`blob_mount`], [`blob_mount_anonymous`], [`blob_mount_errors`], [`blob_delete`]), chunked uploads
//!   ([`upload_chunked`], [`upload_close_resume`], [`upload_wrong_offset`],
//!   [`upload_unknown_id`], [`upload_other_repository`], [`upload_commit_wrong_digest`],
//!   [`upload_cancel`], [`upload_empty_blob`]), manifests and tags ([`manifest_push_get`],
//!   [`manifest_exact_bytes`], [`manifest_push_digest`], [`manifest_sha512`],
//!   [`manifest_invalid`], [`manifest_opaque_media_type`], [`manifest_missing_children`],
//!   [`manifest_weak_references`], [`manifest_docker_media_types`], [`manifest_invalid_tag`],
//!   [`manifest_tag_move`], [`manifest_unknown`], [`repository_invalid_name`],
//!   [`repository_implicit_creation`]), deletes ([`delete_manifest_removes_tags`],
//!   [`delete_manifest_removes_referrer`], [`delete_tag`]), listings ([`list_tags`],
//!   [`list_repositories`], [`referrers_listing`], [`referrers_filter`],
//!   [`referrers_unknown`]) and [`concurrent_pushes`]. For a registry with the default
//!   configuration: mutable tags and child references checked.
//! - `lax`: [`lax_missing_children`], [`lax_still_validates`]. For a registry that skips the
//!   child-existence checks.
//! - `immutable`: [`immutable_tag_overwrite`], [`immutable_delete_tag`],
//!   [`immutable_delete_reachable`], [`immutable_delete_untagged`]. For a registry with
//!   immutable tags.
//!
//! # Choices the suite makes where the contract leaves room
//!
//! - A resume with a wrong offset, an unknown id or another repository's id may fail at
//!   `push_blob_chunked_resume` itself or, as the trait allows, at the first write or the close
//!   of the resumed writer ([`expect_resume_error`]); either way with the contract's code.
//! - Cancel idempotency is checked with two writers of one upload obtained by resuming it while
//!   it lives: after the first cancels (or commits), the second's `cancel` succeeds.
//! - Reads with an invalid repository name may fail with `NAME_INVALID` or `NAME_UNKNOWN`;
//!   writes must fail with `NAME_INVALID`.
//! - An invalid tag fails with `MANIFEST_INVALID`, the code of [`names::validate_tag`](crate::names::validate_tag).
//! - `get_blob`'s reader descriptor is checked for digest and size only; `resolve_blob` and
//!   `push_blob` must return exactly `{application/octet-stream, digest, size}`.
//! - Failed pushes are checked for leaving nothing visible in a repository that already exists
//!   (whether a failed first push creates the repository is left open).
//!
//! [`blob_delete`]: crate::testing::blob_delete
//! [`blob_mount`]: crate::testing::blob_mount
//! [`blob_mount_anonymous`]: crate::testing::blob_mount_anonymous
//! [`blob_mount_errors`]: crate::testing::blob_mount_errors
//! [`blob_push_digest_mismatch`]: crate::testing::blob_push_digest_mismatch
//! [`blob_push_get_resolve`]: crate::testing::blob_push_get_resolve
//! [`blob_push_size_mismatch`]: crate::testing::blob_push_size_mismatch
//! [`blob_push_stream_error`]: crate::testing::blob_push_stream_error
//! [`blob_range`]: crate::testing::blob_range
//! [`blob_sha512`]: crate::testing::blob_sha512
//! [`blob_unknown`]: crate::testing::blob_unknown
//! [`concurrent_pushes`]: crate::testing::concurrent_pushes
//! [`delete_manifest_removes_referrer`]: crate::testing::delete_manifest_removes_referrer
//! [`delete_manifest_removes_tags`]: crate::testing::delete_manifest_removes_tags
//! [`delete_tag`]: crate::testing::delete_tag
//! [`expect_resume_error`]: crate::testing::expect_resume_error
//! [`immutable_delete_reachable`]: crate::testing::immutable_delete_reachable
//! [`immutable_delete_tag`]: crate::testing::immutable_delete_tag
//! [`immutable_delete_untagged`]: crate::testing::immutable_delete_untagged
//! [`immutable_tag_overwrite`]: crate::testing::immutable_tag_overwrite
//! [`lax_missing_children`]: crate::testing::lax_missing_children
//! [`lax_still_validates`]: crate::testing::lax_still_validates
//! [`list_repositories`]: crate::testing::list_repositories
//! [`list_tags`]: crate::testing::list_tags
//! [`manifest_docker_media_types`]: crate::testing::manifest_docker_media_types
//! [`manifest_exact_bytes`]: crate::testing::manifest_exact_bytes
//! [`manifest_invalid`]: crate::testing::manifest_invalid
//! [`manifest_invalid_tag`]: crate::testing::manifest_invalid_tag
//! [`manifest_missing_children`]: crate::testing::manifest_missing_children
//! [`manifest_opaque_media_type`]: crate::testing::manifest_opaque_media_type
//! [`manifest_push_digest`]: crate::testing::manifest_push_digest
//! [`manifest_push_get`]: crate::testing::manifest_push_get
//! [`manifest_sha512`]: crate::testing::manifest_sha512
//! [`manifest_tag_move`]: crate::testing::manifest_tag_move
//! [`manifest_unknown`]: crate::testing::manifest_unknown
//! [`manifest_weak_references`]: crate::testing::manifest_weak_references
//! [`referrers_filter`]: crate::testing::referrers_filter
//! [`referrers_listing`]: crate::testing::referrers_listing
//! [`referrers_unknown`]: crate::testing::referrers_unknown
//! [`repository_implicit_creation`]: crate::testing::repository_implicit_creation
//! [`repository_invalid_name`]: crate::testing::repository_invalid_name
//! [`upload_cancel`]: crate::testing::upload_cancel
//! [`upload_chunked`]: crate::testing::upload_chunked
//! [`upload_close_resume`]: crate::testing::upload_close_resume
//! [`upload_commit_wrong_digest`]: crate::testing::upload_commit_wrong_digest
//! [`upload_empty_blob`]: crate::testing::upload_empty_blob
//! [`upload_other_repository`]: crate::testing::upload_other_repository
//! [`upload_unknown_id`]: crate::testing::upload_unknown_id
//! [`upload_wrong_offset`]: crate::testing::upload_wrong_offset

mod blobs;
mod content;
mod deletes;
mod lists;
mod manifests;
mod modes;
mod uploads;

pub use blobs::*;
pub use content::*;
pub use deletes::*;
pub use lists::*;
pub use manifests::*;
pub use modes::*;
pub use uploads::*;

/// What a factory of [`registry_behaviour_tests!`] may produce: a registry, or an
/// `Option` of one, where `None` skips the test (for backends that need a service this machine
/// may not have; say why on stderr, and fail instead where it must be there, e.g. in CI).
pub trait TestRegistry {
    /// The registry to test, `None` to skip.
    fn into_registry(self) -> Option<std::sync::Arc<dyn crate::Registry>>;
}

impl TestRegistry for std::sync::Arc<dyn crate::Registry> {
    fn into_registry(self) -> Option<std::sync::Arc<dyn crate::Registry>> {
        Some(self)
    }
}

impl TestRegistry for Option<std::sync::Arc<dyn crate::Registry>> {
    fn into_registry(self) -> Option<std::sync::Arc<dyn crate::Registry>> {
        self
    }
}

/// Generates one `#[tokio::test]` per behaviour test of a group, run against a fresh registry
/// from a factory. See the [`testing`](crate::testing) module for the groups and an example.
///
/// ```ignore
/// ociregistry_core::registry_behaviour_tests!(full, || async { Arc::new(MemRegistry::new()) as Arc<dyn Registry> });
/// ociregistry_core::registry_behaviour_tests!(immutable as immutable_mem, make_immutable);
/// ociregistry_core::registry_behaviour_tests!(#[ignore] lax, make_lax);
/// ```
///
/// The factory is any expression callable with no argument that returns a future of an
/// `Arc<dyn Registry>`, or of an `Option<Arc<dyn Registry>>` whose `None` skips the test
/// ([`TestRegistry`]). The calling crate needs `tokio` (features `macros` and `rt`) and
/// `ociregistry-core` with the `testing` feature.
#[macro_export]
macro_rules! registry_behaviour_tests {
    ($(#[$attr:meta])* full as $module:ident, $factory:expr $(,)?) => {
        $crate::__registry_behaviour_group!([$(#[$attr])*] $module, $factory, [
            blob_push_get_resolve,
            blob_unknown,
            blob_push_size_mismatch,
            blob_push_digest_mismatch,
            blob_push_stream_error,
            blob_sha512,
            blob_range,
            blob_mount,
            blob_mount_anonymous,
            blob_mount_errors,
            blob_delete,
            upload_chunked,
            upload_close_resume,
            upload_wrong_offset,
            upload_unknown_id,
            upload_other_repository,
            upload_commit_wrong_digest,
            upload_cancel,
            upload_empty_blob,
            manifest_push_get,
            manifest_exact_bytes,
            manifest_push_digest,
            manifest_sha512,
            manifest_invalid,
            manifest_opaque_media_type,
            manifest_missing_children,
            manifest_weak_references,
            manifest_docker_media_types,
            manifest_invalid_tag,
            manifest_tag_move,
            manifest_unknown,
            repository_invalid_name,
            repository_implicit_creation,
            delete_manifest_removes_tags,
            delete_manifest_removes_referrer,
            delete_tag,
            list_tags,
            list_repositories,
            referrers_listing,
            referrers_filter,
            referrers_unknown,
            concurrent_pushes,
        ]);
    };
    ($(#[$attr:meta])* lax as $module:ident, $factory:expr $(,)?) => {
        $crate::__registry_behaviour_group!([$(#[$attr])*] $module, $factory, [
            lax_missing_children,
            lax_still_validates,
        ]);
    };
    ($(#[$attr:meta])* immutable as $module:ident, $factory:expr $(,)?) => {
        $crate::__registry_behaviour_group!([$(#[$attr])*] $module, $factory, [
            immutable_tag_overwrite,
            immutable_delete_tag,
            immutable_delete_reachable,
            immutable_delete_untagged,
        ]);
    };
    ($(#[$attr:meta])* $group:ident as $module:ident, $factory:expr $(,)?) => {
        ::core::compile_error!(::core::concat!(
            "unknown registry behaviour test group `",
            ::core::stringify!($group),
            "`: expected `full`, `lax` or `immutable`"
        ));
    };
    ($(#[$attr:meta])* $group:ident, $factory:expr $(,)?) => {
        $crate::registry_behaviour_tests!($(#[$attr])* $group as $group, $factory);
    };
}

/// Implementation detail of [`registry_behaviour_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __registry_behaviour_group {
    ($attrs:tt $module:ident, $factory:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                $crate::__registry_behaviour_test!($attrs $test, $factory);
            )*
        }
    };
}

/// Implementation detail of [`registry_behaviour_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __registry_behaviour_test {
    ([$(#[$attr:meta])*] $test:ident, $factory:expr) => {
        $(#[$attr])*
        #[::tokio::test]
        async fn $test() {
            let Some(registry) =
                $crate::testing::TestRegistry::into_registry(($factory)().await)
            else {
                return;
            };
            $crate::testing::$test(registry).await;
        }
    };
}
