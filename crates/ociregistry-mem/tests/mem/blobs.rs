//! Blob storage: verification while streaming, SHA-512, ranges, zero-copy reads, mounts and
//! content deduplication across repositories.

use bytes::Bytes;
use futures_util::StreamExt;
use ociregistry_core::{
    Algorithm, ByteRange, ByteStream, Code, Descriptor, Digest, Error, Registry, stream,
};
use ociregistry_mem::MemRegistry;

use crate::common::*;

fn chunks(parts: Vec<Bytes>) -> ByteStream {
    Box::pin(futures_util::stream::iter(parts.into_iter().map(Ok)))
}

#[tokio::test]
async fn push_blob_hashes_chunks_and_returns_an_octet_stream_descriptor() {
    let r = MemRegistry::new();
    let data = b"hello, chunked world";
    let desc = blob_desc(LAYER_TYPE, data);
    let parts = data.chunks(3).map(Bytes::copy_from_slice).collect();
    let got = r
        .push_blob(&cx(), "a/b", &desc, chunks(parts))
        .await
        .unwrap();
    assert_eq!(
        got,
        Descriptor::new("application/octet-stream", desc.digest.clone(), 20)
    );
    assert_eq!(
        r.resolve_blob(&cx(), "a/b", &desc.digest).await.unwrap(),
        got
    );
    let reader = r.get_blob(&cx(), "a/b", &desc.digest).await.unwrap();
    assert_eq!(reader.descriptor(), &got);
    assert_eq!(reader.range(), None);
    assert_eq!(read(reader).await, data);
}

#[tokio::test]
async fn push_blob_size_and_digest_errors_leave_nothing_behind() {
    let r = MemRegistry::new();
    let data = b"0123456789";
    let desc = blob_desc(LAYER_TYPE, data);
    let long = Descriptor {
        size: 9,
        ..desc.clone()
    };
    let short = Descriptor {
        size: 11,
        ..desc.clone()
    };
    let wrong = Descriptor {
        digest: Digest::sha256(b"x"),
        ..desc.clone()
    };
    let body = || stream::bytes(Bytes::from_static(data));
    assert_eq!(
        code(r.push_blob(&cx(), "x", &long, body()).await),
        Code::SizeInvalid
    );
    assert_eq!(
        code(r.push_blob(&cx(), "x", &short, body()).await),
        Code::SizeInvalid
    );
    assert_eq!(
        code(r.push_blob(&cx(), "x", &wrong, body()).await),
        Code::DigestInvalid
    );
    let failing: ByteStream = Box::pin(
        futures_util::stream::iter([Ok(Bytes::from_static(b"01234"))]).chain(
            futures_util::stream::once(async { Err(Error::from_code(Code::Denied)) }),
        ),
    );
    assert_eq!(
        code(r.push_blob(&cx(), "x", &desc, failing).await),
        Code::Denied
    );
    // Nothing became visible: not even the repository.
    assert!(list(r.repositories(&cx(), None)).await.unwrap().is_empty());
    assert_eq!(r.blob_bytes(), 0);
    push_blob(&r, "x", LAYER_TYPE, b"other").await;
    for d in [&desc.digest, &wrong.digest] {
        assert_eq!(code(r.resolve_blob(&cx(), "x", d).await), Code::BlobUnknown);
    }
}

#[tokio::test]
async fn a_stream_longer_than_declared_is_cut_off_early() {
    // The stream never ends: the registry must stop reading once the size is exceeded.
    let r = MemRegistry::new();
    let desc = blob_desc(LAYER_TYPE, b"abc");
    let endless: ByteStream = Box::pin(futures_util::stream::repeat_with(|| {
        Ok(Bytes::from_static(b"abc"))
    }));
    assert_eq!(
        code(r.push_blob(&cx(), "x", &desc, endless).await),
        Code::SizeInvalid
    );
}

