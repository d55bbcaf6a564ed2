//! Helpers shared by the server's integration tests.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use ociregistry_core::{Digest, Registry};
use ociregistry_mem::MemRegistry;
use ociregistry_server::{Options, RegistryService};
use tower::ServiceExt;

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The OCI error code of a JSON error body.
    pub fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// A service over a fresh in-memory registry.
pub fn service(opts: Options) -> (RegistryService, Arc<MemRegistry>) {
    let mem = Arc::new(MemRegistry::new());
    let reg: Arc<dyn Registry> = mem.clone();
    (RegistryService::with_options(reg, opts), mem)
}

pub async fn call(
    svc: &RegistryService,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let resp = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(svc: &RegistryService, uri: &str) -> Resp {
    call(svc, Method::GET, uri, &[], Bytes::new()).await
}

/// Pushes a blob with a single POST; returns its digest.
pub async fn push_blob(svc: &RegistryService, repo: &str, data: &[u8]) -> Digest {
    let d = Digest::sha256(data);
    let r = call(
        svc,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[("content-length", &data.len().to_string())],
        Bytes::copy_from_slice(data),
    )
    .await;
    if r.status == StatusCode::ACCEPTED {
        // Single-POST uploads disabled: finish with a PUT.
        let loc = r.header("location").unwrap_or_default().to_owned();
        let r = call(
            svc,
            Method::PUT,
            &format!("{loc}?digest={d}"),
            &[],
            Bytes::copy_from_slice(data),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        return d;
    }
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    d
}

/// An image manifest referencing `config` and `layers` (all application/octet-stream).
pub fn image_manifest(config: &[u8], layers: &[&[u8]], subject: Option<(&Digest, u64)>) -> Vec<u8> {
    let desc = |mt: &str, d: &[u8]| serde_json::json!({"mediaType": mt, "digest": Digest::sha256(d), "size": d.len()});
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    if let Some((d, size)) = subject {
        m["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size});
    }
    serde_json::to_vec(&m).unwrap()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes an image (config, one layer, manifest) under `tag`; returns the manifest bytes and digest.
pub async fn push_image(
    svc: &RegistryService,
    repo: &str,
    tag: &str,
    seed: &str,
) -> (Vec<u8>, Digest) {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}");
    push_blob(svc, repo, config.as_bytes()).await;
    push_blob(svc, repo, layer.as_bytes()).await;
    let m = image_manifest(config.as_bytes(), &[layer.as_bytes()], None);
    let r = call(
        svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("content-type", OCI_MANIFEST)],
        m.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let d = Digest::sha256(&m);
    (m, d)
}
