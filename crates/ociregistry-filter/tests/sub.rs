//! `Sub`: Go's `TestSub` (resolve, get and list through a prefix; `fooey` is not under `foo`),
//! and the fixes: `start_after` is prefixed, names are validated, mounts map both names.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use ociregistry_core::testing::{Content, assert_blob, push_blob, push_image};
use ociregistry_core::{Code, Context, Descriptor, Digest, Registry, Result, async_trait, stream};
use ociregistry_filter::{Sub, sub};
use ociregistry_mem::MemRegistry;

#[tokio::test]
async fn resolve_get_and_list_through_a_prefix() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("resolve_get_and_list_through_a_prefix");
    let image = c.image(1);
    push_image(&*mem, "foo/bar", Some("t1"), &image).await;
    ociregistry_core::testing::push_manifest(&*mem, "foo/bar", Some("t2"), &image.manifest).await;
    for repo in ["fooey", "other/blah", "foo"] {
        push_image(&*mem, repo, Some("t1"), &c.image(0)).await;
    }

    let r = sub(Arc::clone(&mem), "foo").unwrap();
    let cx = Context::new();
    let desc = r.resolve_tag(&cx, "bar", "t1").await.unwrap();
    assert_eq!(desc.digest, image.manifest.digest);
    let manifest = r.get_manifest(&cx, "bar", &desc.digest).await.unwrap();
    let manifest = manifest.bytes(1 << 20).await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(layer, image.layers[0].digest);
    assert_blob(&r, "bar", &image.layers[0]).await;

    assert_eq!(
        stream::collect(r.repositories(&cx, None)).await.unwrap(),
        ["bar"]
    );
    assert_eq!(
        stream::collect(r.tags(&cx, "bar", None)).await.unwrap(),
        ["t1", "t2"]
    );
    // `fooey` is not `foo/ey`, and `foo` itself is not a repository of the view.
    let e = r.resolve_tag(&cx, "ey", "t1").await.unwrap_err();
    assert_eq!(e.code(), &Code::NameUnknown);
    // The inner error names the repository as the caller did.
    assert_eq!(e.message(), "repository ey not known to registry");
}

#[tokio::test]
async fn listing_resumes_after_start_after() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("listing_resumes_after_start_after");
    for repo in [
        "a", "foo", "foo-x", "foo/a", "foo/b", "foo/b/c", "foo/d", "foo0", "fooey", "z",
    ] {
        push_blob(&*mem, repo, &c.layer(3)).await;
    }
    let r = sub(Arc::clone(&mem), "foo").unwrap();
    let cx = Context::new();
    let list = |after: Option<&'static str>| stream::collect(r.repositories(&cx, after));
    assert_eq!(list(None).await.unwrap(), ["a", "b", "b/c", "d"]);
    // Go passed start_after on unprefixed: `a` would have listed everything from `foo` on.
    assert_eq!(list(Some("a")).await.unwrap(), ["b", "b/c", "d"]);
    assert_eq!(list(Some("b")).await.unwrap(), ["b/c", "d"]);
    assert_eq!(list(Some("b/c")).await.unwrap(), ["d"]);
    assert_eq!(list(Some("c")).await.unwrap(), ["d"]);
    assert!(list(Some("d")).await.unwrap().is_empty());
    // A paginated walk sees everything once.
    let mut walked = Vec::new();
    let mut after = None::<String>;
    loop {
        let page: Vec<String> = stream::collect(r.repositories(&cx, after.as_deref()))
            .await
            .unwrap()
            .into_iter()
            .take(1)
            .collect();
        let Some(last) = page.last().cloned() else {
            break;
        };
        walked.extend(page);
        after = Some(last);
    }
    assert_eq!(walked, ["a", "b", "b/c", "d"]);
}

/// A catalog that records the `start_after` it was asked for.
struct Catalog(Mutex<Vec<Option<String>>>);

impl Registry for Catalog {
    fn repositories(&self, _cx: &Context, start_after: Option<&str>) -> stream::ListStream<String> {
        self.0.lock().unwrap().push(start_after.map(str::to_owned));
        stream::iter(vec![
            "foo/x".to_owned(),
            "fooa".to_owned(),
            "never/reached".to_owned(),
        ])
    }
}