#[tokio::test]
async fn sha512_blobs() {
    let r = MemRegistry::new();
    let data = Bytes::from(vec![42u8; 100_000]);
    let digest = Digest::compute(Algorithm::Sha512, &data);
    let desc = Descriptor::new(LAYER_TYPE, digest.clone(), data.len() as u64);
    let parts = data.chunks(7000).map(Bytes::copy_from_slice).collect();
    let got = r.push_blob(&cx(), "s", &desc, chunks(parts)).await.unwrap();
    assert_eq!(got.digest, digest);
    assert_eq!(
        r.resolve_blob(&cx(), "s", &digest).await.unwrap().size,
        100_000
    );
    assert_eq!(
        read(r.get_blob(&cx(), "s", &digest).await.unwrap()).await,
        data
    );
    // Same bytes, but the sha256 name is not known.
    assert_eq!(
        code(r.resolve_blob(&cx(), "s", &Digest::sha256(&data)).await),
        Code::BlobUnknown
    );
    // A wrong sha512 is a digest error.
    let bad = Descriptor::new(
        LAYER_TYPE,
        Digest::compute(Algorithm::Sha512, b"x"),
        100_000,
    );
    assert_eq!(
        code(r.push_blob(&cx(), "s", &bad, stream::bytes(data)).await),
        Code::DigestInvalid
    );
}

#[tokio::test]
async fn range_reads() {
    let r = MemRegistry::new();
    // Several chunks, large enough to be kept as received.
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let desc = blob_desc(LAYER_TYPE, &data);
    let parts = data.chunks(10_000).map(Bytes::copy_from_slice).collect();
    r.push_blob(&cx(), "r", &desc, chunks(parts)).await.unwrap();
    let cases = [
        (ByteRange::Bounded { start: 0, end: 1 }, 0..1),
        (
            ByteRange::Bounded {
                start: 9_990,
                end: 20_010,
            },
            9_990..20_010,
        ),
        (
            ByteRange::Bounded {
                start: 25_000,
                end: 90_000,
            },
            25_000..30_000,
        ),
        (ByteRange::From(29_999), 29_999..30_000),
        (ByteRange::Suffix(15_000), 15_000..30_000),
        (ByteRange::Suffix(99_999), 0..30_000),
    ];
    for (range, want) in cases {
        let reader = r
            .get_blob_range(&cx(), "r", &desc.digest, range)
            .await
            .unwrap();
        assert_eq!(reader.descriptor().size, 30_000, "{range}");
        assert_eq!(reader.descriptor().digest, desc.digest);
        assert_eq!(reader.range(), Some(&want), "{range}");
        let got = read(reader).await;
        assert_eq!(
            got,
            &data[want.start as usize..want.end as usize],
            "{range}"
        );
    }
    for range in [ByteRange::From(30_000), ByteRange::Suffix(0)] {
        let msg = expect_err(
            r.get_blob_range(&cx(), "r", &desc.digest, range).await,
            Code::RangeInvalid,
        );
        assert!(msg.contains("30000"), "{msg}");
    }
    assert_eq!(
        code(
            r.get_blob_range(&cx(), "r", &Digest::sha256(b"?"), ByteRange::From(0))
                .await
        ),
        Code::BlobUnknown
    );
    assert_eq!(
        code(
            r.get_blob_range(&cx(), "nope", &desc.digest, ByteRange::From(0))
                .await
        ),
        Code::NameUnknown
    );
}

#[tokio::test]
async fn reads_share_the_received_buffers() {
    let r = MemRegistry::new();
    let data = Bytes::from(vec![9u8; 1 << 16]);
    let desc = blob_desc(LAYER_TYPE, &data);
    r.push_blob(&cx(), "z", &desc, stream::bytes(data.clone()))
        .await
        .unwrap();
    let (_, mut body) = r
        .get_blob(&cx(), "z", &desc.digest)
        .await
        .unwrap()
        .into_parts();
    let chunk = body.next().await.unwrap().unwrap();
    assert_eq!(chunk.as_ptr(), data.as_ptr(), "the read copied the blob");
    let reader = r
        .get_blob_range(&cx(), "z", &desc.digest, ByteRange::From(100))
        .await
        .unwrap();
    let (_, mut body) = reader.into_parts();
    let chunk = body.next().await.unwrap().unwrap();
    assert_eq!(
        chunk.as_ptr(),
        data[100..].as_ptr(),
        "the range read copied the blob"
    );
}

#[tokio::test]
async fn blobs_and_manifests_are_separate_namespaces() {
    let r = MemRegistry::new();
    let md = push_image(&r, "n", Some("t"), "x").await;
    assert_eq!(
        code(r.get_blob(&cx(), "n", &md.digest).await),
        Code::BlobUnknown
    );
    let reader = r.get_tag(&cx(), "n", "t").await.unwrap();
    let bytes = read(reader).await;
    // Pushing the same bytes as a blob makes them a blob too.
    push_blob(&r, "n", LAYER_TYPE, &bytes).await;
    r.get_blob(&cx(), "n", &md.digest).await.unwrap();
    r.get_manifest(&cx(), "n", &md.digest).await.unwrap();
    // And deleting the blob leaves the manifest.
    r.delete_blob(&cx(), "n", &md.digest).await.unwrap();
    r.get_manifest(&cx(), "n", &md.digest).await.unwrap();
}

