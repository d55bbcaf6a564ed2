//! Blob tests: push, get, resolve, ranges, mounts and deletes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::content::*;
use crate::media_type::OCTET_STREAM;
use crate::{Algorithm, ByteRange, Code, Context, Descriptor, Digest, Error, Registry};

/// `push_blob` stores content given in chunks and returns `{application/octet-stream, digest,
/// size}` whatever the descriptor's media type; `get_blob` and `resolve_blob` give it back; an
/// identical re-push succeeds; an empty blob (a stream with no chunk) works.
pub async fn blob_push_get_resolve(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_push_get_resolve/a";
    let mut c = Content::new("blob_push_get_resolve");

    for (len, chunk) in [(1000, 7), (70_000, 16 << 10), (1, 1)] {
        let blob = c.layer(len);
        let what = format!("push_blob of {len} bytes in chunks of {chunk}");
        let desc = expect_ok(
            r.push_blob(&cx, repo, &blob.descriptor(), blob.stream(chunk))
                .await,
            &what,
        );
        assert_eq!(
            desc,
            Descriptor::new(OCTET_STREAM, blob.digest.clone(), blob.size()),
            "{what}: returned descriptor"
        );
        assert_blob(r, repo, &blob).await;
        // Pushing the same content again is fine.
        let again = expect_ok(
            r.push_blob(&cx, repo, &blob.descriptor(), blob.stream(chunk))
                .await,
            &format!("{what}, again"),
        );
        assert_eq!(again.digest, blob.digest, "{what}, again: digest");
        assert_blob(r, repo, &blob).await;
    }

    let empty = Blob::new(OCTET_STREAM, Bytes::new());
    let desc = expect_ok(
        r.push_blob(&cx, repo, &empty.descriptor(), empty.stream(1))
            .await,
        "push_blob of an empty blob",
    );
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, empty.digest.clone(), 0),
        "push_blob of an empty blob"
    );
    assert_blob(r, repo, &empty).await;
}

/// Missing blobs: `NAME_UNKNOWN` in a repository that does not exist, `BLOB_UNKNOWN` in one that
/// does; a blob is visible only in the repositories it was pushed into; blobs and manifests are
/// separate namespaces.
pub async fn blob_unknown(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let a = "blob_unknown/a";
    let b = "blob_unknown/b";
    let nope = "blob_unknown/does-not-exist";
    let mut c = Content::new("blob_unknown");
    let image = c.image(1);
    push_image(r, a, None, &image).await;
    let other = c.layer(10);
    push_blob(r, b, &other).await;
    let missing = c.layer(10).digest;
    let present = &image.layers[0].digest;

    for (repo, digest, code) in [
        (a, &missing, Code::BlobUnknown),
        (nope, present, Code::NameUnknown),
        // Pushed into a only.
        (b, present, Code::BlobUnknown),
        // A manifest is not a blob.
        (a, &image.manifest.digest, Code::BlobUnknown),
    ] {
        let what = |op: &str| format!("{op} {digest} in {repo}");
        expect_code(
            r.get_blob(&cx, repo, digest).await,
            code.clone(),
            &what("get_blob"),
        );
        expect_code(
            r.resolve_blob(&cx, repo, digest).await,
            code.clone(),
            &what("resolve_blob"),
        );
        expect_code(
            r.get_blob_range(&cx, repo, digest, ByteRange::From(0))
                .await,
            code.clone(),
            &what("get_blob_range"),
        );
        expect_code(
            r.delete_blob(&cx, repo, digest).await,
            code.clone(),
            &what("delete_blob"),
        );
    }
    assert_blob(r, a, &image.layers[0]).await;
}

