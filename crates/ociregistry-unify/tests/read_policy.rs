//! The read policies: sequential asks in order and falls through on any error; concurrent
//! returns the first success even while another registry hangs forever (and drops that request);
//! when every registry fails, the most informative error.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use ociregistry_core::testing::{assert_blob, push_blob, read_all};
use ociregistry_core::{BlobReader, ByteRange, Code, Context, Error, Funcs, Registry, Result};
use ociregistry_unify::{ReadPolicy, Unify, unify};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A registry whose `get_blob` and `resolve_blob` never complete; `dropped` tells whether a
/// pending `get_blob` was dropped.
fn hanging(dropped: Arc<AtomicBool>) -> Arc<dyn Registry> {
    Arc::new(
        Funcs::new()
            .with_get_blob(move |_cx, _repo, _digest| {
                let flag = DropFlag(dropped.clone());
                async move {
                    let _flag = flag;
                    std::future::pending::<Result<BlobReader>>().await
                }
            })
            .with_resolve_blob(|_cx, _repo, _digest| std::future::pending()),
    )
}

fn broken(code: Code) -> Faulty {
    let f = Faulty::new(mem());
    for op in ["get_blob", "get_blob_range", "resolve_blob", "get_manifest"] {
        f.fail(op, code.clone());
    }
    f
}

#[tokio::test]
async fn sequential_falls_through_on_error_and_stops_at_the_first_success() {
    let repo = "seq/a";
    let (first, second, third) = (
        broken(Code::Unknown),
        Faulty::new(mem()),
        Faulty::new(mem()),
    );
    let u = union_of(
        vec![
            Arc::new(first.clone()),
            Arc::new(second.clone()),
            Arc::new(third.clone()),
        ],
        ReadPolicy::Sequential,
    );
    let blob = content("seq").layer(1000);
    push_blob(&u, repo, &blob).await;
    assert_blob(&u, repo, &blob).await;
    let cx = Context::new();
    let r = u
        .get_blob_range(&cx, repo, &blob.digest, ByteRange::From(990))
        .await
        .unwrap();
    assert_eq!(read_all(r, "range").await, blob.data.slice(990..));
    // Each read asked the first (which failed) and the second (which answered); never the third.
    assert_eq!(first.calls("get_blob"), 1);
    assert_eq!(second.calls("get_blob"), 1);
    assert_eq!(third.calls("get_blob"), 0);
    assert_eq!(third.calls("get_blob_range"), 0);
}

#[tokio::test]
async fn concurrent_returns_the_first_success_while_another_registry_hangs() {
    let repo = "conc/a";
    let dropped = Arc::new(AtomicBool::new(false));
    let a = mem();
    let blob = content("conc").layer(5000);
    push_blob(&*a, repo, &blob).await;
    let u = union_of(
        vec![hanging(dropped.clone()), a.clone()],
        ReadPolicy::Concurrent,
    );
    let cx = Context::new();
    let reader = tokio::time::timeout(TIMEOUT, u.get_blob(&cx, repo, &blob.digest))
        .await
        .expect("the concurrent read waited for the hanging registry")
        .unwrap();
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hanging request was not cancelled"
    );
    assert_eq!(read_all(reader, "get_blob").await, blob.data);
    let desc = tokio::time::timeout(TIMEOUT, u.resolve_blob(&cx, repo, &blob.digest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(desc.size, 5000);
}

/// The first answer to arrive is an error: the concurrent read waits for a success.
#[tokio::test]
async fn concurrent_waits_past_a_quick_failure() {
    let repo = "conc/slow";
    let a = mem();
    let blob = content("conc-slow").layer(10);
    push_blob(&*a, repo, &blob).await;
    let slow: Arc<dyn Registry> = Arc::new(Funcs::new().with_resolve_blob(move |cx, repo, d| {
        let a = a.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            a.resolve_blob(&cx, &repo, &d).await
        }
    }));
    let u = union_of(
        vec![Arc::new(broken(Code::Denied)), slow],
        ReadPolicy::Concurrent,
    );
    let desc = tokio::time::timeout(TIMEOUT, u.resolve_blob(&Context::new(), repo, &blob.digest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(desc.digest, blob.digest);
}

/// When every registry fails, the most informative error: a real failure over a specific
/// not-found over NAME_UNKNOWN over UNSUPPORTED, the first registry's among equals.
#[tokio::test]
async fn every_registry_failing_gives_the_most_informative_error() {
    let repo = "fail/a";
    let with_repo = mem();
    push_blob(&*with_repo, repo, &content("fail").layer(3)).await;
    let d = content("missing").layer(3).digest;
    let cx = Context::new();
    let check = |registries: Vec<Arc<dyn Registry>>, want: Code| {
        let d = d.clone();
        let cx = cx.clone();
        async move {
            for policy in [ReadPolicy::Sequential, ReadPolicy::Concurrent] {
                let u: Unify = union_of(registries.clone(), policy);
                let err: Error = u.get_blob(&cx, repo, &d).await.unwrap_err();
                assert!(err.is(&want), "{policy:?}: got {err}, want {want}");
            }
        }
    };
    let unsupported: Arc<dyn Registry> = Arc::new(Funcs::new());
    // NAME_UNKNOWN (no such repository) vs BLOB_UNKNOWN: the blob is unknown.
    check(vec![mem(), with_repo.clone()], Code::BlobUnknown).await;
    check(vec![unsupported.clone(), mem()], Code::NameUnknown).await;
    check(
        vec![unsupported.clone(), unsupported.clone()],
        Code::Unsupported,
    )
    .await;
    check(
        vec![mem(), Arc::new(broken(Code::Denied)), with_repo.clone()],
        Code::Denied,
    )
    .await;
}

/// Tags are read from every registry whatever the policy: a registry that is not first in line
/// is still asked.
#[tokio::test]
async fn tags_are_read_from_every_registry() {
    let repo = "tags/a";
    let (a, b) = (Faulty::new(mem()), Faulty::new(mem()));
    let u = unify(Arc::new(a.clone()), Arc::new(b.clone()));
    let image = content("tags").image(1);
    push_image_blobs(&u, repo, &image).await;
    ociregistry_core::testing::push_manifest(&u, repo, Some("v1"), &image.manifest).await;
    ociregistry_core::testing::assert_tag(&u, repo, "v1", &image.manifest).await;
    assert_eq!(a.calls("get_tag"), 1);
    assert_eq!(b.calls("get_tag"), 1);
    assert_eq!(b.calls("resolve_tag"), a.calls("resolve_tag"));
}