#[tokio::test]
async fn listing_seeks_instead_of_scanning() {
    let inner = Arc::new(Catalog(Mutex::default()));
    let r = sub(Arc::clone(&inner), "foo").unwrap();
    let cx = Context::new();
    assert_eq!(
        stream::collect(r.repositories(&cx, None)).await.unwrap(),
        ["x"]
    );
    assert!(
        stream::collect(r.repositories(&cx, Some("x")))
            .await
            .unwrap()
            .is_empty()
    );
    let asked = inner.0.lock().unwrap().clone();
    assert_eq!(asked, [Some("foo/".to_owned()), Some("foo/x".to_owned())]);
}

#[tokio::test]
async fn names_are_validated() {
    let mem = Arc::new(MemRegistry::new());
    let r = sub(Arc::clone(&mem), "foo").unwrap();
    let cx = Context::new();
    for bad in ["", "..", "../bar", "a/../../b", "Bar", "/bar"] {
        let e = r.push_blob_chunked(&cx, bad, None).await.err().unwrap();
        assert_eq!(e.code(), &Code::NameInvalid, "{bad:?}");
        let e = stream::collect(r.tags(&cx, bad, None)).await.unwrap_err();
        assert_eq!(e.code(), &Code::NameInvalid, "{bad:?}");
    }
    let e = Sub::new(MemRegistry::new(), "foo/").unwrap_err();
    assert_eq!(e.code(), &Code::NameInvalid);
    // Nothing was created, under the prefix or elsewhere.
    assert!(
        stream::collect(mem.repositories(&cx, None))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn mounts_map_both_names() {
    let mem = Arc::new(MemRegistry::new());
    let blob = Content::new("mounts_map_both_names").layer(30);
    push_blob(&*mem, "foo/a", &blob).await;
    push_blob(&*mem, "a", &blob).await;
    let r = sub(Arc::clone(&mem), "foo").unwrap();
    let cx = Context::new();
    r.mount_blob(&cx, Some("a"), "b", &blob.digest)
        .await
        .unwrap();
    assert_blob(&*mem, "foo/b", &blob).await;
    // The source is inside the prefix too: the root's `a` is not reachable as `../a`.
    let e = r
        .mount_blob(&cx, Some("../a"), "c", &blob.digest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::NameInvalid);
    // Anonymous mounts could take the blob from outside the prefix: refused.
    let e = r
        .mount_blob(&cx, None, "c", &blob.digest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Unsupported);
    let repos = stream::collect(mem.repositories(&cx, None)).await.unwrap();
    assert_eq!(repos, ["a", "foo/a", "foo/b"]);
    // Through an empty prefix, anonymous mounts pass.
    sub(Arc::clone(&mem), "")
        .unwrap()
        .mount_blob(&cx, None, "d", &blob.digest)
        .await
        .unwrap();
    assert_blob(&*mem, "d", &blob).await;
}

/// A context value some client layer might carry: the repositories it may touch.
#[derive(Clone, Debug, PartialEq)]
struct Scope(Vec<String>);

/// A registry that records the scope it was called with.
#[derive(Default)]
struct ScopeRecorder(Mutex<Vec<Option<Scope>>>);

#[async_trait]
impl Registry for ScopeRecorder {
    async fn resolve_blob(
        &self,
        cx: &Context,
        _repo: &str,
        _digest: &Digest,
    ) -> Result<Descriptor> {
        self.0.lock().unwrap().push(cx.get::<Scope>().cloned());
        Err(ociregistry_core::Error::from_code(Code::BlobUnknown))
    }
}

#[tokio::test]
async fn the_context_mapper_rewrites_what_the_inner_registry_sees() {
    let inner = Arc::new(ScopeRecorder::default());
    let r = Sub::new(Arc::clone(&inner), "foo/bar")
        .unwrap()
        .with_context_mapper(|cx, prefix| match cx.get::<Scope>() {
            Some(Scope(repos)) => cx.clone().with(Scope(
                repos.iter().map(|r| format!("{prefix}/{r}")).collect(),
            )),
            None => cx.clone(),
        });
    let cx = Context::new().with(Scope(vec!["a/b".into(), "foo".into()]));
    let d = Digest::sha256(b"");
    r.resolve_blob(&cx, "some/repo", &d).await.unwrap_err();
    r.resolve_blob(&Context::new(), "some/repo", &d)
        .await
        .unwrap_err();
    let seen = inner.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Some(Scope(vec!["foo/bar/a/b".into(), "foo/bar/foo".into()])),
            None
        ]
    );
}
