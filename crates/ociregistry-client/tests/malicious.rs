//! The client against scripted hostile or broken servers (registry-hardening catalogue C01–C22):
//! none of them makes it hang, panic, leak credentials or return unverified content.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Seen, respond, respond_stream, scripted};
use futures_util::StreamExt;
use ociregistry_client::auth::{Authenticator, Credentials};
use ociregistry_client::{Client, ClientOptions};
use ociregistry_core::{
    Algorithm, ByteRange, Code, Context, Descriptor, Digest, Error, Registry, stream,
};

const X: &[u8] = b"the content asked for";
const Y: &[u8] = b"some other content!!!";

fn cx() -> Context {
    Context::new()
}

/// Every test is bounded in time.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the test took too long")
}

/// Reads a reader to the end (bounded), returning the error if any.
async fn drain(r: ociregistry_core::BlobReader) -> Result<Bytes, Error> {
    r.bytes(64 << 20).await
}

fn with_basic_auth(host: &str, f: impl FnOnce(&mut ClientOptions)) -> Client {
    common::client_with(host, |o| {
        o.authenticator = Some(Authenticator::new(|_: &str| {
            Ok(Credentials::basic("user", "secret"))
        }));
        f(o);
    })
}

/// A 401 asking for Basic credentials unless the request has them.
fn needs_basic(seen: &Seen) -> Option<http::Response<common::ScriptBody>> {
    (!seen.authorized()).then(|| respond(401, &[("www-authenticate", "Basic realm=\"test\"")], ""))
}

