//! Reads: blobs and manifests follow the [`ReadPolicy`]; tags always ask every registry.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use ociregistry_core::{Digest, Error, Registry, Result};

use crate::error::{TagConflict, best_error};
use crate::options::ReadPolicy;
use crate::unify::Unify;

impl Unify {
    /// Reads with the read policy: the first success wins; when every registry fails, the most
    /// informative error ([`best_error`]).
    pub(crate) async fn read<'a, T, F, Fut>(&'a self, f: F) -> Result<T>
    where
        F: Fn(&'a Arc<dyn Registry>) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let children = self.children();
        if let Some(only) = self.single() {
            return f(only).await;
        }
        match self.options().read_policy {
            ReadPolicy::Sequential => {
                let mut errors = Vec::with_capacity(children.len());
                for child in children {
                    match f(child).await {
                        Ok(v) => return Ok(v),
                        Err(e) => errors.push(e),
                    }
                }
                Err(best_error(errors))
            }
            ReadPolicy::Concurrent => {
                let mut pending: FuturesUnordered<_> = children
                    .iter()
                    .enumerate()
                    .map(|(i, child)| {
                        let fut = f(child);
                        async move { (i, fut.await) }
                    })
                    .collect();
                let mut errors: Vec<Option<Error>> = vec![None; children.len()];
                while let Some((i, result)) = pending.next().await {
                    match result {
                        // Dropping `pending` cancels the others.
                        Ok(v) => return Ok(v),
                        Err(e) => errors[i] = Some(e),
                    }
                }
                Err(best_error(errors.into_iter().flatten()))
            }
        }
    }

    /// Reads a tag from every registry at once: the registries that have it must agree on its
    /// digest (the first registry's answer is returned), or the read fails with a
    /// [`TagConflict`]; when none has it, the most informative error.
    pub(crate) async fn read_tag<'a, T, F, Fut>(
        &'a self,
        repo: &str,
        tag: &str,
        f: F,
        digest_of: impl Fn(&T) -> &Digest,
    ) -> Result<T>
    where
        F: Fn(&'a Arc<dyn Registry>) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        if let Some(only) = self.single() {
            return f(only).await;
        }
        let results = join_all(self.children().iter().map(&f)).await;
        let mut first: Option<T> = None;
        let mut targets: Vec<(usize, Digest)> = Vec::new();
        let mut errors = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(v) => {
                    targets.push((i, digest_of(&v).clone()));
                    if first.is_none() {
                        first = Some(v);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let Some(first) = first else {
            return Err(best_error(errors));
        };
        if targets.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(TagConflict::new(repo, tag, targets).into());
        }
        Ok(first)
    }
}
