//! Micro-benchmarks of list responses: a tags list page of 100 and 1000 tags and a catalog page,
//! each a `GET` through the public `RegistryService` over a prefilled in-memory registry, end to
//! end (routing, paging the backend stream, rendering the JSON, collecting the body).
//!
//! `ping` (`GET /v2/`) is the fixed cost of a request through the service, and `json_only` the
//! `serde_json` rendering of the same pages alone (structs shaped like the server's private
//! ones), so the rest of each figure is paging and response building.
//!
//! Run with `cargo bench -p ociregistry-server --bench lists` (add
//! `-- --warm-up-time 1 --measurement-time 2` for a quick pass).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use ociregistry_core::{Context, Registry, media_type};
use ociregistry_mem::MemRegistry;
use ociregistry_server::RegistryService;
use serde::Serialize;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const REPO: &str = "library/app";
const TAGS: usize = 1000;
const REPOS: usize = 1000;

fn tag(i: usize) -> String {
    format!("v1.{}.{}", i / 100, i % 100)
}

fn repo(i: usize) -> String {
    format!("team-{}/service-{i:04}", i % 10)
}

/// A registry with `REPO` tagged `TAGS` times and `REPOS` other repositories, each holding an
/// empty index (a manifest with no references, so no blobs are needed).
fn prefilled(rt: &Runtime) -> RegistryService {
    let mem = Arc::new(MemRegistry::new());
    let index = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
        media_type::OCI_INDEX
    ));
    let cx = Context::new();
    rt.block_on(async {
        for i in 0..TAGS {
            mem.push_manifest(
                &cx,
                REPO,
                Some(&tag(i)),
                index.clone(),
                media_type::OCI_INDEX,
                None,
            )
            .await
            .unwrap();
        }
        for i in 0..REPOS - 1 {
            mem.push_manifest(
                &cx,
                &repo(i),
                None,
                index.clone(),
                media_type::OCI_INDEX,
                None,
            )
            .await
            .unwrap();
        }
    });
    RegistryService::new(mem)
}

/// One request through the service, its body collected.
async fn get(svc: &RegistryService, uri: &str) -> Bytes {
    let req = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
    let resp = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body().collect().await.unwrap().to_bytes()
}

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: &'a [String],
}

#[derive(Serialize)]
struct Catalog<'a> {
    repositories: &'a [String],
}

fn lists(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let svc = prefilled(&rt);

    let mut g = c.benchmark_group("service");
    g.bench_function("ping", |b| b.iter(|| rt.block_on(get(&svc, "/v2/"))));
    for n in [100, 1000] {
        let uri = format!("/v2/{REPO}/tags/list?n={n}");
        let body = rt.block_on(get(&svc, &uri));
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["tags"].as_array().unwrap().len(), n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("tags_list/{n}"), |b| {
            b.iter(|| rt.block_on(get(&svc, black_box(&uri))));
        });
    }
    for n in [100, 1000] {
        let uri = format!("/v2/_catalog?n={n}");
        let body = rt.block_on(get(&svc, &uri));
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["repositories"].as_array().unwrap().len(), n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("catalog/{n}"), |b| {
            b.iter(|| rt.block_on(get(&svc, black_box(&uri))));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("json_only");
    for n in [100, 1000] {
        let tags: Vec<String> = (0..n).map(tag).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("tags_list/{n}"), |b| {
            b.iter(|| {
                serde_json::to_vec(&TagList {
                    name: REPO,
                    tags: black_box(&tags),
                })
                .unwrap()
            });
        });
    }
    let repositories: Vec<String> = (0..100).map(repo).collect();
    g.throughput(Throughput::Elements(100));
    g.bench_function("catalog/100", |b| {
        b.iter(|| {
            serde_json::to_vec(&Catalog {
                repositories: black_box(&repositories),
            })
            .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, lists);
criterion_main!(benches);
