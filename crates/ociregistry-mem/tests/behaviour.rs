//! The shared behaviour suite of `ociregistry-core`, run against `MemRegistry` in each of its
//! modes: default (mutable tags, child references checked), lax and immutable.

use std::sync::Arc;

use ociregistry_core::Registry;
use ociregistry_mem::{Config, MemRegistry};

fn registry(config: Config) -> Arc<dyn Registry> {
    Arc::new(MemRegistry::with_config(config))
}

ociregistry_core::registry_behaviour_tests!(full, || async { registry(Config::default()) });

ociregistry_core::registry_behaviour_tests!(lax, || async {
    registry(Config::default().lax_child_references(true))
});

ociregistry_core::registry_behaviour_tests!(immutable, || async {
    registry(Config::default().immutable_tags(true))
});
