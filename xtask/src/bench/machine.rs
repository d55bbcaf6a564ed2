//! The machine's own limits, measured in the same run: single-core SHA-256 over a buffer, and
//! a plain loopback TCP copy of the same bytes (a server that discards what it reads).

use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::load::rate;

/// MiB/s of SHA-256 over `data` on one core.
pub(crate) fn sha256_rate(data: &[u8]) -> f64 {
    let started = Instant::now();
    let hash = Sha256::digest(data);
    let elapsed = started.elapsed();
    std::hint::black_box(hash);
    rate(data.len() as f64 / MIB, elapsed)
}

const MIB: f64 = 1024.0 * 1024.0;

/// MiB/s of writing `data` `times` times over a loopback TCP connection to a task that reads
/// and discards it, measured until the reader has seen the last byte.
pub(crate) async fn loopback_rate(data: Bytes, times: usize) -> Result<f64, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("loopback: bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("loopback: {e}"))?;
    let total = (data.len() * times) as u64;
    let reader = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0u64;
        loop {
            let r = stream.read(&mut buf).await?;
            if r == 0 {
                return Ok::<u64, std::io::Error>(n);
            }
            n += r as u64;
        }
    });
    let work = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("loopback: connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let started = Instant::now();
        for _ in 0..times {
            stream
                .write_all(&data)
                .await
                .map_err(|e| format!("loopback: write: {e}"))?;
        }
        stream
            .shutdown()
            .await
            .map_err(|e| format!("loopback: shutdown: {e}"))?;
        let read = reader
            .await
            .map_err(|e| format!("loopback: reader: {e}"))?
            .map_err(|e| format!("loopback: read: {e}"))?;
        let elapsed = started.elapsed();
        if read != total {
            return Err(format!("loopback: read {read} of {total} bytes"));
        }
        Ok(rate(total as f64 / MIB, elapsed))
    };
    tokio::time::timeout(Duration::from_secs(120), work)
        .await
        .map_err(|_| "loopback: did not finish within 120s".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_something_plausible() {
        let data = Bytes::from(vec![7u8; 1 << 20]);
        let sha = sha256_rate(&data);
        assert!(sha > 1.0, "{sha} MiB/s");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let tcp = rt.block_on(loopback_rate(data, 4)).expect("loopback");
        assert!(tcp > 1.0, "{tcp} MiB/s");
    }
}