#[tokio::test]
async fn identical_blobs_are_stored_once_across_repositories() {
    let r = MemRegistry::new();
    let data = Bytes::from(vec![1u8; 1 << 20]);
    let desc = blob_desc(LAYER_TYPE, &data);
    let repos: Vec<String> = (0..20).map(|i| format!("repo{i}")).collect();
    for repo in &repos {
        r.push_blob(&cx(), repo, &desc, stream::bytes(data.clone()))
            .await
            .unwrap();
        // Pushing twice into the same repository changes nothing either.
        r.push_blob(&cx(), repo, &desc, stream::bytes(data.clone()))
            .await
            .unwrap();
    }
    assert_eq!(r.blob_bytes(), 1 << 20);
    r.delete_blob(&cx(), &repos[0], &desc.digest).await.unwrap();
    assert_eq!(
        code(r.get_blob(&cx(), &repos[0], &desc.digest).await),
        Code::BlobUnknown
    );
    assert_eq!(
        read(r.get_blob(&cx(), &repos[1], &desc.digest).await.unwrap()).await,
        data
    );
    assert_eq!(r.blob_bytes(), 1 << 20);
    for repo in &repos[1..] {
        r.delete_blob(&cx(), repo, &desc.digest).await.unwrap();
    }
    assert_eq!(r.blob_bytes(), 0);
    assert_eq!(
        code(r.delete_blob(&cx(), &repos[1], &desc.digest).await),
        Code::BlobUnknown
    );
}

#[tokio::test]
async fn a_reader_outlives_the_deletion_of_its_blob() {
    let r = MemRegistry::new();
    let desc = push_blob(&r, "a", LAYER_TYPE, b"still here").await;
    let reader = r.get_blob(&cx(), "a", &desc.digest).await.unwrap();
    r.delete_blob(&cx(), "a", &desc.digest).await.unwrap();
    assert_eq!(r.blob_bytes(), 0);
    assert_eq!(read(reader).await, b"still here");
}

#[tokio::test]
async fn mount_shares_content_and_creates_the_target() {
    let r = MemRegistry::new();
    let desc = push_blob(&r, "src", LAYER_TYPE, b"mounted content").await;
    let got = r
        .mount_blob(&cx(), Some("src"), "dst/x", &desc.digest)
        .await
        .unwrap();
    assert_eq!(
        got,
        Descriptor::new("application/octet-stream", desc.digest.clone(), 15)
    );
    assert_eq!(r.blob_bytes(), 15);
    assert_eq!(
        list(r.repositories(&cx(), None)).await.unwrap(),
        ["dst/x", "src"]
    );
    // Mounting again, or onto the source itself, is harmless.
    r.mount_blob(&cx(), Some("src"), "dst/x", &desc.digest)
        .await
        .unwrap();
    r.mount_blob(&cx(), Some("src"), "src", &desc.digest)
        .await
        .unwrap();
    r.delete_blob(&cx(), "src", &desc.digest).await.unwrap();
    assert_eq!(
        read(r.get_blob(&cx(), "dst/x", &desc.digest).await.unwrap()).await,
        b"mounted content"
    );
    r.delete_blob(&cx(), "dst/x", &desc.digest).await.unwrap();
    assert_eq!(r.blob_bytes(), 0);
}

#[tokio::test]
async fn mount_errors() {
    let r = MemRegistry::new();
    let desc = push_blob(&r, "src", LAYER_TYPE, b"x").await;
    let other = Digest::sha256(b"y");
    assert_eq!(
        code(r.mount_blob(&cx(), Some("nope"), "dst", &desc.digest).await),
        Code::NameUnknown
    );
    assert_eq!(
        code(r.mount_blob(&cx(), Some("src"), "dst", &other).await),
        Code::BlobUnknown
    );
    assert_eq!(
        code(r.mount_blob(&cx(), Some("src"), "Bad", &desc.digest).await),
        Code::NameInvalid
    );
    // Failed mounts create nothing.
    assert_eq!(list(r.repositories(&cx(), None)).await.unwrap(), ["src"]);
}

