//! The load loop: `concurrency` tasks taking operation numbers from a shared counter until
//! `total` are done or a deadline passes, timing each operation.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::http::{Failure, Registry};

/// What a batch of operations did.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Operations that completed.
    pub(crate) done: usize,
    /// Wall time from the first start to the last completion.
    pub(crate) elapsed: Duration,
    /// Each completed operation's duration, unordered.
    pub(crate) latencies: Vec<Duration>,
    /// The first failure, if any; the batch stops at it.
    pub(crate) failure: Option<Failure>,
    /// The deadline passed before `total` operations were done.
    pub(crate) timed_out: bool,
}

impl Batch {
    /// Operations per second.
    pub(crate) fn rate(&self) -> f64 {
        rate(self.done as f64, self.elapsed)
    }

    /// The batch as a result: an error for a failure or an unfinished batch. A failure after
    /// some operations says how many, and at what rate, went through before it.
    pub(crate) fn complete(self, total: usize, what: &str) -> Result<Batch, Failure> {
        if let Some(f) = &self.failure {
            if self.done == 0 {
                return Err(format!("{what}: {f}"));
            }
            return Err(format!(
                "{what}: {f} (after {} of {total} ops in {:.1}s, {:.0} ops/s until then)",
                self.done,
                self.elapsed.as_secs_f64(),
                self.rate()
            ));
        }
        if self.done < total {
            return Err(format!(
                "{what}: only {} of {total} done in {:.0}s",
                self.done,
                self.elapsed.as_secs_f64()
            ));
        }
        Ok(self)
    }
}

/// `amount` per second over `elapsed`.
pub(crate) fn rate(amount: f64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { amount / s } else { f64::NAN }
}

/// Runs `op(registry, 0)`, ..., `op(registry, total - 1)` with up to `concurrency` in flight,
/// stopping at the first failure or when `budget` has passed.
///
/// The load runs on its own threads, one per core, each a single-threaded runtime with its
/// share of the tasks; each task has a [`Registry::dedicated`] connection to `base`, whose
/// connection task runs beside it. So the load generator spends as little CPU per request as
/// hyper allows: the server on the same machine gets the rest.
pub(crate) async fn run<F, Fut>(
    base: &str,
    concurrency: usize,
    total: usize,
    budget: Duration,
    op: F,
) -> Batch
where
    F: Fn(Registry, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    let tasks = concurrency.clamp(1, total.max(1));
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, tasks);
    let shared = Arc::new(Shared {
        op,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        total,
        deadline: Instant::now() + budget,
        base: base.into(),
    });
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..threads {
        // Tasks spread evenly over the threads.
        let mine = tasks / threads + usize::from(t < tasks % threads);
        let shared = Arc::clone(&shared);
        handles.push(tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting a load thread: {e}"))?;
            let local = tokio::task::LocalSet::new();
            Ok::<_, Failure>(local.block_on(&rt, async move {
                let mut set = Vec::new();
                for _ in 0..mine {
                    set.push(tokio::task::spawn_local(worker(Arc::clone(&shared))));
                }
                let mut results = Vec::new();
                for h in set {
                    results.push(h.await.map_err(|e| format!("a load task failed: {e}")));
                }
                results
            }))
        }));
    }
    let mut batch = Batch {
        done: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(total),
        failure: None,
        timed_out: false,
    };
    for h in handles {
        let results = match h.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => vec![Err(e)],
            Err(e) => vec![Err(format!("a load thread failed: {e}"))],
        };
        for r in results {
            match r {
                Ok(w) => {
                    batch.latencies.extend(w.latencies);
                    if batch.failure.is_none() {
                        batch.failure = w.failure;
                    }
                    batch.timed_out |= w.timed_out;
                }
                Err(e) => {
                    batch.failure.get_or_insert(e);
                }
            }
        }
    }
    batch.elapsed = started.elapsed();
    batch.done = batch.latencies.len();
    batch
}

