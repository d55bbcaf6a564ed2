//! The S3 server behind the `s3` stack: moto on a free loopback port, started through
//! `scripts/start-moto.sh` (which uses `moto_server` from PATH, or installs `moto[server]` from
//! PyPI into a virtualenv once), with a fresh bucket.
//!
//! The script and everything it starts (pip, moto) run in a process group of their own, and
//! [`ProcessGroup`] kills the whole group when dropped; the script also stops moto by itself
//! when the xtask process goes away.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long moto may take to answer, including the first `pip install` of `moto[server]`.
pub(crate) const MOTO_TIMEOUT: Duration = Duration::from_secs(90);

/// The bucket the `s3` stack stores into (in a moto server of its own, so always fresh).
pub(crate) const BUCKET: &str = "ociregistry-conformance";

/// What to do when moto cannot be had; the stack fails with this.
const NEEDS: &str = "the s3 stack needs moto: `moto_server` on PATH, or python3 with venv and \
                     pip so that scripts/start-moto.sh can install `moto[server]` from PyPI";

/// A child process that leads a process group of its own; the whole group is killed when this
/// is dropped.
#[derive(Debug)]
pub(crate) struct ProcessGroup(Child);

impl ProcessGroup {
    /// Spawns `cmd` as the leader of a new process group.
    pub(crate) fn spawn(mut cmd: Command) -> std::io::Result<ProcessGroup> {
        cmd.process_group(0).spawn().map(ProcessGroup)
    }

    /// The leader's exit status, if it has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // The group's id is the leader's pid. `kill -KILL -- -PGID` reaches the processes the
        // leader started too (moto, pip), even after the leader itself has exited.
        let group = format!("-{}", self.0.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !killed {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A running moto server with [`BUCKET`] created; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Moto {
    _group: ProcessGroup,
    /// `http://127.0.0.1:PORT`.
    pub(crate) endpoint: String,
}

impl Moto {
    /// Starts moto with `root/scripts/start-moto.sh` on a free loopback port, logging the
    /// script's output to `dir/moto.log`, and creates [`BUCKET`]; waits up to `timeout`.
    pub(crate) fn start(root: &Path, dir: &Path, timeout: Duration) -> Result<Moto, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port for moto: {e}"))?
            .port();
        let script = root.join("scripts").join("start-moto.sh");
        let log_path = dir.join("moto.log");
        let log =
            File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cloning {}: {e}", log_path.display()))?;
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg(port.to_string())
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let mut group = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot run bash {}: {e}; {NEEDS}", script.display()))?;

        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let create = format!(
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        );
        let deadline = Instant::now() + timeout;
        loop {
            match http_status(addr, &create) {
                Some(status) if (200..300).contains(&status) => {
                    return Ok(Moto {
                        _group: group,
                        endpoint: format!("http://{addr}"),
                    });
                }
                Some(status) => {
                    return Err(format!(
                        "moto answered {status} to creating bucket {BUCKET} (see {})",
                        log_path.display()
                    ));
                }
                None => {}
            }
            if let Some(status) = group.exited() {
                return Err(format!(
                    "scripts/start-moto.sh exited ({status}) before moto answered on {addr}; \
                     {NEEDS}{}",
                    log_tail(&log_path)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "moto did not answer on {addr} within {}s; {NEEDS}{}",
                    timeout.as_secs(),
                    log_tail(&log_path)
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The last lines of a log file, as a message suffix.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return format!(" (its log, {}, is empty)", path.display());
    }
    let mut msg = format!("; the last lines of {}:", path.display());
    for l in &lines[lines.len().saturating_sub(5)..] {
        msg.push_str("\n      ");
        msg.push_str(l);
    }
    msg
}

/// Sends one raw HTTP/1.1 request to `addr`; the response's status code, or `None` when
/// nothing (or no HTTP) answered.
fn http_status(addr: SocketAddr, request: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 64 && !head.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    parse_status_line(&String::from_utf8_lossy(&head))
}

/// The status code of an HTTP/1.x status line.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut words = line.split_whitespace();
    let version = words.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 409 Conflict\r\n"), Some(409));
        assert_eq!(parse_status_line("HTTP/1.1 204\r\n"), Some(204));
        for bad in [
            "",
            "HTTP/1.1",
            "HTTP/2 200",
            "SSH-2.0-OpenSSH",
            "HTTP/1.1 20 x",
            "HTTP/1.1 999",
        ] {
            assert_eq!(parse_status_line(bad), None, "{bad:?}");
        }
    }

    /// Whether a process exists (and is not a zombie).
    fn alive(pid: u32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    }

    #[test]
    fn dropping_a_group_kills_what_its_leader_started() {
        let dir = crate::conformance::Paths::new()
            .target
            .join("conformance")
            .join("selftest")
            .join("group");
        fs::create_dir_all(&dir).expect("temp dir");
        let pidfile = dir.join("child.pid");
        let _ = fs::remove_file(&pidfile);
        // Like start-moto.sh: a shell that starts a long-running process in the background.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "sleep 60 & echo $! > '{}'; wait",
                pidfile.display()
            ))
            .stdin(Stdio::null());
        let group = ProcessGroup::spawn(cmd).expect("spawns");
        let leader = group.0.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let child: u32 = loop {
            if let Some(pid) = fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the shell wrote no pid");
            thread::sleep(Duration::from_millis(20));
        };
        assert!(alive(child));
        drop(group);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(child) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(child), "the background process outlived its group");
        assert!(!alive(leader), "the leader outlived its group");
    }

    #[test]
    fn a_missing_script_is_a_clear_failure() {
        let root = crate::conformance::Paths::new()
            .target
            .join("conformance")
            .join("selftest")
            .join("no-moto");
        fs::create_dir_all(&root).expect("temp dir");
        let started = Instant::now();
        let err = Moto::start(&root, &root, Duration::from_secs(20)).expect_err("no script");
        assert!(err.contains("exited"), "{err}");
        assert!(err.contains("needs moto"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}
