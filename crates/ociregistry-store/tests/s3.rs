//! The behaviour suite against S3: a real S3-compatible server (moto, started on loopback by
//! `scripts/start-moto.sh`), through `object_store`'s S3 client. Needs the `s3` feature.
//! Without moto (and with `CI` unset) each test returns early with a note instead of failing.

#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ociregistry_core::Registry;
use ociregistry_store::object_store::aws::AmazonS3Builder;
use ociregistry_store::{ObjectStoreRegistry, StoreConfig};

const BUCKET: &str = "ociregistry-test";

/// The endpoint of the moto server this test process started, if it could.
fn endpoint() -> Option<&'static str> {
    static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .ok()?
                .port();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/start-moto.sh");
            std::process::Command::new(script)
                .arg(port.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .ok()?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if http(port, &format!("PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")) {
                    return Some(format!("http://127.0.0.1:{port}"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            None
        })
        .as_deref()
}

/// Sends one raw HTTP request; whether a 2xx came back.
fn http(port: u16, request: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 2")
}

/// A registry in its own prefix of the moto bucket.
fn registry(endpoint: &str) -> Arc<dyn Registry> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let prefix = format!(
        "t{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    Arc::new(ObjectStoreRegistry::new(
        Arc::new(store),
        StoreConfig::default().prefix(prefix).ordered_listing(true),
    ))
}

/// The endpoint, or `None` with a note when moto cannot run here (a failure in CI).
fn endpoint_or_skip() -> Option<&'static str> {
    let e = endpoint();
    if e.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto_server is required in CI (scripts/start-moto.sh)"
        );
        eprintln!("note: moto_server unavailable; S3 behaviour tests skipped");
    }
    e
}

ociregistry_core::registry_behaviour_tests!(full, || async { endpoint_or_skip().map(registry) });
