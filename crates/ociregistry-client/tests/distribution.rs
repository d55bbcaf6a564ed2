//! Interoperability with CNCF Distribution 2.8 (Debian's `docker-registry`), started by the test
//! on a loopback port with a generated configuration: once anonymous, once behind htpasswd
//! Basic authentication. Push and pull an image and an index, chunked and resumed uploads,
//! mounts, paginated tags and catalog, deletes, and referrers through the tag schema (2.8
//! predates the referrers API).
//!
//! When `docker-registry` is not installed the tests print a note and pass, unless the `CI`
//! environment variable is set, in which case they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ociregistry_client::auth::{Authenticator, Credentials};
use ociregistry_client::{Client, ClientOptions, referrers_tag};
use ociregistry_core::media_type::OCI_INDEX;
use ociregistry_core::testing::{
    Content, assert_blob, assert_manifest, assert_no_blob, assert_no_manifest, assert_tag,
    image_manifest, index_manifest, push_blob, push_image, push_manifest,
};
use ociregistry_core::{ByteRange, Code, Context, Registry, stream};

const BINARY: &str = "docker-registry";

fn binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(BINARY))
        .find(|p| p.is_file())
}

/// The binary, or `None` (after a note) when the test should be skipped.
fn require_binary() -> Option<PathBuf> {
    match binary() {
        Some(b) => Some(b),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "{BINARY} is not installed (apt-get install docker-registry; see scripts/install-test-tools.sh)"
            )
        }
        None => {
            eprintln!(
                "note: {BINARY} is not installed; skipping the CNCF Distribution interop test"
            );
            None
        }
    }
}

/// A running `docker-registry`, killed on drop.
struct Distribution {
    host: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

const USER: &str = "tester";
const PASSWORD: &str = "s3cret-pass";

async fn start(binary: &Path, htpasswd: bool) -> Distribution {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let host = format!("127.0.0.1:{port}");
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: error\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {host}\n  secret: interop-test-secret\n",
        root = dir.path().join("data").display(),
    );
    if htpasswd {
        let hash = bcrypt::hash(PASSWORD, 5).unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, format!("{USER}:{hash}\n")).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: interop\n    path: {}\n",
            path.display()
        ));
    }
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = tokio::process::Command::new(binary)
        .arg("serve")
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until it answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(&host).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{BINARY} did not start listening on {host}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Distribution {
        host,
        _child: child,
        _dir: dir,
    }
}

fn client(host: &str, auth: bool, f: impl FnOnce(&mut ClientOptions)) -> Client {
    common::client_with(host, |o| {
        if auth {
            o.authenticator = Some(Authenticator::new(|_: &str| {
                Ok(Credentials::basic(USER, PASSWORD))
            }));
        }
        f(o);
    })
}

