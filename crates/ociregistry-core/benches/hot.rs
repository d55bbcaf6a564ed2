//! Micro-benchmarks of the functions every request goes through: digest parsing, route parsing,
//! `Range` header parsing, repository name validation and manifest parsing.
//!
//! Run with `cargo bench -p ociregistry-core --bench hot` (add `-- digest` to run one group, or
//! `-- --warm-up-time 1 --measurement-time 2` for a quick pass).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Method;
use ociregistry_core::route::{self, Route};
use ociregistry_core::{Algorithm, ByteRange, Digest, ManifestInfo, media_type, names, range};

const SHA256: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn sha512() -> String {
    Digest::compute(Algorithm::Sha512, b"hello").to_string()
}

/// A digest of `n` for building manifests with distinct descriptors.
fn digest_of(n: u32) -> Digest {
    Digest::sha256(&n.to_be_bytes())
}

fn digest(c: &mut Criterion) {
    let sha512 = sha512();
    // Right length, but an upper-case hex digit: rejected after the full scan.
    let malformed = SHA256.replace('f', "F");
    let mut g = c.benchmark_group("digest_parse");
    g.bench_function("sha256", |b| {
        b.iter(|| Digest::parse(black_box(SHA256)).unwrap());
    });
    g.bench_function("sha512", |b| {
        b.iter(|| Digest::parse(black_box(&sha512)).unwrap());
    });
    g.bench_function("malformed", |b| {
        b.iter(|| Digest::parse(black_box(&malformed)).unwrap_err());
    });
    g.finish();
}

fn routes(c: &mut Criterion) {
    let blob = format!("/v2/library/app/blobs/{SHA256}");
    // An upload id as long as a proxied upstream upload URL.
    let id = format!(
        "https://upstream.example.com/v2/library/app/blobs/uploads/{}?_state={}",
        "6f1d2c3b-0a9e-4f7d-8c2b-1e5a4d3c2b1a",
        "x".repeat(160)
    );
    let upload = route::upload_path("library/app", &id);
    let deep = format!(
        "/v2/{}/manifests/v1.2.3",
        "org/team-a/project.b/sub_group/component/service-name"
    );
    let cases: [(&str, Method, &str, Option<&str>); 5] = [
        ("blob_get", Method::GET, &blob, None),
        (
            "manifest_by_tag",
            Method::GET,
            "/v2/library/app/manifests/latest",
            None,
        ),
        (
            "tags_list_query",
            Method::GET,
            "/v2/library/app/tags/list",
            Some("n=100&last=x"),
        ),
        ("upload_patch_long_id", Method::PATCH, &upload, None),
        ("manifest_deep_repo", Method::GET, &deep, None),
    ];
    let mut g = c.benchmark_group("route_parse");
    for (name, method, path, query) in &cases {
        // Check each case parses, so a benchmark never measures an error path by accident.
        Route::parse(method, path, *query).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| Route::parse(black_box(method), black_box(path), black_box(*query)).unwrap());
        });
    }
    g.finish();
}

fn ranges(c: &mut Criterion) {
    let mut g = c.benchmark_group("range_parse");
    g.bench_function("bounded", |b| {
        b.iter(|| ByteRange::parse_header(black_box("bytes=0-1023")).unwrap());
    });
    g.bench_function("suffix", |b| {
        b.iter(|| ByteRange::parse_header(black_box("bytes=-500")).unwrap());
    });
    g.bench_function("upload_range", |b| {
        b.iter(|| range::upload_range(black_box(1_048_576)));
    });
    g.bench_function("parse_upload_range", |b| {
        b.iter(|| range::parse_upload_range(black_box("0-1048575")).unwrap());
    });
    g.finish();
}

fn repository_names(c: &mut Criterion) {
    let mut g = c.benchmark_group("names");
    for (name, repo) in [
        ("typical", "library/app"),
        (
            "deep",
            "org/team-a/project.b/sub_group/component/service-name",
        ),
    ] {
        assert!(names::is_valid_repository(repo));
        g.bench_function(name, |b| {
            b.iter(|| names::validate_repository(black_box(repo)).unwrap());
        });
    }
    g.finish();
}

fn descriptor_json(media_type: &str, digest: &Digest, size: u64) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// An image manifest with a config and 5 layers, as `docker push` writes one.
fn image_manifest() -> Vec<u8> {
    let config = descriptor_json(
        "application/vnd.oci.image.config.v1+json",
        &digest_of(0),
        1469,
    );
    let layers: Vec<String> = (1..=5)
        .map(|i| {
            descriptor_json(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                &digest_of(i),
                u64::from(i) * 3_141_592,
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{config},"layers":[{}],"annotations":{{"org.opencontainers.image.created":"2025-01-01T00:00:00Z"}}}}"#,
        media_type::OCI_MANIFEST,
        layers.join(",")
    )
    .into_bytes()
}

/// An index of 4 platform manifests.
fn index() -> Vec<u8> {
    let children: Vec<String> = [
        ("amd64", "linux"),
        ("arm64", "linux"),
        ("arm", "linux"),
        ("amd64", "windows"),
    ]
    .iter()
    .zip(10..)
    .map(|((arch, os), i)| {
        format!(
            r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"{os}"}}}}"#,
            media_type::OCI_MANIFEST,
            digest_of(i),
            1000 + i
        )
    })
    .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        media_type::OCI_INDEX,
        children.join(",")
    )
    .into_bytes()
}

fn manifests(c: &mut Criterion) {
    let mut g = c.benchmark_group("manifest_parse");
    for (name, mt, data) in [
        ("image_5_layers", media_type::OCI_MANIFEST, image_manifest()),
        ("index_4_children", media_type::OCI_INDEX, index()),
    ] {
        let info = ManifestInfo::parse(mt, &data).unwrap();
        assert_eq!(
            info.layers.len() + info.manifests.len(),
            if name.starts_with("image") { 5 } else { 4 }
        );
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| ManifestInfo::parse(black_box(mt), black_box(&data)).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, digest, routes, ranges, repository_names, manifests);
criterion_main!(benches);
