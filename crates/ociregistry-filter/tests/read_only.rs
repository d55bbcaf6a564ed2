//! `ReadOnly`: every write and delete is refused with `UNSUPPORTED` naming the operation and
//! leaves the registry unchanged; reads and listings pass.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ociregistry_core::testing::{Content, assert_blob, assert_tag, push_image};
use ociregistry_core::{ByteRange, Code, Context, Registry, stream};
use ociregistry_filter::read_only;
use ociregistry_mem::MemRegistry;

#[tokio::test]
async fn refuses_every_write_and_delete() {
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("refuses_every_write_and_delete");
    let image = c.image(1);
    push_image(&*mem, "app", Some("v1"), &image).await;
    let r = read_only(Arc::clone(&mem));
    let cx = Context::new();
    let blob = c.layer(10);
    let m = c.image(0).manifest;
    let cfg = &image.config.digest;
    let md = &image.manifest.digest;
    let upload = mem.push_blob_chunked(&cx, "app", None).await.unwrap();
    let id = upload.id().to_owned();

    let refusals = [
        (
            "push_blob",
            r.push_blob(&cx, "app", &blob.descriptor(), blob.stream(4))
                .await
                .err(),
        ),
        (
            "push_blob_chunked",
            r.push_blob_chunked(&cx, "app", None).await.err(),
        ),
        (
            "push_blob_chunked_resume",
            r.push_blob_chunked_resume(&cx, "app", &id, None, None)
                .await
                .err(),
        ),
        (
            "mount_blob",
            r.mount_blob(&cx, Some("app"), "other", cfg).await.err(),
        ),
        (
            "push_manifest",
            r.push_manifest(&cx, "app", Some("v2"), m.data.clone(), &m.media_type, None)
                .await
                .err(),
        ),
        ("delete_blob", r.delete_blob(&cx, "app", cfg).await.err()),
        (
            "delete_manifest",
            r.delete_manifest(&cx, "app", md).await.err(),
        ),
        ("delete_tag", r.delete_tag(&cx, "app", "v1").await.err()),
    ];
    assert_eq!(refusals.len(), 8);
    for (op, e) in refusals {
        let e = e.unwrap_or_else(|| panic!("{op} succeeded"));
        assert_eq!(e.code(), &Code::Unsupported, "{op}");
        assert_eq!(e.message(), format!("operation {op} is unsupported"));
        assert_eq!(e.status().as_u16(), 400, "{op}");
    }

    // Nothing changed.
    assert_tag(&*mem, "app", "v1", &image.manifest).await;
    assert_blob(&*mem, "app", &image.config).await;
    let repos = stream::collect(mem.repositories(&cx, None)).await.unwrap();
    assert_eq!(repos, ["app"]);
    let tags = stream::collect(mem.tags(&cx, "app", None)).await.unwrap();
    assert_eq!(tags, ["v1"]);
    upload.cancel().await.unwrap();

    // Reads and listings pass.
    assert_tag(&r, "app", "v1", &image.manifest).await;
    assert_blob(&r, "app", &image.config).await;
    let part = r
        .get_blob_range(&cx, "app", cfg, ByteRange::From(1))
        .await
        .unwrap();
    assert_eq!(part.len(), image.config.size() - 1);
    r.resolve_manifest(&cx, "app", md).await.unwrap();
    assert_eq!(
        stream::collect(r.tags(&cx, "app", None)).await.unwrap(),
        ["v1"]
    );
    assert_eq!(
        stream::collect(r.repositories(&cx, None)).await.unwrap(),
        ["app"]
    );
    assert!(
        stream::collect(r.referrers(&cx, "app", md, None))
            .await
            .unwrap()
            .is_empty()
    );
}
