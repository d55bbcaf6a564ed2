//! Checks of the behaviour suite itself (feature `testing`): its builders produce what they
//! claim, and no suite test passes vacuously against a registry that supports nothing.
#![cfg(feature = "testing")]

use std::sync::Arc;

use ociregistry_core::media_type::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use ociregistry_core::testing::{
    Blob, Content, Manifest, Rng, chunked, image_manifest, index_manifest,
};
use ociregistry_core::{Algorithm, Digest, Registry, Unsupported};

// Every suite test must fail against a registry where every operation is UNSUPPORTED.
ociregistry_core::registry_behaviour_tests!(
    #[should_panic]
    full,
    || async { Arc::new(Unsupported) as Arc<dyn Registry> }
);
ociregistry_core::registry_behaviour_tests!(
    #[should_panic]
    lax,
    || async { Arc::new(Unsupported) as Arc<dyn Registry> }
);
ociregistry_core::registry_behaviour_tests!(
    #[should_panic]
    immutable as immutable_unsupported,
    || async { Arc::new(Unsupported) as Arc<dyn Registry> }
);

#[test]
fn rng_is_deterministic_and_seeded() {
    let a = Rng::new(1).bytes(100);
    assert_eq!(a, Rng::new(1).bytes(100));
    assert_ne!(a, Rng::new(2).bytes(100));
    assert_eq!(a.len(), 100);
    assert_eq!(Rng::new(0).bytes(0).len(), 0);
    assert_ne!(
        Rng::from_name("a").next_u64(),
        Rng::from_name("b").next_u64()
    );
    assert_eq!(Rng::new(3).hex(16).len(), 32);
}

#[tokio::test]
async fn chunked_splits_and_empty_yields_nothing() {
    use futures_util::StreamExt;
    let data = Rng::new(5).bytes(10);
    let parts: Vec<_> = chunked(data.clone(), 3).collect().await;
    assert_eq!(parts.len(), 4);
    let joined: Vec<u8> = parts
        .into_iter()
        .flat_map(|p| p.unwrap().to_vec())
        .collect();
    assert_eq!(joined, data);
    assert_eq!(chunked(bytes::Bytes::new(), 3).count().await, 0);
}

#[test]
fn builders_make_valid_manifests() {
    let mut c = Content::new("builders");
    let image = c.image(3);
    assert_eq!(image.layers.len(), 3);
    let info = image.manifest.info();
    assert_eq!(info.media_type, OCI_MANIFEST);
    assert_eq!(info.config.as_ref().unwrap().digest, image.config.digest);
    assert_eq!(info.required_blobs().count(), 4);
    assert_eq!(image.manifest.digest, Digest::sha256(&image.manifest.data));

    let referrer = image_manifest(&image.config.descriptor(), &[])
        .subject(&image.manifest.descriptor())
        .annotation("k", "v")
        .build();
    let d = referrer.referrer_descriptor();
    assert_eq!(
        d.artifact_type.as_deref(),
        Some(image.config.media_type.as_str())
    );
    assert_eq!(d.annotations.get("k").map(String::as_str), Some("v"));
    assert_eq!(
        referrer.info().subject.unwrap().digest,
        image.manifest.digest
    );

    let index = index_manifest(&[image.manifest.descriptor()])
        .artifact_type("application/x")
        .build();
    assert_eq!(index.media_type, OCI_INDEX);
    assert_eq!(index.info().manifests.len(), 1);
    assert_eq!(
        index.referrer_descriptor().artifact_type.as_deref(),
        Some("application/x")
    );

    // Without the mediaType field the same bytes parse under another media type.
    let bare = c.sparse_image().without_media_type_field().build();
    Manifest::new(DOCKER_MANIFEST, bare.data.clone()).info();

    let blob = Blob::new("a", "xyz").with_algorithm(Algorithm::Sha512);
    assert_eq!(blob.digest.algorithm(), Algorithm::Sha512);
    assert!(blob.digest.verify(b"xyz"));
    // Different names give different content.
    assert_ne!(
        Content::new("one").config().digest,
        Content::new("two").config().digest
    );
}
