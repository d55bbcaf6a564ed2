//! The listings: repositories, tags and referrers, as lazy streams.
//!
//! Repositories and tags come from key listings that start after `start_after` (object stores
//! list keys after an offset without reading what comes before). Names are hex-encoded in
//! keys, so key order is name order. On a store that lists in lexical order
//! ([`StoreConfig::ordered_listing`](crate::StoreConfig::ordered_listing)) the listing streams
//! from the store as it is consumed; otherwise the keys after the offset are sorted first. Only
//! the entries that are yielded are read.

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path;
use ociregistry_core::names::validate_repository;
use ociregistry_core::{Descriptor, Digest, Error, ListStream, Result, stream};

use crate::layout::{name_key, name_of};
use crate::registry::ObjectStoreRegistry;
use crate::store::store_error;

/// The objects under `prefix` after `offset`, in key order.
fn sorted_keys(
    registry: &ObjectStoreRegistry,
    prefix: Path,
    offset: Option<Path>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let inner = registry.store().inner.clone();
    if registry.config().ordered_listing {
        let s = match &offset {
            Some(o) => inner.list_with_offset(Some(&prefix), o),
            None => inner.list(Some(&prefix)),
        };
        return s.map_err(store_error).boxed();
    }
    let store = registry.store().clone();
    futures_util::stream::once(async move {
        match offset {
            Some(o) => store.list_after(&prefix, &o).await,
            None => store.list_after(&prefix, &prefix).await,
        }
    })
    .flat_map(|r: Result<Vec<ObjectMeta>>| match r {
        Ok(v) => futures_util::stream::iter(v.into_iter().map(Ok)).boxed(),
        Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
    })
    .boxed()
}

/// A list stream of the items a future computes.
fn from_future<T: Send + 'static>(
    fut: impl Future<Output = Result<Vec<T>>> + Send + 'static,
) -> ListStream<T> {
    Box::pin(
        futures_util::stream::once(fut).flat_map(|r: Result<Vec<T>>| match r {
            Ok(v) => futures_util::stream::iter(v.into_iter().map(Ok)).boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }),
    )
}

/// Every repository, in order, after `start_after`.
pub(crate) fn repositories(
    registry: ObjectStoreRegistry,
    start_after: Option<&str>,
) -> ListStream<String> {
    let layout = registry.layout();
    let offset = start_after.map(|a| layout.catalog_entry(a));
    let keys = sorted_keys(&registry, layout.catalog(), offset);
    let prefix = layout.catalog();
    Box::pin(keys.try_filter_map(move |m| {
        let name = m
            .location
            .prefix_match(&prefix)
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .and_then(|k| name_of(&k).map(str::to_owned));
        futures_util::future::ready(Ok(name))
    }))
}

/// The tag name of a tag-log entry key `.../_tags/<tag>!/<seq>`.
fn tag_of(path: &Path) -> Option<String> {
    let parts: Vec<_> = path.parts().collect();
    let key = parts.get(parts.len().checked_sub(2)?)?;
    name_of(key.as_ref()).map(str::to_owned)
}

/// The tags of `repo`, in order, after `start_after`: the tags whose log names a manifest that
/// exists.
pub(crate) fn tags(
    registry: ObjectStoreRegistry,
    repo: &str,
    start_after: Option<&str>,
) -> ListStream<String> {
    if let Err(e) = validate_repository(repo) {
        return stream::error(e);
    }
    let repo = repo.to_owned();
    let start_after = start_after.map(str::to_owned);
    let checked = {
        let registry = registry.clone();
        let repo = repo.clone();
        async move { registry.check_repo(&repo).await }
    };
    let layout = registry.layout().clone();
    let prefix = layout.tags(&repo);
    let offset = start_after.map(|a| Path::from(format!("{}/{}/z", prefix.as_ref(), name_key(&a))));
    let keys = sorted_keys(&registry, prefix, offset);
    // Distinct tag names, in order (a tag's log entries are adjacent).
    let mut last: Option<String> = None;
    let names = keys.try_filter_map(move |m| {
        let tag = tag_of(&m.location).filter(|t| last.as_deref() != Some(t));
        if let Some(t) = &tag {
            last = Some(t.clone());
        }
        futures_util::future::ready(Ok(tag))
    });
    let visible = names.try_filter_map(move |tag| {
        let registry = registry.clone();
        let repo = repo.clone();
        async move {
            let Some(digest) = registry.shared.tags.target(&repo, &tag).await? else {
                return Ok(None);
            };
            let exists = registry
                .store()
                .exists(&registry.layout().manifest(&repo, &digest))
                .await?;
            Ok(exists.then_some(tag))
        }
    });
    Box::pin(
        futures_util::stream::once(checked)
            .filter_map(|r| async move { r.err().map(Err::<String, Error>) })
            .chain(visible)
            .take_while({
                let mut failed = false;
                move |r| {
                    let go = !failed;
                    failed = failed || r.is_err();
                    futures_util::future::ready(go)
                }
            }),
    )
}

/// The referrers of `subject` in `repo`, in digest order, filtered by artifact type.
pub(crate) fn referrers(
    registry: ObjectStoreRegistry,
    repo: &str,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> ListStream<Descriptor> {
    if let Err(e) = validate_repository(repo) {
        return stream::error(e);
    }
    let repo = repo.to_owned();
    let subject = subject.clone();
    let artifact_type = artifact_type.map(str::to_owned);
    from_future(async move {
        let store = registry.store();
        let layout = registry.layout();
        let entries = store.list(&layout.referrers(&repo, &subject)).await?;
        let mut out = Vec::new();
        for m in entries {
            let Some(data) = store.get(&m.location).await? else {
                continue;
            };
            let Ok(desc) = serde_json::from_slice::<Descriptor>(&data) else {
                continue;
            };
            if artifact_type
                .as_deref()
                .is_some_and(|a| desc.artifact_type.as_deref() != Some(a))
            {
                continue;
            }
            // An entry counts only while its manifest exists (entries are written before
            // the manifest and removed after it).
            if store.exists(&layout.manifest(&repo, &desc.digest)).await? {
                out.push(desc);
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    })
}

/// Collects a listing of names.
pub(crate) async fn collect_names(s: ListStream<String>) -> Result<Vec<String>> {
    stream::collect(s).await
}
