//! Conflicts between the registries of a union: a tag pointing at different manifests fails
//! reads with TAG_CONFLICT and is left out of tag listings; referrers described differently are
//! left out of referrers listings; duplicates that agree appear once.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use ociregistry_core::testing::{assert_tag, image_manifest, push_manifest, referrers, tags};
use ociregistry_core::{Code, Context, Descriptor, Digest, Funcs, Registry, stream};
use ociregistry_unify::{ReadPolicy, TAG_CONFLICT, TagConflict, is_tag_conflict, unify};

/// Two registries, each with the blobs of two images pushed directly, and the union of them.
struct Setup {
    a: Arc<dyn Registry>,
    b: Arc<dyn Registry>,
    u: Arc<dyn Registry>,
    one: ociregistry_core::testing::Image,
    two: ociregistry_core::testing::Image,
}

async fn setup(name: &str, repo: &str, policy: ReadPolicy) -> Setup {
    let a: Arc<dyn Registry> = mem();
    let b: Arc<dyn Registry> = mem();
    let mut c = content(name);
    let (one, two) = (c.image(1), c.image(1));
    for r in [&a, &b] {
        push_image_blobs(&**r, repo, &one).await;
        push_image_blobs(&**r, repo, &two).await;
    }
    let u = Arc::new(union_of(vec![a.clone(), b.clone()], policy));
    Setup { a, b, u, one, two }
}

#[tokio::test]
async fn conflicting_tag_fails_reads_with_tag_conflict() {
    for policy in [ReadPolicy::Sequential, ReadPolicy::Concurrent] {
        let repo = "conflict/a";
        let s = setup("conflict", repo, policy).await;
        push_manifest(&*s.a, repo, Some("latest"), &s.one.manifest).await;
        push_manifest(&*s.b, repo, Some("latest"), &s.two.manifest).await;
        let cx = Context::new();

        let err = s.u.resolve_tag(&cx, repo, "latest").await.unwrap_err();
        assert!(is_tag_conflict(&err), "{err}");
        assert_eq!(err.code().as_str(), TAG_CONFLICT);
        assert_eq!(err.status().as_u16(), 409);
        let conflict = TagConflict::find(&err).unwrap();
        assert_eq!(conflict.tag, "latest");
        assert_eq!(
            conflict.targets,
            [
                (0, s.one.manifest.digest.clone()),
                (1, s.two.manifest.digest.clone())
            ]
        );
        let detail: serde_json::Value = serde_json::from_str(err.detail().unwrap().get()).unwrap();
        assert_eq!(
            detail["targets"][1]["digest"],
            s.two.manifest.digest.as_str()
        );

        let err = s.u.get_tag(&cx, repo, "latest").await.unwrap_err();
        assert!(is_tag_conflict(&err), "{err}");

        // Both manifests stay readable by digest; pushing the tag through the union resolves
        // the conflict.
        push_manifest(&*s.u, repo, Some("latest"), &s.two.manifest).await;
        assert_tag(&*s.u, repo, "latest", &s.two.manifest).await;
        assert_tag(&*s.a, repo, "latest", &s.two.manifest).await;
    }
}

#[tokio::test]
async fn a_tag_in_some_registries_only_is_read_from_them() {
    let repo = "partial-tag/a";
    let s = setup("partial-tag", repo, ReadPolicy::Sequential).await;
    push_manifest(&*s.b, repo, Some("only-b"), &s.one.manifest).await;
    assert_tag(&*s.u, repo, "only-b", &s.one.manifest).await;
    push_manifest(&*s.a, repo, Some("both"), &s.two.manifest).await;
    push_manifest(&*s.b, repo, Some("both"), &s.two.manifest).await;
    assert_tag(&*s.u, repo, "both", &s.two.manifest).await;
    let err =
        s.u.resolve_tag(&Context::new(), repo, "none")
            .await
            .unwrap_err();
    assert!(err.is(&Code::ManifestUnknown), "{err}");
    // A repository unknown to one registry: the other's not-found wins over NAME_UNKNOWN.
    let c = mem();
    let u = unify(c, s.a.clone());
    let err = u
        .resolve_tag(&Context::new(), repo, "none")
        .await
        .unwrap_err();
    assert!(err.is(&Code::ManifestUnknown), "{err}");
}

#[tokio::test]
async fn tag_listing_leaves_out_conflicting_tags() {
    let repo = "list-conflict/a";
    let s = setup("list-conflict", repo, ReadPolicy::Concurrent).await;
    let (m1, m2) = (&s.one.manifest, &s.two.manifest);
    for tag in ["a", "b", "c", "e"] {
        push_manifest(&*s.a, repo, Some(tag), m1).await;
    }
    push_manifest(&*s.b, repo, Some("b"), m1).await; // agrees
    push_manifest(&*s.b, repo, Some("c"), m2).await; // conflicts
    push_manifest(&*s.b, repo, Some("d"), m2).await; // only in b
    push_manifest(&*s.b, repo, Some("e"), m2).await; // conflicts
    assert_eq!(tags(&*s.u, repo, None).await, ["a", "b", "d"]);
    assert_eq!(tags(&*s.u, repo, Some("b")).await, ["d"]);
    assert_eq!(tags(&*s.u, repo, Some("d")).await, Vec::<String>::new());
}

