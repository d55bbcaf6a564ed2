//! Tests of the configuration modes: immutable tags and lax child references.

use std::sync::Arc;

use bytes::Bytes;

use super::content::*;
use crate::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST};
use crate::{Algorithm, Code, Context, Digest, Registry};

/// Immutable tags: pushing a tag that points at another digest fails with `DENIED`, as does the
/// same digest under another media type; an identical re-push succeeds; new tags work.
pub async fn immutable_tag_overwrite(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "immutable_tag_overwrite/a";
    let mut c = Content::new("immutable_tag_overwrite");
    let one = c.image(1);
    let two = c.image(1);
    push_image(r, repo, Some("v1"), &one).await;
    push_blob(r, repo, &two.config).await;
    push_blobs(r, repo, &two.layers).await;

    let m = &two.manifest;
    expect_code(
        r.push_manifest(&cx, repo, Some("v1"), m.data.clone(), &m.media_type, None)
            .await,
        Code::Denied,
        "push_manifest moving an immutable tag",
    );
    assert_tag(r, repo, "v1", &one.manifest).await;

    // Identical: idempotent.
    push_manifest(r, repo, Some("v1"), &one.manifest).await;
    assert_tag(r, repo, "v1", &one.manifest).await;
    // Other tags, and untagged pushes, are fine.
    push_manifest(r, repo, Some("v2"), m).await;
    push_manifest(r, repo, Some("v1-alias"), &one.manifest).await;
    push_manifest(r, repo, None, m).await;
    assert_tag(r, repo, "v2", m).await;
    assert_eq!(tags(r, repo, None).await, ["v1", "v1-alias", "v2"], "tags");

    // The same bytes under another media type.
    let (config, layers, builder) = c.image_builder(1);
    push_blob(r, repo, &config).await;
    push_blobs(r, repo, &layers).await;
    let oci = builder.without_media_type_field().build();
    assert_eq!(oci.media_type, OCI_MANIFEST);
    push_manifest(r, repo, Some("mt"), &oci).await;
    let docker = Manifest::new(DOCKER_MANIFEST, oci.data.clone());
    expect_code(
        r.push_manifest(
            &cx,
            repo,
            Some("mt"),
            docker.data.clone(),
            &docker.media_type,
            None,
        )
        .await,
        Code::Denied,
        "push_manifest of the same digest under another media type to an immutable tag",
    );
    assert_tag(r, repo, "mt", &oci).await;
}

/// Immutable tags: `delete_tag` fails with `DENIED` and the tag stays.
pub async fn immutable_delete_tag(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "immutable_delete_tag/a";
    let mut c = Content::new("immutable_delete_tag");
    let image = c.image(1);
    push_image(r, repo, Some("v1"), &image).await;
    expect_code(
        r.delete_tag(&cx, repo, "v1").await,
        Code::Denied,
        "delete_tag with immutable tags",
    );
    assert_tag(r, repo, "v1", &image.manifest).await;
}

