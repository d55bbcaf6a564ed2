//! The registries a run measures: how each is built, started on a free loopback port, and
//! stopped. Every started process is owned by a guard that kills it when dropped, and every
//! temporary directory by one that removes it.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::http::Registry;
use super::procfs::{self, Memory};
use crate::conformance::{self, KillOnDrop, Paths, Server, ServerBin};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the proxy stack's configuration lives (written with the client crate): when present,
/// `ocisrv --config` of it is the `ocisrv-proxy` target.
pub(crate) const PROXY_STACK: &str = "conformance/stacks/proxy.toml";

/// Distribution's storage driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    InMemory,
    Filesystem,
}

/// What a target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `ocisrv` serving the in-memory registry.
    Ocisrv,
    /// `ocisrv --config conformance/stacks/proxy.toml`: server → client → server → mem.
    OcisrvProxy,
    /// `ocisrv --storage DIR`: the durable store (`ociregistry-store`) on local files, in a
    /// fresh directory beside Distribution's filesystem storage.
    OcisrvFs,
    /// The Go ociregistry, `conformance/goreg`.
    GoReg,
    /// CNCF Distribution (`docker-registry`) with a generated configuration.
    Distribution(Storage),
    /// A registry someone else runs, at this URL.
    Url(String),
}

/// The peers, by name, in the order they are measured.
pub(crate) const PEERS: &[(&str, &str)] = &[
    (
        "ocisrv-proxy",
        "ocisrv over the proxy stack: server → client → server → mem",
    ),
    (
        "ocisrv-fs",
        "ocisrv --storage DIR: the durable store on local files, DIR fresh per scenario beside \
         Distribution's filesystem storage",
    ),
    (
        "go-ociregistry",
        "Go ociserver.New(ocimem.New(), nil) (conformance/goreg)",
    ),
    (
        "distribution-inmemory",
        "CNCF Distribution (Debian docker-registry), inmemory storage",
    ),
    (
        "distribution-filesystem",
        "CNCF Distribution (Debian docker-registry), filesystem storage",
    ),
];

/// One registry to measure.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) about: String,
    pub(crate) kind: Kind,
    /// The program to start, or why the target cannot run.
    pub(crate) program: Result<PathBuf, String>,
}

impl Target {
    /// The target named `name` (`ocisrv`, a peer, or `registry` for a URL), not yet built.
    pub(crate) fn new(name: &str, url: Option<&str>) -> Option<Target> {
        let kind = match name {
            "ocisrv" => Kind::Ocisrv,
            "ocisrv-proxy" => Kind::OcisrvProxy,
            "ocisrv-fs" => Kind::OcisrvFs,
            "go-ociregistry" => Kind::GoReg,
            "distribution-inmemory" => Kind::Distribution(Storage::InMemory),
            "distribution-filesystem" => Kind::Distribution(Storage::Filesystem),
            "registry" => Kind::Url(url?.to_string()),
            _ => return None,
        };
        let about = match &kind {
            Kind::Ocisrv => "ocisrv serving the in-memory registry (RUST_LOG=warn)".to_string(),
            Kind::Url(u) => format!("the registry at {u}"),
            _ => PEERS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(String::new, |(_, a)| (*a).to_string()),
        };
        // Where the files go in this run.
        let about = match &kind {
            Kind::OcisrvFs | Kind::Distribution(Storage::Filesystem) => format!(
                "{about} in {} (XTASK_BENCH_FS_DIR)",
                filesystem_parent().display()
            ),
            _ => about,
        };
        Some(Target {
            name: name.to_string(),
            about,
            kind,
            program: Err("not built".into()),
        })
    }

    /// Builds (or finds) the target's program; failures are kept in `program` and make the
    /// target's rows "not available".
    pub(crate) fn prepare(&mut self, paths: &Paths, ocisrv: &Result<PathBuf, String>) {
        self.program = match &self.kind {
            Kind::Ocisrv | Kind::OcisrvFs => ocisrv.clone(),
            Kind::OcisrvProxy => {
                if paths.root.join(PROXY_STACK).is_file() {
                    ocisrv.clone()
                } else {
                    Err(format!(
                        "{PROXY_STACK} does not exist yet (it comes with the client crate)"
                    ))
                }
            }
            Kind::GoReg => {
                conformance::build_server(paths, ServerBin::GoReg).and_then(|p| snapshot(paths, &p))
            }
            Kind::Distribution(_) => find_on_path("docker-registry").ok_or_else(|| {
                "docker-registry is not installed (scripts/install-test-tools.sh installs it)"
                    .to_string()
            }),
            Kind::Url(_) => Ok(PathBuf::new()),
        };
    }

    /// Whether the target's server runs on this machine (so its memory can be read).
    pub(crate) fn is_local_process(&self) -> bool {
        !matches!(self.kind, Kind::Url(_))
    }

