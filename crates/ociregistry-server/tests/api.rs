//! The distribution API route by route: statuses, headers and error codes (a port of the Go
//! server's `TestCalls`, plus what the Go server lacked).

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use ociregistry_core::Digest;
use ociregistry_server::Options;
use support::*;

#[tokio::test]
async fn ping_and_unknown_paths() {
    let (svc, _) = service(Options::default());
    for path in ["/v2", "/v2/"] {
        let r = get(&svc, path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
    }
    let r = get(&svc, "/v2/bad").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let r = get(&svc, "/other").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
}

#[tokio::test]
async fn blob_get_head_delete() {
    let (svc, _) = service(Options::default());
    let d = push_blob(&svc, "foo/bar", b"hello world").await;
    let r = get(&svc, &format!("/v2/foo/bar/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"hello world");
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(r.header("content-length"), Some("11"));

    let r = call(
        &svc,
        Method::HEAD,
        &format!("/v2/foo/bar/blobs/{d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    let r = call(
        &svc,
        Method::DELETE,
        &format!("/v2/foo/bar/blobs/{d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = get(&svc, &format!("/v2/foo/bar/blobs/{d}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
    // HEAD errors have no body but keep the status.
    let r = call(
        &svc,
        Method::HEAD,
        &format!("/v2/foo/bar/blobs/{d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn blob_errors() {
    let (svc, _) = service(Options::default());
    let d = Digest::sha256(b"nothing");
    let r = get(&svc, &format!("/v2/nope/blobs/{d}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = get(&svc, "/v2/foo/blobs/sha256:xyz").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let r = call(
        &svc,
        Method::PATCH,
        &format!("/v2/foo/blobs/{d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = get(&svc, &format!("/v2/Foo/blobs/{d}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "NAME_INVALID")
    );
}

#[tokio::test]
async fn ranges() {
    let (svc, _) = service(Options::default());
    let d = push_blob(&svc, "r", b"hello world").await;
    let url = format!("/v2/r/blobs/{d}");
    let cases = [
        ("bytes=1-4", "ello", "bytes 1-4/11"),
        ("bytes=3-", "lo world", "bytes 3-10/11"),
        ("bytes=-5", "world", "bytes 6-10/11"),
        ("bytes=6-100", "world", "bytes 6-10/11"),
    ];
    for (range, body, content_range) in cases {
        let r = call(&svc, Method::GET, &url, &[("range", range)], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&r.body[..], body.as_bytes(), "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    }
    for range in [
        "bytes=11-",
        "bytes=50-60",
        "bytes=5-1",
        "bytes=0-1,3-4",
        "bytes=x",
        "bytes=-0",
        "pages=1-2",
    ] {
        let r = call(&svc, Method::GET, &url, &[("range", range)], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */11"), "{range}");
    }
    // A range on a missing blob is a missing blob.
    let missing = Digest::sha256(b"missing");
    let r = call(
        &svc,
        Method::GET,
        &format!("/v2/r/blobs/{missing}"),
        &[("range", "bytes=0-1")],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
}

#[tokio::test]
async fn uploads_post_put_patch_status_cancel() {
    let (svc, mem) = service(Options::default());
    let r = call(
        &svc,
        Method::POST,
        "/v2/up/blobs/uploads/",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-0"));
    assert!(r.header("oci-chunk-min-length").is_some());
    assert!(r.header("docker-upload-uuid").is_some());
    let loc = r.header("location").unwrap().to_owned();
    assert!(loc.starts_with("/v2/up/blobs/uploads/"), "{loc}");

    let r = call(
        &svc,
        Method::PATCH,
        &loc,
        &[("content-range", "0-2"), ("content-length", "3")],
        "abc",
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    assert_eq!(r.header("range"), Some("0-2"));
    let loc = r.header("location").unwrap().to_owned();

    // An overlapping chunk is out of order: 416, and the session is unchanged.
    let r = call(
        &svc,
        Method::PATCH,
        &loc,
        &[("content-range", "2-4"), ("content-length", "3")],
        "cde",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID")
    );
    let r = get(&svc, &loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), Some("0-2"));

    // A streamed chunk (no Content-Range) appends.
    let r = call(&svc, Method::PATCH, &loc, &[], "def").await;
    assert_eq!(r.header("range"), Some("0-5"));

    // Content-Range and Content-Length must agree.
    let r = call(
        &svc,
        Method::PATCH,
        &loc,
        &[("content-range", "6-8"), ("content-length", "2")],
        "gh",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "SIZE_INVALID")
    );
    let r = call(
        &svc,
        Method::PATCH,
        &loc,
        &[("content-range", "six-8")],
        "ghi",
    )
    .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // The final chunk travels in the PUT; a wrong digest is 400 and the session survives.
    let wrong = Digest::sha256(b"wrong");
    let r = call(
        &svc,
        Method::PUT,
        &format!("{loc}?digest={wrong}"),
        &[("content-range", "6-8"), ("content-length", "3")],
        "ghi",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let d = Digest::sha256(b"abcdefghi");
    let r = call(
        &svc,
        Method::PUT,
        &format!("{loc}?digest={d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/up/blobs/{d}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(
        &get(&svc, &format!("/v2/up/blobs/{d}")).await.body[..],
        b"abcdefghi"
    );
    // The committed session is gone.
    assert_eq!(get(&svc, &loc).await.status, StatusCode::NOT_FOUND);

    // Cancel: 204, then the session is unknown.
    let r = call(
        &svc,
        Method::POST,
        "/v2/up/blobs/uploads",
        &[],
        Bytes::new(),
    )
    .await;
    let loc = r.header("location").unwrap().to_owned();
    let before = mem.upload_count();
    let r = call(&svc, Method::DELETE, &loc, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(mem.upload_count(), before - 1);
    let r = get(&svc, &loc).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let r = call(&svc, Method::DELETE, &loc, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_and_foreign_upload_ids() {
    let (svc, _) = service(Options::default());
    let never = ociregistry_core::route::upload_path("up", "never-issued");
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let r = call(&svc, method.clone(), &never, &[], Bytes::new()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            "{method}"
        );
    }
    let r = get(&svc, "/v2/up/blobs/uploads/%%%").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An upload started in one repository cannot be continued through another.
    let r = call(
        &svc,
        Method::POST,
        "/v2/a/blobs/uploads/",
        &[],
        Bytes::new(),
    )
    .await;
    let loc = r
        .header("location")
        .unwrap()
        .replacen("/v2/a/", "/v2/b/", 1);
    let r = get(&svc, &loc).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
}

#[tokio::test]
async fn single_post_upload_checks_digest_and_size() {
    let (svc, _) = service(Options::default());
    let d = Digest::sha256(b"data");
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/p/blobs/uploads/?digest={d}"),
        &[("content-length", "4")],
        "dada",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let r = get(&svc, &format!("/v2/p/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/p/blobs/uploads/?digest={d}"),
        &[],
        "data",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "no Content-Length: streamed through a session"
    );
    let sha512 = Digest::compute(ociregistry_core::Algorithm::Sha512, b"data");
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/p/blobs/uploads/?digest={sha512}"),
        &[("content-length", "4")],
        "data",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        get(&svc, &format!("/v2/p/blobs/{sha512}")).await.body,
        "data"
    );
    let r = call(
        &svc,
        Method::POST,
        "/v2/p/blobs/uploads/?digest=md5:abc",
        &[],
        "data",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
}

#[tokio::test]
async fn mount_and_fallback() {
    let (svc, _) = service(Options::default());
    let d = push_blob(&svc, "src", b"shared").await;
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/dst/blobs/{d}").as_str())
    );
    assert_eq!(
        get(&svc, &format!("/v2/dst/blobs/{d}")).await.body,
        "shared"
    );
    // A blob that cannot be mounted falls back to an upload session.
    let missing = Digest::sha256(b"missing");
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/v2/dst/blobs/uploads/")
    );
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=nowhere"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // An anonymous mount (no `from`) finds the blob wherever the registry holds it.
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/anon/blobs/uploads/?mount={d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        get(&svc, &format!("/v2/anon/blobs/{d}")).await.body,
        "shared"
    );
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/anon/blobs/uploads/?mount={missing}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let (svc, _) = service(Options::default());
    let (m, d) = push_image(&svc, "img", "v1", "x").await;
    for reference in ["v1".to_owned(), d.to_string()] {
        let r = get(&svc, &format!("/v2/img/manifests/{reference}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &m[..]);
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        assert_eq!(
            r.header("content-length"),
            Some(m.len().to_string().as_str())
        );
        let r = call(
            &svc,
            Method::HEAD,
            &format!("/v2/img/manifests/{reference}"),
            &[],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("content-length"),
            Some(m.len().to_string().as_str())
        );
        assert!(r.body.is_empty());
    }
    let r = get(&svc, "/v2/img/manifests/nope").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    let r = get(&svc, "/v2/nothing/manifests/v1").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = get(&svc, "/v2/img/manifests/sha256:baddigeststring").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let r = call(
        &svc,
        Method::PUT,
        "/v2/img/manifests/sha256:baddigeststring",
        &[("content-type", OCI_MANIFEST)],
        m.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    // Pushing by a digest that does not match the body.
    let other = Digest::sha256(b"other");
    let r = call(
        &svc,
        Method::PUT,
        &format!("/v2/img/manifests/{other}"),
        &[("content-type", OCI_MANIFEST)],
        m.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    // Invalid JSON for a manifest media type.
    let r = call(
        &svc,
        Method::PUT,
        "/v2/img/manifests/bad",
        &[("content-type", OCI_MANIFEST)],
        "{",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_INVALID")
    );
    // Missing children.
    let orphan = image_manifest(b"no config", &[b"no layer"], None);
    let r = call(
        &svc,
        Method::PUT,
        "/v2/img/manifests/orphan",
        &[("content-type", OCI_MANIFEST)],
        orphan,
    )
    .await;
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An empty reference names nothing.
    assert_eq!(
        get(&svc, "/v2/img/manifests/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn manifest_put_with_tag_params_and_subject() {
    let (svc, _) = service(Options::default());
    let (_, subject) = push_image(&svc, "s", "base", "subject").await;
    push_blob(&svc, "s", b"{\"seed\":\"sig\"}").await;
    push_blob(&svc, "s", b"layer of sig").await;
    let m = image_manifest(
        b"{\"seed\":\"sig\"}",
        &[b"layer of sig"],
        Some((&subject, 10)),
    );
    let d = Digest::sha256(&m);
    let r = call(
        &svc,
        Method::PUT,
        &format!("/v2/s/manifests/{d}?tag=a&tag=b"),
        &[("content-type", OCI_MANIFEST)],
        m.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
    let tags: Vec<&str> = r
        .headers
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(tags, ["a", "b"]);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/s/manifests/{d}").as_str())
    );
    for t in ["a", "b"] {
        assert_eq!(get(&svc, &format!("/v2/s/manifests/{t}")).await.body, m);
    }
    let r = get(&svc, &format!("/v2/s/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let v = r.json();
    assert_eq!(v["manifests"][0]["digest"], d.as_str());
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.oci.image.config.v1+json"
    );
}

#[tokio::test]
async fn manifest_size_limit_is_413_and_stores_nothing() {
    let mut opts = Options::default();
    opts.max_manifest_size = 100;
    let (svc, _) = service(opts);
    let big = vec![b' '; 101];
    let r = call(
        &svc,
        Method::PUT,
        "/v2/m/manifests/t",
        &[("content-type", "application/json")],
        big.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length the limit is enforced while reading.
    let r = call(
        &svc,
        Method::PUT,
        "/v2/m/manifests/t",
        &[
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked"),
        ],
        big,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        get(&svc, "/v2/m/manifests/t").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deletes() {
    let (svc, _) = service(Options::default());
    let (_, d) = push_image(&svc, "del", "v1", "x").await;
    let r = call(
        &svc,
        Method::DELETE,
        "/v2/del/manifests/nope",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    let r = call(
        &svc,
        Method::DELETE,
        "/v2/nothing/manifests/v1",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = call(
        &svc,
        Method::DELETE,
        "/v2/del/manifests/v1",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        get(&svc, "/v2/del/manifests/v1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&svc, &format!("/v2/del/manifests/{d}")).await.status,
        StatusCode::OK
    );
    let r = call(
        &svc,
        Method::DELETE,
        &format!("/v2/del/manifests/{d}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        get(&svc, &format!("/v2/del/manifests/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tag_list_pagination() {
    let (svc, _) = service(Options::default());
    for t in ["c", "a", "b", "d"] {
        push_image(&svc, "t", t, "same").await;
    }
    let r = get(&svc, "/v2/t/tags/list").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "t", "tags": ["a", "b", "c", "d"]})
    );
    assert!(r.header("link").is_none());
    let r = get(&svc, "/v2/t/tags/list?n=0").await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    assert!(r.header("link").is_none());
    let r = get(&svc, "/v2/t/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/t/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let r = get(&svc, "/v2/t/tags/list?n=2&last=b").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    assert!(r.header("link").is_none(), "the last page has no Link");
    let r = get(&svc, "/v2/t/tags/list?last=bb").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    let r = get(&svc, "/v2/t/tags/list?n=INVALID").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&svc, "/v2/nothing/tags/list").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = get(&svc, "/v2/nothing/tags/list?n=0").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_options() {
    let mut opts = Options::default();
    opts.max_list_page_size = Some(2);
    opts.list_page_cap = 3;
    let (svc, _) = service(opts);
    for t in ["a", "b", "c", "d", "e"] {
        push_image(&svc, "o", t, "same").await;
    }
    let r = get(&svc, "/v2/o/tags/list?n=3").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "UNSUPPORTED")
    );
    let r = get(&svc, "/v2/o/tags/list").await;
    assert_eq!(
        r.json()["tags"],
        serde_json::json!(["a", "b", "c"]),
        "capped"
    );
    assert!(r.header("link").is_some());

    let mut opts = Options::default();
    opts.ignore_pagination = true;
    opts.omit_link_header_from_responses = true;
    let (svc, _) = service(opts);
    for t in ["a", "b", "c"] {
        push_image(&svc, "o", t, "same").await;
    }
    let r = get(&svc, "/v2/o/tags/list?n=1&last=a").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b", "c"]));
    assert!(r.header("link").is_none());
}

#[tokio::test]
async fn catalog() {
    let (svc, _) = service(Options::default());
    for repo in ["z", "a/b", "m"] {
        push_blob(&svc, repo, b"x").await;
    }
    let r = get(&svc, "/v2/_catalog?n=2").await;
    assert_eq!(r.json(), serde_json::json!({"repositories": ["a/b", "m"]}));
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?n=2&last=m>; rel=\"next\"")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn referrers_options_and_empty_lists() {
    let (svc, _) = service(Options::default());
    let (_, d) = push_image(&svc, "ref", "v1", "x").await;
    let r = get(&svc, &format!("/v2/ref/referrers/{d}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["manifests"], serde_json::json!([]), "never null");
    let r = get(&svc, &format!("/v2/unknown/referrers/{d}")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an unknown repository has no referrers"
    );
    let r = get(
        &svc,
        &format!("/v2/ref/referrers/{d}?artifactType=application/x"),
    )
    .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let r = get(&svc, "/v2/ref/referrers/v1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let mut opts = Options::default();
    opts.disable_referrers_filtering = true;
    let (svc, _) = service(opts);
    let r = get(
        &svc,
        &format!("/v2/ref/referrers/{d}?artifactType=application/x"),
    )
    .await;
    assert!(r.header("oci-filters-applied").is_none());
    let mut opts = Options::default();
    opts.disable_referrers_api = true;
    let (svc, _) = service(opts);
    assert_eq!(
        get(&svc, &format!("/v2/ref/referrers/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    // Without the referrers API the server does not claim to index subjects.
    let (_, subject) = push_image(&svc, "ref", "base", "subject").await;
    push_blob(&svc, "ref", b"{\"seed\":\"sig\"}").await;
    push_blob(&svc, "ref", b"layer of sig").await;
    let m = image_manifest(
        b"{\"seed\":\"sig\"}",
        &[b"layer of sig"],
        Some((&subject, 10)),
    );
    let r = call(
        &svc,
        Method::PUT,
        "/v2/ref/manifests/sig",
        &[("content-type", OCI_MANIFEST)],
        m,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("oci-subject").is_none());
}

#[tokio::test]
async fn emulation_options() {
    let mut opts = Options::default();
    opts.omit_digest_from_tag_get_response = true;
    opts.disable_single_post_upload = true;
    let (svc, _) = service(opts);
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/e/blobs/uploads/?digest={}", Digest::sha256(b"x")),
        &[("content-length", "1")],
        "x",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "single POST disabled: an upload session"
    );
    let loc = r.header("location").unwrap().to_owned();
    let r = call(
        &svc,
        Method::PUT,
        &format!("{loc}?digest={}", Digest::sha256(b"x")),
        &[],
        "x",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (_, d) = push_image(&svc, "e", "v1", "x").await;
    assert!(
        get(&svc, "/v2/e/manifests/v1")
            .await
            .header("docker-content-digest")
            .is_none()
    );
    let by_digest = get(&svc, &format!("/v2/e/manifests/{d}")).await;
    assert_eq!(
        by_digest.header("docker-content-digest"),
        Some(d.as_str()),
        "only tag GETs omit it"
    );
}

#[tokio::test]
async fn redirects_and_custom_locations() {
    let mut opts = Options::default();
    opts.locations_for_descriptor = Some(std::sync::Arc::new(|is_manifest, desc| {
        assert!(!is_manifest, "blob locations are asked for blobs");
        Ok(vec![format!("https://cdn.example/{}", desc.digest)])
    }));
    opts.location_for_upload_id = Some(std::sync::Arc::new(|id| {
        Ok(format!("https://uploads.example/{id}"))
    }));
    let (svc, _) = service(opts);
    let d = push_blob(&svc, "rd", b"content").await;
    let r = get(&svc, &format!("/v2/rd/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        r.header("location"),
        Some(format!("https://cdn.example/{d}").as_str())
    );
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/rd2/blobs/uploads/?mount={d}&from=rd"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.header("location"),
        Some(format!("https://cdn.example/{d}").as_str())
    );
    let r = call(
        &svc,
        Method::POST,
        "/v2/rd/blobs/uploads/",
        &[],
        Bytes::new(),
    )
    .await;
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("https://uploads.example/")
    );
}

#[tokio::test]
async fn custom_error_writer() {
    let mut opts = Options::default();
    opts.write_error = Some(std::sync::Arc::new(|err| {
        let mut resp = ociregistry_server::error_response(err, false);
        resp.headers_mut()
            .insert("x-custom", http::HeaderValue::from_static("yes"));
        resp
    }));
    let (svc, _) = service(opts);
    let r = get(&svc, "/v2/x/manifests/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("x-custom"), Some("yes"));
}

#[tokio::test]
async fn conflicting_framing_headers_are_refused() {
    let (svc, _) = service(Options::default());
    let d = Digest::sha256(b"abc");
    let r = call(
        &svc,
        Method::POST,
        &format!("/v2/a/blobs/uploads/?digest={d}"),
        &[("content-length", "3"), ("transfer-encoding", "chunked")],
        "abc",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&svc, &format!("/v2/a/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
}