/// Immutable tags: deleting a manifest or blob reachable from a tag (directly, through an index
/// child, or through a tagged referrer's subject) fails with `DENIED` and leaves it.
pub async fn immutable_delete_reachable(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "immutable_delete_reachable/a";
    let mut c = Content::new("immutable_delete_reachable");

    let direct = c.image(1);
    push_image(r, repo, Some("direct"), &direct).await;

    let child = c.image(1);
    push_image(r, repo, None, &child).await;
    let index = index_manifest(&[child.manifest.descriptor()]).build();
    push_manifest(r, repo, Some("index"), &index).await;

    let subject = c.image(1);
    push_image(r, repo, None, &subject).await;
    let referrer_config = c.config();
    push_blob(r, repo, &referrer_config).await;
    let referrer = image_manifest(&referrer_config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.sig")
        .build();
    push_manifest(r, repo, Some("referrer"), &referrer).await;

    for (what, m) in [
        ("a tagged manifest", &direct.manifest),
        ("a tagged index", &index),
        ("a child of a tagged index", &child.manifest),
        ("a tagged referrer", &referrer),
        ("the subject of a tagged referrer", &subject.manifest),
    ] {
        expect_code(
            r.delete_manifest(&cx, repo, &m.digest).await,
            Code::Denied,
            &format!("delete_manifest of {what} with immutable tags"),
        );
        assert_manifest(r, repo, m).await;
    }
    for (what, b) in [
        ("the config of a tagged manifest", &direct.config),
        ("a layer of a tagged manifest", &direct.layers[0]),
        ("the config of a tagged index's child", &child.config),
        ("a layer of a tagged index's child", &child.layers[0]),
        ("the config of a tagged referrer", &referrer_config),
        ("the config of a tagged referrer's subject", &subject.config),
        ("a layer of a tagged referrer's subject", &subject.layers[0]),
    ] {
        expect_code(
            r.delete_blob(&cx, repo, &b.digest).await,
            Code::Denied,
            &format!("delete_blob of {what} with immutable tags"),
        );
        assert_blob(r, repo, b).await;
    }
}

/// Immutable tags: manifests and blobs no tag reaches can be deleted.
pub async fn immutable_delete_untagged(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "immutable_delete_untagged/a";
    let mut c = Content::new("immutable_delete_untagged");
    let tagged = c.image(1);
    push_image(r, repo, Some("v1"), &tagged).await;
    let loose = c.image(1);
    push_image(r, repo, None, &loose).await;
    let blob = c.layer(10);
    push_blob(r, repo, &blob).await;

    expect_ok(
        r.delete_manifest(&cx, repo, &loose.manifest.digest).await,
        "delete_manifest of an untagged manifest with immutable tags",
    );
    assert_no_manifest(r, repo, &loose.manifest.digest).await;
    for b in [&blob, &loose.config, &loose.layers[0]] {
        expect_ok(
            r.delete_blob(&cx, repo, &b.digest).await,
            "delete_blob of an untagged blob with immutable tags",
        );
        assert_no_blob(r, repo, &b.digest).await;
    }
    assert_tag(r, repo, "v1", &tagged.manifest).await;
}

/// Lax child references: manifests whose config, layers or index children are missing are
/// accepted and served.
pub async fn lax_missing_children(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "lax_missing_children/a";
    let mut c = Content::new("lax_missing_children");

    let sparse = c.sparse_image().build();
    push_manifest(r, repo, Some("sparse"), &sparse).await;
    assert_tag(r, repo, "sparse", &sparse).await;

    let docker = c.sparse_image().media_type(DOCKER_MANIFEST).build();
    push_manifest(r, repo, None, &docker).await;
    assert_manifest(r, repo, &docker).await;

    let absent = c.sparse_image().build();
    let index = index_manifest(&[absent.descriptor(), sparse.descriptor()]).build();
    push_manifest(r, repo, Some("index"), &index).await;
    assert_tag(r, repo, "index", &index).await;

    let list = index_manifest(&[absent.descriptor()])
        .media_type(DOCKER_MANIFEST_LIST)
        .build();
    push_manifest(r, repo, None, &list).await;
    assert_manifest(r, repo, &list).await;

    // A sparse referrer of an absent subject is listed.
    let referrer = c
        .sparse_image()
        .subject(&absent.descriptor())
        .artifact_type("application/vnd.example.sig")
        .build();
    push_manifest(r, repo, None, &referrer).await;
    assert_eq!(
        referrers(r, repo, &absent.digest, None).await,
        [referrer.referrer_descriptor()],
        "referrers"
    );
}

/// Lax child references skip only the existence checks: invalid manifests still fail with
/// `MANIFEST_INVALID` and digest mismatches with `DIGEST_INVALID`.
pub async fn lax_still_validates(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "lax_still_validates/a";
    let mut c = Content::new("lax_still_validates");
    let sparse = c.sparse_image().build();
    push_manifest(r, repo, None, &sparse).await;

    for data in ["not json", r#"{"schemaVersion":2}"#] {
        expect_code(
            r.push_manifest(&cx, repo, None, Bytes::from(data), OCI_MANIFEST, None)
                .await,
            Code::ManifestInvalid,
            &format!("push_manifest of the invalid {data:?}"),
        );
    }
    let other = c.sparse_image().build();
    let wrong = Digest::compute(Algorithm::Sha512, &other.data);
    expect_code(
        r.push_manifest(
            &cx,
            repo,
            None,
            sparse.data.clone(),
            &sparse.media_type,
            Some(&wrong),
        )
        .await,
        Code::DigestInvalid,
        "push_manifest with the digest of other content",
    );
    let blob = c.layer(10);
    let claimed = c.layer(10);
    expect_code(
        r.push_blob(&cx, repo, &claimed.descriptor(), blob.stream(3))
            .await,
        Code::DigestInvalid,
        "push_blob with the digest of other content",
    );
}
