//! Listing tests: tags, repositories and referrers; and concurrent pushes.

use std::sync::Arc;

use super::content::*;
use crate::media_type::OCI_INDEX;
use crate::{Code, Context, Descriptor, Registry};

/// `tags()` lists in lexical (byte) order, strictly after `start_after`: between two tags, equal
/// to one, before all and past the end. A repository without tags lists none; one that does not
/// exist gives `NAME_UNKNOWN`.
pub async fn list_tags(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "list_tags/a";
    let mut c = Content::new("list_tags");
    let image = c.image(1);
    push_blob(r, repo, &image.config).await;
    push_blobs(r, repo, &image.layers).await;
    assert!(tags(r, repo, None).await.is_empty(), "tags before any tag");
    for tag in ["v1", "A1", "latest", "b", "a", "1.0", "a-b", "a_b", "a.b"] {
        push_manifest(r, repo, Some(tag), &image.manifest).await;
    }
    let all = ["1.0", "A1", "a", "a-b", "a.b", "a_b", "b", "latest", "v1"];
    assert_eq!(tags(r, repo, None).await, all, "tags");
    for (after, want) in [
        ("", &all[..]),
        ("0", &all[..]),
        ("1.0", &all[1..]),
        ("a", &all[3..]),
        ("a-a", &all[3..]),
        ("a_b", &all[6..]),
        ("az", &all[6..]),
        ("latest", &all[8..]),
        ("v1", &[][..]),
        ("zzz", &[][..]),
    ] {
        assert_eq!(
            tags(r, repo, Some(after)).await,
            want,
            "tags after {after:?}"
        );
    }
    expect_code(
        crate::stream::collect(r.tags(&cx, "list_tags/does-not-exist", None)).await,
        Code::NameUnknown,
        "tags of a repository that does not exist",
    );
}

/// `repositories()` lists every repository in lexical order, strictly after `start_after`.
pub async fn list_repositories(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let p = "list_repositories/";
    let mut c = Content::new("list_repositories");
    let names = ["b", "a/x", "a", "c-1", "c", "a/y/z"].map(|n| format!("{p}{n}"));
    for n in &names {
        push_blob(r, n, &c.layer(8)).await;
    }
    let all: Vec<String> = ["a", "a/x", "a/y/z", "b", "c", "c-1"]
        .iter()
        .map(|n| format!("{p}{n}"))
        .collect();
    assert_eq!(
        repositories_with_prefix(r, p, None).await,
        all,
        "repositories"
    );
    for (after, want) in [
        ("list_repositories", &all[..]),
        ("list_repositories/", &all[..]),
        ("list_repositories/a", &all[1..]),
        ("list_repositories/a/", &all[1..]),
        ("list_repositories/a/x", &all[2..]),
        ("list_repositories/aa", &all[3..]),
        ("list_repositories/c", &all[5..]),
        ("list_repositories/c-1", &[][..]),
        ("list_repositories/d", &[][..]),
    ] {
        assert_eq!(
            repositories_with_prefix(r, p, Some(after)).await,
            want,
            "repositories after {after:?}"
        );
    }
}