#[tokio::test]
async fn c01_wrong_content_without_digest_header() {
    bounded(async {
        let s = scripted(|_, _| respond(200, &[], Y)).await;
        let c = common::client(&s.host);
        let d = Digest::sha256(X);
        let r = c.get_blob(&cx(), "a", &d).await.unwrap();
        let e = drain(r).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        // Manifests are verified before anything is returned.
        let e = c.get_manifest(&cx(), "a", &d).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        // Other lengths are size errors.
        let s = scripted(|_, _| respond(200, &[], "short")).await;
        let c = common::client(&s.host);
        let e = drain(c.get_blob(&cx(), "a", &d).await.unwrap())
            .await
            .unwrap_err();
        assert!(
            e.is(&Code::SizeInvalid) || e.is(&Code::DigestInvalid),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn c02_wrong_content_with_matching_header() {
    bounded(async {
        let dy = Digest::sha256(Y).to_string();
        let s = scripted(move |_, _| respond(200, &[("docker-content-digest", &dy)], Y)).await;
        let c = common::client(&s.host);
        let d = Digest::sha256(X);
        let e = c.get_blob(&cx(), "a", &d).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        let e = c.get_manifest(&cx(), "a", &d).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        let e = c.resolve_blob(&cx(), "a", &d).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        // A header of another algorithm is ignored: the content is checked against the digest
        // asked for.
        let dy512 = Digest::compute(Algorithm::Sha512, Y).to_string();
        let s = scripted(move |_, _| respond(200, &[("docker-content-digest", &dy512)], Y)).await;
        let c = common::client(&s.host);
        let e = drain(c.get_blob(&cx(), "a", &d).await.unwrap())
            .await
            .unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        // A tag whose content does not match the registry's header.
        let dx = Digest::sha256(X).to_string();
        let s = scripted(move |_, _| {
            respond(
                200,
                &[
                    ("docker-content-digest", &dx),
                    ("content-type", "application/x"),
                ],
                Y,
            )
        })
        .await;
        let c = common::client(&s.host);
        let e = c.get_tag(&cx(), "a", "latest").await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        // sha512 content is verified with sha512.
        let d512 = Digest::compute(Algorithm::Sha512, X);
        let s = scripted(|_, _| respond(200, &[], X)).await;
        let c = common::client(&s.host);
        assert_eq!(
            drain(c.get_blob(&cx(), "a", &d512).await.unwrap())
                .await
                .unwrap(),
            X
        );
    })
    .await;
}

#[tokio::test]
async fn c03_oversize_and_endless_blob_bodies() {
    bounded(async {
        let d = Digest::sha256(X);
        let len = X.len().to_string();
        // No Content-Length on the GET and an endless body: the size comes from a HEAD and the
        // read stops as soon as it is passed.
        let s = scripted(move |seen, _| {
            if seen.method == http::Method::HEAD {
                respond(200, &[("content-length", &len)], "")
            } else {
                respond_stream(200, &[], Bytes::from(vec![b'z'; 64 << 10]), None)
            }
        })
        .await;
        let c = common::client(&s.host);
        let start = Instant::now();
        let e = drain(c.get_blob(&cx(), "a", &d).await.unwrap())
            .await
            .unwrap_err();
        assert!(e.is(&Code::SizeInvalid), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));

        // Content-Length: 10 followed by a flood: only 10 bytes are read, then rejected.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
                        .await;
                    let flood = vec![b'f'; 1 << 16];
                    for _ in 0..(1 << 14) {
                        if sock.write_all(&flood).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let c = common::client(&host);
        let r = c.get_blob(&cx(), "a", &d).await.unwrap();
        assert_eq!(r.descriptor().size, 10);
        let e = drain(r).await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
    })
    .await;
}

#[tokio::test]
async fn c04_huge_manifests_are_capped() {
    bounded(async {
        // Announced: refused before reading.
        let s = scripted(|_, _| {
            respond_stream(
                200,
                &[
                    ("content-length", "2147483648"),
                    ("content-type", "application/vnd.oci.image.manifest.v1+json"),
                ],
                Bytes::from(vec![b' '; 64 << 10]),
                Some(32768),
            )
        })
        .await;
        let c = common::client(&s.host);
        let e = c.get_tag(&cx(), "a", "latest").await.unwrap_err();
        assert!(e.is(&Code::SizeInvalid), "{e}");
        let e = c
            .get_manifest(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap_err();
        assert!(e.is(&Code::SizeInvalid), "{e}");
        // Not announced (chunked): stopped at the cap.
        let s = scripted(|_, _| {
            respond_stream(
                200,
                &[(
                    "docker-content-digest",
                    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                )],
                Bytes::from(vec![b' '; 64 << 10]),
                None,
            )
        })
        .await;
        let c = common::client(&s.host);
        let start = Instant::now();
        let e = c.get_tag(&cx(), "a", "latest").await.unwrap_err();
        assert!(e.is(&Code::SizeInvalid), "{e}");
        assert!(
            e.message().contains(&s.host),
            "the error names the registry: {e}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    })
    .await;
}

#[tokio::test]
async fn c07_redirects_to_another_origin_carry_no_credentials() {
    bounded(async {
        let cdn = scripted(|_, _| respond(200, &[], X)).await;
        let cdn_url = format!("http://{}/blob?sig=abc", cdn.host);
        let registry = scripted(move |seen, _| {
            if let Some(r) = needs_basic(seen) {
                return r;
            }
            if seen.target.starts_with("/v2/a/blobs/") {
                respond(307, &[("location", &cdn_url)], "")
            } else {
                respond(302, &[("location", "/v2/a/blobs/sha256:x")], "")
            }
        })
        .await;
        let c = with_basic_auth(&registry.host, |_| {});
        let d = Digest::sha256(X);
        let got = drain(c.get_blob(&cx(), "a", &d).await.unwrap())
            .await
            .unwrap();
        assert_eq!(got, X);
        let at_registry = registry.seen();
        assert_eq!(at_registry.len(), 2, "{at_registry:?}");
        assert!(!at_registry[0].authorized() && at_registry[1].authorized());
        let at_cdn = cdn.seen();
        assert_eq!(at_cdn.len(), 1);
        assert!(
            !at_cdn[0].authorized(),
            "credentials leaked to another origin"
        );
        assert_eq!(at_cdn[0].target, "/blob?sig=abc");
    })
    .await;
}

#[tokio::test]
async fn c07_same_origin_redirects_keep_credentials() {
    bounded(async {
        let registry = scripted(move |seen, _| {
            if let Some(r) = needs_basic(seen) {
                return r;
            }
            if seen.target.starts_with("/v2/a/blobs/") {
                respond(307, &[("location", "/storage/blob")], "")
            } else {
                respond(200, &[], X)
            }
        })
        .await;
        let c = with_basic_auth(&registry.host, |_| {});
        let got = drain(c.get_blob(&cx(), "a", &Digest::sha256(X)).await.unwrap())
            .await
            .unwrap();
        assert_eq!(got, X);
        let seen = registry.seen();
        assert_eq!(seen.len(), 3);
        assert!(seen[2].authorized() && seen[2].target == "/storage/blob");
    })
    .await;
}

#[tokio::test]
async fn c07_redirect_limits_and_schemes() {
    bounded(async {
        let s = scripted(|seen, _| {
            let n: u32 = seen
                .target
                .rsplit('/')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            respond(302, &[("location", &format!("/hop/{}", n + 1))], "")
        })
        .await;
        let c = common::client(&s.host);
        let e = c
            .get_blob(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap_err();
        assert!(e.message().contains("redirects"), "{e}");
        assert_eq!(s.seen().len(), 11, "the first request and 10 redirects");

        for target in ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/"] {
            let t = target.to_owned();
            let s = scripted(move |_, _| respond(307, &[("location", &t)], "")).await;
            let c = common::client(&s.host);
            let e = c
                .get_blob(&cx(), "a", &Digest::sha256(X))
                .await
                .unwrap_err();
            assert!(e.is(&Code::Denied), "{target}: {e}");
        }
        // Other methods never follow redirects.
        let s = scripted(|_, _| respond(307, &[("location", "/elsewhere")], "")).await;
        let c = common::client(&s.host);
        assert!(c.delete_blob(&cx(), "a", &Digest::sha256(X)).await.is_err());
        assert_eq!(s.seen().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn c11_error_bodies_are_bounded() {
    bounded(async {
        // An endless JSON error body.
        let s = scripted(|_, _| {
            respond_stream(
                400,
                &[("content-type", "application/json")],
                Bytes::from_static(b"{\"errors\":[{\"code\":\"X\",\"message\":\"aaaaaaaa"),
                None,
            )
        })
        .await;
        let c = common::client(&s.host);
        let start = Instant::now();
        let e = c.get_tag(&cx(), "a", "latest").await.unwrap_err();
        assert_eq!(e.http_status(), Some(http::StatusCode::BAD_REQUEST), "{e}");
        assert!(e.response().unwrap().body.len() <= 8 << 10);
        assert!(start.elapsed() < Duration::from_secs(5));
        // Empty error lists and non-JSON bodies keep the status.
        for body in [&b"{\"errors\":[]}"[..], b"<html>teapot</html>", b""] {
            let s = scripted(move |_, _| respond(418, &[], body)).await;
            let c = common::client(&s.host);
            let e = c.get_tag(&cx(), "a", "latest").await.unwrap_err();
            assert_eq!(e.http_status(), Some(http::StatusCode::IM_A_TEAPOT));
            assert!(e.is(&Code::Unknown));
            assert_eq!(e.response().unwrap().body, body);
            assert!(e.message().contains(&s.host), "{e}");
        }
        // HEAD errors are mapped from the status and what was asked for.
        let s = scripted(|_, _| respond(404, &[], "")).await;
        let c = common::client_with(&s.host, |o| o.refine_not_found = false);
        let e = c
            .resolve_blob(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap_err();
        assert!(e.is(&Code::BlobUnknown), "{e}");
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.is(&Code::ManifestUnknown), "{e}");
        assert_eq!(s.seen().len(), 2);
        // With refinement, a GET tells the code.
        let body = Error::from_code(Code::NameUnknown).to_wire_json();
        let s = scripted(move |_, _| {
            respond(404, &[("content-type", "application/json")], body.clone())
        })
        .await;
        let c = common::client(&s.host);
        let e = c
            .resolve_blob(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap_err();
        assert!(e.is(&Code::NameUnknown), "{e}");
        let methods: Vec<_> = s.seen().into_iter().map(|s| s.method).collect();
        assert_eq!(methods, [http::Method::HEAD, http::Method::GET]);
        // 401, 403, 429 on HEAD.
        for (status, code) in [
            (401, Code::Unauthorized),
            (403, Code::Denied),
            (429, Code::TooManyRequests),
        ] {
            let s = scripted(move |_, _| respond(status, &[("retry-after", "3600")], "")).await;
            let c = common::client(&s.host);
            let e = c
                .resolve_manifest(&cx(), "a", &Digest::sha256(X))
                .await
                .unwrap_err();
            assert!(e.is(&code), "{status}: {e}");
        }
    })
    .await;
}

fn tags_page(tags: &[&str]) -> String {
    serde_json::json!({"name": "a", "tags": tags}).to_string()
}

#[tokio::test]
async fn c12_pagination() {
    bounded(async {
        let list = |c: &Client| stream::collect(c.tags(&cx(), "a", None));
        // (a) A Link to another origin.
        let s = scripted(|_, _| {
            respond(
                200,
                &[(
                    "link",
                    "<https://other.example/v2/a/tags/list?n=2&last=b>; rel=\"next\"",
                )],
                tags_page(&["a", "b"]),
            )
        })
        .await;
        let e = list(&common::client(&s.host)).await.unwrap_err();
        assert!(e.message().contains("another origin"), "{e}");
        // (b) A Link to itself, and a cycle of two pages.
        let s = scripted(|seen, _| {
            respond(
                200,
                &[("link", &format!("<{}>; rel=\"next\"", seen.target))],
                tags_page(&["a", "b"]),
            )
        })
        .await;
        let e = list(&common::client(&s.host)).await.unwrap_err();
        assert!(e.message().contains("already read"), "{e}");
        let s = scripted(|seen, _| {
            let next = if seen.target.contains("last=b") {
                "/v2/a/tags/list?n=2&last=d"
            } else {
                "/v2/a/tags/list?n=2&last=b"
            };
            let page = if seen.target.contains("last=b") {
                tags_page(&["c", "d"])
            } else {
                tags_page(&["a", "b"])
            };
            respond(200, &[("link", &format!("<{next}>; rel=\"next\""))], page)
        })
        .await;
        let c = common::client_with(&s.host, |o| o.list_page_size = 2);
        let e = list(&c).await.unwrap_err();
        assert!(e.message().contains("already read"), "{e}");
        assert_eq!(s.seen().len(), 3);
        // (c) A short page with a Link continues.
        let s = scripted(|seen, _| {
            if seen.target.contains("last=") {
                respond(200, &[], tags_page(&["c"]))
            } else {
                respond(
                    200,
                    &[("link", "</v2/a/tags/list?n=5&last=b>; rel=\"next\"")],
                    tags_page(&["a", "b"]),
                )
            }
        })
        .await;
        let c = common::client_with(&s.host, |o| o.list_page_size = 5);
        assert_eq!(list(&c).await.unwrap(), ["a", "b", "c"]);
        // (d) More than n entries: the registry ignores paging; stop.
        let s = scripted(|_, _| respond(200, &[], tags_page(&["a", "b", "c"]))).await;
        let c = common::client_with(&s.host, |o| o.list_page_size = 2);
        assert_eq!(list(&c).await.unwrap(), ["a", "b", "c"]);
        assert_eq!(s.seen().len(), 1);
        // (e) A malformed Link.
        let s = scripted(|_, _| {
            respond(
                200,
                &[("link", "/v2/a/tags/list?last=b; rel=next")],
                tags_page(&["a", "b"]),
            )
        })
        .await;
        let c = common::client_with(&s.host, |o| o.list_page_size = 2);
        let e = list(&c).await.unwrap_err();
        assert!(e.message().contains("malformed Link"), "{e}");
        // Ever new Links with nothing new: stops.
        let s = scripted(|_, i| {
            respond(
                200,
                &[("link", &format!("</v2/a/tags/list?page={i}>; rel=\"next\""))],
                tags_page(&["a"]),
            )
        })
        .await;
        let e = list(&common::client(&s.host)).await.unwrap_err();
        assert!(e.message().contains("nothing new"), "{e}");
        assert!(s.seen().len() <= 7);
        // Garbage JSON.
        let s = scripted(|_, _| respond(200, &[], "{\"tags\": 5}")).await;
        assert!(list(&common::client(&s.host)).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn c13_huge_list_pages_are_bounded() {
    bounded(async {
        let s = scripted(|_, _| {
            respond_stream(200, &[], Bytes::from_static(b"{\"tags\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","), None)
        })
        .await;
        let c = common::client_with(&s.host, |o| o.max_list_page_bytes = 1 << 20);
        let e = stream::collect(c.tags(&cx(), "a", None)).await.unwrap_err();
        assert!(e.is(&Code::SizeInvalid), "{e}");
    })
    .await;
}

#[tokio::test]
async fn c14_c15_upload_locations() {
    bounded(async {
        // The Location's query is kept exactly; digest= is appended.
        let s = scripted(|seen, _| {
            if let Some(r) = needs_basic(seen) {
                return r;
            }
            match seen.method {
                http::Method::POST => respond(
                    202,
                    &[("location", "/upload/1?_state=a%2Bb%3D%3D&sig=xyz")],
                    "",
                ),
                http::Method::PATCH => {
                    respond(202, &[("location", "/upload/2?_state=c%2Fd&sig=uvw")], "")
                }
                _ => respond(201, &[], ""),
            }
        })
        .await;
        let c = with_basic_auth(&s.host, |o| o.chunk_size = 4);
        let data = Bytes::from_static(b"0123456789");
        let d = Digest::sha256(&data);
        let mut w = c.push_blob_chunked(&cx(), "a", None).await.unwrap();
        assert_eq!(
            w.id(),
            format!("http://{}/upload/1?_state=a%2Bb%3D%3D&sig=xyz", s.host)
        );
        w.write(data.clone()).await.unwrap();
        w.commit(&d).await.unwrap();
        let seen = s.seen();
        let targets: Vec<_> = seen
            .iter()
            .skip(2)
            .map(|s| {
                (
                    s.method.as_str().to_owned(),
                    s.target.clone(),
                    s.headers
                        .get("content-range")
                        .map(|v| v.to_str().unwrap().to_owned()),
                )
            })
            .collect();
        let enc = d.as_str().replace(':', "%3A");
        assert_eq!(
            targets,
            [
                (
                    "PATCH".into(),
                    "/upload/1?_state=a%2Bb%3D%3D&sig=xyz".into(),
                    Some("0-3".into())
                ),
                (
                    "PATCH".into(),
                    "/upload/2?_state=c%2Fd&sig=uvw".into(),
                    Some("4-7".into())
                ),
                (
                    "PUT".into(),
                    format!("/upload/2?_state=c%2Fd&sig=uvw&digest={enc}"),
                    Some("8-9".into())
                ),
            ]
        );
        assert!(seen.iter().skip(1).all(Seen::authorized));

        // A Location on another origin gets no credentials.
        let other = scripted(|_, _| respond(201, &[], "")).await;
        let loc = format!("http://{}/upload?x=1", other.host);
        let s = scripted(move |seen, _| {
            needs_basic(seen).unwrap_or_else(|| respond(202, &[("location", &loc)], ""))
        })
        .await;
        let c = with_basic_auth(&s.host, |_| {});
        let desc = Descriptor::new("application/octet-stream", d.clone(), data.len() as u64);
        c.push_blob(&cx(), "a", &desc, stream::bytes(data.clone()))
            .await
            .unwrap();
        let at_other = other.seen();
        assert_eq!(at_other.len(), 1);
        assert!(
            !at_other[0].authorized(),
            "credentials leaked to another origin"
        );
        assert_eq!(at_other[0].body, data);

        // Locations that are not http(s) are refused.
        for loc in ["file:///etc/passwd", "ftp://x/y"] {
            let s = scripted(move |_, _| respond(202, &[("location", loc)], "")).await;
            let c = common::client(&s.host);
            let e = c
                .push_blob(&cx(), "a", &desc, stream::bytes(data.clone()))
                .await
                .unwrap_err();
            assert!(e.is(&Code::Denied), "{loc}: {e}");
        }
        // A resume id on another origin is never followed.
        let s = scripted(|_, _| respond(204, &[("range", "0-0")], "")).await;
        let c = common::client(&s.host);
        for id in [
            format!("http://{}/upload", other.host),
            "https://evil.example/x".into(),
            "not a url".into(),
        ] {
            let e = c
                .push_blob_chunked_resume(&cx(), "a", &id, None, None)
                .await
                .err()
                .unwrap();
            assert!(e.is(&Code::BlobUploadUnknown), "{id}: {e}");
        }
        assert!(s.seen().is_empty());
    })
    .await;
}

#[tokio::test]
async fn c16_patch_416_is_range_invalid() {
    bounded(async {
        let s = scripted(|seen, _| match seen.method {
            http::Method::POST => respond(202, &[("location", "/upload/1")], ""),
            _ => respond(416, &[("range", "0-3")], ""),
        })
        .await;
        let c = common::client_with(&s.host, |o| o.chunk_size = 4);
        let mut w = c.push_blob_chunked(&cx(), "a", None).await.unwrap();
        let e = w
            .write(Bytes::from_static(b"0123456789"))
            .await
            .unwrap_err();
        assert!(e.is(&Code::RangeInvalid), "{e}");
        let id = format!("http://{}/upload/1", s.host);
        let mut w = c
            .push_blob_chunked_resume(&cx(), "a", &id, Some(7), None)
            .await
            .unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        let e = w.close().await.unwrap_err();
        assert!(e.is(&Code::RangeInvalid), "{e}");
        // Resuming asks where the upload stands; an unparseable Range is an error.
        let s = scripted(|_, _| {
            respond(
                204,
                &[("range", "bytes=garbage"), ("location", "/upload/1")],
                "",
            )
        })
        .await;
        let c = common::client(&s.host);
        let e = c
            .push_blob_chunked_resume(
                &cx(),
                "a",
                &format!("http://{}/upload/1", s.host),
                None,
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(e.is(&Code::BlobUploadInvalid), "{e}");
        let s = scripted(|_, _| {
            respond(
                204,
                &[
                    ("range", "0-41"),
                    ("location", "/upload/2"),
                    ("oci-chunk-min-length", "1000"),
                ],
                "",
            )
        })
        .await;
        let c = common::client(&s.host);
        let w = c
            .push_blob_chunked_resume(
                &cx(),
                "a",
                &format!("http://{}/upload/1", s.host),
                None,
                None,
            )
            .await
            .unwrap();
        assert_eq!(w.size(), 42);
        assert_eq!(w.chunk_size(), 64 << 10);
        assert_eq!(w.id(), format!("http://{}/upload/2", s.host));
    })
    .await;
}

#[tokio::test]
async fn c19_retry_after_is_honoured_up_to_a_cap() {
    bounded(async {
        // Absurd waits are not honoured: the error comes at once.
        for wait in ["999999999", "Wed, 21 Oct 2099 07:28:00 GMT"] {
            let s = scripted(move |_, _| respond(429, &[("retry-after", wait)], "")).await;
            let c = common::client(&s.host);
            let start = Instant::now();
            let e = c.get_tag(&cx(), "a", "v1").await.unwrap_err();
            assert!(e.is(&Code::TooManyRequests), "{e}");
            assert!(start.elapsed() < Duration::from_secs(2));
            assert_eq!(s.seen().len(), 1);
        }
        // A short wait is honoured.
        let s = scripted(|_, i| {
            if i == 0 {
                respond(429, &[("retry-after", "1")], "")
            } else {
                respond(200, &[("content-type", "application/x")], X)
            }
        })
        .await;
        let c = common::client(&s.host);
        let start = Instant::now();
        c.get_manifest(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(900));
        // 5xx are retried with backoff, up to max_attempts.
        let s = scripted(|_, _| respond(503, &[], "")).await;
        let c = common::client(&s.host);
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert_eq!(e.http_status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(s.seen().len(), 4);
        // Uploads are not retried.
        let s = scripted(|_, _| respond(503, &[], "")).await;
        let c = common::client(&s.host);
        assert!(c.push_blob_chunked(&cx(), "a", None).await.is_err());
        assert_eq!(s.seen().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn c20_malformed_referrers_tag_index() {
    bounded(async {
        for index in [
            "not json",
            "{\"manifests\": 5}",
            "[1,2]",
            "{\"manifests\":[{\"digest\":\"sha256:zz\"}, 7]}",
        ] {
            let s = scripted(move |seen, _| {
                if seen.target.contains("/referrers/") {
                    respond(404, &[], "404 page not found")
                } else {
                    respond(
                        200,
                        &[("content-type", "application/vnd.oci.image.index.v1+json")],
                        index,
                    )
                }
            })
            .await;
            let c = common::client(&s.host);
            let got = stream::collect(c.referrers(&cx(), "a", &Digest::sha256(X), None))
                .await
                .unwrap();
            assert!(got.is_empty(), "{index}");
        }
    })
    .await;
}

#[tokio::test]
async fn c21_range_answered_with_the_whole_blob() {
    bounded(async {
        let blob: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let b2 = blob.clone();
        let s = scripted(move |_, _| respond(200, &[], b2.clone())).await;
        let c = common::client(&s.host);
        let d = Digest::sha256(&blob);
        for (range, want) in [
            (
                ByteRange::Bounded {
                    start: 100,
                    end: 200,
                },
                100..200,
            ),
            (ByteRange::From(990), 990..1000),
            (ByteRange::Suffix(3), 997..1000),
        ] {
            let r = c.get_blob_range(&cx(), "a", &d, range).await.unwrap();
            assert_eq!(r.range(), Some(&want));
            assert_eq!(r.descriptor().size, 1000);
            assert_eq!(
                drain(r).await.unwrap(),
                blob[want.start as usize..want.end as usize]
            );
        }
        let e = c
            .get_blob_range(&cx(), "a", &d, ByteRange::From(1000))
            .await
            .unwrap_err();
        assert!(e.is(&Code::RangeInvalid), "{e}");
        // A 206 that does not cover the range asked for.
        let s =
            scripted(|_, _| respond(206, &[("content-range", "bytes 0-9/1000")], vec![0u8; 10]))
                .await;
        let c = common::client(&s.host);
        assert!(
            c.get_blob_range(&cx(), "a", &d, ByteRange::From(100))
                .await
                .is_err()
        );
        // A 416 names the size.
        let s = scripted(|_, _| respond(416, &[("content-range", "bytes */1000")], "")).await;
        let c = common::client(&s.host);
        let e = c
            .get_blob_range(&cx(), "a", &d, ByteRange::From(5000))
            .await
            .unwrap_err();
        assert!(
            e.is(&Code::RangeInvalid) && e.message().contains("1000"),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn c22_invalid_digest_headers() {
    bounded(async {
        let s = scripted(|_, _| {
            respond(
                200,
                &[
                    ("docker-content-digest", "sha256:zz"),
                    ("content-length", "5"),
                    ("content-type", "application/x"),
                ],
                "",
            )
        })
        .await;
        let c = common::client(&s.host);
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
        let e = c
            .resolve_blob(&cx(), "a", &Digest::sha256(X))
            .await
            .unwrap_err();
        assert!(e.is(&Code::DigestInvalid), "{e}");
    })
    .await;
}

#[tokio::test]
async fn refused_credentials() {
    bounded(async {
        // Basic credentials refused: UNAUTHORIZED after exactly one retry.
        let s =
            scripted(|_, _| respond(401, &[("www-authenticate", "Basic realm=\"x\"")], "")).await;
        let c = with_basic_auth(&s.host, |_| {});
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.is(&Code::Unauthorized), "{e}");
        assert_eq!(s.seen().len(), 2);
        // A fresh token refused: DENIED.
        let s = scripted(|seen, _| {
            if seen.target.starts_with("/token") {
                respond(
                    200,
                    &[("content-type", "application/json")],
                    "{\"token\":\"abc\",\"expires_in\":300}",
                )
            } else {
                let realm = format!(
                    "Bearer realm=\"http://{}/token\",service=\"test\"",
                    seen.headers.get("host").unwrap().to_str().unwrap()
                );
                respond(401, &[("www-authenticate", &realm)], "")
            }
        })
        .await;
        let c = with_basic_auth(&s.host, |_| {});
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.is(&Code::Denied), "{e}");
        let seen = s.seen();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen[1].target.contains("scope=repository%3Aa%3Apull"),
            "{}",
            seen[1].target
        );
        assert_eq!(seen[2].headers["authorization"], "Bearer abc");
        // No authenticator: a 401 is UNAUTHORIZED at once.
        let c = common::client(&s.host);
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.is(&Code::Unauthorized), "{e}");
    })
    .await;
}

#[tokio::test]
async fn stalled_servers_time_out() {
    bounded(async {
        // Accepts, reads, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let c = common::client_with(&host, |o| {
            o.response_timeout = Some(Duration::from_millis(300));
            o.retry.max_attempts = 2;
        });
        let start = Instant::now();
        let e = c.resolve_tag(&cx(), "a", "v1").await.unwrap_err();
        assert!(e.message().contains("no response"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(3));
        // A body that stalls.
        let s = scripted(|_, _| {
            let stalled = futures_util::stream::once(async {
                Ok::<_, std::io::Error>(hyper::body::Frame::data(Bytes::from_static(b"abc")))
            })
            .chain(futures_util::stream::pending());
            use http_body_util::BodyExt;
            http::Response::builder()
                .status(200)
                .header("content-length", "100")
                .body(http_body_util::StreamBody::new(stalled).boxed_unsync())
                .unwrap()
        })
        .await;
        let c = common::client_with(&s.host, |o| {
            o.body_timeout = Some(Duration::from_millis(300))
        });
        let r = c.get_blob(&cx(), "a", &Digest::sha256(X)).await.unwrap();
        let mut st = Box::pin(r);
        assert_eq!(st.next().await.unwrap().unwrap(), "abc");
        let e = st.next().await.unwrap().unwrap_err();
        assert!(e.message().contains("stalled"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn invalid_names_send_nothing() {
    bounded(async {
        let s = scripted(|_, _| respond(500, &[], "")).await;
        let c = common::client(&s.host);
        let d = Digest::sha256(X);
        assert!(
            c.get_blob(&cx(), "A/B", &d)
                .await
                .unwrap_err()
                .is(&Code::NameInvalid)
        );
        assert!(
            c.get_tag(&cx(), "a", "")
                .await
                .unwrap_err()
                .is(&Code::ManifestInvalid)
        );
        assert!(
            c.resolve_tag(&cx(), "a", "-x")
                .await
                .unwrap_err()
                .is(&Code::ManifestInvalid)
        );
        assert!(
            c.delete_tag(&cx(), "a", "")
                .await
                .unwrap_err()
                .is(&Code::ManifestInvalid)
        );
        assert!(
            c.push_manifest(&cx(), "a", Some("x y"), Bytes::new(), "a/b", None)
                .await
                .unwrap_err()
                .is(&Code::ManifestInvalid)
        );
        assert!(
            c.push_manifest(
                &cx(),
                "a",
                None,
                Bytes::from_static(X),
                "a/b",
                Some(&Digest::sha256(Y))
            )
            .await
            .unwrap_err()
            .is(&Code::DigestInvalid)
        );
        assert!(
            c.mount_blob(&cx(), Some("../x"), "a", &d)
                .await
                .unwrap_err()
                .is(&Code::NameInvalid)
        );
        assert!(
            stream::collect(c.tags(&cx(), "a//b", None))
                .await
                .unwrap_err()
                .is(&Code::NameInvalid)
        );
        assert!(
            stream::collect(c.referrers(&cx(), "", &d, None))
                .await
                .unwrap_err()
                .is(&Code::NameInvalid)
        );
        assert!(s.seen().is_empty());
    })
    .await;
}