    /// Starts the target (a fresh process, empty registry) and waits until it answers.
    pub(crate) async fn launch(&self, paths: &Paths) -> Result<Running, String> {
        let program = self.program.clone()?;
        let logs = paths.target.join("bench").join("logs").join(&self.name);
        fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
        match &self.kind {
            Kind::Url(url) => {
                let registry = Registry::new(url);
                wait_ready(&registry, None).await?;
                Ok(Running {
                    base: url.trim_end_matches('/').to_string(),
                    pid: None,
                    _guard: Guard::None,
                })
            }
            Kind::Ocisrv | Kind::OcisrvProxy | Kind::OcisrvFs | Kind::GoReg => {
                // The durable store's directory: fresh, beside Distribution's, removed after
                // the server stops.
                let dir = match self.kind {
                    Kind::OcisrvFs => Some(TempDir::new_in(&filesystem_parent(), "ocisrv-fs")?),
                    _ => None,
                };
                let mut cmd = Command::new(&program);
                match self.kind {
                    Kind::GoReg => {
                        cmd.args(["-addr", "127.0.0.1:0"]);
                    }
                    _ => {
                        cmd.args(["--addr", "127.0.0.1:0"]);
                        if self.kind == Kind::OcisrvProxy {
                            cmd.arg("--config").arg(paths.root.join(PROXY_STACK));
                        }
                        if let Some(dir) = &dir {
                            cmd.arg("--storage").arg(dir.path().join("data"));
                        }
                        // Like Distribution at log level error, no access log line per request.
                        cmd.env("RUST_LOG", "warn");
                    }
                }
                let server = tokio::task::spawn_blocking(move || {
                    Server::start_command(cmd, &logs, START_TIMEOUT)
                })
                .await
                .map_err(|e| format!("starting the server: {e}"))??;
                let pid = server.child.0.id();
                let base = format!("http://{}", server.addr);
                let running = Running {
                    base,
                    pid: Some(pid),
                    _guard: match dir {
                        None => Guard::Server { _server: server },
                        Some(dir) => Guard::Store {
                            _server: server,
                            _dir: dir,
                        },
                    },
                };
                wait_ready(&Registry::new(&running.base), None).await?;
                Ok(running)
            }
            Kind::Distribution(storage) => start_distribution(&program, *storage, &logs).await,
        }
    }
}

/// A started target. Dropping it stops the server and removes its temporary files.
#[derive(Debug)]
pub(crate) struct Running {
    /// `http://HOST:PORT`.
    pub(crate) base: String,
    /// The server's process, when it runs here.
    pub(crate) pid: Option<u32>,
    _guard: Guard,
}

impl Running {
    /// The server's memory now, when it runs here.
    pub(crate) fn memory(&self) -> Option<Memory> {
        procfs::memory(self.pid?)
    }
}

/// What keeps a started target alive. Field order matters: the process dies before its
/// directory is removed.
#[derive(Debug)]
enum Guard {
    None,
    Server { _server: Server },
    Store { _server: Server, _dir: TempDir },
    Distribution { _child: KillOnDrop, _dir: TempDir },
}

