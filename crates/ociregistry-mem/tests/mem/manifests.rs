//! Manifests, tags and referrers.

use bytes::Bytes;
use ociregistry_core::{Algorithm, Code, Descriptor, Digest, Registry, media_type};
use ociregistry_mem::{Config, MemRegistry};

use crate::common::*;

#[tokio::test]
async fn manifests_are_returned_as_pushed() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "m", CONFIG_TYPE, b"{}").await;
    // Odd spacing and an unknown field survive untouched.
    let raw = format!(
        "{{ \"schemaVersion\" : 2, \"x-extra\": [1,2],\n \"config\": {}, \"layers\": [] }}",
        serde_json::to_string(&config).unwrap()
    );
    let data = Bytes::from(raw);
    let d = push_manifest(&r, "m", Some("v1"), &data, OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(
        d,
        Descriptor::new(OCI_MANIFEST, Digest::sha256(&data), data.len() as u64)
    );
    for reader in [
        r.get_manifest(&cx(), "m", &d.digest).await.unwrap(),
        r.get_tag(&cx(), "m", "v1").await.unwrap(),
    ] {
        assert_eq!(reader.descriptor(), &d);
        assert_eq!(read(reader).await, data);
    }
    assert_eq!(r.resolve_manifest(&cx(), "m", &d.digest).await.unwrap(), d);
    assert_eq!(r.resolve_tag(&cx(), "m", "v1").await.unwrap(), d);
    assert_eq!(
        code(r.resolve_tag(&cx(), "m", "v2").await),
        Code::ManifestUnknown
    );
    assert_eq!(
        code(r.get_tag(&cx(), "m", "v2").await),
        Code::ManifestUnknown
    );
    let other = Digest::sha256(b"nope");
    assert_eq!(
        code(r.get_manifest(&cx(), "m", &other).await),
        Code::ManifestUnknown
    );
    assert_eq!(
        code(r.resolve_manifest(&cx(), "m", &other).await),
        Code::ManifestUnknown
    );
}

#[tokio::test]
async fn sha512_manifests() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "m", CONFIG_TYPE, b"{}").await;
    let data = image(&config, &[], None, &[]);
    let d512 = Digest::compute(Algorithm::Sha512, &data);
    let got = r
        .push_manifest(
            &cx(),
            "m",
            Some("t"),
            data.clone(),
            OCI_MANIFEST,
            Some(&d512),
        )
        .await
        .unwrap();
    assert_eq!(got.digest, d512);
    assert_eq!(r.resolve_tag(&cx(), "m", "t").await.unwrap().digest, d512);
    assert_eq!(
        read(r.get_manifest(&cx(), "m", &d512).await.unwrap()).await,
        data
    );
    // Stored under the sha512 only.
    assert_eq!(
        code(r.resolve_manifest(&cx(), "m", &Digest::sha256(&data)).await),
        Code::ManifestUnknown
    );
    // A digest the content does not hash to, of either algorithm.
    for wrong in [
        Digest::compute(Algorithm::Sha512, b"x"),
        Digest::sha256(b"x"),
    ] {
        let e = r
            .push_manifest(
                &cx(),
                "m",
                Some("t2"),
                data.clone(),
                OCI_MANIFEST,
                Some(&wrong),
            )
            .await;
        assert_eq!(code(e), Code::DigestInvalid);
    }
    assert_eq!(
        code(r.resolve_tag(&cx(), "m", "t2").await),
        Code::ManifestUnknown
    );
    // An explicit sha256 works too.
    let d256 = Digest::sha256(&data);
    r.push_manifest(&cx(), "m", None, data, OCI_MANIFEST, Some(&d256))
        .await
        .unwrap();
    r.resolve_manifest(&cx(), "m", &d256).await.unwrap();
}

#[tokio::test]
async fn invalid_manifests_and_tags() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "m", CONFIG_TYPE, b"{}").await;
    for (mt, data) in [
        (OCI_MANIFEST, &b"not json"[..]),
        (OCI_MANIFEST, br#"{"schemaVersion":1}"#),
        (
            OCI_INDEX,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        ),
        (media_type::DOCKER_MANIFEST, b"[]"),
    ] {
        let e = push_manifest(&r, "m", Some("t"), &Bytes::from_static(data), mt).await;
        assert_eq!(
            code(e),
            Code::ManifestInvalid,
            "{}",
            String::from_utf8_lossy(data)
        );
    }
    let good = image(&config, &[], None, &[]);
    for tag in ["", ".x", "a/b", &"t".repeat(129)] {
        let e = push_manifest(&r, "m", Some(tag), &good, OCI_MANIFEST).await;
        assert_eq!(code(e), Code::ManifestInvalid, "{tag:?}");
    }
    assert_eq!(
        code(push_manifest(&r, "m", None, &good, "").await),
        Code::ManifestInvalid
    );
    assert!(list(r.tags(&cx(), "m", None)).await.unwrap().is_empty());
    assert_eq!(
        code(push_manifest(&r, "Bad", None, &good, OCI_MANIFEST).await),
        Code::NameInvalid
    );
}