#[tokio::test]
async fn invalid_and_unknown_repositories() {
    let r = MemRegistry::new();
    let d = Digest::sha256(b"");
    for bad in ["", "UPPER", "a//b", "-a", &"a".repeat(300)] {
        assert_eq!(
            code(r.get_blob(&cx(), bad, &d).await),
            Code::NameInvalid,
            "{bad}"
        );
        assert_eq!(
            code(
                r.push_blob(
                    &cx(),
                    bad,
                    &blob_desc(LAYER_TYPE, b""),
                    stream::bytes(Bytes::new())
                )
                .await
            ),
            Code::NameInvalid
        );
        assert_eq!(
            code(r.push_blob_chunked(&cx(), bad, None).await),
            Code::NameInvalid
        );
        assert_eq!(code(r.delete_tag(&cx(), bad, "t").await), Code::NameInvalid);
        assert_eq!(
            code(list(r.tags(&cx(), bad, None)).await),
            Code::NameInvalid
        );
        assert_eq!(
            code(list(r.referrers(&cx(), bad, &d, None)).await),
            Code::NameInvalid
        );
    }
    assert_eq!(code(r.get_blob(&cx(), "a", &d).await), Code::NameUnknown);
    assert_eq!(
        code(r.resolve_blob(&cx(), "a", &d).await),
        Code::NameUnknown
    );
    assert_eq!(
        code(r.get_manifest(&cx(), "a", &d).await),
        Code::NameUnknown
    );
    assert_eq!(
        code(r.resolve_manifest(&cx(), "a", &d).await),
        Code::NameUnknown
    );
    assert_eq!(code(r.get_tag(&cx(), "a", "t").await), Code::NameUnknown);
    assert_eq!(
        code(r.resolve_tag(&cx(), "a", "t").await),
        Code::NameUnknown
    );
    assert_eq!(
        code(r.delete_manifest(&cx(), "a", &d).await),
        Code::NameUnknown
    );
}

#[tokio::test]
async fn empty_blob() {
    let r = MemRegistry::new();
    let desc = push_blob(&r, "e", LAYER_TYPE, b"").await;
    let reader = r.get_blob(&cx(), "e", &desc.digest).await.unwrap();
    assert!(reader.is_empty());
    assert!(read(reader).await.is_empty());
    assert_eq!(
        code(
            r.get_blob_range(&cx(), "e", &desc.digest, ByteRange::From(0))
                .await
        ),
        Code::RangeInvalid
    );
}

#[tokio::test]
async fn pushing_known_content_keeps_the_stored_copy() {
    let r = MemRegistry::new();
    let first = Bytes::from(vec![3u8; 1 << 16]);
    let desc = blob_desc(LAYER_TYPE, &first);
    r.push_blob(&cx(), "a", &desc, stream::bytes(first.clone()))
        .await
        .unwrap();
    // The same bytes pushed again, in another buffer, to another repository: verified, not
    // stored again, so reads from the new repository share the first copy.
    let second = Bytes::from(vec![3u8; 1 << 16]);
    r.push_blob(&cx(), "b", &desc, stream::bytes(second.clone()))
        .await
        .unwrap();
    assert_eq!(r.blob_bytes(), 1 << 16);
    let (_, mut body) = r
        .get_blob(&cx(), "b", &desc.digest)
        .await
        .unwrap()
        .into_parts();
    let chunk = body.next().await.unwrap().unwrap();
    assert_eq!(chunk.as_ptr(), first.as_ptr(), "a second copy was stored");
    // Known content is still verified: other bytes under the same digest are refused.
    let wrong = Bytes::from(vec![4u8; 1 << 16]);
    let e = r
        .push_blob(&cx(), "c", &desc, stream::bytes(wrong))
        .await
        .unwrap_err();
    assert!(e.is(&Code::DigestInvalid), "{e}");
    assert!(r.resolve_blob(&cx(), "c", &desc.digest).await.is_err());
    // Once every holder deleted it, the content is gone; a new push stores it again.
    for repo in ["a", "b"] {
        r.delete_blob(&cx(), repo, &desc.digest).await.unwrap();
    }
    assert_eq!(r.blob_bytes(), 0);
    r.push_blob(&cx(), "d", &desc, stream::bytes(second))
        .await
        .unwrap();
    assert_eq!(r.blob_bytes(), 1 << 16);
    assert_eq!(
        read(r.get_blob(&cx(), "d", &desc.digest).await.unwrap()).await,
        first
    );
}
