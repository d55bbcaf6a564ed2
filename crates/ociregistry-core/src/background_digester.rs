//! A running digest that moves its hashing to a thread of its own once the data gets big, so
//! that whoever receives the bytes (a network task) and whoever hashes them run side by side.
//!
//! Hashing a large blob costs about a core at a gigabyte a second; done inline, it stalls the
//! task that reads the socket, and receive and hash take turns. [`BackgroundDigester`] hashes
//! the first [`BackgroundDigester::INLINE_LIMIT`] bytes inline (small blobs never pay for a
//! thread) and hands the rest, as shared [`Bytes`] (no copy), to a dedicated thread.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use ociregistry_core::background_digester::BackgroundDigester;
//! use ociregistry_core::{Algorithm, Digester};
//! use bytes::Bytes;
//!
//! let mut d = BackgroundDigester::new(Algorithm::Sha256);
//! let data = Bytes::from(vec![7u8; 3 << 20]);
//! for chunk in data.chunks(64 << 10) {
//!     d.update(data.slice_ref(chunk));
//! }
//! let mut reference = Digester::new(Algorithm::Sha256);
//! reference.update(&data);
//! assert_eq!(d.snapshot().await?, reference.clone().finish());
//! assert_eq!(d.finish().await?, reference.finish());
//! # Ok::<(), ociregistry_core::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_channel::oneshot;

use crate::digest::{Algorithm, Digest, Digester};
use crate::error::{Code, Error, Result};

/// A running digest of a stream of [`Bytes`] that hashes on a background thread past
/// [`BackgroundDigester::INLINE_LIMIT`] bytes. See the [module docs](self).
///
/// Dropping it stops the thread once it has hashed what it was given.
pub struct BackgroundDigester {
    state: State,
    len: u64,
}

enum State {
    /// Hashing in the caller's thread.
    Inline(Box<Digester>),
    /// Hashing on a thread fed through a channel.
    Thread(mpsc::Sender<Message>),
}

enum Message {
    Data(Bytes),
    /// Answer with the digest of everything sent so far, and carry on.
    Snapshot(oneshot::Sender<Digest>),
}

impl fmt::Debug for BackgroundDigester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundDigester")
            .field("len", &self.len)
            .field("background", &matches!(self.state, State::Thread(_)))
            .finish()
    }
}

impl BackgroundDigester {
    /// How many bytes are hashed inline before hashing moves to a thread (1 MiB).
    pub const INLINE_LIMIT: u64 = 1 << 20;

    /// A new digest of `algorithm`.
    pub fn new(algorithm: Algorithm) -> BackgroundDigester {
        BackgroundDigester {
            state: State::Inline(Box::new(Digester::new(algorithm))),
            len: 0,
        }
    }

    /// How many bytes have been added.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been added yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether hashing has moved to a background thread.
    pub fn is_background(&self) -> bool {
        matches!(self.state, State::Thread(_))
    }

    /// Adds `data`. Never blocks on the hashing: past the inline limit it only queues a
    /// reference to the bytes.
    pub fn update(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        match &mut self.state {
            State::Thread(tx) => {
                if let Err(mpsc::SendError(msg)) = tx.send(Message::Data(data)) {
                    // The thread is gone (it cannot panic, but be safe): remember the
                    // loss so the digest can never come out wrong.
                    drop(msg);
                    self.state = State::Thread(dead_sender());
                }
            }
            State::Inline(d) => {
                d.update(&data);
                if self.len > Self::INLINE_LIMIT {
                    let d = Digester::clone(d);
                    if let Some(tx) = spawn(d) {
                        self.state = State::Thread(tx);
                    }
                }
            }
        }
    }

    /// The digest of everything added so far; more can be added afterwards. The request is
    /// made now (so it covers exactly what was added before this call); the returned future,
    /// which borrows nothing, waits for the answer.
    ///
    /// The future fails with `UNKNOWN` only if the background thread died.
    pub fn snapshot(&self) -> Snapshot {
        match &self.state {
            State::Inline(d) => Snapshot(SnapshotState::Ready(Some(Digester::clone(d).finish()))),
            State::Thread(tx) => {
                let (reply, answer) = oneshot::channel();
                match tx.send(Message::Snapshot(reply)) {
                    Ok(()) => Snapshot(SnapshotState::Waiting(answer)),
                    Err(_) => Snapshot(SnapshotState::Lost),
                }
            }
        }
    }

