//! Running a service on hyper: HTTP/1.1 and h2c on one port, connection hygiene, and graceful
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

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
    /// The most bytes an HTTP/1.1 connection buffers while reading a request (default 1 MiB,
    /// at least 8 KiB and at least [`ServeConfig::max_header_bytes`]). Bodies arrive in reads
    /// of up to this size; a larger buffer means fewer, larger chunks for big blobs.
    pub read_buffer_bytes: usize,
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
            read_buffer_bytes: 1 << 20,
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
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(
            config
                .read_buffer_bytes
                .max(config.max_header_bytes)
                .max(MIN_READ_BUFFER),
        )
        .max_headers(config.max_headers);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(config.header_read_timeout))
        .keep_alive_timeout(config.header_read_timeout);
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
                let service = TowerToHyperService::new(service.clone());
                let (h1, h2, graceful) = (h1.clone(), h2.clone(), graceful.watcher());
                let (http2, timeout) = (config.http2, config.header_read_timeout);
                tokio::spawn(async move {
                    let h2c = http2
                        && match tokio::time::timeout(timeout, starts_with_h2_preface(&stream)).await {
                            Ok(Ok(h2c)) => h2c,
                            // Silent or broken before its first request: nothing to serve.
                            Ok(Err(_)) | Err(_) => return,
                        };
                    let io = TokioIo::new(stream);
                    let ended = if h2c {
                        graceful.watch(h2.serve_connection(io, service)).await
                    } else {
                        graceful.watch(h1.serve_connection(io, service)).await
                    };
                    if let Err(e) = ended {
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

/// hyper's smallest allowed HTTP/1.1 buffer.
const MIN_READ_BUFFER: usize = 8192;

/// The HTTP/2 connection preface a prior-knowledge h2c client starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the connection starts with the HTTP/2 preface, looking without consuming: `false`
/// as soon as the first bytes differ from it (every HTTP/1.1 request line does within three
/// bytes), `true` once all of it has arrived. Errors when the peer closes first.
async fn starts_with_h2_preface(stream: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far: peeking again would return the same bytes at once,
        // so wait a little for the rest (bounded by the caller's header timeout).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
