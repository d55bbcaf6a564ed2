//! Listings: the registries' listings merged as they stream ([`crate::merge`]), with conflicting
//! entries left out.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::join_all;
use ociregistry_core::{Context, Descriptor, Digest, ListStream, Registry};

use crate::merge::{Group, merge_by, merge_groups};
use crate::unify::Unify;

/// How many tags present in several registries are checked at once (each check resolves the tag
/// in each of those registries), ahead of the consumer of the listing.
const TAG_CHECKS_AHEAD: usize = 16;

/// Whether the registries `indexes` (each of which lists `tag`) agree on where the tag points:
/// true if they do, or if it cannot be told (a registry failed to answer, other than with a
/// not-found); false if they point it at different manifests, or it is gone from all of them.
async fn tag_agrees(
    children: &[Arc<dyn Registry>],
    cx: &Context,
    repo: &str,
    tag: &str,
    indexes: &[usize],
) -> bool {
    let results = join_all(indexes.iter().filter_map(|&i| {
        let child = children.get(i)?;
        Some(child.resolve_tag(cx, repo, tag))
    }))
    .await;
    let mut digests: Vec<Digest> = Vec::new();
    let mut undecided = false;
    for r in results {
        match r {
            Ok(d) => digests.push(d.digest),
            Err(e) if e.is_not_found() => {}
            Err(_) => undecided = true,
        }
    }
    if digests.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    !digests.is_empty() || undecided
}

impl Unify {
    pub(crate) fn list_repositories(
        &self,
        cx: &Context,
        start_after: Option<&str>,
    ) -> ListStream<String> {
        if let Some(only) = self.single() {
            return only.repositories(cx, start_after);
        }
        let streams = self
            .children()
            .iter()
            .map(|c| c.repositories(cx, start_after))
            .collect();
        merge_by(streams, String::cmp)
    }

    pub(crate) fn list_tags(
        &self,
        cx: &Context,
        repo: &str,
        start_after: Option<&str>,
    ) -> ListStream<String> {
        if let Some(only) = self.single() {
            return only.tags(cx, repo, start_after);
        }
        let streams = self
            .children()
            .iter()
            .map(|c| c.tags(cx, repo, start_after))
            .collect();
        let groups = merge_groups(streams, String::cmp);
        let children: Arc<[Arc<dyn Registry>]> = self.children().into();
        let cx = cx.clone();
        let repo: Arc<str> = repo.into();
        let checked = groups
            .map(move |group| {
                let (children, cx, repo) = (children.clone(), cx.clone(), repo.clone());
                async move {
                    let mut group = match group {
                        Ok(group) => group,
                        Err(e) => return Some(Err(e)),
                    };
                    if group.len() == 1 {
                        return group.pop().map(|(_, tag)| Ok(tag));
                    }
                    let indexes: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
                    let (_, tag) = group.swap_remove(0);
                    tag_agrees(&children, &cx, &repo, &tag, &indexes)
                        .await
                        .then_some(Ok(tag))
                }
            })
            .buffered(TAG_CHECKS_AHEAD)
            .filter_map(std::future::ready);
        Box::pin(checked)
    }

    pub(crate) fn list_referrers(
        &self,
        cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        if let Some(only) = self.single() {
            return only.referrers(cx, repo, digest, artifact_type);
        }
        let streams = self
            .children()
            .iter()
            .map(|c| c.referrers(cx, repo, digest, artifact_type))
            .collect();
        let groups = merge_groups(streams, |a: &Descriptor, b: &Descriptor| {
            a.digest.cmp(&b.digest)
        });
        Box::pin(groups.filter_map(|group| {
            std::future::ready(match group {
                Err(e) => Some(Err(e)),
                Ok(group) => identical(group).map(Ok),
            })
        }))
    }
}

/// The descriptor of a group of referrers with one digest, if all are identical; a referrer
/// that different registries describe differently is left out.
fn identical(group: Group<Descriptor>) -> Option<Descriptor> {
    let mut items = group.into_iter().map(|(_, d)| d);
    let first = items.next()?;
    let mut rest = items;
    rest.all(|d| d == first).then_some(first)
}
