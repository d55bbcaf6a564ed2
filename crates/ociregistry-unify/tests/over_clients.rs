//! The behaviour suite against a union of two proxies, each an HTTP client of a server over an
//! in-memory registry (the Go conformance matrix's unifying-proxy stacks), under both read
//! policies.

use std::sync::Arc;

use ociregistry_client::{Client, ClientOptions};
use ociregistry_core::Registry;
use ociregistry_mem::MemRegistry;
use ociregistry_server::{RegistryService, ServeConfig, serve};
use ociregistry_unify::{Options, ReadPolicy, Unify};

/// A client of a fresh server over a fresh in-memory registry, on a free loopback port. The
/// server runs until the test's runtime ends.
async fn proxy() -> Arc<dyn Registry> {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    let service = RegistryService::new(Arc::new(MemRegistry::new()));
    tokio::spawn(serve(
        listener,
        service,
        ServeConfig::default(),
        std::future::pending(),
    ));
    let mut options = ClientOptions::default();
    options.insecure = true;
    match Client::new(&addr.to_string(), options) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("client: {e}"),
    }
}

async fn union_of_proxies(policy: ReadPolicy) -> Arc<dyn Registry> {
    let children = vec![proxy().await, proxy().await];
    match Unify::new(children, Options::new().with_read_policy(policy)) {
        Ok(u) => Arc::new(u),
        Err(e) => panic!("Unify::new: {e}"),
    }
}

ociregistry_core::registry_behaviour_tests!(full as proxies_sequential, || union_of_proxies(
    ReadPolicy::Sequential
));

ociregistry_core::registry_behaviour_tests!(full as proxies_concurrent, || union_of_proxies(
    ReadPolicy::Concurrent
));
