//! The client against servers that emulate the quirks of real registries (through
//! `ociregistry_server::Options`): no `Link` headers, AWS ECR's page limit, no digest on tag
//! GETs, ignored pagination, no referrers API, no `OCI-Subject`. The whole behaviour suite runs
//! against each, then targeted tests check the requests the client makes.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::Recorder;
use ociregistry_client::{Client, referrers_tag};
use ociregistry_core::header::OCI_SUBJECT;
use ociregistry_core::testing::{Content, image_manifest, push_blobs, push_image, push_manifest};
use ociregistry_core::{Code, Context, Digest, Registry, stream};
use ociregistry_mem::MemRegistry;
use ociregistry_server::{Options, RegistryService};

fn opts(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

/// A recording server over a fresh mem with `options`, and its address.
async fn upstream(options: Options, strip_subject: bool) -> (Recorder, String, Arc<MemRegistry>) {
    let mem = Arc::new(MemRegistry::new());
    let mut rec = Recorder::new(RegistryService::with_options(mem.clone(), options));
    if strip_subject {
        rec = rec.stripping(&[OCI_SUBJECT]);
    }
    let host = common::serve(rec.clone()).await;
    (rec, host, mem)
}

async fn suite_client(options: Options, strip_subject: bool, page: usize) -> Arc<dyn Registry> {
    let (_, host, _) = upstream(options, strip_subject).await;
    Arc::new(common::client_with(&host, |o| o.list_page_size = page))
}

ociregistry_core::registry_behaviour_tests!(full as no_link, || suite_client(
    opts(|o| o.omit_link_header_from_responses = true),
    false,
    2
));
ociregistry_core::registry_behaviour_tests!(full as max_page_small, || suite_client(
    opts(|o| o.max_list_page_size = Some(1000)),
    false,
    2
));
ociregistry_core::registry_behaviour_tests!(full as max_page_over, || suite_client(
    opts(|o| o.max_list_page_size = Some(1000)),
    false,
    1001
));
ociregistry_core::registry_behaviour_tests!(full as no_tag_digest, || suite_client(
    opts(|o| o.omit_digest_from_tag_get_response = true),
    false,
    1000
));
ociregistry_core::registry_behaviour_tests!(full as ignored_paging, || suite_client(
    opts(|o| o.ignore_pagination = true),
    false,
    2
));
ociregistry_core::registry_behaviour_tests!(full as no_referrers_api, || suite_client(
    opts(|o| o.disable_referrers_api = true),
    true,
    2
));
ociregistry_core::registry_behaviour_tests!(full as no_subject_header, || suite_client(
    Options::default(),
    true,
    1000
));

/// Pushes `n` tags `t1`, `t2`, ... (in lexical order when n < 10) to `repo` in `mem`.
async fn tags_in(mem: &MemRegistry, repo: &str, n: usize) -> Vec<String> {
    let mut c = Content::new(repo);
    let image = c.image(0);
    push_image(mem, repo, None, &image).await;
    let mut names = Vec::new();
    for i in 1..=n {
        let t = format!("t{i}");
        push_manifest(mem, repo, Some(&t), &image.manifest).await;
        names.push(t);
    }
    names
}

fn gets(rec: &Recorder) -> Vec<String> {
    rec.requests()
        .into_iter()
        .filter(|r| r.starts_with("GET"))
        .collect()
}

#[tokio::test]
async fn no_link_pages_with_last() {
    let (rec, host, mem) =
        upstream(opts(|o| o.omit_link_header_from_responses = true), false).await;
    let want = tags_in(&mem, "a", 5).await;
    let client = common::client_with(&host, |o| o.list_page_size = 2);
    rec.clear();
    let got = stream::collect(client.tags(&Context::new(), "a", None))
        .await
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(
        gets(&rec),
        [
            "GET len=0 ?n=2",
            "GET len=0 ?n=2&last=t2",
            "GET len=0 ?n=2&last=t4"
        ]
    );
    // start_after is passed on as last.
    rec.clear();
    let got = stream::collect(client.tags(&Context::new(), "a", Some("t3")))
        .await
        .unwrap();
    assert_eq!(got, ["t4", "t5"]);
    assert_eq!(
        gets(&rec),
        ["GET len=0 ?n=2&last=t3", "GET len=0 ?n=2&last=t5"]
    );
}

#[tokio::test]
async fn link_pages() {
    let (rec, host, mem) = upstream(Options::default(), false).await;
    let want = tags_in(&mem, "a", 5).await;
    let client = common::client_with(&host, |o| o.list_page_size = 2);
    rec.clear();
    let got = stream::collect(client.tags(&Context::new(), "a", None))
        .await
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(gets(&rec).len(), 3, "{:?}", gets(&rec));
}

#[tokio::test]
async fn ecr_page_limit() {
    let (rec, host, mem) = upstream(opts(|o| o.max_list_page_size = Some(1000)), false).await;
    let want = tags_in(&mem, "a", 3).await;
    let client = common::client_with(&host, |o| o.list_page_size = 1001);
    rec.clear();
    let got = stream::collect(client.tags(&Context::new(), "a", None))
        .await
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(gets(&rec), ["GET len=0 ?n=1001", "GET len=0 ?n=1000"]);
    // The default page size is ECR's limit.
    let client = common::client(&host);
    rec.clear();
    stream::collect(client.repositories(&Context::new(), None))
        .await
        .unwrap();
    assert_eq!(gets(&rec), ["GET len=0 ?n=1000"]);
}

#[tokio::test]
async fn ignored_paging_never_loops() {
    let (rec, host, mem) = upstream(opts(|o| o.ignore_pagination = true), false).await;
    let want = tags_in(&mem, "a", 3).await;
    for (page, requests) in [(2, 1), (3, 2), (5, 1)] {
        let client = common::client_with(&host, |o| o.list_page_size = page);
        rec.clear();
        let got = stream::collect(client.tags(&Context::new(), "a", None))
            .await
            .unwrap();
        assert_eq!(got, want, "page size {page}");
        assert_eq!(
            gets(&rec).len(),
            requests,
            "page size {page}: {:?}",
            gets(&rec)
        );
        // Entries at or before start_after are dropped client-side.
        let got = stream::collect(client.tags(&Context::new(), "a", Some("t1")))
            .await
            .unwrap();
        assert_eq!(got, ["t2", "t3"], "page size {page}");
    }
}

#[tokio::test]
async fn tag_get_without_digest_is_hashed() {
    let (_, host, mem) =
        upstream(opts(|o| o.omit_digest_from_tag_get_response = true), false).await;
    let cx = Context::new();
    // A manifest larger than Go's 128 KiB in-memory threshold, and one larger than the cap.
    let big = Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(200 << 10)));
    let mt = "application/vnd.example.big+json";
    mem.push_manifest(&cx, "a", Some("big"), big.clone(), mt, None)
        .await
        .unwrap();
    let client = common::client(&host);
    let r = client.get_tag(&cx, "a", "big").await.unwrap();
    assert_eq!(r.descriptor().digest, Digest::sha256(&big));
    assert_eq!(r.descriptor().media_type, mt);
    assert_eq!(r.bytes(1 << 20).await.unwrap(), big);
    let d = client.resolve_tag(&cx, "a", "big").await.unwrap();
    assert_eq!(d.digest, Digest::sha256(&big));
    let small = common::client_with(&host, |o| o.max_manifest_size = 100 << 10);
    let e = small.get_tag(&cx, "a", "big").await.unwrap_err();
    assert!(e.is(&Code::SizeInvalid), "{e}");
}