/// `referrers()` lists the manifests whose subject is the digest, sorted by digest, each with
/// the referrer's media type, digest, size, artifact type (its `artifactType`, else for an image
/// manifest its config's media type; an index has no fallback) and annotations. Referrers pushed
/// before their subject count; other subjects and other repositories do not.
pub async fn referrers_listing(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "referrers_listing/a";
    let other_repo = "referrers_listing/b";
    let mut c = Content::new("referrers_listing");
    let subject = c.image(1);
    let other_subject = c.image(1);
    let sbom_config = c.config();
    let sig_config = c.config_of_type("application/vnd.example.sig.config+json");
    for repo in [repo, other_repo] {
        push_blobs(r, repo, [&sbom_config, &sig_config]).await;
    }
    let sd = subject.manifest.descriptor();

    // Pushed before the subject: subjects are weak references.
    let sbom = image_manifest(&sbom_config.descriptor(), &[])
        .subject(&sd)
        .artifact_type("application/vnd.example.sbom")
        .annotation("org.example.kind", "sbom")
        .annotation("org.opencontainers.image.created", "2024-01-01T00:00:00Z")
        .build();
    push_manifest(r, repo, None, &sbom).await;
    push_image(r, repo, Some("subject"), &subject).await;
    push_image(r, repo, None, &other_subject).await;

    let sig = image_manifest(&sig_config.descriptor(), &[])
        .subject(&sd)
        .annotation("org.example.kind", "signature")
        .build();
    let index_typed = index_manifest(&[other_subject.manifest.descriptor()])
        .subject(&sd)
        .artifact_type("application/vnd.example.bundle")
        .annotation("org.example.kind", "bundle")
        .build();
    let index_untyped = index_manifest(&[]).subject(&sd).build();
    let unrelated = image_manifest(&sig_config.descriptor(), &[])
        .subject(&other_subject.manifest.descriptor())
        .build();
    for m in [&sig, &index_typed, &index_untyped, &unrelated] {
        push_manifest(r, repo, None, m).await;
    }
    // A referrer of the same subject in another repository.
    let elsewhere = image_manifest(&sbom_config.descriptor(), &[])
        .subject(&sd)
        .annotation("org.example.kind", "elsewhere")
        .build();
    push_manifest(r, other_repo, None, &elsewhere).await;

    let expect = |m: &Manifest, artifact_type: Option<&str>| {
        let mut d = Descriptor::new(m.media_type.clone(), m.digest.clone(), m.size());
        d.artifact_type = artifact_type.map(str::to_owned);
        d.annotations = m.info().annotations;
        d
    };
    let mut want = vec![
        expect(&sbom, Some("application/vnd.example.sbom")),
        expect(&sig, Some("application/vnd.example.sig.config+json")),
        expect(&index_typed, Some("application/vnd.example.bundle")),
        expect(&index_untyped, None),
    ];
    want.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert!(
        want.iter().any(|d| d.media_type == OCI_INDEX),
        "the test covers index referrers"
    );
    assert_eq!(
        referrers(r, repo, &subject.manifest.digest, None).await,
        want,
        "referrers"
    );
    assert_eq!(
        referrers(r, repo, &other_subject.manifest.digest, None).await,
        [expect(
            &unrelated,
            Some("application/vnd.example.sig.config+json")
        )],
        "referrers of the other subject"
    );
    assert_eq!(
        referrers(r, other_repo, &subject.manifest.digest, None).await,
        [expect(&elsewhere, Some(sbom_config.media_type.as_str()))],
        "referrers in the other repository"
    );
}

/// `referrers()` with an artifact type lists only the referrers of exactly that type.
pub async fn referrers_filter(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "referrers_filter/a";
    let mut c = Content::new("referrers_filter");
    let subject = c.image(1);
    push_image(r, repo, None, &subject).await;
    let config = c.config();
    let sig_config = c.config_of_type("application/vnd.example.sig.config+json");
    push_blobs(r, repo, [&config, &sig_config]).await;
    let sd = subject.manifest.descriptor();

    let mut sboms: Vec<Manifest> = (0..3)
        .map(|i| {
            image_manifest(&config.descriptor(), &[])
                .subject(&sd)
                .artifact_type("application/vnd.example.sbom")
                .annotation("n", &i.to_string())
                .build()
        })
        .collect();
    let sig = image_manifest(&sig_config.descriptor(), &[])
        .subject(&sd)
        .build();
    let index = index_manifest(&[])
        .subject(&sd)
        .artifact_type("application/vnd.example.sbom+index")
        .build();
    for m in sboms.iter().chain([&sig, &index]) {
        push_manifest(r, repo, None, m).await;
    }
    sboms.sort_by(|a, b| a.digest.cmp(&b.digest));
    let want: Vec<Descriptor> = sboms.iter().map(Manifest::referrer_descriptor).collect();
    let d = &subject.manifest.digest;
    assert_eq!(
        referrers(r, repo, d, Some("application/vnd.example.sbom")).await,
        want,
        "referrers of type sbom"
    );
    assert_eq!(
        referrers(r, repo, d, Some("application/vnd.example.sig.config+json")).await,
        [sig.referrer_descriptor()],
        "referrers of the config media type"
    );
    assert_eq!(
        referrers(r, repo, d, Some("application/vnd.example.sbom+index")).await,
        [index.referrer_descriptor()],
        "referrers of the index type"
    );
    for t in ["application/vnd.example", "application/vnd.example.none"] {
        assert!(
            referrers(r, repo, d, Some(t)).await.is_empty(),
            "referrers of type {t:?}: expected none"
        );
    }
    assert_eq!(
        referrers(r, repo, d, None).await.len(),
        5,
        "referrers without a filter"
    );
}

