//! Garbage collection: [`ObjectStoreRegistry::collect_garbage`] with [`GcOptions`], reporting a
//! [`GcReport`].
//!
//! Mark, then sweep, safely while pushes continue:
//! - **Mark**: every blob a stored manifest of any repository refers to (config and layers),
//!   plus every blob whose content or claim (`claims/<alg>/<hex>`, rewritten whenever a
//!   repository takes the blob: push, upload commit, mount) is newer than the grace period.
//!   A push in flight therefore keeps its blobs until its manifest arrives, if that takes less
//!   than the grace period.
//! - **Sweep**: membership markers older than the grace period of unmarked blobs, then the
//!   content (whole, or a composite's index then its parts) and claim of each unmarked blob
//!   (its claim is read again just before, so a blob taken since the mark stays), then the
//!   parts of composite blobs that no index names and whose upload session is gone (an
//!   interrupted commit), then upload sessions idle longer than the upload timeout.
//!
//! Manifests and tags are never collected: they are what the user asked to keep.
//!
//! The remaining window: a blob older than the grace period and referenced by no manifest that
//! is mounted or re-pushed in the milliseconds between the final claim check and the delete of
//! its content would be collected; its repository then reports it unknown (never partial), and
//! a manifest pushed after that check finds it missing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ociregistry_core::{Digest, ManifestInfo, Result};

use crate::registry::{ObjectStoreRegistry, decode_manifest};
use crate::store::{modified_ms, now_ms};
use crate::upload::Uploads;

/// How [`ObjectStoreRegistry::collect_garbage`] runs.
///
/// ```
/// use std::time::Duration;
/// use ociregistry_store::GcOptions;
///
/// let options = GcOptions::default().grace_period(Duration::from_secs(600)).dry_run(true);
/// assert!(options.dry_run);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcOptions {
    /// Blobs (and membership markers) written or taken by a repository more recently than this
    /// are kept even when no manifest refers to them: they may belong to a push in flight.
    /// Default: one hour.
    pub grace_period: Duration,
    /// Only count what would be deleted. Default: `false`.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            grace_period: Duration::from_secs(60 * 60),
            dry_run: false,
        }
    }
}

impl GcOptions {
    /// Sets [`GcOptions::grace_period`].
    #[must_use]
    pub fn grace_period(mut self, grace: Duration) -> GcOptions {
        self.grace_period = grace;
        self
    }

    /// Sets [`GcOptions::dry_run`].
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> GcOptions {
        self.dry_run = on;
        self
    }
}

/// What a garbage collection found and removed (or, in a dry run, would have removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Repositories scanned.
    pub repositories: usize,
    /// Manifests scanned.
    pub manifests: usize,
    /// Distinct blobs kept.
    pub blobs_kept: usize,
    /// Distinct blobs whose content was deleted.
    pub blobs_deleted: usize,
    /// Bytes of blob content deleted.
    pub bytes_deleted: u64,
    /// Membership markers deleted.
    pub markers_deleted: usize,
    /// Upload sessions deleted.
    pub uploads_deleted: usize,
    /// Parts of composite blobs deleted that no index named (left by an upload commit that
    /// was interrupted).
    pub orphan_parts_deleted: usize,
}