#[tokio::test]
async fn opaque_media_types_are_stored_unparsed() {
    let r = MemRegistry::new();
    let data = Bytes::from_static(b"\x00\x01 not json at all");
    let d = push_manifest(&r, "o", Some("t"), &data, "application/x-custom")
        .await
        .unwrap();
    let reader = r.get_tag(&cx(), "o", "t").await.unwrap();
    assert_eq!(reader.descriptor().media_type, "application/x-custom");
    assert_eq!(read(reader).await, data);
    assert_eq!(d.size, data.len() as u64);
}

#[tokio::test]
async fn non_distributable_layers_are_not_required() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "nd", CONFIG_TYPE, b"{}").await;
    let layer = push_blob(&r, "nd", LAYER_TYPE, b"layer").await;
    let foreign = Descriptor::new(
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        Digest::sha256(b"foreign"),
        7,
    );
    let docker_foreign = Descriptor::new(
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        Digest::sha256(b"docker foreign"),
        14,
    );
    let mut with_urls = Descriptor::new(LAYER_TYPE, Digest::sha256(b"elsewhere"), 9);
    with_urls.urls.push("https://example.com/layer".into());
    let m = image(
        &config,
        &[layer, foreign, docker_foreign, with_urls],
        None,
        &[],
    );
    push_manifest(&r, "nd", Some("t"), &m, OCI_MANIFEST)
        .await
        .unwrap();
}

#[tokio::test]
async fn lax_registries_accept_sparse_manifests() {
    let r = MemRegistry::with_config(Config::default().lax_child_references(true));
    let config = Descriptor::new(CONFIG_TYPE, Digest::sha256(b"absent config"), 13);
    let layer = Descriptor::new(LAYER_TYPE, Digest::sha256(b"absent layer"), 12);
    let m = image(&config, &[layer], None, &[]);
    let md = push_manifest(&r, "lax/new", Some("t"), &m, OCI_MANIFEST)
        .await
        .unwrap();
    let child = Descriptor::new(OCI_MANIFEST, Digest::sha256(b"absent child"), 3);
    let ix = index(&[md.clone(), child], None, None);
    push_manifest(&r, "lax/new", Some("ix"), &ix, OCI_INDEX)
        .await
        .unwrap();
    assert_eq!(
        list(r.tags(&cx(), "lax/new", None)).await.unwrap(),
        ["ix", "t"]
    );
    // Lax does not mean unvalidated.
    let e = push_manifest(&r, "lax/new", None, &Bytes::from_static(b"{"), OCI_MANIFEST).await;
    assert_eq!(code(e), Code::ManifestInvalid);
}

#[tokio::test]
async fn strict_registries_check_children_in_the_same_repository() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "one", CONFIG_TYPE, b"{}").await;
    let m = image(&config, &[], None, &[]);
    // The config is in another repository only.
    assert_eq!(
        code(push_manifest(&r, "two", None, &m, OCI_MANIFEST).await),
        Code::ManifestBlobUnknown
    );
    // A failed first push leaves no repository behind.
    assert_eq!(list(r.repositories(&cx(), None)).await.unwrap(), ["one"]);
    let md = push_manifest(&r, "one", None, &m, OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(
        code(
            push_manifest(
                &r,
                "two",
                None,
                &index(std::slice::from_ref(&md), None, None),
                OCI_INDEX
            )
            .await
        ),
        Code::ManifestBlobUnknown
    );
    push_manifest(&r, "one", None, &index(&[md], None, None), OCI_INDEX)
        .await
        .unwrap();
}

#[tokio::test]
async fn tags_move_when_mutable() {
    let r = MemRegistry::new();
    let a = push_image(&r, "t", Some("latest"), "a").await;
    let b = push_image(&r, "t", Some("latest"), "b").await;
    assert_ne!(a.digest, b.digest);
    assert_eq!(r.resolve_tag(&cx(), "t", "latest").await.unwrap(), b);
    // The old manifest stays, untagged; deleting it leaves the tag alone.
    r.delete_manifest(&cx(), "t", &a.digest).await.unwrap();
    assert_eq!(r.resolve_tag(&cx(), "t", "latest").await.unwrap(), b);
}

