//! The streaming merge of sorted listings: Go's `TestMergeIter` (IdenticalContents,
//! DifferentContents, NoItems), and what a k-way streaming merge adds: any number of inputs,
//! `NAME_UNKNOWN` tolerance, errors after the merged prefix, and laziness.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use ociregistry_core::stream::{self, collect};
use ociregistry_core::{Code, Error, ListStream};
use ociregistry_unify::merge::{merge, merge_by, merge_groups};

fn ints(xs: &[i32]) -> ListStream<i32> {
    stream::iter(xs.to_vec())
}

fn then_error(xs: &[i32], code: Code) -> ListStream<i32> {
    Box::pin(ints(xs).chain(stream::error(Error::new(code, "listing failed"))))
}

/// One row of Go's table: name, the two inputs, the merged result.
type MergeIterTest = (&'static str, &'static [i32], &'static [i32], &'static [i32]);

/// Go's `mergeIterTests`, table and all.
#[tokio::test]
async fn merge_iter() {
    let tests: [MergeIterTest; 3] = [
        ("IdenticalContents", &[1, 2, 3], &[1, 2, 3], &[1, 2, 3]),
        (
            "DifferentContents",
            &[0, 1, 2, 3],
            &[1, 2, 3, 5],
            &[0, 1, 2, 3, 5],
        ),
        ("NoItems", &[], &[], &[]),
    ];
    for (name, it0, it1, want) in tests {
        let merged = merge_by(vec![ints(it0), ints(it1)], i32::cmp);
        let got = collect(merged).await;
        assert_eq!(got.as_deref().ok(), Some(want), "{name}: {got:?}");
    }
}

#[tokio::test]
async fn merges_any_number_of_inputs() {
    let merged = merge(vec![
        ints(&[1, 4, 9]),
        ints(&[]),
        ints(&[2, 4, 8, 10]),
        ints(&[0, 9, 11]),
    ]);
    assert_eq!(collect(merged).await.unwrap(), [0, 1, 2, 4, 8, 9, 10, 11]);
    let merged = merge(vec![ints(&[3, 5])]);
    assert_eq!(collect(merged).await.unwrap(), [3, 5]);
}

#[tokio::test]
async fn duplicates_keep_the_first_inputs_item() {
    // Ordered by the first field only: equal keys, different payloads.
    let a: ListStream<(u8, &str)> = stream::iter([(1, "a1"), (2, "a2")]);
    let b: ListStream<(u8, &str)> = stream::iter([(0, "b0"), (2, "b2")]);
    let merged = merge_by(vec![a, b], |x, y| x.0.cmp(&y.0));
    assert_eq!(
        collect(merged).await.unwrap(),
        [(0, "b0"), (1, "a1"), (2, "a2")]
    );
    let groups = merge_groups(
        vec![stream::iter(["x", "y"]), stream::iter(["y"])],
        |a: &&str, b: &&str| a.cmp(b),
    );
    assert_eq!(
        collect(groups).await.unwrap(),
        [vec![(0, "x")], vec![(0, "y"), (1, "y")]]
    );
}

#[tokio::test]
async fn name_unknown_from_some_inputs_is_ignored() {
    let merged = merge(vec![
        then_error(&[], Code::NameUnknown),
        ints(&[1, 2]),
        then_error(&[], Code::NameUnknown),
    ]);
    assert_eq!(collect(merged).await.unwrap(), [1, 2]);
    // A repository known but empty in one registry: still no error.
    let merged = merge(vec![then_error(&[], Code::NameUnknown), ints(&[])]);
    assert!(collect(merged).await.unwrap().is_empty());
}

#[tokio::test]
async fn name_unknown_from_every_input_is_name_unknown() {
    let merged = merge(vec![
        then_error(&[], Code::NameUnknown),
        then_error(&[], Code::NameUnknown),
    ]);
    let err = collect(merged).await.unwrap_err();
    assert!(err.is(&Code::NameUnknown), "{err}");
}

#[tokio::test]
async fn other_errors_come_after_the_merged_prefix_and_end_the_listing() {
    let mut merged = merge(vec![ints(&[1, 3, 5, 7]), then_error(&[2, 4], Code::Denied)]);
    let mut got = Vec::new();
    let mut err = None;
    while let Some(item) = merged.next().await {
        match item {
            Ok(x) => got.push(x),
            Err(e) => err = Some(e),
        }
    }
    // Everything below the failing input's last item, then its error, then nothing.
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(err.unwrap().is(&Code::Denied));
}

/// The merge never reads an input further than it needs: it works over endless inputs, and has
/// read at most one item past what it yielded from each.
#[tokio::test]
async fn merge_is_lazy() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counting = |start: u64, step: u64| -> ListStream<u64> {
        let pulled = pulled.clone();
        Box::pin(futures_util::stream::iter((0..).map(move |i| {
            pulled.fetch_add(1, Ordering::SeqCst);
            Ok(start + i * step)
        })))
    };
    let merged = merge(vec![counting(0, 2), counting(1, 2), counting(0, 3)]);
    let first: Vec<u64> = merged.take(6).map(Result::unwrap).collect().await;
    assert_eq!(first, [0, 1, 2, 3, 4, 5]);
    // 0,2,4,6 from the first; 1,3,5,7 from the second; 0,3,6 from the third.
    assert!(pulled.load(Ordering::SeqCst) <= 11, "{pulled:?}");
}