/// `push_blob` with a stream shorter or longer than `desc.size` fails with `SIZE_INVALID`, and
/// nothing becomes visible.
pub async fn blob_push_size_mismatch(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_push_size_mismatch/a";
    let mut c = Content::new("blob_push_size_mismatch");
    push_blob(r, repo, &c.layer(5)).await;

    let blob = c.layer(100);
    let mut longer = BytesMut::from(&blob.data[..]);
    longer.extend_from_slice(b"!");
    let longer = longer.freeze();
    let mut desc_small = blob.descriptor();
    desc_small.size -= 1;
    let mut desc_big = blob.descriptor();
    desc_big.size += 1;

    let cases: [(&str, Descriptor, Bytes); 4] = [
        (
            "a stream one byte shorter than the size",
            blob.descriptor(),
            blob.data.slice(..99),
        ),
        (
            "a stream one byte longer than the size",
            blob.descriptor(),
            longer.clone(),
        ),
        (
            "a size one byte smaller than the content",
            desc_small,
            blob.data.clone(),
        ),
        (
            "a size one byte larger than the content",
            desc_big,
            blob.data.clone(),
        ),
    ];
    for (what, desc, data) in cases {
        expect_code(
            r.push_blob(&cx, repo, &desc, chunked(data, 30)).await,
            Code::SizeInvalid,
            &format!("push_blob with {what}"),
        );
    }
    assert_no_blob(r, repo, &blob.digest).await;
    assert_no_blob(r, repo, &Digest::sha256(&blob.data[..99])).await;
    assert_no_blob(r, repo, &Digest::sha256(&longer)).await;
}

/// `push_blob` of content that does not hash to `desc.digest` (SHA-256 or SHA-512) fails with
/// `DIGEST_INVALID`, and nothing becomes visible.
pub async fn blob_push_digest_mismatch(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_push_digest_mismatch/a";
    let mut c = Content::new("blob_push_digest_mismatch");
    push_blob(r, repo, &c.layer(5)).await;

    let claimed = c.layer(64);
    let actual = c.layer(64);
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let claimed = claimed.clone().with_algorithm(alg);
        let actual = actual.clone().with_algorithm(alg);
        expect_code(
            r.push_blob(&cx, repo, &claimed.descriptor(), actual.stream(10))
                .await,
            Code::DigestInvalid,
            &format!("push_blob with a {alg} digest of other content"),
        );
        assert_no_blob(r, repo, &claimed.digest).await;
        assert_no_blob(r, repo, &actual.digest).await;
    }
}

/// `push_blob` whose stream fails part-way fails, and nothing becomes visible.
pub async fn blob_push_stream_error(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_push_stream_error/a";
    let mut c = Content::new("blob_push_stream_error");
    push_blob(r, repo, &c.layer(5)).await;

    let blob = c.layer(100);
    let parts: Vec<crate::Result<Bytes>> = vec![
        Ok(blob.data.slice(..50)),
        Err(Error::new(Code::Unknown, "the source broke")),
    ];
    let res = r
        .push_blob(
            &cx,
            repo,
            &blob.descriptor(),
            Box::pin(futures_util::stream::iter(parts)),
        )
        .await;
    assert!(
        res.is_err(),
        "push_blob of a stream that fails: succeeded with {res:?}"
    );
    assert_no_blob(r, repo, &blob.digest).await;
}

/// SHA-512 blobs: `push_blob` and a chunked upload committed with a SHA-512 digest store the
/// blob under that digest.
pub async fn blob_sha512(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_sha512/a";
    let mut c = Content::new("blob_sha512");

    let blob = c.layer(3000).with_algorithm(Algorithm::Sha512);
    let desc = expect_ok(
        r.push_blob(&cx, repo, &blob.descriptor(), blob.stream(1000))
            .await,
        "push_blob with a sha512 digest",
    );
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, blob.digest.clone(), blob.size()),
        "push_blob with a sha512 digest"
    );
    assert_blob(r, repo, &blob).await;

    let blob = c.layer(3000).with_algorithm(Algorithm::Sha512);
    let mut w = expect_ok(
        r.push_blob_chunked(&cx, repo, None).await,
        "push_blob_chunked",
    );
    expect_ok(w.write(blob.data.slice(..1234)).await, "write");
    expect_ok(w.write(blob.data.slice(1234..)).await, "write");
    let desc = expect_ok(w.commit(&blob.digest).await, "commit with a sha512 digest");
    assert_eq!(
        desc,
        Descriptor::new(OCTET_STREAM, blob.digest.clone(), blob.size()),
        "commit with a sha512 digest"
    );
    assert_blob(r, repo, &blob).await;
}

