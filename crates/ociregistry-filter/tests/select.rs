//! `Select`: a hidden repository looks missing to every read, list and delete, refuses every
//! write, and is left out of the catalog.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ociregistry_core::testing::{Content, push_blob, push_image};
use ociregistry_core::{ByteRange, Code, Context, Error, Registry, stream};
use ociregistry_filter::select;
use ociregistry_mem::MemRegistry;

/// The errors of every operation on `repo` but mounts, in trait order.
async fn errors_of_all(
    r: &dyn Registry,
    repo: &str,
    content: &mut Content,
) -> Vec<(&'static str, Error)> {
    let cx = Context::new();
    let blob = content.layer(10);
    let d = &blob.digest;
    let m = content.image(0).manifest;
    vec![
        ("get_blob", r.get_blob(&cx, repo, d).await.unwrap_err()),
        (
            "get_blob_range",
            r.get_blob_range(&cx, repo, d, ByteRange::From(0))
                .await
                .unwrap_err(),
        ),
        (
            "get_manifest",
            r.get_manifest(&cx, repo, d).await.unwrap_err(),
        ),
        ("get_tag", r.get_tag(&cx, repo, "v1").await.unwrap_err()),
        (
            "resolve_blob",
            r.resolve_blob(&cx, repo, d).await.unwrap_err(),
        ),
        (
            "resolve_manifest",
            r.resolve_manifest(&cx, repo, d).await.unwrap_err(),
        ),
        (
            "resolve_tag",
            r.resolve_tag(&cx, repo, "v1").await.unwrap_err(),
        ),
        (
            "push_blob",
            r.push_blob(&cx, repo, &blob.descriptor(), blob.stream(4))
                .await
                .unwrap_err(),
        ),
        (
            "push_blob_chunked",
            r.push_blob_chunked(&cx, repo, None).await.err().unwrap(),
        ),
        (
            "push_blob_chunked_resume",
            r.push_blob_chunked_resume(&cx, repo, "id", None, None)
                .await
                .err()
                .unwrap(),
        ),
        (
            "push_manifest",
            r.push_manifest(&cx, repo, Some("v1"), m.data.clone(), &m.media_type, None)
                .await
                .unwrap_err(),
        ),
        (
            "delete_blob",
            r.delete_blob(&cx, repo, d).await.unwrap_err(),
        ),
        (
            "delete_manifest",
            r.delete_manifest(&cx, repo, d).await.unwrap_err(),
        ),
        (
            "delete_tag",
            r.delete_tag(&cx, repo, "v1").await.unwrap_err(),
        ),
        (
            "tags",
            stream::collect(r.tags(&cx, repo, None)).await.unwrap_err(),
        ),
        (
            "referrers",
            stream::collect(r.referrers(&cx, repo, d, None))
                .await
                .unwrap_err(),
        ),
    ]
}

#[tokio::test]
async fn hidden_repositories_look_missing_and_refuse_writes() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("hidden_repositories_look_missing_and_refuse_writes");
    let image = c.image(1);
    push_image(&*mem, "hidden/app", Some("v1"), &image).await;
    push_image(&*mem, "public/app", Some("v1"), &image).await;
    let r = select(Arc::clone(&mem), |repo| repo.starts_with("public/"));

    for repo in ["hidden/app", "hidden/missing"] {
        for (op, e) in errors_of_all(&r, repo, &mut c).await {
            let writes = op.starts_with("push_");
            let (code, message) = if writes {
                (
                    Code::Denied,
                    format!("repository {repo} is not writable here"),
                )
            } else {
                (
                    Code::NameUnknown,
                    format!("repository {repo} not known to registry"),
                )
            };
            assert_eq!(e.code(), &code, "{op} on {repo}: {e}");
            assert_eq!(e.message(), message, "{op} on {repo}");
        }
    }
    // Nothing changed in the hidden repository.
    let tags = stream::collect(mem.tags(&Context::new(), "hidden/app", None))
        .await
        .unwrap();
    assert_eq!(tags, ["v1"]);

    let cx = Context::new();
    // Mounts: the target must be allowed (DENIED), and so must the source (NAME_UNKNOWN).
    let d = &image.config.digest;
    let e = r
        .mount_blob(&cx, Some("public/app"), "hidden/app", d)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::Denied);
    let e = r
        .mount_blob(&cx, Some("hidden/app"), "public/new", d)
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::NameUnknown);
    assert!(mem.resolve_blob(&cx, "public/new", d).await.is_err());
    r.mount_blob(&cx, Some("public/app"), "public/new", d)
        .await
        .unwrap();

    // The catalog lists only the allowed repositories.
    let repos = stream::collect(r.repositories(&cx, None)).await.unwrap();
    assert_eq!(repos, ["public/app", "public/new"]);
    let repos = stream::collect(r.repositories(&cx, Some("public/app")))
        .await
        .unwrap();
    assert_eq!(repos, ["public/new"]);

    // Allowed repositories work as usual.
    r.resolve_tag(&cx, "public/app", "v1").await.unwrap();
    let blob = c.layer(7);
    push_blob(&r, "public/app", &blob).await;
}