#[tokio::test]
async fn tag_listing_tolerates_name_unknown_on_some_registries() {
    let repo = "list-unknown/a";
    let a = mem();
    let b = mem();
    let mut c = content("list-unknown");
    let image = c.image(1);
    push_image_blobs(&*a, repo, &image).await;
    push_manifest(&*a, repo, Some("v1"), &image.manifest).await;
    let u = unify(b.clone(), a.clone());
    assert_eq!(tags(&u, repo, None).await, ["v1"]);
    let err = stream::collect(u.tags(&Context::new(), "list-unknown/nope", None))
        .await
        .unwrap_err();
    assert!(err.is(&Code::NameUnknown), "{err}");
    // Other errors are not ignored.
    let broken = Faulty::new(b);
    broken.fail("tags", Code::Denied);
    let u = unify(a, Arc::new(broken));
    let err = stream::collect(u.tags(&Context::new(), repo, None))
        .await
        .unwrap_err();
    assert!(err.is(&Code::Denied), "{err}");
}

/// Only tags that more than one registry lists are resolved, once in each of those.
#[tokio::test]
async fn tag_listing_resolves_only_duplicate_tags() {
    let repo = "list-cost/a";
    let a = mem();
    let b = mem();
    let mut c = content("list-cost");
    let image = c.image(1);
    for r in [&a, &b] {
        push_image_blobs(&**r, repo, &image).await;
    }
    for tag in ["only-a-1", "shared", "only-a-2"] {
        push_manifest(&*a, repo, Some(tag), &image.manifest).await;
    }
    push_manifest(&*b, repo, Some("shared"), &image.manifest).await;
    let (fa, fb) = (Faulty::new(a), Faulty::new(b));
    let u = unify(Arc::new(fa.clone()), Arc::new(fb.clone()));
    assert_eq!(
        tags(&u, repo, None).await,
        ["only-a-1", "only-a-2", "shared"]
    );
    assert_eq!(fa.calls("resolve_tag"), 1);
    assert_eq!(fb.calls("resolve_tag"), 1);
}

fn referrer(digest: &Digest, annotation: &str) -> Descriptor {
    let mut d = Descriptor::new(
        "application/vnd.oci.image.manifest.v1+json",
        digest.clone(),
        10,
    );
    d.artifact_type = Some("application/vnd.example".into());
    d.annotations = BTreeMap::from([("k".to_owned(), annotation.to_owned())]);
    d
}

fn referrers_of(list: Vec<Descriptor>) -> Arc<dyn Registry> {
    Arc::new(
        Funcs::new().with_referrers(move |_cx, _repo, _digest, _at| stream::iter(list.clone())),
    )
}

#[tokio::test]
async fn referrers_listing_leaves_out_conflicting_entries() {
    let mut ds: Vec<Digest> = (0..4u8).map(|i| Digest::sha256(&[i])).collect();
    ds.sort();
    let a = referrers_of(vec![
        referrer(&ds[0], "x"),
        referrer(&ds[1], "same"),
        referrer(&ds[2], "mine"),
    ]);
    let b = referrers_of(vec![
        referrer(&ds[1], "same"),
        referrer(&ds[2], "theirs"),
        referrer(&ds[3], "y"),
    ]);
    let u = unify(a, b);
    let subject = Digest::sha256(b"subject");
    let got = referrers(&u, "r", &subject, None).await;
    assert_eq!(
        got,
        [
            referrer(&ds[0], "x"),
            referrer(&ds[1], "same"),
            referrer(&ds[3], "y")
        ]
    );
}

#[tokio::test]
async fn referrers_pushed_through_the_union_appear_once() {
    let repo = "referrers-once/a";
    let (a, b) = (mem(), mem());
    let u = unify(a.clone(), b);
    let mut c = content("referrers-once");
    let subject = c.image(1);
    push_image_blobs(&u, repo, &subject).await;
    push_manifest(&u, repo, None, &subject.manifest).await;
    let config = c.config();
    ociregistry_core::testing::push_blob(&u, repo, &config).await;
    let sig = image_manifest(&config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.sig")
        .build();
    push_manifest(&u, repo, None, &sig).await;
    // One more only in the first registry.
    let sbom = image_manifest(&config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.sbom")
        .build();
    push_manifest(&*a, repo, None, &sbom).await;
    let mut want = vec![sig.referrer_descriptor(), sbom.referrer_descriptor()];
    want.sort_by(|x, y| x.digest.cmp(&y.digest));
    assert_eq!(
        referrers(&u, repo, &subject.manifest.digest, None).await,
        want
    );
}