impl ObjectStoreRegistry {
    /// Deletes the blobs no manifest refers to and the abandoned upload sessions, safely while
    /// the registry is in use (see the [`gc`](crate::gc) module for the rules).
    pub async fn collect_garbage(&self, options: GcOptions) -> Result<GcReport> {
        let store = self.store();
        let layout = self.layout();
        let grace = i64::try_from(options.grace_period.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(grace);
        let mut report = GcReport::default();

        // Mark.
        let repos: Vec<String> =
            crate::list::collect_names(crate::list::repositories(self.clone(), None)).await?;
        report.repositories = repos.len();
        let mut keep: HashSet<Digest> = HashSet::new();
        for repo in &repos {
            for m in store.list(&layout.manifests(repo)).await? {
                let Some(data) = store.get(&m.location).await? else {
                    continue;
                };
                report.manifests += 1;
                let Ok((mt, content)) = decode_manifest(&data) else {
                    continue;
                };
                if let Ok(info) = ManifestInfo::parse(&mt, &content) {
                    for d in info.config.iter().chain(&info.layers) {
                        keep.insert(d.digest.clone());
                    }
                }
            }
        }
        let claims: HashMap<Digest, i64> = store
            .list(&layout.path_claims())
            .await?
            .iter()
            .filter_map(|m| Some((layout.blob_digest(&m.location)?, modified_ms(m))))
            .collect();
        for (d, t) in &claims {
            if *t > cutoff {
                keep.insert(d.clone());
            }
        }
        // Stored content, whole or composite (by its index), with its write time.
        let mut stored: HashMap<Digest, i64> = HashMap::new();
        let whole = store.list(&layout.blobs()).await?;
        let composite = store.list(&layout.composites()).await?;
        for m in whole.iter().chain(&composite) {
            if let Some(d) = layout.blob_digest(&m.location) {
                let t = stored.entry(d).or_insert(i64::MIN);
                *t = (*t).max(modified_ms(m));
            }
        }
        for (d, t) in &stored {
            if *t > cutoff {
                keep.insert(d.clone());
            }
        }
        // The sizes of whole blobs, from the listing (a composite's is in its index).
        let whole_sizes: HashMap<Digest, u64> = whole
            .iter()
            .filter_map(|m| Some((layout.blob_digest(&m.location)?, m.size)))
            .collect();

        // Sweep membership markers.
        for repo in &repos {
            let stale: Vec<_> = store
                .list(&layout.members(repo))
                .await?
                .into_iter()
                .filter(|m| modified_ms(m) <= cutoff)
                .filter(|m| {
                    layout
                        .blob_digest(&m.location)
                        .is_some_and(|d| !keep.contains(&d))
                })
                .map(|m| m.location)
                .collect();
            report.markers_deleted += stale.len();
            if !options.dry_run {
                store.delete_all(stale).await?;
            }
        }

        // Sweep content.
        let mut deleted: HashSet<Digest> = HashSet::new();
        for d in stored.into_keys() {
            if keep.contains(&d) {
                report.blobs_kept += 1;
                continue;
            }
            let claim = layout.claim(&d);
            if store
                .head(&claim)
                .await?
                .is_some_and(|c| modified_ms(&c) > cutoff)
            {
                report.blobs_kept += 1;
                continue;
            }
            report.blobs_deleted += 1;
            report.bytes_deleted += match whole_sizes.get(&d) {
                Some(&size) => size,
                None => self.index(&d).await?.map_or(0, |i| i.size()),
            };
            if !options.dry_run {
                self.delete_content(&d).await?;
                store.delete(&claim).await?;
            }
            deleted.insert(d);
        }

        // Sweep parts no index names, once their upload is gone (its commit may be between
        // copying them and writing the index). The session is looked at before the index: a
        // commit writes the index before it deletes the session.
        let mut owners: HashMap<(Digest, String), usize> = HashMap::new();
        for m in store.list(&layout.all_blob_parts()).await? {
            if let Some(owner) = layout.blob_part_owner(&m.location)
                && !deleted.contains(&owner.0)
            {
                *owners.entry(owner).or_default() += 1;
            }
        }
        for ((d, id), count) in owners {
            if store.exists(&layout.upload_info(&id)).await?
                || self.index(&d).await?.is_some_and(|i| i.id == id)
            {
                continue;
            }
            report.orphan_parts_deleted += count;
            if !options.dry_run {
                self.delete_parts(&d, Some(&id)).await?;
            }
        }

        // Sweep upload sessions.
        let uploads = Uploads {
            registry: self.clone(),
        };
        report.uploads_deleted = if options.dry_run {
            0
        } else {
            uploads.sweep().await?
        };
        Ok(report)
    }
}
