//! Running a service on hyper: HTTP/1.1 and h2c on one port, connection hygiene, and graceful
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::body::ResponseBody;

/// Connection settings for [`serve`]. The defaults suit a registry on an untrusted network.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may sit idle before its next request (default 30 s). Slow clients cannot
    /// hold connections open.
    pub header_read_timeout: Duration,
    /// The most bytes a request's head (request line and headers) may take (default
    /// 64 KiB); larger heads are refused with 431 and the connection closed.
    pub max_header_bytes: usize,
    /// The most header fields a request may have (default 100).
    pub max_headers: usize,
    /// Accept HTTP/2 over cleartext (h2c, prior knowledge) besides HTTP/1.1 (default true).
    pub http2: bool,
    /// How long shutdown waits for in-flight requests before closing connections (default
    /// 30 s).
    pub shutdown_grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            max_headers: 100,
            http2: true,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (up to [`ServeConfig::shutdown_grace`]) and returns.
///
/// HTTP/1.1 requests with conflicting framing (`Transfer-Encoding` and `Content-Length`) are
/// refused by hyper and their connection is closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: tower_service::Service<
            Request<Incoming>,
            Response = Response<ResponseBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192))
        .max_headers(config.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(config.header_read_timeout))
        .keep_alive_timeout(config.header_read_timeout);
    if !config.http2 {
        builder = builder.http1_only();
    }
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()))
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    Ok(())
}
