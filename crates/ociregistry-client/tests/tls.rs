//! HTTPS: a loopback registry with a certificate from a test CA, trusted through
//! `ClientOptions::root_certificates`; HTTP/2 through ALPN; plain HTTP refused unless asked for.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Version};
use hyper::body::Incoming;
use ociregistry_client::{Client, ClientOptions};
use ociregistry_core::{Code, Context, Descriptor, Digest, Registry, stream};
use ociregistry_mem::MemRegistry;
use ociregistry_server::RegistryService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

struct Pki {
    ca: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

/// A test CA and a server certificate for `localhost` and `127.0.0.1` signed by it.
fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ociregistry test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Pki {
        ca: ca_cert.der().clone(),
        server: Arc::new(server),
    }
}

/// Serves `registry` over TLS on a loopback port; records the HTTP version of each request.
async fn serve_tls(
    registry: Arc<dyn Registry>,
    config: Arc<rustls::ServerConfig>,
) -> (u16, Arc<Mutex<Vec<Version>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let versions: Arc<Mutex<Vec<Version>>> = Arc::default();
    let service = RegistryService::new(registry);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let v = versions.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let service = service.clone();
            let v = v.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    v.lock().unwrap().push(req.version());
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(service.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
            });
        }
    });
    (port, versions)
}

fn tls_client(
    host: &str,
    ca: &CertificateDer<'static>,
    f: impl FnOnce(&mut ClientOptions),
) -> Client {
    let mut o = ClientOptions::default();
    o.root_certificates = vec![ca.to_vec()];
    f(&mut o);
    Client::new(host, o).unwrap()
}

async fn round_trip(c: &Client) {
    let cx = Context::new();
    let data = Bytes::from_static(b"layer over tls");
    let desc = Descriptor::new(
        "application/octet-stream",
        Digest::sha256(&data),
        data.len() as u64,
    );
    c.push_blob(&cx, "tls/a", &desc, stream::bytes(data.clone()))
        .await
        .unwrap();
    let got = c
        .get_blob(&cx, "tls/a", &desc.digest)
        .await
        .unwrap()
        .bytes(1024)
        .await
        .unwrap();
    assert_eq!(got, data);
    let mut w = c.push_blob_chunked(&cx, "tls/a", Some(4)).await.unwrap();
    w.write(data.clone()).await.unwrap();
    w.commit(&desc.digest).await.unwrap();
    let m = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
    c.push_manifest(
        &cx,
        "tls/a",
        Some("v1"),
        m.clone(),
        "application/vnd.oci.image.index.v1+json",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        c.get_tag(&cx, "tls/a", "v1")
            .await
            .unwrap()
            .bytes(1024)
            .await
            .unwrap(),
        m
    );
    assert_eq!(
        stream::collect(c.tags(&cx, "tls/a", None)).await.unwrap(),
        ["v1"]
    );
}

#[tokio::test]
async fn https_with_a_test_ca() {
    let pki = pki();
    let (port, versions) = serve_tls(Arc::new(MemRegistry::new()), pki.server.clone()).await;
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let c = tls_client(&host, &pki.ca, |_| {});
        assert_eq!(c.base_url().scheme(), "https");
        round_trip(&c).await;
    }
    assert!(
        versions
            .lock()
            .unwrap()
            .iter()
            .all(|v| *v == Version::HTTP_2),
        "ALPN offers h2"
    );
    versions.lock().unwrap().clear();
    let c = tls_client(&format!("localhost:{port}"), &pki.ca, |o| o.http2 = false);
    round_trip(&c).await;
    assert!(
        versions
            .lock()
            .unwrap()
            .iter()
            .all(|v| *v == Version::HTTP_11)
    );
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_with_the_proxy_credentials() {
    let pki = pki();
    let (port, _) = serve_tls(Arc::new(MemRegistry::new()), pki.server.clone()).await;
    let proxy = common::test_proxy().await;
    let with_credentials = proxy.url.replace("http://", "http://bob:pw@");
    let c = tls_client(&format!("localhost:{port}"), &pki.ca, |o| {
        o.proxy = ociregistry_client::ProxyConfig::Url(with_credentials);
    });
    round_trip(&c).await;
    let log = proxy.log.lock().unwrap().clone();
    assert!(!log.is_empty(), "nothing went through the proxy");
    for (line, auth) in &log {
        assert_eq!(line, &format!("CONNECT localhost:{port} HTTP/1.1"));
        assert_eq!(auth.as_deref(), Some("Basic Ym9iOnB3"));
    }
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let pki = pki();
    let (port, versions) = serve_tls(Arc::new(MemRegistry::new()), pki.server.clone()).await;
    let c = Client::new(&format!("localhost:{port}"), ClientOptions::default()).unwrap();
    let e = c.resolve_tag(&Context::new(), "a", "v1").await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(versions.lock().unwrap().is_empty());
    // An unusable root certificate is a configuration error.
    let mut o = ClientOptions::default();
    o.root_certificates = vec![b"not a certificate".to_vec()];
    assert!(Client::new("localhost", o).is_err());
}

#[tokio::test]
async fn plain_http_only_when_insecure() {
    let host = common::serve_registry(Arc::new(MemRegistry::new()), Default::default()).await;
    // Not even for loopback addresses: plain HTTP must be asked for.
    let c = Client::new(&host, ClientOptions::default()).unwrap();
    assert_eq!(c.base_url().scheme(), "https");
    assert!(c.resolve_tag(&Context::new(), "a", "v1").await.is_err());
    let c = common::client(&host);
    assert_eq!(c.base_url().scheme(), "http");
    let e = c.resolve_tag(&Context::new(), "a", "v1").await.unwrap_err();
    assert!(e.is(&Code::NameUnknown), "{e}");
}

#[tokio::test]
async fn no_downgrade_from_https_to_http() {
    let pki = pki();
    let plain = common::scripted(|_, _| common::respond(200, &[], "secret")).await;
    let target = format!("http://{}/blob", plain.host);
    // A TLS registry redirecting blob reads to plain HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let t = target.clone();
                    async move { Ok::<_, Infallible>(common::respond(307, &[("location", &t)], "")) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
            });
        }
    });
    let c = tls_client(&format!("localhost:{port}"), &pki.ca, |_| {});
    let e = c
        .get_blob(&Context::new(), "a", &Digest::sha256(b"secret"))
        .await
        .unwrap_err();
    assert!(e.is(&Code::Denied), "{e}");
    assert!(plain.seen().is_empty());
}

ociregistry_core::registry_behaviour_tests!(full as over_tls, || async {
    let pki = pki();
    let (port, _) = serve_tls(Arc::new(MemRegistry::new()), pki.server.clone()).await;
    Arc::new(tls_client(&format!("localhost:{port}"), &pki.ca, |_| {})) as Arc<dyn Registry>
});
