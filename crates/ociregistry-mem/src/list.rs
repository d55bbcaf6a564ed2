//! Lazy listings: repositories and tags fetched a batch at a time.
//!
//! A listing never copies the whole key set. Each time its buffer runs dry it takes the read
//! lock briefly and copies the next [`BATCH`] keys strictly after the last one it yielded, so
//! reading the first page of a huge listing costs about one batch, and writers are never held
//! up for long. A listing sees the keys present when each batch is fetched.

use std::collections::VecDeque;

use ociregistry_core::{ListStream, Result};

/// How many keys one fetch copies.
pub(crate) const BATCH: usize = 256;

/// Fetches up to `limit` keys strictly after the given one (from the start when `None`).
pub(crate) trait Fetch: Send + 'static {
    fn fetch(&mut self, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
}

impl<F> Fetch for F
where
    F: FnMut(Option<&str>, usize) -> Result<Vec<String>> + Send + 'static,
{
    fn fetch(&mut self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self(after, limit)
    }
}

/// A listing of the keys strictly after `start_after`, as a stream.
pub(crate) fn paged(fetch: impl Fetch, start_after: Option<&str>) -> ListStream<String> {
    Box::pin(futures_util::stream::iter(Pages {
        fetch,
        cursor: start_after.map(str::to_owned),
        buffer: VecDeque::new(),
        done: false,
    }))
}

struct Pages<F> {
    fetch: F,
    /// The last key yielded (or `start_after`).
    cursor: Option<String>,
    buffer: VecDeque<String>,
    done: bool,
}

impl<F: Fetch> Iterator for Pages<F> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if let Some(key) = self.buffer.pop_front() {
            return Some(Ok(key));
        }
        if self.done {
            return None;
        }
        match self.fetch.fetch(self.cursor.as_deref(), BATCH) {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(batch) => {
                self.done = batch.len() < BATCH;
                if let Some(last) = batch.last() {
                    self.cursor = Some(last.clone());
                }
                self.buffer.extend(batch);
                self.buffer.pop_front().map(Ok)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use ociregistry_core::stream::collect;
    use ociregistry_core::{Code, Error};
    use std::collections::BTreeSet;
    use std::ops::Bound;
    use std::sync::{Arc, Mutex};

    #[test]
    fn pages_in_batches_strictly_after_the_cursor() {
        let keys: BTreeSet<String> = (0..600).map(|i| format!("k{i:04}")).collect();
        let calls = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&calls);
        let fetch = move |after: Option<&str>, limit: usize| {
            *counter.lock().unwrap() += 1;
            let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
            Ok(keys
                .range::<str, _>((lower, Bound::Unbounded))
                .take(limit)
                .cloned()
                .collect())
        };
        let all = collect(paged(fetch.clone(), Some("k0099")))
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), 500);
        assert_eq!(all[0], "k0100");
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*calls.lock().unwrap(), 2);
        // Taking a few items fetches one batch only.
        let mut s = paged(fetch, None);
        *calls.lock().unwrap() = 0;
        for _ in 0..10 {
            let _ = futures_util::StreamExt::next(&mut s).now_or_never();
        }
        assert_eq!(*calls.lock().unwrap(), 1);
    }

    #[test]
    fn an_error_ends_the_listing() {
        let fetch = |_: Option<&str>, _: usize| Err(Error::from_code(Code::NameUnknown));
        let mut it = Pages {
            fetch,
            cursor: None,
            buffer: VecDeque::new(),
            done: false,
        };
        assert!(it.next().unwrap().unwrap_err().is(&Code::NameUnknown));
        assert!(it.next().is_none());
    }
}