/// `get_blob_range`: bounded, open-ended and suffix ranges, an end past the blob clamped, and
/// unsatisfiable ranges failing with `RANGE_INVALID` naming the size. The reader's descriptor
/// is the whole blob's and its `range()` the bytes it yields.
pub async fn blob_range(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let repo = "blob_range/a";
    let mut c = Content::new("blob_range");
    let blob = c.layer(100);
    push_blob(r, repo, &blob).await;

    let ok = [
        (ByteRange::Bounded { start: 10, end: 20 }, 10..20),
        (ByteRange::Bounded { start: 0, end: 1 }, 0..1),
        (ByteRange::Bounded { start: 0, end: 100 }, 0..100),
        (
            ByteRange::Bounded {
                start: 95,
                end: 200,
            },
            95..100,
        ),
        (
            ByteRange::Bounded {
                start: 99,
                end: u64::MAX,
            },
            99..100,
        ),
        (ByteRange::From(0), 0..100),
        (ByteRange::From(90), 90..100),
        (ByteRange::From(99), 99..100),
        (ByteRange::Suffix(5), 95..100),
        (ByteRange::Suffix(100), 0..100),
        (ByteRange::Suffix(500), 0..100),
    ];
    for (range, want) in ok {
        let what = format!("get_blob_range {range:?} of a 100-byte blob");
        let reader = expect_ok(
            r.get_blob_range(&cx, repo, &blob.digest, range).await,
            &what,
        );
        assert_eq!(reader.descriptor().digest, blob.digest, "{what}: digest");
        assert_eq!(reader.descriptor().size, 100, "{what}: whole blob size");
        assert_eq!(reader.range(), Some(&want), "{what}: range()");
        let data = read_all(reader, &what).await;
        assert_bytes_eq(
            &data,
            &blob.data[want.start as usize..want.end as usize],
            &what,
        );
    }

    for range in [
        ByteRange::From(100),
        ByteRange::From(1000),
        ByteRange::Bounded {
            start: 100,
            end: 200,
        },
        ByteRange::Bounded {
            start: 150,
            end: 160,
        },
        ByteRange::Suffix(0),
    ] {
        let what = format!("get_blob_range {range:?} of a 100-byte blob");
        let e = expect_code(
            r.get_blob_range(&cx, repo, &blob.digest, range).await,
            Code::RangeInvalid,
            &what,
        );
        assert!(
            e.message().contains("100"),
            "{what}: the message {:?} should give the blob size",
            e.message()
        );
    }

    let empty = Blob::new(OCTET_STREAM, Bytes::new());
    push_blob(r, repo, &empty).await;
    expect_code(
        r.get_blob_range(&cx, repo, &empty.digest, ByteRange::From(0))
            .await,
        Code::RangeInvalid,
        "get_blob_range From(0) of an empty blob",
    );
}

/// `mount_blob` makes a blob of one repository readable in another (created if needed) and
/// returns its full descriptor.
pub async fn blob_mount(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let from = "blob_mount/from";
    let to = "blob_mount/to";
    let mut c = Content::new("blob_mount");
    let blob = c.layer(500);
    push_blob(r, from, &blob).await;

    let desc = expect_ok(
        r.mount_blob(&cx, Some(from), to, &blob.digest).await,
        "mount_blob into a new repository",
    );
    assert_eq!(desc.digest, blob.digest, "mount_blob: digest");
    assert_eq!(desc.size, blob.size(), "mount_blob: size");
    assert_blob(r, to, &blob).await;
    assert_blob(r, from, &blob).await;
    let repos = repositories_with_prefix(r, "blob_mount/", Some("blob_mount/")).await;
    assert_eq!(repos, vec![from.to_owned(), to.to_owned()], "repositories");

    // Mounting into an existing repository, and mounting again, work too.
    let other = c.layer(10);
    let existing = "blob_mount/existing";
    push_blob(r, existing, &other).await;
    for _ in 0..2 {
        let desc = expect_ok(
            r.mount_blob(&cx, Some(from), existing, &blob.digest).await,
            "mount_blob into an existing repository",
        );
        assert_eq!(desc.size, blob.size(), "mount_blob: size");
    }
    assert_blob(r, existing, &blob).await;
    assert_blob(r, existing, &other).await;

    // The mount shares the content but not the membership: deleting from the source leaves it.
    expect_ok(
        r.delete_blob(&cx, from, &blob.digest).await,
        "delete_blob from the source",
    );
    assert_no_blob(r, from, &blob.digest).await;
    assert_blob(r, to, &blob).await;
}