#[tokio::test]
async fn deleting_a_manifest_deletes_its_tags_and_referrer_entry() {
    let r = MemRegistry::new();
    let subject = push_image(&r, "d", Some("subject"), "s").await;
    let config = push_blob(&r, "d", "application/x.sbom", b"sbom").await;
    let referrer = push_manifest(
        &r,
        "d",
        Some("sbom"),
        &image(&config, &[], Some(&subject), &[]),
        OCI_MANIFEST,
    )
    .await
    .unwrap();
    push_manifest(
        &r,
        "d",
        Some("sbom-again"),
        &image(&config, &[], Some(&subject), &[]),
        OCI_MANIFEST,
    )
    .await
    .unwrap();
    assert_eq!(
        list(r.referrers(&cx(), "d", &subject.digest, None))
            .await
            .unwrap()
            .len(),
        1
    );
    r.delete_manifest(&cx(), "d", &referrer.digest)
        .await
        .unwrap();
    for tag in ["sbom", "sbom-again"] {
        assert_eq!(
            code(r.resolve_tag(&cx(), "d", tag).await),
            Code::ManifestUnknown
        );
        assert_eq!(
            code(r.get_tag(&cx(), "d", tag).await),
            Code::ManifestUnknown
        );
    }
    assert_eq!(list(r.tags(&cx(), "d", None)).await.unwrap(), ["subject"]);
    assert!(
        list(r.referrers(&cx(), "d", &subject.digest, None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        code(r.delete_manifest(&cx(), "d", &referrer.digest).await),
        Code::ManifestUnknown
    );
    // The config blob stays: deleting a manifest deletes no blob.
    r.resolve_blob(&cx(), "d", &config.digest).await.unwrap();
}

#[tokio::test]
async fn deleting_a_subject_keeps_its_referrers() {
    let r = MemRegistry::new();
    let subject = push_image(&r, "d", None, "s").await;
    let config = push_blob(&r, "d", "application/x.sig", b"sig").await;
    let sig = push_manifest(
        &r,
        "d",
        None,
        &image(&config, &[], Some(&subject), &[]),
        OCI_MANIFEST,
    )
    .await
    .unwrap();
    r.delete_manifest(&cx(), "d", &subject.digest)
        .await
        .unwrap();
    let refs = list(r.referrers(&cx(), "d", &subject.digest, None))
        .await
        .unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].digest, sig.digest);
}

#[tokio::test]
async fn referrers_listing() {
    let r = MemRegistry::new();
    let subject = push_image(&r, "ref", Some("v1"), "subject").await;
    let sbom_config = push_blob(&r, "ref", "application/x.sbom", b"{}").await;
    let empty = push_blob(&r, "ref", media_type::OCI_EMPTY, b"{\"e\":1}").await;
    let mut pushed = Vec::new();
    for i in 0..5 {
        let salt = format!("{i}");
        let m = image(&sbom_config, &[], Some(&subject), &[("n", &salt)]);
        pushed.push((
            push_manifest(&r, "ref", None, &m, OCI_MANIFEST)
                .await
                .unwrap(),
            "application/x.sbom",
            salt,
        ));
    }
    // An explicit artifactType beats the config media type.
    let mut m: serde_json::Value =
        serde_json::from_slice(&image(&empty, &[], Some(&subject), &[("n", "sig")])).unwrap();
    m["artifactType"] = "application/x.sig".into();
    let m = Bytes::from(serde_json::to_vec(&m).unwrap());
    pushed.push((
        push_manifest(&r, "ref", None, &m, OCI_MANIFEST)
            .await
            .unwrap(),
        "application/x.sig",
        "sig".into(),
    ));
    // An index referrer reports its own artifactType only.
    let ix = index(&[], Some(&subject), Some("application/x.bundle"));
    pushed.push((
        push_manifest(&r, "ref", None, &ix, OCI_INDEX)
            .await
            .unwrap(),
        "application/x.bundle",
        String::new(),
    ));
    // Not a referrer of this subject.
    push_image(&r, "ref", None, "unrelated").await;

    let refs = list(r.referrers(&cx(), "ref", &subject.digest, None))
        .await
        .unwrap();
    assert_eq!(refs.len(), 7);
    assert!(
        refs.windows(2).all(|w| w[0].digest < w[1].digest),
        "not in digest order"
    );
    for (desc, artifact_type, salt) in &pushed {
        let got = refs.iter().find(|d| d.digest == desc.digest).unwrap();
        assert_eq!(got.media_type, desc.media_type);
        assert_eq!(got.size, desc.size);
        assert_eq!(got.artifact_type.as_deref(), Some(*artifact_type));
        assert_eq!(got.annotations.get("n").cloned().unwrap_or_default(), *salt);
    }
    let sboms = list(r.referrers(&cx(), "ref", &subject.digest, Some("application/x.sbom")))
        .await
        .unwrap();
    assert_eq!(sboms.len(), 5);
    let none = list(r.referrers(&cx(), "ref", &subject.digest, Some("application/x")))
        .await
        .unwrap();
    assert!(none.is_empty());
    // Unknown subjects and repositories list nothing.
    assert!(
        list(r.referrers(&cx(), "ref", &Digest::sha256(b"?"), None))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        list(r.referrers(&cx(), "nope", &subject.digest, None))
            .await
            .unwrap()
            .is_empty()
    );
    // Referrers are per repository.
    assert!(
        list(r.referrers(&cx(), "ref2", &subject.digest, None))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn repushing_with_another_media_type_updates_it_when_mutable() {
    let r = MemRegistry::new();
    let data = Bytes::from_static(b"{\"opaque\":true}");
    let a = push_manifest(&r, "mt", Some("t"), &data, "application/x-a")
        .await
        .unwrap();
    let b = push_manifest(&r, "mt", None, &data, "application/x-b")
        .await
        .unwrap();
    assert_eq!(a.digest, b.digest);
    assert_eq!(
        r.resolve_tag(&cx(), "mt", "t").await.unwrap().media_type,
        "application/x-b"
    );
}
