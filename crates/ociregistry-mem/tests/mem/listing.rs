//! Repository and tag listings.

use futures_util::StreamExt;
use ociregistry_core::{Code, Registry};
use ociregistry_mem::MemRegistry;

use crate::common::*;

#[tokio::test]
async fn repositories_in_lexical_order_after_start() {
    let r = MemRegistry::new();
    for repo in ["b", "a/z", "a", "c/d/e", "a-b"] {
        push_blob(&r, repo, LAYER_TYPE, repo.as_bytes()).await;
    }
    assert_eq!(
        list(r.repositories(&cx(), None)).await.unwrap(),
        ["a", "a-b", "a/z", "b", "c/d/e"]
    );
    assert_eq!(
        list(r.repositories(&cx(), Some("a/z"))).await.unwrap(),
        ["b", "c/d/e"]
    );
    assert_eq!(
        list(r.repositories(&cx(), Some("a/y"))).await.unwrap(),
        ["a/z", "b", "c/d/e"]
    );
    assert!(
        list(r.repositories(&cx(), Some("z")))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        list(MemRegistry::new().repositories(&cx(), None))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tags_page_across_batches() {
    let r = MemRegistry::new();
    let config = push_blob(&r, "many", CONFIG_TYPE, b"{}").await;
    let m = image(&config, &[], None, &[]);
    let mut want: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
    for tag in &want {
        push_manifest(&r, "many", Some(tag), &m, OCI_MANIFEST)
            .await
            .unwrap();
    }
    want.sort();
    assert_eq!(list(r.tags(&cx(), "many", None)).await.unwrap(), want);
    let after = &want[299];
    assert_eq!(
        list(r.tags(&cx(), "many", Some(after))).await.unwrap(),
        &want[300..]
    );
    // A start between keys.
    assert_eq!(
        list(r.tags(&cx(), "many", Some("v5"))).await.unwrap()[0],
        "v50"
    );
    // Taking a page leaves the rest unfetched; tags added meanwhile past the cursor show up.
    let mut s = r.tags(&cx(), "many", None);
    let first: Vec<String> = (&mut s).take(10).map(|t| t.unwrap()).collect().await;
    assert_eq!(first, &want[..10]);
    push_manifest(&r, "many", Some("zzz"), &m, OCI_MANIFEST)
        .await
        .unwrap();
    let rest: Vec<String> = s.map(|t| t.unwrap()).collect().await;
    assert_eq!(rest.len(), 991);
    assert_eq!(rest.last().unwrap(), "zzz");
}

#[tokio::test]
async fn tags_of_an_unknown_repository() {
    let r = MemRegistry::new();
    let mut s = r.tags(&cx(), "nope", None);
    let first = s.next().await.unwrap();
    assert_eq!(code(first), Code::NameUnknown);
    assert!(s.next().await.is_none());
    // A repository with blobs only has no tags.
    push_blob(&r, "blobs", LAYER_TYPE, b"x").await;
    assert!(list(r.tags(&cx(), "blobs", None)).await.unwrap().is_empty());
}
