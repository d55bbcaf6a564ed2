//! `Traced`: the spans it opens, captured with a `tracing-subscriber` layer.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use ociregistry_core::bytes::Bytes;
use ociregistry_core::testing::{Content, push_image};
use ociregistry_core::{Code, Context, Identity, Registry, stream};
use ociregistry_filter::traced;
use ociregistry_mem::MemRegistry;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as captured: its name, its parent's name, and its fields as text.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: &'static str,
    parent: Option<&'static str>,
    level: String,
    fields: BTreeMap<String, String>,
    closed: bool,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(u64, Captured)>>>);

impl Capture {
    fn spans(&self, name: &str) -> Vec<Captured> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn one(&self, name: &str) -> Captured {
        let spans = self.spans(name);
        assert_eq!(spans.len(), 1, "spans named {name}: {spans:?}");
        spans.into_iter().next().unwrap()
    }

    fn with(&self, id: &Id, f: impl FnOnce(&mut Captured)) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, s)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            f(s);
        }
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: LayerContext<'_, S>) {
        let mut span = Captured {
            name: attrs.metadata().name(),
            level: attrs.metadata().level().to_string(),
            parent: cx.span(id).and_then(|s| s.parent()).map(|p| p.name()),
            ..Captured::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        self.0.lock().unwrap().push((id.into_u64(), span));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _cx: LayerContext<'_, S>) {
        self.with(id, |s| values.record(&mut Fields(&mut s.fields)));
    }

    fn on_close(&self, id: Id, _cx: LayerContext<'_, S>) {
        self.with(&id, |s| s.closed = true);
    }
}

fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, guard)
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_operation_records_repository_and_error_code() {
    let (capture, _guard) = capture();
    let r = traced(MemRegistry::new());
    let cx = Context::new().with_identity(Identity::User("alice".into()));
    let e = r
        .resolve_tag(&cx, "library/app", "latest")
        .await
        .unwrap_err();
    assert_eq!(e.code(), &Code::NameUnknown);

    let span = capture.one("resolve_tag");
    assert_eq!(span.level, "INFO");
    assert_eq!(span.field("repository"), Some("library/app"));
    assert_eq!(span.field("tag"), Some("latest"));
    assert_eq!(span.field("user"), Some("alice"));
    assert_eq!(span.field("error.code"), Some("NAME_UNKNOWN"));
    assert_eq!(
        span.field("error.message"),
        Some("repository library/app not known to registry")
    );
    assert!(span.field("duration_ms").is_some());
    assert!(span.closed);
}

#[tokio::test(flavor = "current_thread")]
async fn successful_operations_record_what_they_touched_but_no_content() {
    let (capture, _guard) = capture();
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("successful_operations_record_what_they_touched");
    let image = c.image(1);
    push_image(&*mem, "app", Some("v1"), &image).await;
    let r = traced(Arc::clone(&mem));
    let cx = Context::new();

    let reader = r.get_tag(&cx, "app", "v1").await.unwrap();
    let data = reader.bytes(1 << 20).await.unwrap();
    let span = capture.one("get_tag");
    assert_eq!(span.field("digest"), Some(image.manifest.digest.as_str()));
    assert_eq!(span.field("size"), Some(data.len().to_string().as_str()));
    assert_eq!(span.field("bytes"), Some(data.len().to_string().as_str()));
    assert_eq!(span.field("error.code"), None);
    assert_eq!(span.field("user"), None);
    assert!(span.closed);

    let m = &image.manifest;
    r.push_manifest(&cx, "app", Some("v2"), m.data.clone(), &m.media_type, None)
        .await
        .unwrap();
    let span = capture.one("push_manifest");
    assert_eq!(span.field("tag"), Some("v2"));
    assert_eq!(span.field("digest"), Some(m.digest.as_str()));
    assert_eq!(span.field("media_type"), Some(m.media_type.as_str()));
    // No field holds the manifest (or any blob) bytes.
    let manifest_text = String::from_utf8_lossy(&m.data).into_owned();
    let config_text = String::from_utf8_lossy(&image.config.data).into_owned();
    for (_, s) in capture.0.lock().unwrap().iter() {
        for value in s.fields.values() {
            assert!(!value.contains(&manifest_text) && !value.contains(&config_text));
        }
    }

    // A mount names both repositories.
    r.mount_blob(&cx, Some("app"), "other", &image.config.digest)
        .await
        .unwrap();
    let span = capture.one("mount_blob");
    assert_eq!(span.field("from"), Some("app"));
    assert_eq!(span.field("repository"), Some("other"));
    assert_eq!(span.field("digest"), Some(image.config.digest.as_str()));
}

