//! [`StoreConfig`]: how an [`ObjectStoreRegistry`](crate::ObjectStoreRegistry) behaves.

use std::time::Duration;

/// The configuration of an [`ObjectStoreRegistry`](crate::ObjectStoreRegistry).
///
/// ```
/// use std::time::Duration;
/// use ociregistry_store::StoreConfig;
///
/// let config = StoreConfig::default()
///     .prefix("registry")
///     .lax_child_references(true)
///     .upload_idle_timeout(Duration::from_secs(600));
/// assert_eq!(config.prefix, "registry");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// The key prefix everything of the registry lives under (no leading or trailing `/`
    /// needed). Default: empty, the root of the store.
    pub prefix: String,
    /// Accept manifests whose config, layers or index children are not in the repository
    /// (Go `LaxChildReferences`). Default: `false`.
    pub lax_child_references: bool,
    /// How long an upload session may stay untouched (no part written) before it expires.
    /// Default: one hour.
    pub upload_idle_timeout: Duration,
    /// How many upload sessions may be open at once in the store (all processes sharing it
    /// together); starting one more fails with `TOOMANYREQUESTS`. Default: 1024.
    pub max_uploads: usize,
    /// The chunk size an upload reports when the caller gives no hint. Default: 1 MiB.
    pub default_chunk_size: usize,
    /// Content up to this size is written with one `put`; larger content with a multipart
    /// upload of parts of this size (S3 needs at least 5 MiB). Also the most an upload writer
    /// buffers before it stores a part. Default: 8 MiB.
    pub part_size: usize,
    /// Whether the store lists keys in lexical order (S3, GCS and Azure do; the local file
    /// system does not). When set, listings stream page by page from the store; otherwise
    /// the keys after the start of a listing are sorted in memory first. Default: `false`.
    pub ordered_listing: bool,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            prefix: String::new(),
            lax_child_references: false,
            upload_idle_timeout: Duration::from_secs(60 * 60),
            max_uploads: 1024,
            default_chunk_size: 1 << 20,
            part_size: 8 << 20,
            ordered_listing: false,
        }
    }
}

impl StoreConfig {
    /// Sets [`StoreConfig::prefix`].
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> StoreConfig {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`StoreConfig::lax_child_references`].
    #[must_use]
    pub fn lax_child_references(mut self, on: bool) -> StoreConfig {
        self.lax_child_references = on;
        self
    }

    /// Sets [`StoreConfig::upload_idle_timeout`].
    #[must_use]
    pub fn upload_idle_timeout(mut self, timeout: Duration) -> StoreConfig {
        self.upload_idle_timeout = timeout;
        self
    }

    /// Sets [`StoreConfig::max_uploads`].
    #[must_use]
    pub fn max_uploads(mut self, max: usize) -> StoreConfig {
        self.max_uploads = max;
        self
    }

    /// Sets [`StoreConfig::default_chunk_size`] (0 is raised to 1).
    #[must_use]
    pub fn default_chunk_size(mut self, size: usize) -> StoreConfig {
        self.default_chunk_size = size.max(1);
        self
    }

    /// Sets [`StoreConfig::part_size`] (0 is raised to 1). S3 needs at least 5 MiB.
    #[must_use]
    pub fn part_size(mut self, size: usize) -> StoreConfig {
        self.part_size = size.max(1);
        self
    }

    /// Sets [`StoreConfig::ordered_listing`].
    #[must_use]
    pub fn ordered_listing(mut self, on: bool) -> StoreConfig {
        self.ordered_listing = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_setters() {
        let c = StoreConfig::default();
        assert!(!c.lax_child_references && !c.ordered_listing && c.prefix.is_empty());
        let c = c
            .part_size(0)
            .default_chunk_size(0)
            .max_uploads(3)
            .ordered_listing(true);
        assert_eq!(
            (c.part_size, c.default_chunk_size, c.max_uploads),
            (1, 1, 3)
        );
        assert!(c.ordered_listing);
    }
}
