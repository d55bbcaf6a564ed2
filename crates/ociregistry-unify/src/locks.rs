//! A per-key write sequencer: writes through one union to the same tag, manifest or blob of a
//! repository are applied one at a time, in arrival order.
//!
//! Without it, two concurrent pushes of different manifests to one tag can reach the registries
//! in different orders and leave the tag pointing at a different manifest in each (which the
//! union then reports as a conflict); and the state read before a write, for its rollback, could
//! be changed by a concurrent write of the same item before the rollback runs.
//!
//! Each key has a fair (FIFO) async mutex. The map from keys to mutexes is behind a std mutex
//! that is only held to look a key up, never across an `.await`; entries are weak and pruned
//! once unused, so the map does not grow with the number of keys ever written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ociregistry_core::Digest;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// What a write is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A blob of a repository.
    Blob(String, Digest),
    /// A manifest of a repository.
    Manifest(String, Digest),
    /// A tag of a repository.
    Tag(String, String),
}

/// Held while a write of one key is in progress.
pub(crate) type Guard = OwnedMutexGuard<()>;

#[derive(Debug)]
struct State {
    map: HashMap<Key, Weak<AsyncMutex<()>>>,
    prune_at: usize,
}

/// The sequencer. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Sequencer {
    state: Mutex<State>,
}

const MIN_PRUNE: usize = 64;

impl Default for Sequencer {
    fn default() -> Sequencer {
        Sequencer {
            state: Mutex::new(State {
                map: HashMap::new(),
                prune_at: MIN_PRUNE,
            }),
        }
    }
}

impl Sequencer {
    /// Waits for the writes of `key` that arrived before, then returns a guard that holds off
    /// later ones until dropped.
    ///
    /// A write that needs two keys takes them in the order manifest, then tag; no write needs
    /// more, so there is no cycle.
    pub(crate) async fn acquire(&self, key: Key) -> Guard {
        let mutex = self.mutex(key);
        mutex.lock_owned().await
    }

    fn mutex(&self, key: Key) -> Arc<AsyncMutex<()>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = state.map.get(&key).and_then(Weak::upgrade) {
            return m;
        }
        let m = Arc::new(AsyncMutex::new(()));
        state.map.insert(key, Arc::downgrade(&m));
        if state.map.len() >= state.prune_at {
            state.map.retain(|_, w| w.strong_count() > 0);
            state.prune_at = (state.map.len() * 2).max(MIN_PRUNE);
        }
        m
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn tag(t: &str) -> Key {
        Key::Tag("r".into(), t.into())
    }

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not() {
        let s = Sequencer::default();
        let g = s.acquire(tag("a")).await;
        assert!(s.acquire(tag("a")).now_or_never().is_none());
        assert!(s.acquire(tag("b")).now_or_never().is_some());
        drop(g);
        assert!(s.acquire(tag("a")).now_or_never().is_some());
    }

    #[tokio::test]
    async fn unused_entries_are_pruned() {
        let s = Sequencer::default();
        for i in 0..1000 {
            let _g = s.acquire(tag(&i.to_string())).await;
        }
        assert!(s.len() <= 2 * MIN_PRUNE, "{} entries", s.len());
    }
}
