//! The shared behaviour suite of `ociregistry-core`, run against the local-disk store in a
//! fresh temporary directory per test: default (child references checked) and lax.

use std::sync::Arc;

use ociregistry_core::Registry;
use ociregistry_store::{ObjectStoreRegistry, StoreConfig};

async fn registry(config: StoreConfig) -> Arc<dyn Registry> {
    // Each test gets its own directory, kept under the target directory.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).map(tempfile::TempDir::keep);
    let dir = match dir {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    match ObjectStoreRegistry::local_with_config(dir, config) {
        Ok(r) => Arc::new(r),
        Err(e) => panic!("open: {e}"),
    }
}

ociregistry_core::registry_behaviour_tests!(full, || registry(StoreConfig::default()));

ociregistry_core::registry_behaviour_tests!(lax, || registry(
    StoreConfig::default().lax_child_references(true)
));
