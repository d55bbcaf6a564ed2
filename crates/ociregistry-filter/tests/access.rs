//! `AccessChecker`: the exact accesses asked for each operation (Go's
//! `TestAccessCheckerErrorReturn` and `TestAccessCheckerAccessRequest`), and denials on every
//! side path where registries have had authorization bugs.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ociregistry_core::bytes::Bytes;
use ociregistry_core::testing::{Content, push_blob, push_image, push_manifest};
use ociregistry_core::{
    ByteRange, Code, Context, Descriptor, Digest, Error, Identity, Operation, Registry, stream,
};
use ociregistry_filter::{
    Access, AccessChecker, AccessKind, AccessPolicy, DeleteTarget, deny_as_not_found, policy_fn,
};
use ociregistry_mem::MemRegistry;

fn digest() -> Digest {
    Digest::parse("sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
        .unwrap()
}

fn user(name: &str) -> Context {
    Context::new().with_identity(Identity::User(name.into()))
}

/// A registry whose every operation fails with the code `INNER`, naming the operation.
struct Failing;

impl Registry for Failing {
    fn unsupported(&self, operation: Operation, repo: &str) -> Error {
        Error::new(Code::Other("INNER".into()), format!("{operation} {repo}"))
    }
}

/// A policy that allows everything and records what it was asked, with the caller.
#[derive(Default)]
struct Recorder(Mutex<Vec<(Option<String>, Access)>>);

impl Recorder {
    fn take(&self) -> Vec<Access> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .map(|(_, a)| a)
            .collect()
    }
}

