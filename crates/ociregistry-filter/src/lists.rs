//! Helpers for the list streams of the wrappers.

use std::future::Future;

use futures_util::StreamExt;
use ociregistry_core::{ListStream, Result, stream};

/// A stream that first runs `check` (which returns the stream to yield, or fails), then yields
/// the stream it returned, or just the error.
pub(crate) fn after_check<T, F>(check: F) -> ListStream<T>
where
    T: Send + 'static,
    F: Future<Output = Result<ListStream<T>>> + Send + 'static,
{
    Box::pin(
        futures_util::stream::once(async move {
            match check.await {
                Ok(items) => items,
                Err(e) => stream::error(e),
            }
        })
        .flatten(),
    )
}

/// `items`, ending after its first error (the list stream convention).
pub(crate) fn end_at_error<T: Send + 'static>(items: ListStream<T>) -> ListStream<T> {
    Box::pin(items.scan(false, |failed, item| {
        let out = if *failed {
            None
        } else {
            *failed = item.is_err();
            Some(item)
        };
        futures_util::future::ready(out)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ociregistry_core::{Code, Error};

    #[tokio::test]
    async fn end_at_error_stops() {
        let s: ListStream<u8> = Box::pin(futures_util::stream::iter(vec![
            Ok(1),
            Err(Error::from_code(Code::Denied)),
            Ok(2),
        ]));
        let got: Vec<_> = end_at_error(s).collect().await;
        assert_eq!(got.len(), 2);
        assert!(got[1].is_err());
    }

    #[tokio::test]
    async fn after_check_yields_the_error_only() {
        let s = after_check(async { Err::<ListStream<u8>, _>(Error::from_code(Code::Denied)) });
        let got: Vec<_> = s.collect().await;
        assert_eq!(got.len(), 1);
        assert!(got[0].as_ref().unwrap_err().is_denied());
        let s = after_check(async { Ok(stream::iter(vec![1u8, 2])) });
        assert_eq!(stream::collect(s).await.unwrap(), vec![1, 2]);
    }
}
