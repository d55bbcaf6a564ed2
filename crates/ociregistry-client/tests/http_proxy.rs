//! HTTP proxies for plain-HTTP registries: requests go to the proxy in absolute form, with the
//! proxy URL's credentials as `Proxy-Authorization`; a proxy that is down fails the request;
//! `ProxyConfig::Direct` ignores proxies. (HTTPS through a `CONNECT` tunnel: see `tls.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use ociregistry_client::ProxyConfig;
use ociregistry_core::{Context, Descriptor, Digest, Registry, stream};
use ociregistry_mem::MemRegistry;
use ociregistry_server::Options;

async fn push_and_get(c: &ociregistry_client::Client) -> ociregistry_core::Result<()> {
    let cx = Context::new();
    let data = Bytes::from_static(b"through the proxy");
    let desc = Descriptor::new("application/octet-stream", Digest::sha256(&data), 17);
    c.push_blob(&cx, "proxied/a", &desc, stream::bytes(data.clone()))
        .await?;
    let got = c
        .get_blob(&cx, "proxied/a", &desc.digest)
        .await?
        .bytes(1024)
        .await?;
    assert_eq!(got, data);
    Ok(())
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let host = common::serve_registry(Arc::new(MemRegistry::new()), Options::default()).await;
    let proxy = common::test_proxy().await;
    let with_credentials = proxy.url.replace("http://", "http://alice:secret@");
    let c = common::client_with(&host, |o| o.proxy = ProxyConfig::Url(with_credentials));
    push_and_get(&c).await.unwrap();
    let log = proxy.log.lock().unwrap().clone();
    assert!(!log.is_empty(), "nothing went through the proxy");
    for (line, auth) in &log {
        assert!(line.contains(&format!(" http://{host}/v2/")), "{line}");
        assert_eq!(auth.as_deref(), Some("Basic YWxpY2U6c2VjcmV0"), "{line}");
    }
}

#[tokio::test]
async fn a_proxy_that_is_down_fails_requests_and_direct_ignores_proxies() {
    let host = common::serve_registry(Arc::new(MemRegistry::new()), Options::default()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let c = common::client_with(&host, |o| {
        o.proxy = ProxyConfig::Url(dead.clone());
        o.retry = ociregistry_client::RetryPolicy::never();
    });
    assert!(push_and_get(&c).await.is_err());
    let c = common::client_with(&host, |o| o.proxy = ProxyConfig::Direct);
    push_and_get(&c).await.unwrap();
}

#[test]
fn unusable_proxy_urls_are_refused_when_the_client_is_made() {
    let mut o = common::options();
    o.proxy = ProxyConfig::Url("socks5://127.0.0.1:1080".into());
    assert!(ociregistry_client::Client::new("127.0.0.1:5000", o).is_err());
}