#[ociregistry_core::async_trait]
impl AccessPolicy for Recorder {
    async fn check(&self, cx: &Context, access: &Access) -> ociregistry_core::Result<()> {
        let who = cx.identity().user().map(str::to_owned);
        self.0.lock().unwrap().push((who, access.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn error_is_returned_unchanged() {
    let policy = policy_fn(|cx, access| {
        assert_eq!(cx.identity().user(), Some("alice"));
        assert_eq!(access, &Access::read("foo/bar"));
        Err(Error::new(Code::Other("SOME_ERROR".into()), "some error"))
    });
    let r = AccessChecker::new(MemRegistry::new(), policy);
    let err = r
        .get_tag(&user("alice"), "foo/bar", "t1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), &Code::Other("SOME_ERROR".into()));
    assert_eq!(err.message(), "some error");
}

/// The accesses asked for by each of the 18 operations, in order; the operation then reaches
/// the inner registry (its error comes back).
#[tokio::test]
async fn access_requests_of_every_operation() {
    let recorder = Arc::new(Recorder::default());
    let r = AccessChecker::new(Failing, Arc::clone(&recorder));
    let cx = user("alice");
    let d = digest();
    let read = || vec![Access::read("foo/read")];
    let write = || vec![Access::write("foo/write")];

    let inner_err = |e: Error, op: &str, repo: &str| {
        assert_eq!(e.code(), &Code::Other("INNER".into()), "{op}: {e}");
        assert_eq!(e.message(), format!("{op} {repo}"));
    };

    let check = |op: &str, repo: &str, got: Result<(), Error>, want: Vec<Access>| {
        inner_err(got.unwrap_err(), op, repo);
        assert_eq!(recorder.take(), want, "{op}");
    };

    check(
        "get_blob",
        "foo/read",
        r.get_blob(&cx, "foo/read", &d).await.map(drop),
        read(),
    );
    check(
        "get_blob_range",
        "foo/read",
        r.get_blob_range(
            &cx,
            "foo/read",
            &d,
            ByteRange::Bounded {
                start: 100,
                end: 200,
            },
        )
        .await
        .map(drop),
        read(),
    );
    check(
        "get_manifest",
        "foo/read",
        r.get_manifest(&cx, "foo/read", &d).await.map(drop),
        read(),
    );
    check(
        "get_tag",
        "foo/read",
        r.get_tag(&cx, "foo/read", "sometag").await.map(drop),
        read(),
    );
    check(
        "resolve_blob",
        "foo/read",
        r.resolve_blob(&cx, "foo/read", &d).await.map(drop),
        read(),
    );
    check(
        "resolve_manifest",
        "foo/read",
        r.resolve_manifest(&cx, "foo/read", &d).await.map(drop),
        read(),
    );
    check(
        "resolve_tag",
        "foo/read",
        r.resolve_tag(&cx, "foo/read", "sometag").await.map(drop),
        read(),
    );
    check(
        "push_blob",
        "foo/write",
        r.push_blob(
            &cx,
            "foo/write",
            &Descriptor::new("application/json", d.clone(), 3),
            stream::bytes(Bytes::from_static(b"foo")),
        )
        .await
        .map(drop),
        write(),
    );
    check(
        "push_blob_chunked",
        "foo/write",
        r.push_blob_chunked(&cx, "foo/write", None).await.map(drop),
        write(),
    );
    check(
        "push_blob_chunked_resume",
        "foo/write",
        r.push_blob_chunked_resume(&cx, "foo/write", "someid", Some(3), None)
            .await
            .map(drop),
        write(),
    );
    check(
        "mount_blob",
        "foo/write",
        r.mount_blob(&cx, Some("foo/read"), "foo/write", &d)
            .await
            .map(drop),
        vec![Access::read("foo/read"), Access::write("foo/write")],
    );
    check(
        "push_manifest",
        "foo/write",
        r.push_manifest(
            &cx,
            "foo/write",
            Some("sometag"),
            Bytes::from_static(b"something"),
            "application/json",
            None,
        )
        .await
        .map(drop),
        vec![Access::write_tags("foo/write", vec!["sometag".into()])],
    );
    check(
        "push_manifest",
        "foo/write",
        r.push_manifest(
            &cx,
            "foo/write",
            None,
            Bytes::from_static(b"something"),
            "application/json",
            None,
        )
        .await
        .map(drop),
        write(),
    );
    check(
        "delete_blob",
        "foo/write",
        r.delete_blob(&cx, "foo/write", &d).await,
        vec![Access::delete("foo/write", DeleteTarget::Blob(d.clone()))],
    );
    check(
        "delete_manifest",
        "foo/write",
        r.delete_manifest(&cx, "foo/write", &d).await,
        vec![Access::delete(
            "foo/write",
            DeleteTarget::Manifest(d.clone()),
        )],
    );
    check(
        "delete_tag",
        "foo/write",
        r.delete_tag(&cx, "foo/write", "sometag").await,
        vec![Access::delete(
            "foo/write",
            DeleteTarget::Tag("sometag".into()),
        )],
    );
    check(
        "repositories",
        "",
        stream::collect(r.repositories(&cx, None)).await.map(drop),
        vec![Access::catalog()],
    );
    check(
        "tags",
        "foo/read",
        stream::collect(r.tags(&cx, "foo/read", None))
            .await
            .map(drop),
        vec![Access::list("foo/read")],
    );
    check(
        "referrers",
        "foo/read",
        stream::collect(r.referrers(&cx, "foo/read", &d, None))
            .await
            .map(drop),
        vec![Access::list("foo/read"), Access::read("foo/read")],
    );

    // An anonymous mount needs read access to every repository (its source could be any),
    // then write access to the target.
    check(
        "mount_blob",
        "foo/write",
        r.mount_blob(&cx, None, "foo/write", &d).await.map(drop),
        vec![Access::read(Access::CATALOG), Access::write("foo/write")],
    );

    // The policy sees the caller.
    r.resolve_tag(&cx, "foo/read", "t").await.unwrap_err();
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen, [(Some("alice".into()), Access::read("foo/read"))]);
}

/// Permissions per user and repository: `read`, `write`, `delete`, `list`, and
/// `write-tag:PREFIX` (tags a user may push: those starting with PREFIX).
fn permissions(table: &[(&str, &str, &[&str])]) -> impl AccessPolicy + use<> {
    let table: HashMap<(String, String), HashSet<String>> = table
        .iter()
        .map(|(u, r, p)| {
            (
                (u.to_string(), r.to_string()),
                p.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    policy_fn(move |cx, access| {
        let Some(user) = cx.identity().user() else {
            return Err(Error::new(Code::Unauthorized, "log in"));
        };
        if access.is_catalog() {
            return Ok(());
        }
        let perms = table.get(&(user.to_owned(), access.repository.clone()));
        let has = |p: &str| perms.is_some_and(|perms| perms.contains(p));
        let ok = match &access.kind {
            AccessKind::Read => has("read"),
            AccessKind::List => has("list"),
            AccessKind::Delete(DeleteTarget::Tag(_)) => has("delete") || has("delete-tag"),
            AccessKind::Delete(_) => has("delete"),
            AccessKind::Write { tags } => {
                has("write")
                    && tags.iter().all(|t| {
                        perms.is_some_and(|perms| {
                            perms.iter().any(|p| {
                                p.strip_prefix("write-tag:")
                                    .is_some_and(|prefix| t.starts_with(prefix))
                            })
                        })
                    })
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(Code::Denied, format!("{user} may not {access}")))
        }
    })
}

const ALL: &[&str] = &["read", "write", "write-tag:", "delete", "list"];

#[tokio::test]
async fn mount_needs_read_on_the_source() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("mount_needs_read_on_the_source");
    let secret = c.layer(100);
    let absent = c.layer(100);
    push_blob(&*mem, "a", &secret).await;
    push_blob(&*mem, "b", &c.layer(5)).await;
    let policy = permissions(&[
        ("bob", "b", &["read", "write", "list"]),
        ("alice", "a", &["read"]),
        ("alice", "b", &["read", "write"]),
    ]);
    let r = AccessChecker::new(Arc::clone(&mem), policy);

    // Bob may write B but not read A: the mount fails the same whether or not A has the blob.
    let e1 = r
        .mount_blob(&user("bob"), Some("a"), "b", &secret.digest)
        .await
        .unwrap_err();
    let e2 = r
        .mount_blob(&user("bob"), Some("a"), "b", &absent.digest)
        .await
        .unwrap_err();
    let e3 = r
        .mount_blob(&user("bob"), Some("nonexistent"), "b", &secret.digest)
        .await
        .unwrap_err();
    assert_eq!(e1.code(), &Code::Denied);
    assert_eq!(e1.message(), "bob may not read a");
    assert_eq!((e2.code(), e2.message()), (e1.code(), e1.message()));
    assert_eq!(e3.code(), &Code::Denied);
    let e = mem.resolve_blob(&Context::new(), "b", &secret.digest).await;
    assert!(e.unwrap_err().is(&Code::BlobUnknown));

    // Hiding refusals as missing repositories: the answer is the one of a missing repository.
    let hidden = AccessChecker::new(
        Arc::clone(&mem),
        deny_as_not_found(permissions(&[("bob", "b", &["read", "write"])])),
    );
    let e1 = hidden
        .mount_blob(&user("bob"), Some("a"), "b", &secret.digest)
        .await
        .unwrap_err();
    let e2 = hidden
        .mount_blob(&user("bob"), Some("a"), "b", &absent.digest)
        .await
        .unwrap_err();
    let missing = mem
        .mount_blob(&Context::new(), Some("nope"), "b", &secret.digest)
        .await
        .unwrap_err();
    assert_eq!(e1.code(), &Code::NameUnknown);
    assert_eq!(e1.message(), "repository a not known to registry");
    assert_eq!((e2.code(), e2.message()), (e1.code(), e1.message()));
    assert_eq!(missing.code(), e1.code());

    // Alice reads A and writes B: the mount works.
    let desc = r
        .mount_blob(&user("alice"), Some("a"), "b", &secret.digest)
        .await
        .unwrap();
    assert_eq!(desc.digest, secret.digest);
    // ... but she may not mount into A, which she only reads.
    let e = r
        .mount_blob(&user("alice"), Some("b"), "a", &secret.digest)
        .await
        .unwrap_err();
    assert_eq!(e.message(), "alice may not write a");
}

#[tokio::test]
async fn anonymous_mount_is_refused() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("anonymous_mount_is_refused");
    let blob = c.layer(100);
    push_blob(&*mem, "a", &blob).await;
    push_blob(&*mem, "b", &c.layer(3)).await;
    let r = AccessChecker::new(
        Arc::clone(&mem),
        permissions(&[("root", "a", ALL), ("root", "b", ALL)]),
    );
    let e = r
        .mount_blob(&user("root"), None, "b", &blob.digest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Unsupported);
    let e = mem.resolve_blob(&Context::new(), "b", &blob.digest).await;
    assert!(e.unwrap_err().is(&Code::BlobUnknown));
    // A caller who may read everything may mount without naming the source.
    let r = AccessChecker::new(
        Arc::clone(&mem),
        permissions(&[("root", "*", &["read"]), ("root", "b", ALL)]),
    );
    r.mount_blob(&user("root"), None, "b", &blob.digest)
        .await
        .unwrap();
    assert_eq!(
        mem.resolve_blob(&Context::new(), "b", &blob.digest)
            .await
            .unwrap()
            .digest,
        blob.digest
    );
}

#[tokio::test]
async fn tagged_push_needs_write_and_shows_the_tag() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("tagged_push_needs_write_and_shows_the_tag");
    let image = c.image(1);
    let policy = permissions(&[
        ("dev", "app", &["read", "write", "write-tag:dev-"]),
        ("reader", "app", &["read"]),
    ]);
    let r = AccessChecker::new(Arc::clone(&mem), policy);
    let dev = user("dev");
    for blob in std::iter::once(&image.config).chain(&image.layers) {
        r.push_blob(&dev, "app", &blob.descriptor(), blob.stream(64))
            .await
            .unwrap();
    }
    let m = &image.manifest;
    let push = |cx: Context, tag: Option<&'static str>| {
        let r = &r;
        async move {
            r.push_manifest(&cx, "app", tag, m.data.clone(), &m.media_type, None)
                .await
        }
    };
    push(dev.clone(), Some("dev-1")).await.unwrap();
    push(dev.clone(), None).await.unwrap();
    let e = push(dev.clone(), Some("latest")).await.unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    assert_eq!(e.message(), "dev may not write app (tags latest)");
    let e = push(user("reader"), None).await.unwrap_err();
    assert_eq!(e.message(), "reader may not write app");
    let e = push(Context::new(), Some("dev-2")).await.unwrap_err();
    assert_eq!(e.code(), &Code::Unauthorized);

    let tags = stream::collect(mem.tags(&Context::new(), "app", None))
        .await
        .unwrap();
    assert_eq!(tags, ["dev-1"]);
}

#[tokio::test]
async fn deletes_need_delete() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("deletes_need_delete");
    let image = c.image(1);
    push_image(&*mem, "app", Some("v1"), &image).await;
    push_manifest(&*mem, "app", Some("v2"), &image.manifest).await;
    let policy = permissions(&[
        ("writer", "app", &["read", "write", "write-tag:", "list"]),
        ("tagger", "app", &["read", "delete-tag"]),
    ]);
    let r = AccessChecker::new(Arc::clone(&mem), policy);
    let writer = user("writer");
    let d = &image.manifest.digest;

    // A tag delete is a delete: write permission is not enough.
    let e = r.delete_tag(&writer, "app", "v1").await.unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    assert_eq!(e.message(), "writer may not delete tag v1 of app");
    let e = r.delete_manifest(&writer, "app", d).await.unwrap_err();
    assert_eq!(
        e.message(),
        format!("writer may not delete manifest {d} of app")
    );
    let e = r
        .delete_blob(&writer, "app", &image.config.digest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    let tags = stream::collect(r.tags(&writer, "app", None)).await.unwrap();
    assert_eq!(tags, ["v1", "v2"]);

    // The policy tells the targets apart: tags but not manifests.
    let tagger = user("tagger");
    r.delete_tag(&tagger, "app", "v1").await.unwrap();
    let e = r.delete_manifest(&tagger, "app", d).await.unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    r.resolve_tag(&tagger, "app", "v2").await.unwrap();
    r.resolve_tag(&tagger, "app", "v1").await.unwrap_err();
}

#[tokio::test]
async fn listings_show_only_what_the_caller_may_read() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("listings_show_only_what_the_caller_may_read");
    let subject = c.image(1);
    for repo in ["alice/app", "alice/lib", "bob/app", "shared"] {
        push_image(&*mem, repo, Some("v1"), &subject).await;
        let config = c.config();
        push_blob(&*mem, repo, &config).await;
        let referrer = ociregistry_core::testing::image_manifest(&config.descriptor(), &[])
            .subject(&subject.manifest.descriptor())
            .artifact_type("application/vnd.example.sig")
            .build();
        push_manifest(&*mem, repo, None, &referrer).await;
    }
    let policy = permissions(&[
        ("alice", "alice/app", ALL),
        ("alice", "alice/lib", ALL),
        ("alice", "shared", &["read", "list"]),
        ("bob", "bob/app", ALL),
        ("bob", "shared", &["list"]),
    ]);
    let r = AccessChecker::new(Arc::clone(&mem), policy);
    let alice = user("alice");
    let bob = user("bob");
    let repos = |cx: Context, after: Option<&'static str>| {
        let items = r.repositories(&cx, after);
        async move { stream::collect(items).await.unwrap() }
    };

    // The catalog: each sees their own, and what they may read; never another user's.
    assert_eq!(
        repos(alice.clone(), None).await,
        ["alice/app", "alice/lib", "shared"]
    );
    assert_eq!(
        repos(alice.clone(), Some("alice/app")).await,
        ["alice/lib", "shared"]
    );
    assert_eq!(repos(bob.clone(), None).await, ["bob/app"]);
    assert!(repos(user("eve"), None).await.is_empty());

    let d = &subject.manifest.digest;
    // Referrers of a repository the caller may not read reveal nothing: bob may list
    // `shared` but not read it, so he gets an empty list, as for an unknown subject.
    assert_eq!(
        stream::collect(r.referrers(&alice, "shared", d, None))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        stream::collect(r.referrers(&bob, "shared", d, None))
            .await
            .unwrap()
            .is_empty()
    );
    // Without any access to alice/app, tags and referrers yield only the refusal.
    for (what, items) in [
        ("tags", r.tags(&bob, "alice/app", None).map_ok_len()),
        (
            "referrers",
            r.referrers(&bob, "alice/app", d, None).map_ok_len(),
        ),
    ] {
        let items: Vec<_> = futures_util::StreamExt::collect(items).await;
        assert_eq!(items.len(), 1, "{what}");
        assert_eq!(
            items[0].as_ref().unwrap_err().message(),
            "bob may not list alice/app",
            "{what}"
        );
    }
}

/// Makes streams of any item type comparable by yielding item counts.
trait MapOkLen {
    fn map_ok_len(self) -> stream::ListStream<()>;
}

impl<T: Send + 'static> MapOkLen for stream::ListStream<T> {
    fn map_ok_len(self) -> stream::ListStream<()> {
        Box::pin(futures_util::StreamExt::map(self, |i| i.map(drop)))
    }
}

