//! [`AccessLogLayer`]: one `tracing` line per request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body::Body;

/// Logs one line per request at `info` level: method, path, status, response bytes (when
/// known) and duration in milliseconds. Wraps any HTTP service.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> tower_layer::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner }
    }
}

/// The service [`AccessLogLayer`] builds.
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S> fmt::Debug for AccessLog<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog").finish_non_exhaustive()
    }
}

impl<S, B, RB> tower_service::Service<Request<B>> for AccessLog<S>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    RB: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(resp) => {
                    let bytes = resp.body().size_hint().exact().or_else(|| {
                        resp.headers()
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok()?.parse().ok())
                    });
                    tracing::info!(
                        %method,
                        path = %path,
                        status = resp.status().as_u16(),
                        bytes = bytes.unwrap_or(0),
                        ms = format_args!("{ms:.2}"),
                        "request"
                    );
                }
                Err(_) => {
                    tracing::warn!(%method, path = %path, ms = format_args!("{ms:.2}"), "request failed")
                }
            }
            result
        })
    }
}
