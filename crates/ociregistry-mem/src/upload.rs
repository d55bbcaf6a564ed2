//! Chunked uploads: the open sessions and the [`BlobWriter`] that appends to them.
//!
//! A session is bound to the repository it was started in and named by 128 random bits. It
//! holds the chunks written so far (as received, see [`ChunkBuilder`]) and a running SHA-256 of
//! them, so committing under a SHA-256 digest costs nothing more; a commit under another
//! algorithm hashes the stored chunks then, outside any lock. Past the first MiB the running
//! hash runs on a thread of its own ([`BackgroundDigester`]), so receiving the next chunk and
//! hashing the last one overlap.
//!
//! Sessions end when committed or cancelled, and expire after
//! [`Config::upload_idle_timeout`](crate::Config::upload_idle_timeout) without use. Expiry is
//! lazy: every upload operation first sweeps out the expired sessions, so no timer or runtime is
//! needed. Ending a session frees its chunks at once, even if a writer still refers to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ociregistry_core::background_digester::BackgroundDigester;
use ociregistry_core::{
    Algorithm, BlobWriter, Code, Descriptor, Digest, Digester, Error, Result, UploadStatus,
};

use crate::config::Config;
use crate::content::ChunkBuilder;
use crate::registry::MemRegistry;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn upload_unknown() -> Error {
    Error::from_code(Code::BlobUploadUnknown)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The open upload sessions of a registry.
#[derive(Debug)]
pub(crate) struct Uploads {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// The origin of the sessions' `last_used` clocks.
    epoch: Instant,
    /// When the sessions were last swept, in nanoseconds since `epoch`.
    last_sweep: AtomicU64,
}

/// One upload session.
#[derive(Debug)]
pub(crate) struct Session {
    id: String,
    repo: String,
    /// When the session was last used, in nanoseconds since [`Uploads::epoch`].
    last_used: AtomicU64,
    state: Mutex<SessionState>,
}

#[derive(Debug)]
struct SessionState {
    /// Committed, cancelled or expired: the session accepts nothing more.
    gone: bool,
    content: ChunkBuilder,
    sha256: BackgroundDigester,
}

impl Session {
    fn idle_longer_than(&self, now: u64, limit: u64) -> bool {
        now.saturating_sub(self.last_used.load(Ordering::Relaxed)) > limit
    }

    fn touch(&self, now: u64) {
        self.last_used.store(now, Ordering::Relaxed);
    }

    /// Ends the session, returning its content so that the caller drops it outside any lock.
    fn discard(&self) -> ChunkBuilder {
        let mut st = lock(&self.state);
        st.gone = true;
        std::mem::take(&mut st.content)
    }

    /// How many bytes the session holds; `BLOB_UPLOAD_UNKNOWN` once it has ended.
    pub(crate) fn len(&self) -> Result<u64> {
        let st = lock(&self.state);
        if st.gone {
            return Err(upload_unknown());
        }
        Ok(st.content.len())
    }

    /// The repository the session belongs to.
    pub(crate) fn repo(&self) -> &str {
        &self.repo
    }
}

impl Uploads {
    pub(crate) fn new() -> Uploads {
        Uploads {
            sessions: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    /// Ends every session idle longer than `timeout`. Sweeps at most once per
    /// `timeout / 16` (so an operation does not walk every session each time); a session past
    /// its time is refused by the operation on it regardless, see [`MemBlobWriter`].
    pub(crate) fn sweep(&self, timeout: Duration) {
        let (now, limit) = (self.now(), nanos(timeout));
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < limit / 16
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.sweep_now(now, limit);
    }

    fn sweep_now(&self, now: u64, limit: u64) {
        let mut expired = Vec::new();
        lock(&self.sessions).retain(|_, s| {
            let idle = s.idle_longer_than(now, limit);
            if idle {
                expired.push(Arc::clone(s));
            }
            !idle
        });
        for s in expired {
            drop(s.discard());
        }
    }

    /// How many sessions are open, after sweeping out the expired ones.
    pub(crate) fn count(&self, timeout: Duration) -> usize {
        self.sweep_now(self.now(), nanos(timeout));
        lock(&self.sessions).len()
    }

    /// Opens a session in `repo`.
    pub(crate) fn start(&self, repo: &str, config: &Config) -> Result<Arc<Session>> {
        self.sweep(config.upload_idle_timeout);
        let id = ociregistry_core::new_upload_id()?;
        let session = Arc::new(Session {
            id: id.clone(),
            repo: repo.to_owned(),
            last_used: AtomicU64::new(self.now()),
            state: Mutex::new(SessionState {
                gone: false,
                content: ChunkBuilder::default(),
                sha256: BackgroundDigester::new(Algorithm::Sha256),
            }),
        });
        if lock(&self.sessions).len() >= config.max_uploads {
            // Full: make room from expired sessions before refusing.
            self.sweep_now(self.now(), nanos(config.upload_idle_timeout));
        }
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= config.max_uploads {
            return Err(Error::new(
                Code::TooManyRequests,
                format!(
                    "too many uploads in progress (the maximum is {})",
                    config.max_uploads
                ),
            ));
        }
        if sessions.contains_key(&id) {
            // 128 random bits never collide; refuse rather than hand out a shared session.
            return Err(Error::new(Code::Unknown, "upload id collision"));
        }
        sessions.insert(id, Arc::clone(&session));
        Ok(session)
    }

    /// The open session `id` of `repo`. Sessions of other repositories are as unknown as ids
    /// never issued.
    pub(crate) fn resume(&self, repo: &str, id: &str, timeout: Duration) -> Result<Arc<Session>> {
        self.sweep(timeout);
        let session = lock(&self.sessions)
            .get(id)
            .filter(|s| s.repo == repo)
            .cloned()
            .ok_or_else(upload_unknown)?;
        let now = self.now();
        if session.idle_longer_than(now, nanos(timeout)) {
            // Expired but not swept yet.
            self.end(&session);
            return Err(upload_unknown());
        }
        session.touch(now);
        Ok(session)
    }

    /// Ends `session` and forgets it.
    fn end(&self, session: &Arc<Session>) {
        {
            let mut sessions = lock(&self.sessions);
            if sessions
                .get(&session.id)
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(&session.id);
            }
        }
        drop(session.discard());
    }
}

/// The [`BlobWriter`] of a [`MemRegistry`] upload session.
#[derive(Debug)]
pub(crate) struct MemBlobWriter {
    registry: MemRegistry,
    session: Arc<Session>,
    size: u64,
    chunk_size: usize,
}

impl MemBlobWriter {
    pub(crate) fn new(
        registry: MemRegistry,
        session: Arc<Session>,
        size: u64,
        chunk_size: Option<usize>,
    ) -> MemBlobWriter {
        let chunk_size = chunk_size
            .filter(|&n| n > 0)
            .unwrap_or(registry.config().default_chunk_size);
        MemBlobWriter {
            registry,
            session,
            size,
            chunk_size,
        }
    }

    fn uploads(&self) -> &Uploads {
        self.registry.uploads()
    }

    /// Fails with `BLOB_UPLOAD_UNKNOWN`, ending the session, if it sat idle too long.
    fn check_live(&self) -> Result<u64> {
        let uploads = self.uploads();
        let now = uploads.now();
        let limit = nanos(self.registry.config().upload_idle_timeout);
        if self.session.idle_longer_than(now, limit) {
            uploads.end(&self.session);
            return Err(upload_unknown());
        }
        Ok(now)
    }
}

#[async_trait]
impl BlobWriter for MemBlobWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let now = self.check_live()?;
        {
            // The session's own lock, shared only with other writers of the same upload, which
            // must be serialized anyway for the running hash to be right.
            let mut st = lock(&self.session.state);
            if st.gone {
                return Err(upload_unknown());
            }
            st.sha256.update(data.clone());
            st.content.push(data);
            self.size = st.content.len();
        }
        self.session.touch(now);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn id(&self) -> &str {
        &self.session.id
    }

    async fn close(self: Box<Self>) -> Result<UploadStatus> {
        self.uploads()
            .sweep(self.registry.config().upload_idle_timeout);
        let now = self.check_live()?;
        let size = self.session.len()?;
        self.session.touch(now);
        Ok(UploadStatus {
            id: self.session.id.clone(),
            size,
        })
    }

    async fn commit(self: Box<Self>, digest: &Digest) -> Result<Descriptor> {
        self.uploads()
            .sweep(self.registry.config().upload_idle_timeout);
        let now = self.check_live()?;
        self.session.touch(now);
        // Work out the digest of what the session holds: from the running SHA-256 (asked
        // under the lock, awaited outside it), or by hashing a snapshot of the chunks.
        let (pending, len) = {
            let mut st = lock(&self.session.state);
            if st.gone {
                return Err(upload_unknown());
            }
            let len = st.content.len();
            if digest.algorithm() == Algorithm::Sha256 {
                (Ok(st.sha256.snapshot()), len)
            } else {
                (Err(st.content.snapshot()), len)
            }
        };
        let got = match pending {
            Ok(snapshot) => snapshot.await?,
            Err(chunks) => {
                let mut d = Digester::new(digest.algorithm());
                for c in &chunks {
                    d.update(c);
                }
                d.finish()
            }
        };
        if got != *digest {
            return Err(Error::new(
                Code::DigestInvalid,
                format!("upload has digest {got}, not {digest}"),
            ));
        }
        let content = {
            let mut st = lock(&self.session.state);
            if st.gone {
                return Err(upload_unknown());
            }
            if st.content.len() != len {
                return Err(Error::new(
                    Code::BlobUploadInvalid,
                    "upload changed while it was being committed",
                ));
            }
            st.gone = true;
            std::mem::take(&mut st.content)
        };
        self.uploads().end(&self.session);
        Ok(self
            .registry
            .add_blob(self.session.repo(), digest, content.finish()))
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.uploads().end(&self.session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_bound_to_their_repository() {
        let uploads = Uploads::new();
        let config = Config::default().max_uploads(2);
        let s = uploads.start("a", &config).unwrap();
        assert_eq!(uploads.count(config.upload_idle_timeout), 1);
        let err = uploads
            .resume("b", &s.id, config.upload_idle_timeout)
            .unwrap_err();
        assert!(err.is(&Code::BlobUploadUnknown));
        assert!(uploads.resume("a", &s.id, Duration::from_secs(1)).is_ok());
        uploads.start("a", &config).unwrap();
        let err = uploads.start("a", &config).unwrap_err();
        assert!(err.is(&Code::TooManyRequests));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(uploads.count(Duration::from_millis(1)), 0);
        assert!(s.len().unwrap_err().is(&Code::BlobUploadUnknown));
        let err = uploads
            .resume("a", &s.id, config.upload_idle_timeout)
            .unwrap_err();
        assert!(err.is(&Code::BlobUploadUnknown));
    }

    #[test]
    fn a_full_table_makes_room_from_expired_sessions_and_expired_ones_cannot_resume() {
        let uploads = Uploads::new();
        let config = Config::default()
            .max_uploads(2)
            .upload_idle_timeout(Duration::from_millis(20));
        let a = uploads.start("a", &config).unwrap();
        uploads.start("a", &config).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        // Both expired; the throttled sweep may not have run, but the cap makes it run.
        uploads.start("a", &config).unwrap();
        let err = uploads
            .resume("a", &a.id, config.upload_idle_timeout)
            .unwrap_err();
        assert!(err.is(&Code::BlobUploadUnknown));
    }
}