#[tokio::test(flavor = "current_thread")]
async fn listings_record_item_counts_at_the_end() {
    let (capture, _guard) = capture();
    let mem = Arc::new(MemRegistry::new());
    let mut c = Content::new("listings_record_item_counts_at_the_end");
    let image = c.image(0);
    for tag in ["a", "b", "c"] {
        ociregistry_core::testing::push_blob(&*mem, "app", &image.config).await;
        ociregistry_core::testing::push_manifest(&*mem, "app", Some(tag), &image.manifest).await;
    }
    let r = traced(Arc::clone(&mem));
    let cx = Context::new();

    let tags = r.tags(&cx, "app", Some("a"));
    assert_eq!(
        capture.one("tags").field("items"),
        None,
        "not before the end"
    );
    assert_eq!(stream::collect(tags).await.unwrap(), ["b", "c"]);
    let span = capture.one("tags");
    assert_eq!(span.field("repository"), Some("app"));
    assert_eq!(span.field("start_after"), Some("a"));
    assert_eq!(span.field("items"), Some("2"));
    assert!(span.field("duration_ms").is_some());
    assert!(span.closed);

    // A listing that fails records its error.
    let e = stream::collect(r.tags(&cx, "missing", None))
        .await
        .unwrap_err();
    assert!(e.is(&Code::NameUnknown));
    let failed = capture.spans("tags").pop().unwrap();
    assert_eq!(failed.field("error.code"), Some("NAME_UNKNOWN"));
    assert_eq!(failed.field("items"), Some("0"));

    // A listing dropped early is marked cancelled.
    let mut repos = r.repositories(&cx, None);
    assert_eq!(repos.next().await.unwrap().unwrap(), "app");
    drop(repos);
    let span = capture.one("repositories");
    assert_eq!(span.field("cancelled"), Some("true"));
    assert_eq!(span.field("items"), Some("1"));
}

#[tokio::test(flavor = "current_thread")]
async fn blob_writers_are_traced_under_their_operation() {
    let (capture, _guard) = capture();
    let r = traced(MemRegistry::new());
    let cx = Context::new();
    let data = Bytes::from_static(b"hello world");
    let mut w = r.push_blob_chunked(&cx, "app", None).await.unwrap();
    let id = w.id().to_owned();
    w.write(data.slice(..5)).await.unwrap();
    let status = w.close().await.unwrap();
    let mut w = r
        .push_blob_chunked_resume(&cx, "app", &status.id, Some(5), None)
        .await
        .unwrap();
    w.write(data.slice(5..)).await.unwrap();
    let wrong = ociregistry_core::Digest::sha256(b"other");
    let right = ociregistry_core::Digest::sha256(&data);
    w.commit(&wrong).await.unwrap_err();
    let w = r
        .push_blob_chunked_resume(&cx, "app", &status.id, None, None)
        .await
        .unwrap();
    w.commit(&right).await.unwrap();

    let start = capture.one("push_blob_chunked");
    assert_eq!(start.field("upload_id"), Some(id.as_str()));
    let writes = capture.spans("blob_writer.write");
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].parent, Some("push_blob_chunked"));
    assert_eq!(writes[0].level, "DEBUG");
    assert_eq!(writes[0].field("bytes"), Some("5"));
    assert_eq!(writes[1].parent, Some("push_blob_chunked_resume"));
    assert_eq!(writes[1].field("size"), Some("11"));
    let close = capture.one("blob_writer.close");
    assert_eq!(close.parent, Some("push_blob_chunked"));
    assert_eq!(close.field("size"), Some("5"));
    let commits = capture.spans("blob_writer.commit");
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0].field("error.code"), Some("DIGEST_INVALID"));
    assert_eq!(commits[1].field("error.code"), None);
    assert_eq!(commits[1].field("digest"), Some(right.as_str()));
    assert!(commits.iter().all(|c| c.closed));

    // A failed start yields no writer and records the error.
    let e = r.push_blob_chunked(&cx, "Bad", None).await.err().unwrap();
    assert!(e.is(&Code::NameInvalid));
    let failed = capture.spans("push_blob_chunked").pop().unwrap();
    assert_eq!(failed.field("error.code"), Some("NAME_INVALID"));
    assert_eq!(failed.field("upload_id"), None);
}
