//! Helpers shared by the tests.

#![allow(dead_code)]

use bytes::Bytes;
use ociregistry_core::{
    BlobReader, Code, Context, Descriptor, Digest, ListStream, Registry, Result, media_type, stream,
};
use ociregistry_mem::MemRegistry;
use serde_json::{Value, json};

pub(crate) const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const OCI_MANIFEST: &str = media_type::OCI_MANIFEST;
pub(crate) const OCI_INDEX: &str = media_type::OCI_INDEX;

pub(crate) fn cx() -> Context {
    Context::new()
}

/// The code of an error result, panicking on success.
#[track_caller]
pub(crate) fn code<T>(r: Result<T>) -> Code {
    match r {
        Ok(_) => panic!("expected an error, got a success"),
        Err(e) => e.code().clone(),
    }
}

/// Asserts `r` failed with `want`, and returns the error message.
#[track_caller]
pub(crate) fn expect_err<T>(r: Result<T>, want: Code) -> String {
    match r {
        Ok(_) => panic!("expected {want}, got a success"),
        Err(e) => {
            assert_eq!(e.code(), &want, "wrong code: {e}");
            e.message().to_owned()
        }
    }
}

/// The descriptor of `data` as a blob of media type `mt`.
pub(crate) fn blob_desc(mt: &str, data: &[u8]) -> Descriptor {
    Descriptor::new(mt, Digest::sha256(data), data.len() as u64)
}

/// Pushes `data` as a blob of `repo`.
pub(crate) async fn push_blob(r: &MemRegistry, repo: &str, mt: &str, data: &[u8]) -> Descriptor {
    let desc = blob_desc(mt, data);
    let got = r
        .push_blob(
            &cx(),
            repo,
            &desc,
            stream::bytes(Bytes::copy_from_slice(data)),
        )
        .await
        .unwrap();
    assert_eq!(got.digest, desc.digest);
    desc
}

pub(crate) fn desc_json(d: &Descriptor) -> Value {
    serde_json::to_value(d).unwrap()
}

/// The JSON of an OCI image manifest.
pub(crate) fn image(
    config: &Descriptor,
    layers: &[Descriptor],
    subject: Option<&Descriptor>,
    annotations: &[(&str, &str)],
) -> Bytes {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc_json(config),
        "layers": layers.iter().map(desc_json).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = desc_json(s);
    }
    if !annotations.is_empty() {
        m["annotations"] = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    serde_json::to_vec(&m).unwrap().into()
}

/// The JSON of an OCI image index.
pub(crate) fn index(
    children: &[Descriptor],
    subject: Option<&Descriptor>,
    artifact_type: Option<&str>,
) -> Bytes {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(desc_json).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = desc_json(s);
    }
    if let Some(a) = artifact_type {
        m["artifactType"] = a.into();
    }
    serde_json::to_vec(&m).unwrap().into()
}

pub(crate) async fn push_manifest(
    r: &MemRegistry,
    repo: &str,
    tag: Option<&str>,
    data: &Bytes,
    mt: &str,
) -> Result<Descriptor> {
    r.push_manifest(&cx(), repo, tag, data.clone(), mt, None)
        .await
}

/// Pushes a config blob and an image manifest using it; returns the manifest's descriptor.
pub(crate) async fn push_image(
    r: &MemRegistry,
    repo: &str,
    tag: Option<&str>,
    salt: &str,
) -> Descriptor {
    let config = push_blob(
        r,
        repo,
        CONFIG_TYPE,
        format!("{{\"salt\":\"{salt}\"}}").as_bytes(),
    )
    .await;
    let m = image(&config, &[], None, &[("salt", salt)]);
    push_manifest(r, repo, tag, &m, OCI_MANIFEST).await.unwrap()
}

pub(crate) async fn read(reader: BlobReader) -> Vec<u8> {
    reader.bytes(1 << 30).await.unwrap().to_vec()
}

pub(crate) async fn list<T>(s: ListStream<T>) -> Result<Vec<T>> {
    stream::collect(s).await
}