    /// The digest of everything added.
    ///
    /// The future fails with `UNKNOWN` only if the background thread died.
    pub fn finish(self) -> Snapshot {
        // The thread ends when the sender is dropped, right after answering.
        self.snapshot()
    }
}

/// The digest a [`BackgroundDigester`] was asked for: a future that borrows nothing.
#[derive(Debug)]
#[must_use = "a snapshot does nothing unless awaited"]
pub struct Snapshot(SnapshotState);

#[derive(Debug)]
enum SnapshotState {
    Ready(Option<Digest>),
    Waiting(oneshot::Receiver<Digest>),
    Lost,
}

impl Future for Snapshot {
    type Output = Result<Digest>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<Digest>> {
        match &mut self.0 {
            SnapshotState::Ready(d) => Poll::Ready(d.take().ok_or_else(lost)),
            SnapshotState::Waiting(rx) => Pin::new(rx).poll(cx).map(|r| r.map_err(|_| lost())),
            SnapshotState::Lost => Poll::Ready(Err(lost())),
        }
    }
}

fn lost() -> Error {
    Error::new(Code::Unknown, "the background hashing thread stopped")
}

/// A sender whose receiver is gone: every later snapshot fails.
fn dead_sender() -> mpsc::Sender<Message> {
    mpsc::channel().0
}

/// Starts a hashing thread continuing `digester`; `None` if no thread could be started.
fn spawn(mut digester: Digester) -> Option<mpsc::Sender<Message>> {
    let (tx, rx) = mpsc::channel::<Message>();
    std::thread::Builder::new()
        .name("ociregistry-digest".into())
        .spawn(move || {
            for msg in rx {
                match msg {
                    Message::Data(data) => digester.update(&data),
                    Message::Snapshot(reply) => {
                        let _ = reply.send(digester.clone().finish());
                    }
                }
            }
        })
        .ok()?;
    Some(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn reference(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut d = Digester::new(algorithm);
        d.update(data);
        d.finish()
    }

    #[test]
    fn small_data_stays_inline() {
        let mut d = BackgroundDigester::new(Algorithm::Sha256);
        d.update(Bytes::from_static(b"hello"));
        assert!(!d.is_background());
        assert_eq!(d.len(), 5);
        let got = d.finish().now_or_never().unwrap().unwrap();
        assert_eq!(got, reference(Algorithm::Sha256, b"hello"));
    }

    #[test]
    fn large_data_moves_to_a_thread_and_agrees_with_inline_hashing() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
            let data = Bytes::from(data);
            let mut d = BackgroundDigester::new(algorithm);
            let mut fed = 0;
            for chunk in data.chunks(300_001) {
                d.update(data.slice_ref(chunk));
                fed += chunk.len();
                // A snapshot in the middle is the digest of the prefix, and hashing goes on.
                if fed == 600_002 || fed == 3_000_010 {
                    let snap = futures_executor_block(d.snapshot()).unwrap();
                    assert_eq!(snap, reference(algorithm, &data[..fed]));
                }
            }
            assert!(d.is_background());
            assert_eq!(d.len(), data.len() as u64);
            let got = futures_executor_block(d.finish()).unwrap();
            assert_eq!(got, reference(algorithm, &data));
        }
    }

    #[test]
    fn empty_updates_are_ignored() {
        let mut d = BackgroundDigester::new(Algorithm::Sha256);
        d.update(Bytes::new());
        assert!(d.is_empty());
        let got = d.finish().now_or_never().unwrap().unwrap();
        assert_eq!(got, reference(Algorithm::Sha256, b""));
    }

    /// Waits for a future on this thread (the answer comes from another thread).
    fn futures_executor_block<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        loop {
            if let Some(out) = f.as_mut().now_or_never() {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
