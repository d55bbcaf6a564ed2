//! Docker credential helpers: `docker-credential-<name> get`.
//!
//! The protocol: the program is run with the single argument `get` and the registry's server
//! URL (here, its host) on standard input; it prints `{"Username": ..., "Secret": ...}`. A user
//! name of `<token>` means the secret is an identity (refresh) token. A helper that has nothing
//! for the registry exits non-zero printing `credentials not found in native keychain`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{AuthError, Credentials};

/// Runs credential helpers. The default is [`ExecHelper`]; tests and embedders can supply
/// their own (closures `Fn(&str, &str) -> Result<Credentials, AuthError>` implement it).
pub trait HelperRunner: Send + Sync {
    /// Asks helper `helper` (the name without the `docker-credential-` prefix) for the
    /// credentials of `server_url`. "Not found" is `Ok(Credentials::default())`; a program that
    /// does not exist is [`AuthError::HelperNotFound`].
    fn get(&self, helper: &str, server_url: &str) -> Result<Credentials, AuthError>;
}

impl<F> HelperRunner for F
where
    F: Fn(&str, &str) -> Result<Credentials, AuthError> + Send + Sync,
{
    fn get(&self, helper: &str, server_url: &str) -> Result<Credentials, AuthError> {
        self(helper, server_url)
    }
}

/// The output a helper prints when it has nothing for the registry.
const NOT_FOUND: &str = "credentials not found in native keychain";
/// How much of a failing helper's output goes into the error.
const MAX_ERROR_OUTPUT: usize = 512;

/// Runs `docker-credential-<name>` programs found on `PATH`, with a time limit and a cap on
/// their output.
///
/// ```no_run
/// use ociregistry_client::auth::{ExecHelper, HelperRunner};
/// let creds = ExecHelper::new().get("desktop", "https://index.docker.io/v1/")?;
/// # Ok::<(), ociregistry_client::auth::AuthError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExecHelper {
    env: Option<HashMap<OsString, OsString>>,
    timeout: Duration,
    max_output: usize,
}

impl Default for ExecHelper {
    fn default() -> ExecHelper {
        ExecHelper::new()
    }
}

impl ExecHelper {
    /// A runner using the process environment, a 60 s time limit and a 1 MiB output cap.
    pub fn new() -> ExecHelper {
        ExecHelper {
            env: None,
            timeout: Duration::from_secs(60),
            max_output: 1 << 20,
        }
    }

    /// A runner whose helpers are looked up on this environment's `PATH` and run with exactly
    /// this environment.
    pub fn with_env<K, V>(env: impl IntoIterator<Item = (K, V)>) -> ExecHelper
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        ExecHelper {
            env: Some(env.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            ..ExecHelper::new()
        }
    }

    /// Sets how long a helper may run before it is killed.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> ExecHelper {
        self.timeout = timeout;
        self
    }

    /// Sets how many bytes of output a helper may print.
    #[must_use]
    pub fn max_output(mut self, bytes: usize) -> ExecHelper {
        self.max_output = bytes;
        self
    }

    fn path_var(&self) -> Option<OsString> {
        match &self.env {
            Some(env) => env.get(OsStr::new("PATH")).cloned(),
            None => std::env::var_os("PATH"),
        }
    }

    fn find(&self, program: &str) -> Option<PathBuf> {
        let path = self.path_var()?;
        std::env::split_paths(&path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .flat_map(|dir| {
                let plain = dir.join(program);
                let with_suffix = dir.join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
                [plain, with_suffix]
            })
            .find(|p| is_executable(p))
    }
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file())
}

fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name != "."
        && name != ".."
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

