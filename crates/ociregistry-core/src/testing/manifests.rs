//! Manifest, tag and repository-name tests.

use std::sync::Arc;

use super::content::*;
use crate::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::{Algorithm, ByteRange, Code, Context, Digest, Registry};
use bytes::Bytes;

/// `push_manifest` by tag and without; `get_tag`, `get_manifest`, `resolve_tag` and
/// `resolve_manifest` give back the manifest (media type, digest, size; resolves nothing else);
/// an index of pushed images; an identical re-push succeeds.
pub async fn manifest_push_get(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_push_get/a";
    let mut c = Content::new("manifest_push_get");

    let image = c.image(2);
    push_image(r, repo, Some("v1"), &image).await;
    assert_tag(r, repo, "v1", &image.manifest).await;
    assert_manifest(r, repo, &image.manifest).await;

    let untagged = c.image(1);
    push_image(r, repo, None, &untagged).await;
    assert_manifest(r, repo, &untagged.manifest).await;

    let index = index_manifest(&[image.manifest.descriptor(), untagged.manifest.descriptor()])
        .annotation("org.opencontainers.image.ref.name", "x")
        .build();
    push_manifest(r, repo, Some("multi"), &index).await;
    assert_tag(r, repo, "multi", &index).await;
    assert_manifest(r, repo, &index).await;

    // The same manifest again, under the same tag and under another.
    push_manifest(r, repo, Some("v1"), &image.manifest).await;
    push_manifest(r, repo, Some("v1-again"), &image.manifest).await;
    assert_tag(r, repo, "v1", &image.manifest).await;
    assert_tag(r, repo, "v1-again", &image.manifest).await;
    assert_eq!(
        tags(r, repo, None).await,
        ["multi", "v1", "v1-again"],
        "tags"
    );
}

/// Manifests are stored and served as the exact bytes pushed: unknown fields, odd whitespace,
/// key order, number spelling and escapes survive.
pub async fn manifest_exact_bytes(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_exact_bytes/a";
    let mut c = Content::new("manifest_exact_bytes");
    let config = c.config();
    let layer = c.layer(40);
    push_blobs(r, repo, [&config, &layer]).await;
    let desc = |b: &Blob| {
        format!(
            "{{ \"size\":{},\n\t\"digest\" : \"{}\", \"mediaType\":\"{}\" }}",
            b.size(),
            b.digest,
            b.media_type
        )
    };
    let raw = format!(
        "{{\n  \"schemaVersion\" :  2,\r\n\t\"mediaType\": \"{mt}\",\n  \
         \"x-custom\": {{\"nested\": [1, 2.50, 1e3, \"\\u00e9\\/\"], \"z\": null}},\n  \
         \"config\": {config},\n  \"layers\": [ {layer} ]  ,\n  \
         \"annotations\": {{\"z\": \"1\", \"a\": \"2\"}}\n}}\n\n",
        mt = OCI_MANIFEST,
        config = desc(&config),
        layer = desc(&layer),
    );
    let manifest = Manifest::new(OCI_MANIFEST, raw);
    push_manifest(r, repo, Some("odd"), &manifest).await;
    assert_manifest(r, repo, &manifest).await;
    assert_tag(r, repo, "odd", &manifest).await;
}

/// `push_manifest` with `digest: Some(d)`: stored under `d` when the content hashes to it,
/// `DIGEST_INVALID` (and nothing visible) otherwise.
pub async fn manifest_push_digest(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_push_digest/a";
    let mut c = Content::new("manifest_push_digest");
    let image = c.image(1);
    push_image(r, repo, None, &image).await;
    let m = c.image(1);
    push_blob(r, repo, &m.config).await;
    push_blobs(r, repo, &m.layers).await;
    let m = m.manifest;

    let other = c.layer(10);
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let wrong = Digest::compute(alg, &other.data);
        expect_code(
            r.push_manifest(
                &cx,
                repo,
                Some("wrong"),
                m.data.clone(),
                &m.media_type,
                Some(&wrong),
            )
            .await,
            Code::DigestInvalid,
            &format!("push_manifest with the {alg} digest of other content"),
        );
        assert_no_manifest(r, repo, &wrong).await;
        assert_no_manifest(r, repo, &Digest::compute(alg, &m.data)).await;
        assert_no_tag(r, repo, "wrong").await;
    }

    let desc = expect_ok(
        r.push_manifest(
            &cx,
            repo,
            Some("right"),
            m.data.clone(),
            &m.media_type,
            Some(&m.digest),
        )
        .await,
        "push_manifest with its sha256 digest",
    );
    assert_eq!(desc, m.descriptor(), "push_manifest with its sha256 digest");
    assert_manifest(r, repo, &m).await;
    assert_tag(r, repo, "right", &m).await;
}