/// An anonymous `mount_blob` (no source repository) either mounts the blob, found wherever the
/// registry holds it, or fails with `UNSUPPORTED` so the caller uploads; a blob the registry
/// does not hold is never mounted.
pub async fn blob_mount_anonymous(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let from = "blob_mount_anonymous/from";
    let to = "blob_mount_anonymous/to";
    let mut c = Content::new("blob_mount_anonymous");
    let blob = c.layer(300);
    push_blob(r, from, &blob).await;
    // The target exists whatever the registry does with anonymous mounts.
    push_blob(r, to, &c.layer(20)).await;
    match r.mount_blob(&cx, None, to, &blob.digest).await {
        Ok(desc) => {
            assert_eq!(desc.digest, blob.digest, "anonymous mount: digest");
            assert_eq!(desc.size, blob.size(), "anonymous mount: size");
            assert_blob(r, to, &blob).await;
        }
        Err(e) => assert!(e.is_unsupported(), "anonymous mount: {e}"),
    }
    let missing = c.layer(10);
    let err = r
        .mount_blob(&cx, None, to, &missing.digest)
        .await
        .expect_err("anonymous mount of a blob nobody holds");
    assert!(
        err.is_not_found() || err.is_unsupported(),
        "anonymous mount of a missing blob: {err}"
    );
    assert_no_blob(r, to, &missing.digest).await;
}

/// `mount_blob` from a repository that does not exist fails with `NAME_UNKNOWN`, and of a blob
/// the source does not have with `BLOB_UNKNOWN`.
pub async fn blob_mount_errors(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let from = "blob_mount_errors/from";
    let to = "blob_mount_errors/to";
    let mut c = Content::new("blob_mount_errors");
    let blob = c.layer(50);
    push_blob(r, from, &blob).await;
    let missing = c.layer(50);

    expect_code(
        r.mount_blob(&cx, Some("blob_mount_errors/nope"), to, &blob.digest)
            .await,
        Code::NameUnknown,
        "mount_blob from a repository that does not exist",
    );
    expect_code(
        r.mount_blob(&cx, Some(from), to, &missing.digest).await,
        Code::BlobUnknown,
        "mount_blob of a blob the source does not have",
    );
    // A blob of a third repository is not the source's.
    let third = "blob_mount_errors/third";
    push_blob(r, third, &missing).await;
    expect_code(
        r.mount_blob(&cx, Some(from), to, &missing.digest).await,
        Code::BlobUnknown,
        "mount_blob of a blob only another repository has",
    );
}

/// `delete_blob` removes the blob from that repository only; deleting again, or reading it,
/// gives `BLOB_UNKNOWN`; it can be pushed again.
pub async fn blob_delete(registry: Arc<dyn Registry>) {
    let r = &*registry;
    let cx = Context::new();
    let a = "blob_delete/a";
    let b = "blob_delete/b";
    let mut c = Content::new("blob_delete");
    let blob = c.layer(300);
    let keep = c.layer(30);
    push_blob(r, a, &blob).await;
    push_blob(r, a, &keep).await;
    push_blob(r, b, &blob).await;

    expect_ok(r.delete_blob(&cx, a, &blob.digest).await, "delete_blob");
    assert_no_blob(r, a, &blob.digest).await;
    expect_code(
        r.get_blob_range(&cx, a, &blob.digest, ByteRange::From(1))
            .await,
        Code::BlobUnknown,
        "get_blob_range of a deleted blob",
    );
    expect_code(
        r.delete_blob(&cx, a, &blob.digest).await,
        Code::BlobUnknown,
        "delete_blob again",
    );
    assert_blob(r, a, &keep).await;
    // Identical content pushed into another repository stays there.
    assert_blob(r, b, &blob).await;

    push_blob(r, a, &blob).await;
    assert_blob(r, a, &blob).await;
}