#[tokio::test]
async fn catalog_policy_failure_ends_the_listing() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("catalog_policy_failure_ends_the_listing");
    for repo in ["a", "b", "c", "d"] {
        push_blob(&*mem, repo, &c.layer(3)).await;
    }
    let policy = policy_fn(|_, access| match access.repository.as_str() {
        "a" | "*" => Ok(()),
        "b" => Err(Error::from_code(Code::Denied)),
        _ => Err(Error::new(Code::Unknown, "policy store unreachable")),
    });
    let r = AccessChecker::new(mem, policy);
    let items: Vec<_> =
        futures_util::StreamExt::collect(r.repositories(&Context::new(), None)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "a");
    assert_eq!(
        items[1].as_ref().unwrap_err().message(),
        "policy store unreachable"
    );
}

#[tokio::test]
async fn hidden_repositories_look_missing() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("hidden_repositories_look_missing");
    let image = c.image(1);
    push_image(&*mem, "private/secret", Some("v1"), &image).await;
    let policy = deny_as_not_found(permissions(&[("owner", "private/secret", ALL)]));
    let r = AccessChecker::new(Arc::clone(&mem), policy);
    let eve = user("eve");
    let d = &image.manifest.digest;

    // Every read of an existing hidden repository answers as for a missing one.
    for repo in ["private/secret", "private/missing"] {
        let errors = [
            r.resolve_tag(&eve, repo, "v1").await.unwrap_err(),
            r.get_manifest(&eve, repo, d).await.unwrap_err(),
            r.resolve_blob(&eve, repo, &image.config.digest)
                .await
                .unwrap_err(),
            r.delete_tag(&eve, repo, "v1").await.unwrap_err(),
            stream::collect(r.tags(&eve, repo, None)).await.unwrap_err(),
        ];
        for e in errors {
            assert_eq!(e.code(), &Code::NameUnknown, "{repo}: {e}");
            assert_eq!(
                e.message(),
                format!("repository {repo} not known to registry")
            );
        }
        // A write is refused alike, exists or not.
        let e = r.push_blob_chunked(&eve, repo, None).await.err().unwrap();
        assert_eq!(e.code(), &Code::Denied);
        assert_eq!(e.message(), format!("eve may not write {repo}"));
    }
    // The real answer for a missing repository is the same.
    let e = mem
        .resolve_tag(&Context::new(), "private/missing", "v1")
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "repository private/missing not known to registry"
    );
    // The owner sees it.
    r.resolve_tag(&user("owner"), "private/secret", "v1")
        .await
        .unwrap();
}

#[tokio::test]
async fn works_over_a_shared_dyn_registry() {
    let shared: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let checked: Arc<dyn Registry> = Arc::new(AccessChecker::new(
        Arc::clone(&shared),
        policy_fn(|_, a| match a.kind {
            AccessKind::Read | AccessKind::List => Ok(()),
            _ => Err(Error::from_code(Code::Denied)),
        }),
    ));
    let blob = Content::new("works_over_a_shared_dyn_registry").layer(10);
    push_blob(&*shared, "x", &blob).await;
    checked
        .resolve_blob(&Context::new(), "x", &blob.digest)
        .await
        .unwrap();
    let e = checked
        .delete_blob(&Context::new(), "x", &blob.digest)
        .await
        .unwrap_err();
    assert!(e.is_denied());
}
