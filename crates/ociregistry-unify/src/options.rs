//! How a union reads: [`Options`] and [`ReadPolicy`].

/// Where a union reads blobs and manifests from.
///
/// Tags are always read from every registry at once, whatever the policy: a tag is mutable, so
/// the union must see every registry's answer to notice a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReadPolicy {
    /// Ask the registries one after the other, in order; the first success wins. A registry is
    /// asked only when all before it failed, so the first registry takes the load and the
    /// others are fallbacks. The default, as in Go.
    #[default]
    Sequential,
    /// Ask every registry at once; the first success wins and the other requests are dropped
    /// (cancelled). Lowest latency, at the price of load on every registry, and it does not wait
    /// for a registry that hangs when another answers.
    Concurrent,
}

/// The configuration of a [`Unify`](crate::Unify).
///
/// ```
/// use ociregistry_unify::{Options, ReadPolicy};
/// let options = Options::new().with_read_policy(ReadPolicy::Concurrent);
/// assert_eq!(options.read_policy, ReadPolicy::Concurrent);
/// assert_eq!(Options::default().read_policy, ReadPolicy::Sequential);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Options {
    /// Where blobs and manifests are read from.
    pub read_policy: ReadPolicy,
}

impl Options {
    /// The defaults: [`ReadPolicy::Sequential`].
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets the read policy.
    #[must_use]
    pub fn with_read_policy(mut self, read_policy: ReadPolicy) -> Options {
        self.read_policy = read_policy;
        self
    }
}