/// A manifest pushed with a SHA-512 digest is stored, tagged and served under that digest.
pub async fn manifest_sha512(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_sha512/a";
    let mut c = Content::new("manifest_sha512");
    let image = c.image(2);
    push_blob(r, repo, &image.config).await;
    push_blobs(r, repo, &image.layers).await;
    let m = image.manifest.clone().with_algorithm(Algorithm::Sha512);

    let desc = expect_ok(
        r.push_manifest(
            &cx,
            repo,
            Some("v512"),
            m.data.clone(),
            &m.media_type,
            Some(&m.digest),
        )
        .await,
        "push_manifest with a sha512 digest",
    );
    assert_eq!(desc, m.descriptor(), "push_manifest with a sha512 digest");
    assert_manifest(r, repo, &m).await;
    assert_tag(r, repo, "v512", &m).await;

    // A sha512 blob pushed first can be referenced too.
    let layer = c.layer(99).with_algorithm(Algorithm::Sha512);
    push_blob(r, repo, &layer).await;
    let m2 = image_manifest(&image.config.descriptor(), &[layer.descriptor()]).build();
    push_manifest(r, repo, Some("layer512"), &m2).await;
    assert_tag(r, repo, "layer512", &m2).await;
}

/// Manifests of the four known media types that do not parse fail with `MANIFEST_INVALID`, and
/// nothing becomes visible (neither the manifest nor the tag).
pub async fn manifest_invalid(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_invalid/a";
    let mut c = Content::new("manifest_invalid");
    let config = c.config();
    push_blob(r, repo, &config).await;
    let cd = serde_json::to_string(&config.descriptor()).unwrap_or_default();

    let cases: Vec<(&str, String)> = vec![
        (OCI_MANIFEST, "not json".into()),
        (OCI_MANIFEST, "".into()),
        (OCI_MANIFEST, "{}".into()),
        (OCI_MANIFEST, "[1, 2]".into()),
        (
            OCI_MANIFEST,
            format!(r#"{{"schemaVersion":1,"config":{cd},"layers":[]}}"#),
        ),
        (OCI_MANIFEST, r#"{"schemaVersion":2,"layers":[]}"#.into()),
        (
            OCI_MANIFEST,
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","config":{cd},"layers":[]}}"#),
        ),
        (
            OCI_MANIFEST,
            format!(
                r#"{{"schemaVersion":2,"config":{cd},"layers":[{{"digest":"sha256:nothex","size":1,"mediaType":"a"}}]}}"#
            ),
        ),
        (OCI_INDEX, "{\"schemaVersion\":2,\"manifests\":[".into()),
        (
            OCI_INDEX,
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":2}}]}}"#,
                config.digest
            ),
        ),
        (DOCKER_MANIFEST, "not json".into()),
        (DOCKER_MANIFEST_LIST, "{\"schemaVersion\":3}".into()),
    ];
    for (mt, data) in cases {
        let what = format!("push_manifest of the invalid {mt} {data:?}");
        expect_code(
            r.push_manifest(&cx, repo, Some("bad"), Bytes::from(data.clone()), mt, None)
                .await,
            Code::ManifestInvalid,
            &what,
        );
        assert_no_manifest(r, repo, &Digest::sha256(data.as_bytes())).await;
        assert_no_tag(r, repo, "bad").await;
    }
}

/// Manifests of media types other than the four known ones are opaque: stored and served as is,
/// without parsing.
pub async fn manifest_opaque_media_type(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_opaque_media_type/a";
    for (i, (mt, data)) in [
        (
            "application/vnd.example.opaque.v1",
            &b"\x00\x01 not json at all"[..],
        ),
        (
            "application/vnd.example.thing.v1+json",
            br#"{"schemaVersion":99,"config":"whatever"}"#,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let m = Manifest::new(mt, Bytes::from_static(data));
        let tag = format!("opaque{i}");
        push_manifest(r, repo, Some(&tag), &m).await;
        assert_manifest(r, repo, &m).await;
        assert_tag(r, repo, &tag, &m).await;
    }
}

/// In a strict registry, a manifest whose config, layer or index child is missing from the
/// repository fails with `MANIFEST_BLOB_UNKNOWN`, and nothing becomes visible. Children present
/// only in another repository, or an index child pushed as a blob, count as missing.
pub async fn manifest_missing_children(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_missing_children/a";
    let elsewhere = "manifest_missing_children/b";
    let mut c = Content::new("manifest_missing_children");
    let config = c.config();
    let layer = c.layer(100);
    push_blobs(r, repo, [&config, &layer]).await;
    let missing_config = c.config();
    let missing_layer = c.layer(100);
    push_blobs(r, elsewhere, [&missing_config, &missing_layer]).await;
    let child = c.image(1);
    push_image(r, elsewhere, None, &child).await;
    // The child manifest's bytes pushed as a blob do not make it a manifest of the repository.
    push_blob(
        r,
        repo,
        &Blob::new(OCI_MANIFEST, child.manifest.data.clone()),
    )
    .await;
    let present = c.image(1);
    push_image(r, repo, None, &present).await;

    let cases = [
        (
            "a missing config",
            image_manifest(&missing_config.descriptor(), &[layer.descriptor()]).build(),
        ),
        (
            "a missing layer",
            image_manifest(
                &config.descriptor(),
                &[layer.descriptor(), missing_layer.descriptor()],
            )
            .build(),
        ),
        (
            "a missing layer (docker)",
            image_manifest(&config.descriptor(), &[missing_layer.descriptor()])
                .media_type(DOCKER_MANIFEST)
                .build(),
        ),
        (
            "a missing child manifest",
            index_manifest(&[present.manifest.descriptor(), child.manifest.descriptor()]).build(),
        ),
        (
            "a missing child manifest (docker)",
            index_manifest(&[child.manifest.descriptor()])
                .media_type(DOCKER_MANIFEST_LIST)
                .build(),
        ),
    ];
    for (what, m) in cases {
        let what = format!("push_manifest of a manifest with {what}");
        expect_code(
            r.push_manifest(&cx, repo, Some("t"), m.data.clone(), &m.media_type, None)
                .await,
            Code::ManifestBlobUnknown,
            &what,
        );
        assert_no_manifest(r, repo, &m.digest).await;
        assert_no_tag(r, repo, "t").await;
    }
}

/// References that need not be present: non-distributable layers, layers with `urls`, and
/// subjects (of images and indexes) are not checked.
pub async fn manifest_weak_references(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_weak_references/a";
    let mut c = Content::new("manifest_weak_references");
    let config = c.config();
    let layer = c.layer(10);
    push_blobs(r, repo, [&config, &layer]).await;

    let mut foreign = c.layer(100).descriptor();
    foreign.media_type = "application/vnd.oci.image.layer.nondistributable.v1.tar".into();
    let mut docker_foreign = c.layer(100).descriptor();
    docker_foreign.media_type = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into();
    let mut with_urls = c.layer(100).descriptor();
    with_urls.urls = vec!["https://example.com/layer.tar".into()];
    let absent_subject = c.sparse_image().build();

    let image = image_manifest(
        &config.descriptor(),
        &[layer.descriptor(), foreign, docker_foreign, with_urls],
    )
    .build();
    push_manifest(r, repo, Some("foreign"), &image).await;
    assert_manifest(r, repo, &image).await;

    let referrer = image_manifest(&config.descriptor(), &[layer.descriptor()])
        .subject(&absent_subject.descriptor())
        .build();
    push_manifest(r, repo, Some("referrer"), &referrer).await;
    assert_manifest(r, repo, &referrer).await;

    let index = index_manifest(&[image.descriptor()])
        .subject(&absent_subject.descriptor())
        .artifact_type("application/vnd.example.index")
        .build();
    push_manifest(r, repo, None, &index).await;
    assert_manifest(r, repo, &index).await;
}

/// Docker media types: a schema 2 manifest and a manifest list are stored, checked and served
/// with their media types.
pub async fn manifest_docker_media_types(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_docker_media_types/a";
    let mut c = Content::new("manifest_docker_media_types");
    let config = c.config_of_type("application/vnd.docker.container.image.v1+json");
    let mut layer = c.layer(300);
    layer.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
    push_blobs(r, repo, [&config, &layer]).await;

    let m = image_manifest(&config.descriptor(), &[layer.descriptor()])
        .media_type(DOCKER_MANIFEST)
        .build();
    push_manifest(r, repo, Some("docker"), &m).await;
    assert_tag(r, repo, "docker", &m).await;
    assert_manifest(r, repo, &m).await;

    let mut child = m.descriptor();
    child.platform = Some(crate::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        os_version: None,
        os_features: vec![],
        variant: None,
        features: vec![],
    });
    let list = index_manifest(&[child])
        .media_type(DOCKER_MANIFEST_LIST)
        .build();
    push_manifest(r, repo, Some("list"), &list).await;
    assert_tag(r, repo, "list", &list).await;
    assert_manifest(r, repo, &list).await;
}

/// `push_manifest` with an invalid tag fails with `MANIFEST_INVALID` (the code of
/// `names::validate_tag`), and the tag does not appear.
pub async fn manifest_invalid_tag(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_invalid_tag/a";
    let mut c = Content::new("manifest_invalid_tag");
    let image = c.image(1);
    push_image(r, repo, Some("good"), &image).await;
    let m = &image.manifest;

    let long = "a".repeat(129);
    for tag in [".hidden", "-dash", "bad$tag", "sp ace", long.as_str()] {
        expect_code(
            r.push_manifest(&cx, repo, Some(tag), m.data.clone(), &m.media_type, None)
                .await,
            Code::ManifestInvalid,
            &format!("push_manifest with the invalid tag {tag:?}"),
        );
    }
    assert_eq!(tags(r, repo, None).await, ["good"], "tags");
    // The longest valid tag works.
    let longest = format!("_{}", "A".repeat(127));
    push_manifest(r, repo, Some(&longest), m).await;
    assert_tag(r, repo, &longest, m).await;
}

/// Re-pushing a tag moves it (the default, mutable mode); the old manifest stays by digest.
pub async fn manifest_tag_move(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let repo = "manifest_tag_move/a";
    let mut c = Content::new("manifest_tag_move");
    let one = c.image(1);
    let two = c.image(1);
    push_image(r, repo, Some("latest"), &one).await;
    assert_tag(r, repo, "latest", &one.manifest).await;
    push_image(r, repo, Some("latest"), &two).await;
    assert_tag(r, repo, "latest", &two.manifest).await;
    assert_manifest(r, repo, &one.manifest).await;

    // To a manifest of another media type.
    let index = index_manifest(&[one.manifest.descriptor()]).build();
    push_manifest(r, repo, Some("latest"), &index).await;
    assert_tag(r, repo, "latest", &index).await;
    // And back.
    push_manifest(r, repo, Some("latest"), &one.manifest).await;
    assert_tag(r, repo, "latest", &one.manifest).await;
    assert_eq!(tags(r, repo, None).await, ["latest"], "tags");
}

/// Missing manifests and tags: `NAME_UNKNOWN` in a repository that does not exist (for every
/// manifest, tag and listing operation), `MANIFEST_UNKNOWN` in one that does; a blob is not a
/// manifest.
pub async fn manifest_unknown(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "manifest_unknown/a";
    let nope = "manifest_unknown/does-not-exist";
    let mut c = Content::new("manifest_unknown");
    let image = c.image(1);
    push_image(r, repo, Some("here"), &image).await;
    let missing = c.sparse_image().build().digest;

    for (repo, code) in [(repo, Code::ManifestUnknown), (nope, Code::NameUnknown)] {
        let what = |op: &str| format!("{op} in {repo}");
        for digest in [&missing, &image.config.digest] {
            expect_code(
                r.get_manifest(&cx, repo, digest).await,
                code.clone(),
                &what("get_manifest"),
            );
            expect_code(
                r.resolve_manifest(&cx, repo, digest).await,
                code.clone(),
                &what("resolve_manifest"),
            );
            expect_code(
                r.delete_manifest(&cx, repo, digest).await,
                code.clone(),
                &what("delete_manifest"),
            );
        }
        expect_code(
            r.get_tag(&cx, repo, "missing").await,
            code.clone(),
            &what("get_tag"),
        );
        expect_code(
            r.resolve_tag(&cx, repo, "missing").await,
            code.clone(),
            &what("resolve_tag"),
        );
        expect_code(
            r.delete_tag(&cx, repo, "missing").await,
            code.clone(),
            &what("delete_tag"),
        );
    }
    expect_code(
        crate::stream::collect(r.tags(&cx, nope, None)).await,
        Code::NameUnknown,
        "tags of a repository that does not exist",
    );
    assert_tag(r, repo, "here", &image.manifest).await;
}

/// Invalid repository names fail with `NAME_INVALID` for every write (before anything else),
/// and with `NAME_INVALID` or `NAME_UNKNOWN` for reads; no such repository appears.
pub async fn repository_invalid_name(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let good = "repository_invalid_name/a";
    let mut c = Content::new("repository_invalid_name");
    let blob = c.layer(10);
    push_blob(r, good, &blob).await;
    let opaque = Manifest::new("application/vnd.example.opaque", "x");

    let long = format!("repository_invalid_name/{}", "a".repeat(240));
    let names = [
        "repository_invalid_name/Upper",
        "repository_invalid_name//double",
        "repository_invalid_name/trailing/",
        "repository_invalid_name/-lead",
        "repository_invalid_name/a..b",
        "repository_invalid_name/a___b",
        long.as_str(),
    ];
    for name in names {
        let what = |op: &str| format!("{op} with the invalid repository name {name:?}");
        expect_code(
            r.push_blob(&cx, name, &blob.descriptor(), blob.stream(4))
                .await,
            Code::NameInvalid,
            &what("push_blob"),
        );
        expect_code(
            r.push_blob_chunked(&cx, name, None).await,
            Code::NameInvalid,
            &what("push_blob_chunked"),
        );
        expect_code(
            r.mount_blob(&cx, Some(good), name, &blob.digest).await,
            Code::NameInvalid,
            &what("mount_blob (target)"),
        );
        expect_code(
            r.push_manifest(
                &cx,
                name,
                Some("t"),
                opaque.data.clone(),
                &opaque.media_type,
                None,
            )
            .await,
            Code::NameInvalid,
            &what("push_manifest"),
        );

        let read = [Code::NameInvalid, Code::NameUnknown];
        expect_code_in(
            r.mount_blob(&cx, Some(name), good, &blob.digest).await,
            &read,
            &what("mount_blob (source)"),
        );
        expect_code_in(
            r.get_blob(&cx, name, &blob.digest).await,
            &read,
            &what("get_blob"),
        );
        expect_code_in(
            r.get_blob_range(&cx, name, &blob.digest, ByteRange::From(0))
                .await,
            &read,
            &what("get_blob_range"),
        );
        expect_code_in(
            r.resolve_blob(&cx, name, &blob.digest).await,
            &read,
            &what("resolve_blob"),
        );
        expect_code_in(
            r.get_manifest(&cx, name, &opaque.digest).await,
            &read,
            &what("get_manifest"),
        );
        expect_code_in(
            r.resolve_tag(&cx, name, "t").await,
            &read,
            &what("resolve_tag"),
        );
        expect_code_in(
            r.delete_blob(&cx, name, &blob.digest).await,
            &read,
            &what("delete_blob"),
        );
        expect_code_in(
            r.delete_tag(&cx, name, "t").await,
            &read,
            &what("delete_tag"),
        );
        expect_code_in(
            crate::stream::collect(r.tags(&cx, name, None)).await,
            &read,
            &what("tags"),
        );
    }
    let repos = repositories_with_prefix(r, "repository_invalid_name/", None).await;
    assert_eq!(repos, [good], "repositories");
}

/// Each of `push_blob`, `push_blob_chunked`, `mount_blob` (target) and `push_manifest` creates
/// its repository: it is listed, and reading a missing item of it gives `*_UNKNOWN`, not
/// `NAME_UNKNOWN`.
pub async fn repository_implicit_creation(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let p = "repository_implicit_creation";
    let mut c = Content::new(p);
    let blob = c.layer(10);
    let opaque = Manifest::new("application/vnd.example.opaque", "x");
    let names = ["blob", "chunked", "manifest", "mount"].map(|n| format!("{p}/{n}"));
    for n in &names {
        expect_code(
            crate::stream::collect(r.tags(&cx, n, None)).await,
            Code::NameUnknown,
            &format!("tags of {n} before any push"),
        );
    }

    push_blob(r, &names[0], &blob).await;
    let w = expect_ok(
        r.push_blob_chunked(&cx, &names[1], None).await,
        "push_blob_chunked",
    );
    push_manifest(r, &names[2], None, &opaque).await;
    expect_ok(
        r.mount_blob(&cx, Some(&names[0]), &names[3], &blob.digest)
            .await,
        "mount_blob",
    );

    let repos = repositories_with_prefix(r, &format!("{p}/"), None).await;
    assert_eq!(repos, names, "repositories");
    let missing = c.layer(10).digest;
    for n in &names {
        assert!(
            tags(r, n, None).await.is_empty(),
            "tags of {n}: expected none"
        );
        expect_code(
            r.resolve_blob(&cx, n, &missing).await,
            Code::BlobUnknown,
            &format!("resolve_blob of a missing blob in {n}"),
        );
        expect_code(
            r.resolve_tag(&cx, n, "missing").await,
            Code::ManifestUnknown,
            &format!("resolve_tag of a missing tag in {n}"),
        );
    }
    expect_ok(w.cancel().await, "cancel");
}
