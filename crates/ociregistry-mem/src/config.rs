//! [`Config`]: how a [`MemRegistry`](crate::MemRegistry) behaves.

use std::time::Duration;

/// The configuration of a [`MemRegistry`](crate::MemRegistry).
///
/// Build one from the default with the builder-style setters:
///
/// ```
/// use std::time::Duration;
/// use ociregistry_mem::{Config, MemRegistry};
///
/// let config = Config::default()
///     .immutable_tags(true)
///     .upload_idle_timeout(Duration::from_secs(600))
///     .max_uploads(64);
/// let registry = MemRegistry::with_config(config);
/// assert!(registry.config().immutable_tags);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Tags cannot move or be deleted, and nothing reachable from a tag can be deleted
    /// (Go `ocimem.Config.ImmutableTags`). Default: `false`.
    ///
    /// Re-pushing a tag to the digest it already names, with the same media type, succeeds and
    /// changes nothing; any other push to an existing tag, `delete_tag`, and `delete_manifest` or
    /// `delete_blob` of anything a tag reaches (through index children, config, layers and
    /// `subject` links) fail with `DENIED`.
    pub immutable_tags: bool,
    /// Accept manifests whose config, layers or index children are not in the repository
    /// (Go `ocimem.Config.LaxChildReferences`). Default: `false`.
    ///
    /// `subject` references are never checked, whatever this says: the specification makes them
    /// weak.
    pub lax_child_references: bool,
    /// How long an upload session may stay untouched before it expires and its memory is freed.
    /// Default: one hour.
    pub upload_idle_timeout: Duration,
    /// How many upload sessions may be open at once; starting one more fails with
    /// `TOOMANYREQUESTS`. Default: 1024.
    pub max_uploads: usize,
    /// The chunk size an upload reports when the caller gives no hint. Default: 64 KiB.
    pub default_chunk_size: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            immutable_tags: false,
            lax_child_references: false,
            upload_idle_timeout: Duration::from_secs(60 * 60),
            max_uploads: 1024,
            default_chunk_size: 64 * 1024,
        }
    }
}

impl Config {
    /// Sets [`Config::immutable_tags`].
    #[must_use]
    pub fn immutable_tags(mut self, on: bool) -> Config {
        self.immutable_tags = on;
        self
    }

    /// Sets [`Config::lax_child_references`].
    #[must_use]
    pub fn lax_child_references(mut self, on: bool) -> Config {
        self.lax_child_references = on;
        self
    }

    /// Sets [`Config::upload_idle_timeout`].
    #[must_use]
    pub fn upload_idle_timeout(mut self, timeout: Duration) -> Config {
        self.upload_idle_timeout = timeout;
        self
    }

    /// Sets [`Config::max_uploads`].
    #[must_use]
    pub fn max_uploads(mut self, max: usize) -> Config {
        self.max_uploads = max;
        self
    }

    /// Sets [`Config::default_chunk_size`] (a size of 0 is raised to 1).
    #[must_use]
    pub fn default_chunk_size(mut self, size: usize) -> Config {
        self.default_chunk_size = size.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_setters() {
        let c = Config::default();
        assert!(!c.immutable_tags && !c.lax_child_references);
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(3600));
        assert_eq!((c.max_uploads, c.default_chunk_size), (1024, 65536));
        let c = c
            .immutable_tags(true)
            .lax_child_references(true)
            .upload_idle_timeout(Duration::from_millis(5))
            .max_uploads(2)
            .default_chunk_size(0);
        assert!(c.immutable_tags && c.lax_child_references);
        assert_eq!(c.upload_idle_timeout, Duration::from_millis(5));
        assert_eq!((c.max_uploads, c.default_chunk_size), (2, 1));
    }
}