/// What the load tasks share.
struct Shared<F> {
    op: F,
    next: AtomicUsize,
    stop: AtomicBool,
    total: usize,
    deadline: Instant,
    base: String,
}

/// What one load task did.
struct Worked {
    latencies: Vec<Duration>,
    failure: Option<Failure>,
    timed_out: bool,
}

/// One load task: takes operation numbers until none are left, a failure, or the deadline.
async fn worker<F, Fut>(shared: Arc<Shared<F>>) -> Worked
where
    F: Fn(Registry, usize) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let registry = Registry::dedicated(&shared.base);
    let mut w = Worked {
        latencies: Vec::new(),
        failure: None,
        timed_out: false,
    };
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.total {
            break;
        }
        let t0 = Instant::now();
        let remaining = shared.deadline.saturating_duration_since(t0);
        match tokio::time::timeout(remaining, (shared.op)(registry.clone(), i)).await {
            Ok(Ok(())) => w.latencies.push(t0.elapsed()),
            Ok(Err(e)) => {
                w.failure = Some(e);
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
            Err(_) => {
                w.timed_out = true;
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        if Instant::now() >= shared.deadline {
            w.timed_out = shared.next.load(Ordering::Relaxed) < shared.total;
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never connected to: the operations of these tests make no requests.
    const BASE: &str = "http://127.0.0.1:9";

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn runs_every_operation_once() {
        let seen = Arc::new((0..100).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let s = Arc::clone(&seen);
        let batch = rt().block_on(run(BASE, 8, 100, Duration::from_secs(10), move |_, i| {
            let s = Arc::clone(&s);
            async move {
                s[i].fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok(())
            }
        }));
        assert_eq!(batch.done, 100);
        assert!(batch.failure.is_none() && !batch.timed_out);
        assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        assert!(
            batch
                .latencies
                .iter()
                .all(|d| *d >= Duration::from_millis(1))
        );
        assert!(batch.rate() > 0.0);
        assert!(batch.complete(100, "x").is_ok());
    }

    #[test]
    fn stops_at_the_first_failure() {
        let batch = rt().block_on(run(
            BASE,
            4,
            1000,
            Duration::from_secs(10),
            |_, i| async move {
                if i == 10 {
                    Err(format!("op {i} failed"))
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok(())
                }
            },
        ));
        assert_eq!(batch.failure.as_deref(), Some("op 10 failed"));
        assert!(batch.done < 1000);
        let done = batch.done;
        let err = batch.complete(1000, "pushes").expect_err("failed");
        // How far the batch got is part of the message.
        assert!(
            err.starts_with(&format!(
                "pushes: op 10 failed (after {done} of 1000 ops in "
            )),
            "{err}"
        );
        assert!(err.ends_with(" ops/s until then)"), "{err}");
        let first = rt().block_on(run(BASE, 1, 10, Duration::from_secs(10), |_, _| async {
            Err::<(), _>("refused".to_string())
        }));
        assert_eq!(
            first.complete(10, "pushes").expect_err("failed"),
            "pushes: refused"
        );
    }

    #[test]
    fn stops_at_the_deadline() {
        let started = Instant::now();
        let batch = rt().block_on(run(
            BASE,
            2,
            1_000_000,
            Duration::from_millis(200),
            |_, _| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            },
        ));
        assert!(batch.timed_out);
        assert!(batch.done > 0 && batch.done < 1_000_000);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(batch.complete(1_000_000, "tags").is_err());
    }

    #[test]
    fn an_empty_batch_does_nothing() {
        let batch = rt().block_on(run(BASE, 32, 0, Duration::from_secs(1), |_, _| async {
            Err::<(), _>("never called".to_string())
        }));
        assert_eq!(batch.done, 0);
        assert!(batch.failure.is_none());
        assert!(rate(0.0, Duration::ZERO).is_nan());
    }
}