async fn exercise(host: &str, auth: bool) {
    let c = client(host, auth, |o| o.list_page_size = 2);
    let r: &dyn Registry = &c;
    let cx = Context::new();
    let mut content = Content::new("distribution");
    let repo = "interop/app";

    // An image: blobs by push_blob, one layer by a chunked upload of several PATCHes.
    let (config, layers, builder) = content.image_builder(2);
    push_blob(r, repo, &config).await;
    push_blob(r, repo, &layers[0]).await;
    let big = content.layer(300_000);
    let mut w = r
        .push_blob_chunked(&cx, repo, Some(64 << 10))
        .await
        .unwrap();
    for part in big.data.chunks(50_000) {
        w.write(Bytes::copy_from_slice(part)).await.unwrap();
    }
    let st = w.close().await.unwrap();
    assert_eq!(st.size, 300_000);
    // Resume where the registry says the upload stands.
    let w = r
        .push_blob_chunked_resume(&cx, repo, &st.id, None, None)
        .await
        .unwrap();
    assert_eq!(w.size(), 300_000);
    w.commit(&big.digest).await.unwrap();
    assert_blob(r, repo, &big).await;
    push_blob(r, repo, &layers[1]).await;
    let manifest = builder.build();
    push_manifest(r, repo, Some("v1"), &manifest).await;
    assert_tag(r, repo, "v1", &manifest).await;
    assert_manifest(r, repo, &manifest).await;
    assert_blob(r, repo, &layers[0]).await;

    // Ranged reads.
    let part = r
        .get_blob_range(
            &cx,
            repo,
            &big.digest,
            ByteRange::Bounded {
                start: 1000,
                end: 2000,
            },
        )
        .await
        .unwrap();
    assert_eq!(part.range(), Some(&(1000..2000)));
    assert_eq!(
        part.bytes(1 << 20).await.unwrap(),
        big.data.slice(1000..2000)
    );

    // An index of the image.
    let index = index_manifest(&[manifest.descriptor()]).build();
    push_manifest(r, repo, Some("multi"), &index).await;
    assert_tag(r, repo, "multi", &index).await;
    let d = r.resolve_tag(&cx, repo, "multi").await.unwrap();
    assert_eq!(
        (d.media_type.as_str(), &d.digest),
        (OCI_INDEX, &index.digest)
    );

    // Mounts.
    let other = "interop/other";
    let desc = r
        .mount_blob(&cx, Some(repo), other, &big.digest)
        .await
        .unwrap();
    assert_eq!(desc.size, 300_000);
    assert_blob(r, other, &big).await;
    let missing = content.layer(10);
    let e = r
        .mount_blob(&cx, Some(repo), other, &missing.digest)
        .await
        .unwrap_err();
    assert!(e.is(&Code::BlobUnknown) || e.is_unsupported(), "{e}");

    // Tags (Distribution 2.8 ignores paging for tags and sends them unsorted) and the
    // catalog (paginated with Link headers).
    let mut want = vec!["multi".to_owned(), "v1".to_owned()];
    for i in 0..5 {
        let t = format!("t{i}");
        push_manifest(r, repo, Some(&t), &manifest).await;
        want.push(t);
    }
    want.sort();
    assert_eq!(
        stream::collect(r.tags(&cx, repo, None)).await.unwrap(),
        want
    );
    assert_eq!(
        stream::collect(r.tags(&cx, repo, Some("t1")))
            .await
            .unwrap(),
        ["t2", "t3", "t4", "v1"]
    );
    let repos = stream::collect(r.repositories(&cx, None)).await.unwrap();
    assert_eq!(repos, [repo, other]);

    // Referrers through the tag schema (no OCI-Subject from 2.8).
    let sbom_config = content.config();
    push_blob(r, repo, &sbom_config).await;
    let sbom = image_manifest(&sbom_config.descriptor(), &[layers[0].descriptor()])
        .subject(&manifest.descriptor())
        .artifact_type("application/vnd.example.sbom")
        .annotation("org.example.kind", "sbom")
        .build();
    let sig = image_manifest(&sbom_config.descriptor(), &[layers[1].descriptor()])
        .subject(&manifest.descriptor())
        .artifact_type("application/vnd.example.sig")
        .build();
    push_manifest(r, repo, None, &sbom).await;
    push_manifest(r, repo, None, &sig).await;
    let tag = referrers_tag(&manifest.digest);
    assert!(
        stream::collect(r.tags(&cx, repo, None))
            .await
            .unwrap()
            .contains(&tag)
    );
    let mut all = vec![sbom.referrer_descriptor(), sig.referrer_descriptor()];
    all.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    assert_eq!(
        stream::collect(r.referrers(&cx, repo, &manifest.digest, None))
            .await
            .unwrap(),
        all
    );
    assert_eq!(
        stream::collect(r.referrers(
            &cx,
            repo,
            &manifest.digest,
            Some("application/vnd.example.sig")
        ))
        .await
        .unwrap(),
        [sig.referrer_descriptor()]
    );
    assert!(
        stream::collect(r.referrers(&cx, repo, &index.digest, None))
            .await
            .unwrap()
            .is_empty()
    );

    // Deletes.
    r.delete_manifest(&cx, repo, &sig.digest).await.unwrap();
    assert_no_manifest(r, repo, &sig.digest).await;
    assert_eq!(
        stream::collect(r.referrers(&cx, repo, &manifest.digest, None))
            .await
            .unwrap(),
        [sbom.referrer_descriptor()]
    );
    r.delete_manifest(&cx, repo, &index.digest).await.unwrap();
    assert!(
        r.get_tag(&cx, repo, "multi")
            .await
            .unwrap_err()
            .is_not_found()
    );
    r.delete_blob(&cx, other, &big.digest).await.unwrap();
    assert_no_blob(r, other, &big.digest).await;
    assert_blob(r, repo, &big).await;
    match r.delete_tag(&cx, repo, "t0").await {
        Ok(()) => assert!(r.get_tag(&cx, repo, "t0").await.unwrap_err().is_not_found()),
        // Distribution 2.8 deletes manifests by digest only.
        Err(e) => assert!(
            e.is_unsupported()
                || e.is(&Code::DigestInvalid)
                || e.http_status().is_some_and(|s| s.is_client_error()),
            "{e}"
        ),
    }

    // Errors carry the registry's codes.
    let missing = content.layer(5);
    assert!(
        r.get_blob(&cx, repo, &missing.digest)
            .await
            .unwrap_err()
            .is(&Code::BlobUnknown)
    );
    assert!(
        r.resolve_blob(&cx, repo, &missing.digest)
            .await
            .unwrap_err()
            .is(&Code::BlobUnknown)
    );
    let e = stream::collect(r.tags(&cx, "interop/nothing-here", None))
        .await
        .unwrap_err();
    assert!(e.is(&Code::NameUnknown), "{e}");
    assert!(
        r.get_tag(&cx, repo, "nope")
            .await
            .unwrap_err()
            .is(&Code::ManifestUnknown)
    );

    // Cancel deletes the session.
    let mut w = r.push_blob_chunked(&cx, repo, None).await.unwrap();
    w.write(Bytes::from_static(b"abandoned")).await.unwrap();
    let st = w.close().await.unwrap();
    let w = r
        .push_blob_chunked_resume(&cx, repo, &st.id, Some(st.size), None)
        .await
        .unwrap();
    w.cancel().await.unwrap();
    let e = r
        .push_blob_chunked_resume(&cx, repo, &st.id, None, None)
        .await
        .err()
        .unwrap();
    assert!(e.is(&Code::BlobUploadUnknown), "{e}");

    // Another image through push_image for good measure.
    let image = content.image(3);
    push_image(r, "interop/third", Some("latest"), &image).await;
    assert_tag(r, "interop/third", "latest", &image.manifest).await;
}

#[tokio::test]
async fn distribution_anonymous() {
    let Some(bin) = require_binary() else { return };
    let d = start(&bin, false).await;
    tokio::time::timeout(Duration::from_secs(120), exercise(&d.host, false))
        .await
        .unwrap();
}

#[tokio::test]
async fn distribution_htpasswd() {
    let Some(bin) = require_binary() else { return };
    let d = start(&bin, true).await;
    tokio::time::timeout(Duration::from_secs(120), exercise(&d.host, true))
        .await
        .unwrap();
    // Without credentials, or with wrong ones: UNAUTHORIZED.
    let cx = Context::new();
    let anon = client(&d.host, false, |_| {});
    let e = anon
        .resolve_tag(&cx, "interop/app", "v1")
        .await
        .unwrap_err();
    assert!(e.is(&Code::Unauthorized), "{e}");
    let wrong = common::client_with(&d.host, |o| {
        o.authenticator = Some(Authenticator::new(|_: &str| {
            Ok(Credentials::basic(USER, "wrong"))
        }));
    });
    let e = wrong
        .resolve_tag(&cx, "interop/app", "v1")
        .await
        .unwrap_err();
    assert!(e.is(&Code::Unauthorized), "{e}");
}
