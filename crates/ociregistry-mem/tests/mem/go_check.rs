//! Ports of Go `ocimem/check_test.go`: TestPushManifest, TestDeleteBlob, TestDeleteManifest and
//! TestDeleteTag, checking the OCI codes Go's version lost.

use bytes::Bytes;
use ociregistry_core::{Code, Descriptor, Digest, Registry};
use ociregistry_mem::{Config, MemRegistry};

use crate::common::*;

const REPO: &str = "test";

fn missing(mt: &str, s: &str) -> Descriptor {
    Descriptor::new(mt, Digest::sha256(s.as_bytes()), 1)
}

/// Go's preload `{Blobs: {a: "{}", b: "other"}}`.
async fn preload_blobs(r: &MemRegistry) -> (Descriptor, Descriptor) {
    let a = push_blob(r, REPO, CONFIG_TYPE, b"{}").await;
    let b = push_blob(r, REPO, LAYER_TYPE, b"other").await;
    (a, b)
}

/// Go's preload with manifest `m` = {config: a, layers: [a]} tagged `sometag`.
async fn preload_tagged(r: &MemRegistry) -> (Descriptor, Bytes, Descriptor) {
    let (a, _) = preload_blobs(r).await;
    let m = image(&a, std::slice::from_ref(&a), None, &[]);
    let md = push_manifest(r, REPO, Some("sometag"), &m, OCI_MANIFEST)
        .await
        .unwrap();
    (a, m, md)
}

/// Go's preload with m0 = {config: a}, m1 = {config: b, subject: m0}, `sometag` → m1.
async fn preload_subject_chain(
    r: &MemRegistry,
) -> (Descriptor, Descriptor, Descriptor, Descriptor) {
    let (a, b) = preload_blobs(r).await;
    let m0 = push_manifest(r, REPO, None, &image(&a, &[], None, &[]), OCI_MANIFEST)
        .await
        .unwrap();
    let m1 = push_manifest(
        r,
        REPO,
        Some("sometag"),
        &image(&b, &[], Some(&m0), &[]),
        OCI_MANIFEST,
    )
    .await
    .unwrap();
    (a, b, m0, m1)
}

fn immutable() -> MemRegistry {
    MemRegistry::with_config(Config::default().immutable_tags(true))
}

// --- TestPushManifest ---

#[tokio::test]
async fn push_manifest_non_existent_config_reference() {
    let r = MemRegistry::new();
    let m = image(&missing("application/something", "a"), &[], None, &[]);
    let msg = expect_err(
        push_manifest(&r, REPO, None, &m, OCI_MANIFEST).await,
        Code::ManifestBlobUnknown,
    );
    assert!(msg.contains("config"), "{msg}");
}

#[tokio::test]
async fn push_manifest_non_existent_layer_reference() {
    let r = MemRegistry::new();
    let (a, _) = preload_blobs(&r).await;
    let m = image(&a, &[missing("application/something", "b")], None, &[]);
    let msg = expect_err(
        push_manifest(&r, REPO, None, &m, OCI_MANIFEST).await,
        Code::ManifestBlobUnknown,
    );
    assert!(msg.contains("layers[0]"), "{msg}");
}

#[tokio::test]
async fn push_manifest_non_existent_subject_reference_is_allowed() {
    let r = MemRegistry::new();
    let (a, _) = preload_blobs(&r).await;
    let m = image(&a, &[], Some(&missing("application/something", "b")), &[]);
    push_manifest(&r, REPO, None, &m, OCI_MANIFEST)
        .await
        .unwrap();
}

#[tokio::test]
async fn push_manifest_non_existent_image_index_manifest_reference() {
    let r = MemRegistry::new();
    let m = index(&[missing(OCI_MANIFEST, "a")], None, None);
    let msg = expect_err(
        push_manifest(&r, REPO, None, &m, OCI_INDEX).await,
        Code::ManifestBlobUnknown,
    );
    assert!(msg.contains("manifests[0]"), "{msg}");
}

