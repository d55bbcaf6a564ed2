//! Tags: an append-only update log per tag, written with create-only puts, so that concurrent
//! writers never lose an update.
//!
//! A tag is the directory `repos/<repo>/_tags/<hex(tag)>/` of log entries named by a
//! fixed-width sequence number; the entry with the highest number is the tag's value: a small
//! JSON object `{"target": "<digest>"}`, or `{"target": null}` for a deleted tag. An update
//! reads the highest entry `n`, decides, and creates entry `n + 1` with
//! [`PutMode::Create`](object_store::PutMode::Create) (an `If-None-Match: *` put on S3, a
//! hard link on the local file system): of two writers that read the same `n`, exactly one
//! creates `n + 1`; the other sees `AlreadyExists`, reads again and decides again. This is a
//! compare-and-swap that works on every store, including those without `PutMode::Update`
//! (the local file system).
//!
//! Old entries are pruned after each update (the two newest stay): the pruner first creates a
//! floor marker `f<p>` saying "entries below `p` may be gone", then deletes them. A writer that
//! read a stale `n` long ago may recreate a pruned slot; it lists the log after its put, and if
//! a floor above its entry exists, its slot was pruned: the entry was never the highest (a
//! higher one existed before the slot was pruned), so it withdraws it, unseen, and retries.

use bytes::Bytes;
use object_store::path::Path;
use ociregistry_core::{Code, Digest, Error, Result};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::store::Store;

/// How many times an update retries under contention before giving up.
const MAX_ATTEMPTS: usize = 1000;

#[derive(Serialize, Deserialize)]
struct Entry {
    target: Option<Digest>,
}

/// The sequence number of a log entry at `path`.
pub(crate) fn entry_seq(path: &Path) -> Option<u64> {
    let last = path.filename()?;
    if last.len() != 20 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    last.parse().ok()
}

/// The tag logs of one registry.
#[derive(Debug, Clone)]
pub(crate) struct Tags {
    pub(crate) store: Store,
    pub(crate) layout: Layout,
}

/// The floor of a floor marker at `path`.
fn floor_of(path: &Path) -> Option<u64> {
    let last = path.filename()?.strip_prefix('f')?;
    if last.len() != 20 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    last.parse().ok()
}

/// What a tag's log holds.
struct Log {
    /// The entries, in order.
    seqs: Vec<u64>,
    /// The floor markers.
    floors: Vec<u64>,
}

impl Tags {
    async fn log(&self, repo: &str, tag: &str) -> Result<Log> {
        let objects = self.store.list(&self.layout.tag_log(repo, tag)).await?;
        let mut seqs: Vec<u64> = objects
            .iter()
            .filter_map(|m| entry_seq(&m.location))
            .collect();
        seqs.sort_unstable();
        let floors = objects
            .iter()
            .filter_map(|m| floor_of(&m.location))
            .collect();
        Ok(Log { seqs, floors })
    }

    async fn seqs(&self, repo: &str, tag: &str) -> Result<Vec<u64>> {
        Ok(self.log(repo, tag).await?.seqs)
    }

    /// The highest entry of `tag`'s log and the digest it names (`None` when deleted or never
    /// set).
    pub(crate) async fn read(
        &self,
        repo: &str,
        tag: &str,
    ) -> Result<(Option<u64>, Option<Digest>)> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(&seq) = self.seqs(repo, tag).await?.last() else {
                return Ok((None, None));
            };
            // The entry may have been pruned since the listing: then list again.
            if let Some(data) = self
                .store
                .get(&self.layout.tag_entry(repo, tag, seq))
                .await?
            {
                let entry: Entry = serde_json::from_slice(&data).map_err(|e| {
                    Error::new(Code::Unknown, format!("corrupt tag entry of {tag}: {e}"))
                })?;
                return Ok((Some(seq), entry.target));
            }
        }
        Err(contention(tag))
    }

    /// The digest `tag` names, if any.
    pub(crate) async fn target(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        Ok(self.read(repo, tag).await?.1)
    }

    /// Updates `tag`: `decide` gets the current target and returns the new one (`Some(None)`
    /// deletes the tag), `None` to leave the tag as it is, or an error to give up.
    pub(crate) async fn update(
        &self,
        repo: &str,
        tag: &str,
        decide: impl Fn(Option<&Digest>) -> Result<Option<Option<Digest>>>,
    ) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let (seq, current) = self.read(repo, tag).await?;
            let Some(target) = decide(current.as_ref())? else {
                return Ok(());
            };
            let next = seq.map_or(0, |s| s + 1);
            let body = serde_json::to_vec(&Entry { target })
                .map_err(|e| Error::new(Code::Unknown, e.to_string()))?;
            let path = self.layout.tag_entry(repo, tag, next);
            if !self.store.create(&path, Bytes::from(body).into()).await? {
                continue;
            }
            let log = self.log(repo, tag).await?;
            if log.floors.iter().any(|&f| f > next) {
                // Our slot had been pruned: the entry was never the newest. Withdraw, retry.
                self.store.delete(&path).await?;
                continue;
            }
            // Pruning is housekeeping: the update has happened whatever it does.
            let _ = self.prune(repo, tag, next, &log).await;
            return Ok(());
        }
        Err(contention(tag))
    }
}

impl Tags {
    /// Deletes the entries older than the one before `newest`, after recording the floor.
    async fn prune(&self, repo: &str, tag: &str, newest: u64, log: &Log) -> Result<()> {
        let floor = newest.saturating_sub(1);
        if !log.seqs.iter().any(|&s| s < floor) {
            return Ok(());
        }
        let marker = self.layout.tag_floor(repo, tag, floor);
        self.store.create(&marker, Bytes::new().into()).await?;
        let mut old: Vec<Path> = log
            .seqs
            .iter()
            .filter(|&&s| s < floor)
            .map(|&s| self.layout.tag_entry(repo, tag, s))
            .collect();
        old.extend(
            log.floors
                .iter()
                .filter(|&&f| f < floor)
                .map(|&f| self.layout.tag_floor(repo, tag, f)),
        );
        self.store.delete_all(old).await
    }
}

fn contention(tag: &str) -> Error {
    Error::new(
        Code::TooManyRequests,
        format!("tag {tag} is being updated by too many writers at once"),
    )
}