/// A temporary directory, removed (with everything in it) when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A new directory in the system's temp dir.
    pub(crate) fn new(label: &str) -> Result<TempDir, String> {
        TempDir::new_in(&std::env::temp_dir(), label)
    }

    /// A new directory in `parent`.
    pub(crate) fn new_in(parent: &Path, label: &str) -> Result<TempDir, String> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("xtask-bench-{}-{n}-{label}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Distribution's configuration: the given storage, listening on `addr`, logging only errors,
/// with deletes on (the harness deletes big blobs between pushes) and the usual in-memory
/// blob-descriptor cache.
pub(crate) fn distribution_config(storage: Storage, addr: &str, data_dir: &Path) -> String {
    let storage = match storage {
        Storage::InMemory => "  inmemory: {}\n".to_string(),
        Storage::Filesystem => format!(
            "  filesystem:\n    rootdirectory: {}\n",
            yaml_quote(&data_dir.display().to_string())
        ),
    };
    format!(
        "version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
{storage}  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
"
    )
}

/// A YAML double-quoted string.
fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn start_distribution(
    program: &Path,
    storage: Storage,
    logs: &Path,
) -> Result<Running, String> {
    let dir = match storage {
        Storage::InMemory => TempDir::new("distribution-inmemory")?,
        Storage::Filesystem => TempDir::new_in(&filesystem_parent(), "distribution-filesystem")?,
    };
    let addr = free_loopback_addr()?;
    let config = dir.path().join("config.yml");
    let data = dir.path().join("data");
    fs::write(&config, distribution_config(storage, &addr, &data))
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
    let log_path = logs.join("server.log");
    let log =
        File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let mut cmd = Command::new(program);
    cmd.arg("serve")
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Distribution reads REGISTRY_* variables as configuration overrides.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(&key);
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let mut child = KillOnDrop(child);
    let base = format!("http://{addr}");
    wait_ready(&Registry::new(&base), Some(&mut child))
        .await
        .map_err(|e| format!("{e}; see {}", log_path.display()))?;
    let pid = child.0.id();
    Ok(Running {
        base,
        pid: Some(pid),
        _guard: Guard::Distribution {
            _child: child,
            _dir: dir,
        },
    })
}

/// Polls `GET /v2/` until it answers 200, the process exits, or [`START_TIMEOUT`] passes.
async fn wait_ready(registry: &Registry, mut child: Option<&mut KillOnDrop>) -> Result<(), String> {
    let started = Instant::now();
    let url = registry.url("/v2/");
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.0.try_wait()
        {
            return Err(format!("the server exited ({status}) before answering"));
        }
        let last = match registry
            .call(Method::GET, &url, &[], Bytes::new(), StatusCode::OK)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if started.elapsed() > START_TIMEOUT {
            return Err(format!(
                "{url} did not answer 200 within {}s: {last}",
                START_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `127.0.0.1:PORT` with a port that was free a moment ago.
fn free_loopback_addr() -> Result<String, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    let addr = l
        .local_addr()
        .map_err(|e| format!("finding a free port: {e}"))?;
    Ok(addr.to_string())
}

/// Copies a freshly built `program` to `target/bench/bin/`, so that a rebuild during the run
/// (the workspace is shared) cannot change what later scenarios start.
pub(crate) fn snapshot(paths: &Paths, program: &Path) -> Result<PathBuf, String> {
    let dir = paths.target.join("bench").join("bin");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let name = program
        .file_name()
        .ok_or_else(|| format!("{} is not a file", program.display()))?;
    let copy = dir.join(name);
    // Unlink first: the old copy may still be running (a bench in another shell).
    let _ = fs::remove_file(&copy);
    fs::copy(program, &copy)
        .map_err(|e| format!("copying {} to {}: {e}", program.display(), copy.display()))?;
    Ok(copy)
}

/// Where Distribution's filesystem storage and `ocisrv --storage` go (the same parent, so the
/// two compare on one filesystem): `XTASK_BENCH_FS_DIR`, else `/dev/shm` when it is there
/// (tmpfs: the storage code path without the noise of a shared disk, and quick to clean up
/// after 100k repositories), else the temp dir.
fn filesystem_parent() -> PathBuf {
    if let Some(d) = std::env::var_os("XTASK_BENCH_FS_DIR") {
        return PathBuf::from(d);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// `program` in a `PATH` directory.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_targets() {
        for (name, _) in PEERS {
            let t = Target::new(name, None).expect("peer");
            assert_eq!(&t.name, name);
            assert!(!t.about.is_empty());
            assert!(t.is_local_process());
        }
        assert_eq!(
            Target::new("ocisrv", None).map(|t| t.kind),
            Some(Kind::Ocisrv)
        );
        let fs = Target::new("ocisrv-fs", None).expect("store");
        assert_eq!(fs.kind, Kind::OcisrvFs);
        // The durable store and Distribution's filesystem storage share one parent.
        let parent = format!(" in {} (XTASK_BENCH_FS_DIR)", filesystem_parent().display());
        assert!(fs.about.ends_with(&parent), "{}", fs.about);
        let d = Target::new("distribution-filesystem", None).expect("distribution");
        assert!(d.about.ends_with(&parent), "{}", d.about);
        let r = Target::new("registry", Some("http://127.0.0.1:1")).expect("url");
        assert!(!r.is_local_process());
        assert!(Target::new("registry", None).is_none());
        assert!(Target::new("nope", None).is_none());
    }

    #[test]
    fn writes_distribution_configs() {
        let mem = distribution_config(Storage::InMemory, "127.0.0.1:5001", Path::new("/x"));
        assert!(mem.contains("  inmemory: {}\n  cache:\n"), "{mem}");
        assert!(mem.contains("addr: 127.0.0.1:5001"));
        assert!(mem.contains("level: error"));
        assert!(!mem.contains("filesystem"));
        let fs = distribution_config(Storage::Filesystem, "127.0.0.1:5002", Path::new("/t/d\"x"));
        assert!(
            fs.contains("  filesystem:\n    rootdirectory: \"/t/d\\\"x\"\n  cache:"),
            "{fs}"
        );
    }

    #[test]
    fn temp_dirs_are_removed() {
        let d = TempDir::new("selftest").expect("temp dir");
        let p = d.path().to_path_buf();
        fs::write(p.join("f"), b"x").expect("write");
        assert!(p.is_dir());
        drop(d);
        assert!(!p.exists());
    }

    #[test]
    fn snapshots_programs() {
        let paths = Paths::new();
        let src = TempDir::new("snapshot-src").expect("temp dir");
        let program = src.path().join("xtask-bench-selftest-program");
        fs::write(&program, b"#!/bin/sh\n").expect("write");
        let copy = snapshot(&paths, &program).expect("copy");
        assert_eq!(fs::read(&copy).expect("read"), b"#!/bin/sh\n");
        assert!(copy.starts_with(paths.target.join("bench").join("bin")));
        // Again, over the old copy.
        assert!(snapshot(&paths, &program).is_ok());
        fs::remove_file(&copy).expect("cleanup");
    }

    #[test]
    fn finds_free_ports() {
        let a = free_loopback_addr().expect("port");
        assert!(a.starts_with("127.0.0.1:") && !a.ends_with(":0"), "{a}");
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("no-such-program-here").is_none());
    }
}