#[tokio::test]
async fn push_manifest_lax_child_references_accepts_missing_layer() {
    let r = MemRegistry::with_config(Config::default().lax_child_references(true));
    let (a, _) = preload_blobs(&r).await;
    let m = image(&a, &[missing("application/something", "b")], None, &[]);
    let d = push_manifest(&r, REPO, None, &m, OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(
        read(r.get_manifest(&cx(), REPO, &d.digest).await.unwrap()).await,
        m
    );
}

#[tokio::test]
async fn push_manifest_non_existent_image_index_subject_reference_is_allowed() {
    let r = MemRegistry::new();
    let m = index(&[], Some(&missing("application/something", "b")), None);
    push_manifest(&r, REPO, None, &m, OCI_INDEX).await.unwrap();
}

#[tokio::test]
async fn push_manifest_cannot_overwrite_tag_when_immutability_enabled() {
    let r = immutable();
    let (a, _, md) = preload_tagged(&r).await;
    let other = image(
        &a,
        std::slice::from_ref(&a),
        None,
        &[("different", "thing")],
    );
    let msg = expect_err(
        push_manifest(&r, REPO, Some("sometag"), &other, OCI_MANIFEST).await,
        Code::Denied,
    );
    assert_eq!(msg, "cannot overwrite tag");
    assert_eq!(r.resolve_tag(&cx(), REPO, "sometag").await.unwrap(), md);
    // The refused manifest was not stored either.
    let e = r
        .resolve_manifest(&cx(), REPO, &Digest::sha256(&other))
        .await;
    assert_eq!(code(e), Code::ManifestUnknown);
}

#[tokio::test]
async fn push_manifest_can_rewrite_tag_with_identical_contents_when_immutability_enabled() {
    let r = immutable();
    let (_, m, md) = preload_tagged(&r).await;
    let again = push_manifest(&r, REPO, Some("sometag"), &m, OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(again, md);
}

#[tokio::test]
async fn push_manifest_cannot_rewrite_tag_with_identical_contents_but_different_media_type() {
    let r = immutable();
    let (_, m, md) = preload_tagged(&r).await;
    let msg = expect_err(
        push_manifest(
            &r,
            REPO,
            Some("sometag"),
            &m,
            "application/vnd.docker.container.image.v1+json",
        )
        .await,
        Code::Denied,
    );
    assert_eq!(msg, "mismatched media type");
    // Nor can the media type of the tagged manifest be changed by an untagged push.
    let e = push_manifest(&r, REPO, None, &m, "application/x-other").await;
    assert_eq!(code(e), Code::Denied);
    assert_eq!(r.resolve_tag(&cx(), REPO, "sometag").await.unwrap(), md);
}

#[tokio::test]
async fn push_manifest_can_overwrite_tag_when_immutability_not_enabled() {
    let r = MemRegistry::new();
    let (a, _, _) = preload_tagged(&r).await;
    let other = image(
        &a,
        std::slice::from_ref(&a),
        None,
        &[("different", "thing")],
    );
    let d = push_manifest(&r, REPO, Some("sometag"), &other, OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(r.resolve_tag(&cx(), REPO, "sometag").await.unwrap(), d);
}

// --- TestDeleteBlob ---

#[tokio::test]
async fn delete_blob_non_existent_repo() {
    let r = MemRegistry::new();
    let e = r
        .delete_blob(&cx(), REPO, &Digest::sha256(b"blshdfsvg"))
        .await;
    assert_eq!(code(e), Code::NameUnknown);
}

#[tokio::test]
async fn delete_blob_non_existent_blob() {
    let r = MemRegistry::new();
    preload_blobs(&r).await;
    let d = Digest::sha256(b"blshdfsvg");
    assert_eq!(
        code(r.delete_blob(&cx(), REPO, &d).await),
        Code::BlobUnknown
    );
    assert_eq!(
        code(r.resolve_blob(&cx(), REPO, &d).await),
        Code::BlobUnknown
    );
}

#[tokio::test]
async fn delete_blob_tagged_with_immutable_tags() {
    let r = immutable();
    let (a, _, _) = preload_tagged(&r).await;
    let msg = expect_err(r.delete_blob(&cx(), REPO, &a.digest).await, Code::Denied);
    assert_eq!(msg, "deletion of tagged blob not permitted");
    r.resolve_blob(&cx(), REPO, &a.digest).await.unwrap();
}

#[tokio::test]
async fn delete_blob_indirectly_tagged_with_immutable_tags() {
    let r = immutable();
    // sometag → m1 → (subject) m0 → config a
    let (a, b, _, _) = preload_subject_chain(&r).await;
    for d in [&a, &b] {
        let msg = expect_err(r.delete_blob(&cx(), REPO, &d.digest).await, Code::Denied);
        assert_eq!(msg, "deletion of tagged blob not permitted");
        r.resolve_blob(&cx(), REPO, &d.digest).await.unwrap();
    }
}

#[tokio::test]
async fn delete_blob_untagged_with_immutable_tags_and_success() {
    let r = immutable();
    let (_, b) = preload_blobs(&r).await;
    r.delete_blob(&cx(), REPO, &b.digest).await.unwrap();
    assert_eq!(
        code(r.resolve_blob(&cx(), REPO, &b.digest).await),
        Code::BlobUnknown
    );
    let r = MemRegistry::new();
    let (a, _, _) = preload_tagged(&r).await;
    r.delete_blob(&cx(), REPO, &a.digest).await.unwrap();
    assert_eq!(
        code(r.resolve_blob(&cx(), REPO, &a.digest).await),
        Code::BlobUnknown
    );
}

// --- TestDeleteManifest ---

#[tokio::test]
async fn delete_manifest_non_existent_repo() {
    let r = MemRegistry::new();
    let e = r
        .delete_manifest(&cx(), REPO, &Digest::sha256(b"blshdfsvg"))
        .await;
    assert_eq!(code(e), Code::NameUnknown);
}

#[tokio::test]
async fn delete_manifest_non_existent_manifest() {
    let r = MemRegistry::new();
    preload_blobs(&r).await;
    let e = r
        .delete_manifest(&cx(), REPO, &Digest::sha256(b"blshdfsvg"))
        .await;
    assert_eq!(code(e), Code::ManifestUnknown);
}

#[tokio::test]
async fn delete_manifest_tagged_with_immutable_tags() {
    let r = immutable();
    let (_, _, md) = preload_tagged(&r).await;
    let msg = expect_err(
        r.delete_manifest(&cx(), REPO, &md.digest).await,
        Code::Denied,
    );
    assert_eq!(msg, "deletion of tagged manifest not permitted");
    r.resolve_manifest(&cx(), REPO, &md.digest).await.unwrap();
}

#[tokio::test]
async fn delete_manifest_indirectly_tagged_with_immutable_tags() {
    let r = immutable();
    let (_, _, m0, _) = preload_subject_chain(&r).await;
    let msg = expect_err(
        r.delete_manifest(&cx(), REPO, &m0.digest).await,
        Code::Denied,
    );
    assert_eq!(msg, "deletion of tagged manifest not permitted");
    r.resolve_manifest(&cx(), REPO, &m0.digest).await.unwrap();
}

#[tokio::test]
async fn delete_manifest_transitively_through_an_index_with_immutable_tags() {
    let r = immutable();
    let (a, b) = preload_blobs(&r).await;
    let m = push_manifest(
        &r,
        REPO,
        None,
        &image(&a, std::slice::from_ref(&b), None, &[]),
        OCI_MANIFEST,
    )
    .await
    .unwrap();
    let ix = push_manifest(
        &r,
        REPO,
        None,
        &index(std::slice::from_ref(&m), None, None),
        OCI_INDEX,
    )
    .await
    .unwrap();
    // Nothing tagged yet: the index itself may go, and be pushed again.
    r.delete_manifest(&cx(), REPO, &ix.digest).await.unwrap();
    push_manifest(
        &r,
        REPO,
        Some("v1"),
        &index(std::slice::from_ref(&m), None, None),
        OCI_INDEX,
    )
    .await
    .unwrap();
    assert_eq!(
        code(r.delete_manifest(&cx(), REPO, &m.digest).await),
        Code::Denied
    );
    assert_eq!(
        code(r.delete_manifest(&cx(), REPO, &ix.digest).await),
        Code::Denied
    );
    assert_eq!(
        code(r.delete_blob(&cx(), REPO, &b.digest).await),
        Code::Denied
    );
    assert_eq!(
        code(r.delete_blob(&cx(), REPO, &a.digest).await),
        Code::Denied
    );
}

// --- TestDeleteTag ---

#[tokio::test]
async fn delete_tag_non_existent_repo() {
    let r = MemRegistry::new();
    assert_eq!(
        code(r.delete_tag(&cx(), REPO, "foo").await),
        Code::NameUnknown
    );
}

#[tokio::test]
async fn delete_tag_non_existent_tag() {
    let r = MemRegistry::new();
    preload_blobs(&r).await;
    let msg = expect_err(
        r.delete_tag(&cx(), REPO, "foo").await,
        Code::ManifestUnknown,
    );
    assert!(msg.contains("tag foo does not exist"), "{msg}");
}

#[tokio::test]
async fn delete_tag_with_immutable_tags() {
    let r = immutable();
    let (_, _, md) = preload_tagged(&r).await;
    let msg = expect_err(r.delete_tag(&cx(), REPO, "sometag").await, Code::Denied);
    assert_eq!(msg, "tag deletion not permitted");
    assert_eq!(r.resolve_tag(&cx(), REPO, "sometag").await.unwrap(), md);
    // Even a missing tag says it is missing first.
    assert_eq!(
        code(r.delete_tag(&cx(), REPO, "nope").await),
        Code::ManifestUnknown
    );
}

#[tokio::test]
async fn delete_tag_success() {
    let r = MemRegistry::new();
    let (_, _, m0, m1) = preload_subject_chain(&r).await;
    r.delete_tag(&cx(), REPO, "sometag").await.unwrap();
    assert_eq!(
        code(r.resolve_tag(&cx(), REPO, "sometag").await),
        Code::ManifestUnknown
    );
    // The manifests stay.
    r.resolve_manifest(&cx(), REPO, &m1.digest).await.unwrap();
    r.resolve_manifest(&cx(), REPO, &m0.digest).await.unwrap();
}
