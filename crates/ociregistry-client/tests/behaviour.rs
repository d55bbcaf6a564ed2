//! The behaviour suite of `ociregistry-core`, run against client → server → mem over a real
//! loopback socket: in the default, lax and immutable modes, and once more with tiny list pages
//! and chunks so that every pagination and chunking path is taken.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use ociregistry_core::Registry;
use ociregistry_mem::{Config, MemRegistry};
use ociregistry_server::Options;

async fn over_http(config: Config) -> Arc<dyn Registry> {
    let host = common::serve_registry(
        Arc::new(MemRegistry::with_config(config)),
        Options::default(),
    )
    .await;
    Arc::new(common::client(&host))
}

async fn over_http_small(config: Config) -> Arc<dyn Registry> {
    let host = common::serve_registry(
        Arc::new(MemRegistry::with_config(config)),
        Options::default(),
    )
    .await;
    Arc::new(common::client_with(&host, |o| {
        o.list_page_size = 2;
        o.chunk_size = 1000;
    }))
}

ociregistry_core::registry_behaviour_tests!(full, || over_http(Config::default()));

ociregistry_core::registry_behaviour_tests!(lax, || over_http(
    Config::default().lax_child_references(true)
));

ociregistry_core::registry_behaviour_tests!(immutable, || over_http(
    Config::default().immutable_tags(true)
));

ociregistry_core::registry_behaviour_tests!(full as small_pages, || over_http_small(
    Config::default()
));
