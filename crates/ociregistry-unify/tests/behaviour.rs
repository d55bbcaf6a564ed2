//! The shared behaviour suite of `ociregistry-core`, run against unions of in-memory registries:
//! two registries under each read policy, three, and one (a pass-through); plus the lax and
//! immutable groups over two registries in those modes.

use std::sync::Arc;

use ociregistry_core::Registry;
use ociregistry_mem::{Config, MemRegistry};
use ociregistry_unify::{Options, ReadPolicy, Unify};

fn union(n: usize, policy: ReadPolicy, config: Config) -> Arc<dyn Registry> {
    let registries: Vec<Arc<dyn Registry>> = (0..n)
        .map(|_| Arc::new(MemRegistry::with_config(config.clone())) as Arc<dyn Registry>)
        .collect();
    match Unify::new(registries, Options::new().with_read_policy(policy)) {
        Ok(u) => Arc::new(u),
        Err(e) => panic!("Unify::new: {e}"),
    }
}

ociregistry_core::registry_behaviour_tests!(full as two_sequential, || async {
    union(2, ReadPolicy::Sequential, Config::default())
});

ociregistry_core::registry_behaviour_tests!(full as two_concurrent, || async {
    union(2, ReadPolicy::Concurrent, Config::default())
});

ociregistry_core::registry_behaviour_tests!(full as three_sequential, || async {
    union(3, ReadPolicy::Sequential, Config::default())
});

ociregistry_core::registry_behaviour_tests!(full as three_concurrent, || async {
    union(3, ReadPolicy::Concurrent, Config::default())
});

ociregistry_core::registry_behaviour_tests!(full as one, || async {
    union(1, ReadPolicy::Sequential, Config::default())
});

ociregistry_core::registry_behaviour_tests!(lax as two_lax, || async {
    union(
        2,
        ReadPolicy::Sequential,
        Config::default().lax_child_references(true),
    )
});

ociregistry_core::registry_behaviour_tests!(immutable as two_immutable, || async {
    union(
        2,
        ReadPolicy::Concurrent,
        Config::default().immutable_tags(true),
    )
});
