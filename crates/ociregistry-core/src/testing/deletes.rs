//! Manifest and tag deletion tests (blob deletion is in the blob tests).

use std::sync::Arc;

use super::content::*;
use crate::{Code, Context, Registry};

/// `delete_manifest` removes the manifest and every tag pointing at it (no tag dangles), leaves
/// other manifests and tags, and a second delete gives `MANIFEST_UNKNOWN`.
pub async fn delete_manifest_removes_tags(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "delete_manifest_removes_tags/a";
    let mut c = Content::new("delete_manifest_removes_tags");
    let doomed = c.image(1);
    let kept = c.image(1);
    push_image(r, repo, Some("t1"), &doomed).await;
    push_manifest(r, repo, Some("t2"), &doomed.manifest).await;
    push_image(r, repo, Some("kept"), &kept).await;

    expect_ok(
        r.delete_manifest(&cx, repo, &doomed.manifest.digest).await,
        "delete_manifest",
    );
    assert_no_manifest(r, repo, &doomed.manifest.digest).await;
    assert_no_tag(r, repo, "t1").await;
    assert_no_tag(r, repo, "t2").await;
    assert_eq!(tags(r, repo, None).await, ["kept"], "tags after the delete");
    assert_tag(r, repo, "kept", &kept.manifest).await;
    // Its blobs are not deleted with it.
    assert_blob(r, repo, &doomed.config).await;
    assert_blob(r, repo, &doomed.layers[0]).await;
    expect_code(
        r.delete_manifest(&cx, repo, &doomed.manifest.digest).await,
        Code::ManifestUnknown,
        "delete_manifest again",
    );

    // It can be pushed again, untagged.
    push_manifest(r, repo, None, &doomed.manifest).await;
    assert_manifest(r, repo, &doomed.manifest).await;
    assert_no_tag(r, repo, "t1").await;
}

/// `delete_manifest` of a referrer removes it from its subject's referrers.
pub async fn delete_manifest_removes_referrer(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "delete_manifest_removes_referrer/a";
    let mut c = Content::new("delete_manifest_removes_referrer");
    let subject = c.image(1);
    push_image(r, repo, Some("subject"), &subject).await;
    let config = c.config();
    push_blob(r, repo, &config).await;
    let one = image_manifest(&config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.one")
        .build();
    let two = image_manifest(&config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.two")
        .build();
    push_manifest(r, repo, None, &one).await;
    push_manifest(r, repo, Some("two"), &two).await;
    let mut want = vec![one.referrer_descriptor(), two.referrer_descriptor()];
    want.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(
        referrers(r, repo, &subject.manifest.digest, None).await,
        want,
        "referrers"
    );

    expect_ok(
        r.delete_manifest(&cx, repo, &one.digest).await,
        "delete_manifest of a referrer",
    );
    assert_eq!(
        referrers(r, repo, &subject.manifest.digest, None).await,
        [two.referrer_descriptor()],
        "referrers after deleting one"
    );
    expect_ok(
        r.delete_manifest(&cx, repo, &two.digest).await,
        "delete_manifest of a tagged referrer",
    );
    assert!(
        referrers(r, repo, &subject.manifest.digest, None)
            .await
            .is_empty(),
        "referrers after deleting both"
    );
    assert_no_tag(r, repo, "two").await;
    assert_tag(r, repo, "subject", &subject.manifest).await;
}

/// `delete_tag` removes only the tag (the manifest and other tags stay); a missing tag gives
/// `MANIFEST_UNKNOWN`.
pub async fn delete_tag(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "delete_tag/a";
    let mut c = Content::new("delete_tag");
    let image = c.image(1);
    push_image(r, repo, Some("a"), &image).await;
    push_manifest(r, repo, Some("b"), &image.manifest).await;

    expect_ok(r.delete_tag(&cx, repo, "a").await, "delete_tag");
    assert_no_tag(r, repo, "a").await;
    assert_tag(r, repo, "b", &image.manifest).await;
    assert_manifest(r, repo, &image.manifest).await;
    assert_eq!(tags(r, repo, None).await, ["b"], "tags after delete_tag");
    expect_code(
        r.delete_tag(&cx, repo, "a").await,
        Code::ManifestUnknown,
        "delete_tag again",
    );
    expect_code(
        r.delete_tag(&cx, repo, "never").await,
        Code::ManifestUnknown,
        "delete_tag of a tag that never existed",
    );

    expect_ok(
        r.delete_tag(&cx, repo, "b").await,
        "delete_tag of the last tag",
    );
    assert!(
        tags(r, repo, None).await.is_empty(),
        "tags after deleting all"
    );
    assert_manifest(r, repo, &image.manifest).await;
    // The tag can be set again.
    push_manifest(r, repo, Some("a"), &image.manifest).await;
    assert_tag(r, repo, "a", &image.manifest).await;
}
