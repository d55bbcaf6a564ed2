//! Helpers the `ocisrv` integration tests share: starting the binary on a free loopback port,
//! and deterministic test data.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `ocisrv`, killed when dropped.
pub struct Ocisrv {
    /// The process.
    pub child: Child,
    /// Its `HOST:PORT`.
    pub addr: String,
}

impl Drop for Ocisrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ocisrv --addr 127.0.0.1:0 ARGS...` (logging warnings only).
pub fn start<I, S>(args: I) -> Ocisrv
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    start_with(args, |_| {})
}

/// Like [`start`], with `adjust` run on the command before it is spawned.
pub fn start_with<I, S>(args: I, adjust: impl FnOnce(&mut Command)) -> Ocisrv
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocisrv"));
    cmd.args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    adjust(&mut cmd);
    let mut child = cmd.spawn().expect("start ocisrv");
    let addr = read_addr(&mut child);
    Ocisrv { child, addr }
}

/// Reads the `listening on http://HOST:PORT` line a started `ocisrv` prints first.
pub fn read_addr(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("ocisrv's stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the address line");
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("ocisrv printed {line:?} instead of its address"))
        .to_owned()
}

/// Deterministic pseudo-random bytes, distinct per seed.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    ociregistry_core::testing::Rng::new(seed)
        .bytes(len)
        .to_vec()
}