/// Go's TestReferrersFallback, and the referrers tag maintenance the spec requires of clients.
#[tokio::test]
async fn referrers_tag_schema() {
    let (rec, host, mem) = upstream(opts(|o| o.disable_referrers_api = true), true).await;
    let client = common::client(&host);
    let cx = Context::new();
    let repo = "a";
    let mut c = Content::new("referrers_tag_schema");
    let subject = c.image(1);
    push_image(&client, repo, Some("v1"), &subject).await;
    let config = c.config();
    push_blobs(&client, repo, [&config]).await;
    let sd = subject.manifest.descriptor();
    let sbom = image_manifest(&config.descriptor(), &[])
        .subject(&sd)
        .artifact_type("application/vnd.example.sbom")
        .annotation("org.example.kind", "sbom")
        .build();
    let sig = image_manifest(&config.descriptor(), &[])
        .subject(&sd)
        .artifact_type("application/vnd.example.sig")
        .build();
    rec.clear();
    push_manifest(&client, repo, None, &sbom).await;
    // PUT the referrer, read the tag index (absent), PUT the index.
    assert_eq!(
        rec.requests(),
        [
            "PUT len=".to_owned() + &sbom.size().to_string(),
            "GET len=0".into(),
            rec.requests()[2].clone()
        ]
    );
    assert!(rec.requests()[2].starts_with("PUT"));
    push_manifest(&client, repo, None, &sig).await;
    // Pushing again changes nothing in the index.
    push_manifest(&client, repo, None, &sig).await;

    // The index is there, under the spec's tag, with artifact types and annotations.
    let tag = referrers_tag(&sd.digest);
    assert_eq!(tag, format!("sha256-{}", sd.digest.hex()));
    let index = mem.get_tag(&cx, repo, &tag).await.unwrap();
    assert_eq!(
        index.descriptor().media_type,
        "application/vnd.oci.image.index.v1+json"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&index.bytes(1 << 20).await.unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    let mut want = vec![sbom.referrer_descriptor(), sig.referrer_descriptor()];
    want.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));

    // Listing falls back to the tag, with and without a filter.
    let all = stream::collect(client.referrers(&cx, repo, &sd.digest, None))
        .await
        .unwrap();
    assert_eq!(all, want);
    let sboms = stream::collect(client.referrers(
        &cx,
        repo,
        &sd.digest,
        Some("application/vnd.example.sbom"),
    ))
    .await
    .unwrap();
    assert_eq!(sboms, [sbom.referrer_descriptor()]);
    let none = stream::collect(client.referrers(&cx, repo, &Digest::sha256(b"nothing"), None))
        .await
        .unwrap();
    assert!(none.is_empty());
    let none = stream::collect(client.referrers(&cx, "unknown/repo", &sd.digest, None))
        .await
        .unwrap();
    assert!(none.is_empty());

    // Deleting a referrer takes it out of the index.
    client
        .delete_manifest(&cx, repo, &sig.digest)
        .await
        .unwrap();
    let left = stream::collect(client.referrers(&cx, repo, &sd.digest, None))
        .await
        .unwrap();
    assert_eq!(left, [sbom.referrer_descriptor()]);
}

#[tokio::test]
async fn no_tag_maintenance_when_the_registry_indexes() {
    let (rec, host, mem) = upstream(Options::default(), false).await;
    let client = common::client(&host);
    let cx = Context::new();
    let mut c = Content::new("indexes");
    let subject = c.image(1);
    push_image(&client, "a", None, &subject).await;
    let config = c.config();
    push_blobs(&client, "a", [&config]).await;
    let sbom = image_manifest(&config.descriptor(), &[])
        .subject(&subject.manifest.descriptor())
        .artifact_type("application/vnd.example.sbom")
        .build();
    rec.clear();
    push_manifest(&client, "a", None, &sbom).await;
    assert_eq!(rec.requests().len(), 1, "{:?}", rec.requests());
    let tag = referrers_tag(&subject.manifest.digest);
    assert!(
        mem.get_tag(&cx, "a", &tag)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn referrers_filtered_client_side() {
    let (_, host, _) = upstream(opts(|o| o.disable_referrers_filtering = true), false).await;
    let client: Client = common::client(&host);
    ociregistry_core::testing::referrers_filter(Arc::new(client)).await;
}