type Output = mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// Reads at most `cap + 1` bytes from `r` on a thread and sends them on a channel, then keeps
/// draining the pipe so the helper never blocks writing to it.
fn spawn_reader(mut r: impl Read + Send + 'static, cap: usize) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let res = (&mut r)
            .take(cap as u64 + 1)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(res);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    rx
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Deserialize)]
struct HelperCredentials {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl HelperRunner for ExecHelper {
    fn get(&self, helper: &str, server_url: &str) -> Result<Credentials, AuthError> {
        let err = |message: String| AuthError::Helper {
            helper: helper.to_owned(),
            message,
        };
        if !valid_helper_name(helper) {
            return Err(err("invalid helper name".into()));
        }
        let program = format!("docker-credential-{helper}");
        let path = self
            .find(&program)
            .ok_or_else(|| AuthError::HelperNotFound {
                helper: helper.to_owned(),
            })?;
        let mut cmd = Command::new(&path);
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(env) = &self.env {
            cmd.env_clear().envs(env);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                AuthError::HelperNotFound {
                    helper: helper.to_owned(),
                }
            } else {
                err(format!("cannot run {}: {e}", path.display()))
            }
        })?;
        let deadline = Instant::now() + self.timeout;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill(&mut child);
            return Err(err("cannot connect to the helper's standard streams".into()));
        };
        let out_rx = spawn_reader(stdout, self.max_output);
        let err_rx = spawn_reader(stderr, self.max_output);
        // The host is a few bytes: far below any pipe buffer, so this cannot block. A helper
        // that exits without reading gives a broken pipe, which is not an error in itself.
        let _ = stdin.write_all(server_url.as_bytes());
        drop(stdin);

        let too_large = || err(format!("output larger than {} bytes", self.max_output));
        let mut stdout: Option<Vec<u8>> = None;
        let mut stderr: Option<Vec<u8>> = None;
        // Collects what a reader has sent; `Err` ends the run.
        let poll = |rx: &Output, slot: &mut Option<Vec<u8>>, wait: Option<Duration>| {
            if slot.is_some() {
                return Ok(());
            }
            let got = match wait {
                None => rx.try_recv().ok(),
                Some(d) => Some(
                    rx.recv_timeout(d)
                        .map_err(|_| err("timed out reading the helper's output".into()))?,
                ),
            };
            match got {
                Some(Ok(buf)) if buf.len() > self.max_output => Err(too_large()),
                Some(Ok(buf)) => {
                    *slot = Some(buf);
                    Ok(())
                }
                Some(Err(e)) => Err(err(format!("cannot read the helper's output: {e}"))),
                None => Ok(()),
            }
        };
        let status = loop {
            let polled =
                poll(&out_rx, &mut stdout, None).and_then(|()| poll(&err_rx, &mut stderr, None));
            if let Err(e) = polled {
                kill(&mut child);
                return Err(e);
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill(&mut child);
                    return Err(err(format!("timed out after {:?}", self.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    kill(&mut child);
                    return Err(err(format!("cannot wait for the helper: {e}")));
                }
            }
        };
        // The helper has exited; the rest of its output arrives as soon as the pipes close.
        // A grandchild holding them open must not hang us either.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        poll(&out_rx, &mut stdout, Some(left))?;
        poll(&err_rx, &mut stderr, Some(left))?;
        let stdout = stdout.unwrap_or_default();
        let stderr = stderr.unwrap_or_default();
        if !status.success() {
            let mut text = String::from_utf8_lossy(&stdout).trim().to_owned();
            let e = String::from_utf8_lossy(&stderr);
            let e = e.trim();
            if !e.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(e);
            }
            if text == NOT_FOUND || text.lines().any(|l| l.trim() == NOT_FOUND) {
                return Ok(Credentials::default());
            }
            return Err(err(truncate(&text, MAX_ERROR_OUTPUT)));
        }
        let creds: HelperCredentials = serde_json::from_slice(&stdout)
            .map_err(|e| err(format!("invalid helper output: {e}")))?;
        Ok(if creds.username == "<token>" {
            Credentials::identity_token(creds.secret)
        } else {
            Credentials::basic(creds.username, creds.secret)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_validated() {
        assert!(valid_helper_name("desktop"));
        assert!(valid_helper_name("ecr-login"));
        assert!(valid_helper_name("osxkeychain"));
        for bad in ["", "..", "../x", "a/b", "a b", "a\\b", "."] {
            assert!(!valid_helper_name(bad), "{bad:?}");
        }
        let e = ExecHelper::new().get("../evil", "h").unwrap_err();
        assert!(matches!(e, AuthError::Helper { .. }));
    }

    #[test]
    fn missing_helper_is_distinguishable() {
        let runner = ExecHelper::with_env([("PATH", "/nonexistent-dir-for-test")]);
        let e = runner.get("surely-not-installed", "h").unwrap_err();
        assert!(matches!(e, AuthError::HelperNotFound { .. }), "{e:?}");
        let runner = ExecHelper::with_env(Vec::<(String, String)>::new());
        let e = runner.get("x", "h").unwrap_err();
        assert!(matches!(e, AuthError::HelperNotFound { .. }), "{e:?}");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h...");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