/// `referrers()` of a subject nothing refers to, of a subject that does not exist, or in a
/// repository that does not exist is empty (not an error).
pub async fn referrers_unknown(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "referrers_unknown/a";
    let mut c = Content::new("referrers_unknown");
    let image = c.image(1);
    push_image(r, repo, Some("x"), &image).await;
    let absent = c.sparse_image().build();
    for (repo, digest) in [
        (repo, &image.manifest.digest),
        (repo, &absent.digest),
        (repo, &image.config.digest),
        ("referrers_unknown/does-not-exist", &image.manifest.digest),
    ] {
        assert!(
            referrers(r, repo, digest, None).await.is_empty(),
            "referrers of {digest} in {repo}: expected none"
        );
        assert!(
            referrers(r, repo, digest, Some("application/vnd.example"))
                .await
                .is_empty(),
            "referrers of {digest} in {repo} with a filter: expected none"
        );
    }
}

/// Concurrent pushes of the same blob (whole and chunked) and of different manifests to the
/// same tag all succeed and leave a consistent state.
pub async fn concurrent_pushes(registry: Arc<dyn Registry>) {
    use futures_util::future::join_all;
    let r = &*registry;
    let repo = "concurrent_pushes/a";
    let mut c = Content::new("concurrent_pushes");
    let blob = c.layer(100_000);
    let config = c.config();
    push_blob(r, repo, &config).await;

    let whole = (0..8).map(|_| push_blob(r, repo, &blob));
    let chunked = (0..8).map(|i| {
        let blob = &blob;
        async move {
            let cx = Context::new();
            let mut w = expect_ok(
                r.push_blob_chunked(&cx, repo, None).await,
                "push_blob_chunked",
            );
            for part in blob.data.chunks(7000 + i * 100) {
                expect_ok(w.write(bytes::Bytes::copy_from_slice(part)).await, "write");
            }
            expect_ok(w.commit(&blob.digest).await, "commit");
        }
    });
    futures_util::future::join(join_all(whole), join_all(chunked)).await;
    assert_blob(r, repo, &blob).await;

    let manifests: Vec<Manifest> = (0..8)
        .map(|i| {
            image_manifest(&config.descriptor(), &[blob.descriptor()])
                .annotation("n", &i.to_string())
                .build()
        })
        .collect();
    join_all(
        manifests
            .iter()
            .map(|m| push_manifest(r, repo, Some("latest"), m)),
    )
    .await;
    let desc = expect_ok(
        r.resolve_tag(&Context::new(), repo, "latest").await,
        "resolve_tag",
    );
    let Some(winner) = manifests.iter().find(|m| m.digest == desc.digest) else {
        panic!(
            "the tag points at {}, none of the pushed manifests",
            desc.digest
        );
    };
    assert_tag(r, repo, "latest", winner).await;
    for m in &manifests {
        assert_manifest(r, repo, m).await;
    }
    assert_eq!(tags(r, repo, None).await, ["latest"], "tags");
}
