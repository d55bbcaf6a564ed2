//! A streaming k-way merge of sorted listings, the way a union lists repositories, tags and
//! referrers.
//!
//! Each input is a [`ListStream`] in increasing order. The merge holds one item per input (the
//! smallest it has not yet passed on) and never reads a listing further than needed, so it works
//! in memory proportional to the number of inputs, not to the lengths of the listings, and it
//! yields its first item as soon as every input has yielded its first.
//!
//! Errors, as Go's `ociunify` treats them:
//! - `NAME_UNKNOWN` from an input ends that input as if it were empty, because a repository that
//!   exists in one registry of a union exists in the union. Only when every input ends with
//!   `NAME_UNKNOWN` does the merge yield `NAME_UNKNOWN` (the first input's).
//! - Any other error is yielded as soon as it arrives, after the items already yielded (which are
//!   a correct prefix of the merged listing), and ends the merge: without that input the rest of
//!   the merged listing would be silently incomplete.
//!
//! ```
//! use std::cmp::Ordering;
//! use ociregistry_core::stream::{self, collect};
//! use ociregistry_unify::merge::merge;
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let merged = merge(vec![stream::iter(["a", "c", "d"]), stream::iter(["b", "c"])]);
//! assert_eq!(collect(merged).await.unwrap(), ["a", "b", "c", "d"]);
//! # }).unwrap();
//! ```

use std::cmp::Ordering;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::{Stream, StreamExt};
use ociregistry_core::{Code, Error, ListStream};

/// The items of one position of a merge: one `(input index, item)` per input whose next item
/// compares equal, in input order. Never empty.
pub type Group<T> = Vec<(usize, T)>;

/// Merges sorted streams into one sorted stream without duplicates: of items that compare equal,
/// the one of the first input is kept. See the [module docs](self) for errors.
pub fn merge<T>(streams: Vec<ListStream<T>>) -> ListStream<T>
where
    T: Ord + Send + 'static,
{
    merge_by(streams, T::cmp)
}

/// Like [`merge`], ordering by `cmp`: of items for which `cmp` gives `Equal`, the one of the
/// first input is kept.
pub fn merge_by<T, F>(streams: Vec<ListStream<T>>, cmp: F) -> ListStream<T>
where
    T: Send + 'static,
    F: Fn(&T, &T) -> Ordering + Send + 'static,
{
    Box::pin(merge_groups(streams, cmp).filter_map(|group| {
        std::future::ready(match group {
            Ok(group) => group.into_iter().next().map(|(_, item)| Ok(item)),
            Err(e) => Some(Err(e)),
        })
    }))
}

/// Merges sorted streams into one stream of [`Group`]s: each position of the merged listing with
/// every input's item there, so that the caller decides what duplicates mean (the union checks
/// that duplicate tags agree, and that duplicate referrers are identical).
pub fn merge_groups<T, F>(streams: Vec<ListStream<T>>, cmp: F) -> ListStream<Group<T>>
where
    T: Send + 'static,
    F: Fn(&T, &T) -> Ordering + Send + 'static,
{
    Box::pin(MergeGroups {
        inputs: streams
            .into_iter()
            .map(|s| Input {
                stream: Some(s),
                head: None,
                name_unknown: None,
            })
            .collect(),
        cmp,
        done: false,
    })
}

struct Input<T> {
    /// `None` once the input has ended.
    stream: Option<ListStream<T>>,
    /// The next item, read but not yet yielded.
    head: Option<T>,
    /// The `NAME_UNKNOWN` the input ended with, if it did.
    name_unknown: Option<Error>,
}

struct MergeGroups<T, F> {
    inputs: Vec<Input<T>>,
    cmp: F,
    done: bool,
}

// Items are only moved in and out, never pinned in place.
impl<T, F> Unpin for MergeGroups<T, F> {}

impl<T, F> MergeGroups<T, F> {
    fn finish(&mut self) {
        self.done = true;
        self.inputs.clear();
    }
}

impl<T, F> Stream for MergeGroups<T, F>
where
    F: Fn(&T, &T) -> Ordering,
{
    type Item = Result<Group<T>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // Every input that is still going needs its next item before anything can be yielded.
        let mut pending = false;
        for input in &mut this.inputs {
            if input.head.is_some() {
                continue;
            }
            let Some(stream) = input.stream.as_mut() else {
                continue;
            };
            match stream.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(item))) => input.head = Some(item),
                Poll::Ready(Some(Err(e))) if e.is(&Code::NameUnknown) => {
                    input.stream = None;
                    input.name_unknown = Some(e);
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => input.stream = None,
                Poll::Pending => pending = true,
            }
        }
        if pending {
            return Poll::Pending;
        }

        // The smallest head, the first input's among equals.
        let mut min: Option<usize> = None;
        for (i, input) in this.inputs.iter().enumerate() {
            let Some(head) = &input.head else { continue };
            let smaller = match min.and_then(|m| this.inputs[m].head.as_ref()) {
                None => true,
                Some(best) => (this.cmp)(head, best) == Ordering::Less,
            };
            if smaller {
                min = Some(i);
            }
        }
        let Some(min) = min else {
            // Every input has ended.
            let all_unknown = !this.inputs.is_empty()
                && this.inputs.iter().all(|input| input.name_unknown.is_some());
            let err = if all_unknown {
                this.inputs
                    .iter_mut()
                    .find_map(|input| input.name_unknown.take())
            } else {
                None
            };
            this.finish();
            return Poll::Ready(err.map(Err));
        };

        let Some(first) = this.inputs[min].head.take() else {
            return Poll::Ready(None);
        };
        let mut group = Vec::with_capacity(1);
        for i in min + 1..this.inputs.len() {
            let equal = this.inputs[i]
                .head
                .as_ref()
                .is_some_and(|h| (this.cmp)(h, &first) == Ordering::Equal);
            if equal && let Some(item) = this.inputs[i].head.take() {
                group.push((i, item));
            }
        }
        group.insert(0, (min, first));
        Poll::Ready(Some(Ok(group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use ociregistry_core::stream;

    #[test]
    fn groups_carry_input_indexes() {
        let groups = merge_groups(
            vec![
                stream::iter([1, 3]),
                stream::iter([1, 2]),
                stream::iter([3]),
            ],
            i32::cmp,
        );
        let groups = stream::collect(groups).now_or_never().unwrap().unwrap();
        assert_eq!(
            groups,
            vec![vec![(0, 1), (1, 1)], vec![(1, 2)], vec![(0, 3), (2, 3)]]
        );
    }

    #[test]
    fn no_inputs_is_empty() {
        let merged = merge::<u8>(Vec::new());
        assert!(
            stream::collect(merged)
                .now_or_never()
                .unwrap()
                .unwrap()
                .is_empty()
        );
    }
}
