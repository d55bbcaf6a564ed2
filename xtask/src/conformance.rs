//! `cargo xtask conformance`: runs the official OCI distribution-spec conformance suite against
//! registry *stacks* and reports the results.
//!
//! - The suite is the Go module `github.com/opencontainers/distribution-spec/conformance`, pinned
//!   in `conformance/go.mod` (a `tool` directive) and built with the machine's Go into
//!   `target/conformance/bin/conformance` (`go build` is a no-op when up to date). Set
//!   `OCI_CONFORMANCE_BIN` to use a prebuilt suite binary instead.
//! - Its configuration is `conformance/oci-conformance.yaml` (every API and data option on), passed
//!   as `OCI_CONFIGURATION`; per run we add `OCI_REGISTRY`, `OCI_TLS=disabled`, `OCI_REPO1`,
//!   `OCI_REPO2`, `OCI_RESULTS_DIR` and the stack's extra environment. Other inherited `OCI_*`
//!   variables are removed, except `OCI_FILTER_TEST` and `OCI_LOG`, which pass through.
//! - A stack is a registry server command line plus extra suite environment ([`STACKS`]). The
//!   server is started on `127.0.0.1:0`, and must print a line containing
//!   `listening on http://HOST:PORT` (stdout or stderr) once it is listening; see
//!   [`parse_listen_addr`].
//! - Our stacks run one `ocisrv`, built with `cargo build --release -p ocisrv --features s3`.
//!   A stack that stores into S3 ([`Stack::s3`]) gets a moto server of its own on a free
//!   loopback port ([`moto`], through `scripts/start-moto.sh`) with a fresh bucket; a stack that
//!   cannot have moto fails, it is never skipped.
//! - Each stack writes into `target/conformance/<stack>/`: the suite's `junit.xml`,
//!   `results.yaml` and `report.html`, plus `suite.log` and `server.log` (and `moto.log`).
//! - We count the *leaf* test cases in `junit.xml` ([`results`]). A stack passes when something
//!   passed, nothing failed, and nothing was skipped apart from the skips that are the point of
//!   the stack ([`Stack::expected_skips`]).

mod moto;
mod results;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use results::{Categories, Status, Summary};

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one run of the suite may take (the Go baseline takes a few seconds).
const SUITE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How many failing leaf tests to name per stack.
const SHOW_FAILURES: usize = 30;

/// The Go package of the suite, and its module in `conformance/go.mod`.
const SUITE_PACKAGE: &str = "github.com/opencontainers/distribution-spec/conformance";

/// Repositories the suite pushes to.
const REPO1: &str = "conformance/repo1";
const REPO2: &str = "conformance/repo2";

/// Inherited `OCI_*` variables that may change a run; every other `OCI_*` is removed so that the
/// configuration file is the whole truth.
const PASSTHROUGH_ENV: &[&str] = &["OCI_FILTER_TEST", "OCI_LOG"];

/// A server binary, and how to build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ServerBin {
    /// Our `ocisrv`: `cargo build --release -p ocisrv --features s3` (one binary for every
    /// stack, S3 included), then `target/release/ocisrv`.
    Ocisrv,
    /// The Go ociregistry peer in `conformance/goreg`: `go build`, then
    /// `target/conformance/bin/goreg`.
    GoReg,
}

impl ServerBin {
    fn name(self) -> &'static str {
        match self {
            ServerBin::Ocisrv => "ocisrv",
            ServerBin::GoReg => "goreg",
        }
    }
}

/// A registry stack to run the suite against.
#[derive(Debug)]
struct Stack {
    name: &'static str,
    about: &'static str,
    /// Baselines are for comparison and only run when named with `--stack`.
    baseline: bool,
    server: ServerBin,
    /// Arguments of the server. `{config}` stands for the path of the written config file.
    args: &'static [&'static str],
    /// A config file written to `target/conformance/<stack>/<name>` before the start:
    /// `(file name, contents)`.
    config: Option<(&'static str, &'static str)>,
    /// Extra environment for the suite, on top of the common settings.
    suite_env: &'static [(&'static str, &'static str)],
    /// Skips that are the point of the stack, not a gap: a skipped leaf whose message contains
    /// one of these does not make the stack fail. Any other skip does.
    expected_skips: &'static [&'static str],
    /// The stack stores into S3: before the server starts, the harness starts moto on a free
    /// loopback port ([`moto`]) with a fresh bucket, and substitutes [`S3_ENDPOINT`] and
    /// [`S3_BUCKET`] in the config. Moto is stopped when the stack finishes; a stack that
    /// cannot have moto fails.
    s3: bool,
}

impl Stack {
    /// The server's arguments, with `{config}` replaced by `config`.
    fn server_args(&self, config: Option<&str>) -> Vec<String> {
        self.args
            .iter()
            .map(|a| match config {
                Some(c) if *a == "{config}" => c.to_string(),
                _ => (*a).to_string(),
            })
            .collect()
    }

    /// The config file's contents, with the S3 placeholders replaced when `s3` is given as
    /// `(endpoint, bucket)`.
    fn config_text(&self, s3: Option<(&str, &str)>) -> Option<(&'static str, String)> {
        let (file, contents) = self.config?;
        let text = match s3 {
            Some((endpoint, bucket)) => contents
                .replace(S3_ENDPOINT, endpoint)
                .replace(S3_BUCKET, bucket),
            None => contents.to_string(),
        };
        Some((file, text))
    }
}

/// In an S3 stack's config: the endpoint of the moto server the harness started
/// (`http://127.0.0.1:PORT`).
const S3_ENDPOINT: &str = "{s3_endpoint}";
/// In an S3 stack's config: the bucket the harness created.
const S3_BUCKET: &str = "{s3_bucket}";

/// How the suite words the skip of its filtered-referrers checks when a registry does not send
/// `OCI-Filters-Applied: artifactType` (run.go, `TestReferrers`).
const FILTERS_NOT_APPLIED: &str =
    "registry does not set the expected OCI-Filters-Applied header for the artifactType";

/// The stacks. The default run is every stack that is not a baseline.
const STACKS: &[Stack] = &[
    Stack {
        name: "mem",
        about: "ocisrv serving the in-memory registry (conformance/stacks/mem.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        // The stack files under conformance/stacks/ are what a user starts with
        // `ocisrv --config FILE`; the harness runs exactly them.
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/mem.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "mem-no-referrers-filtering",
        about: "ocisrv with the referrers artifactType filter disabled \
                (conformance/stacks/mem-no-referrers-filtering.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        // `[server] disable_referrers_filtering = true` is the counterpart of Go's
        // `ociserver.Options.DisableReferrersFiltering`, the upstream
        // `TestServerWithReferrersFilteringDisabled` stack. Such a server omits the
        // `OCI-Filters-Applied` header and returns all referrers, so the suite skips its
        // filtered-referrers checks.
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/mem-no-referrers-filtering.toml"),
        )),
        suite_env: &[],
        expected_skips: &[FILTERS_NOT_APPLIED],
        s3: false,
    },
    Stack {
        name: "auth",
        about: "ocisrv behind authentication: the suite signs in through the token flow \
                (conformance/stacks/auth.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/auth.toml"),
        )),
        suite_env: &[
            ("OCI_USERNAME", "conformance"),
            ("OCI_PASSWORD", "conformance-password"),
        ],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy",
        about: "a stateless proxy: server -> client (page size 2) -> server -> mem (conformance/stacks/proxy.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy-no-link",
        about: "a proxy whose upstream omits Link headers (the client pages with last=) (conformance/stacks/proxy-no-link.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy-no-link.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy-max-page",
        about: "a proxy whose upstream and itself cap list pages at 1000 (ECR) (conformance/stacks/proxy-max-page.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy-max-page.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy-no-tag-digest",
        about: "a proxy whose upstream omits the digest on tag GETs (ECR) (conformance/stacks/proxy-no-tag-digest.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy-no-tag-digest.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy-ignored-paging",
        about: "a proxy whose upstream ignores n and last (GAR, GHCR) (conformance/stacks/proxy-ignored-paging.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy-ignored-paging.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "proxy-no-referrers-api",
        about: "a proxy whose upstream lacks the referrers API (tag fallback) (conformance/stacks/proxy-no-referrers-api.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/proxy-no-referrers-api.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "select-all",
        about: "the select filter allowing everything, over mem (conformance/stacks/select-all.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/select-all.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "unify-sequential",
        about: "a union of two proxies (client -> server -> mem), sequential reads (conformance/stacks/unify-sequential.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/unify-sequential.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "unify-concurrent",
        about: "a union of two proxies (client -> server -> mem), concurrent reads (conformance/stacks/unify-concurrent.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/unify-concurrent.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "fs",
        about: "the durable registry on the local disk, in a temporary directory \
                (conformance/stacks/fs.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/fs.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "s3",
        about: "the durable registry in an S3 bucket, on a moto server the harness starts on \
                loopback (conformance/stacks/s3.toml)",
        baseline: false,
        server: ServerBin::Ocisrv,
        args: &["--addr", "127.0.0.1:0", "--config", "{config}"],
        config: Some((
            "ocisrv.toml",
            include_str!("../../conformance/stacks/s3.toml"),
        )),
        suite_env: &[],
        expected_skips: &[],
        s3: true,
    },
    Stack {
        name: "go-ociregistry",
        about: "Go ociserver.New(ocimem.New(), nil) from conformance/goreg",
        baseline: true,
        server: ServerBin::GoReg,
        args: &["-addr", "127.0.0.1:0"],
        config: None,
        suite_env: &[],
        expected_skips: &[],
        s3: false,
    },
    Stack {
        name: "go-ociregistry-no-referrers-filtering",
        about: "the Go stack with DisableReferrersFiltering",
        baseline: true,
        server: ServerBin::GoReg,
        args: &["-addr", "127.0.0.1:0", "-disable-referrers-filtering"],
        config: None,
        suite_env: &[],
        expected_skips: &[FILTERS_NOT_APPLIED],
        s3: false,
    },
];

const USAGE: &str =
    "usage: cargo xtask conformance [--stack NAME]... [--list] [--registry HOST:PORT]

  --stack NAME          run only this stack (repeatable); default: every non-baseline stack
  --list                list the stacks and exit
  --registry HOST:PORT  run the suite against an already running plain-HTTP registry
                        (results in target/conformance/registry/)

env: OCI_CONFORMANCE_BIN  use this suite binary instead of building it
     GO                   the go command (default: go on PATH, else /usr/local/go/bin/go)
     OCI_FILTER_TEST, OCI_LOG  passed through to the suite";

#[derive(Debug, Default)]
struct Options {
    stacks: Vec<String>,
    list: bool,
    help: bool,
    registry: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag {
            "--stack" => {
                let name = value()?;
                if !STACKS.iter().any(|s| s.name == name) {
                    return Err(format!(
                        "unknown stack {name:?}; stacks: {}",
                        STACKS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                    ));
                }
                if !opts.stacks.contains(&name) {
                    opts.stacks.push(name);
                }
            }
            "--registry" => {
                let v = value()?;
                let hostport = v
                    .strip_prefix("http://")
                    .unwrap_or(&v)
                    .trim_end_matches('/');
                if !is_host_port(hostport) {
                    return Err(format!("--registry wants HOST:PORT, got {v:?}"));
                }
                opts.registry = Some(hostport.to_string());
            }
            "--list" => opts.list = true,
            "-h" | "--help" => opts.help = true,
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if opts.registry.is_some() && !opts.stacks.is_empty() {
        return Err("--registry and --stack do not go together".into());
    }
    Ok(opts)
}

/// Runs `cargo xtask conformance`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_args(args)?;
    if opts.help {
        println!("{USAGE}");
        return Ok(());
    }
    let paths = Paths::new();
    if opts.list {
        list_stacks(&paths);
        return Ok(());
    }
    let suite = suite_binary(&paths)?;

    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    if let Some(registry) = &opts.registry {
        let outcome = match run_suite(&paths, &suite, "registry", registry, &[]) {
            Ok(o) => o,
            Err(e) => Outcome::broken(e),
        };
        report_stack("registry", &outcome);
        outcomes.push(("registry".into(), outcome));
    } else {
        let selected: Vec<&Stack> = if opts.stacks.is_empty() {
            STACKS.iter().filter(|s| !s.baseline).collect()
        } else {
            STACKS
                .iter()
                .filter(|s| opts.stacks.iter().any(|n| n == s.name))
                .collect()
        };
        let mut builds = HashMap::new();
        for stack in selected {
            let outcome = run_stack(&paths, &suite, stack, &mut builds);
            report_stack(stack.name, &outcome);
            outcomes.push((stack.name.into(), outcome));
        }
    }

    if outcomes.len() > 1 {
        println!();
        for (name, outcome) in &outcomes {
            println!("{}", outcome.summary_line(name));
        }
    }
    let bad: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| !o.is_clean())
        .map(|(n, _)| n.as_str())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("conformance not clean for: {}", bad.join(", ")))
    }
}

fn list_stacks(paths: &Paths) {
    for s in STACKS {
        let kind = if s.baseline { "baseline" } else { "default" };
        let dir = paths.results_dir(s.name);
        let config = s.config.map(|(file, _)| dir.join(file));
        let args = s.server_args(config.map(|c| paths.display(&c)).as_deref());
        println!("{:<38} {kind:<8}  {}", s.name, s.about);
        println!(
            "{:<38} {:<8}  $ {} {}",
            "",
            "",
            paths.display(&paths.server_path(s.server)),
            args.join(" ")
        );
        for (file, contents) in s.config.iter() {
            println!(
                "{:<38} {:<8}  {}: {}",
                "",
                "",
                file,
                contents.trim_end().replace('\n', "\\n")
            );
        }
    }
}

/// Where things are.
#[derive(Debug)]
pub(crate) struct Paths {
    pub(crate) root: PathBuf,
    pub(crate) target: PathBuf,
}

impl Paths {
    pub(crate) fn new() -> Paths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) => root.join(t),
            None => root.join("target"),
        };
        Paths { root, target }
    }

    fn conformance_src(&self) -> PathBuf {
        self.root.join("conformance")
    }

    fn bin_dir(&self) -> PathBuf {
        self.target.join("conformance").join("bin")
    }

    fn results_dir(&self, stack: &str) -> PathBuf {
        self.target.join("conformance").join(stack)
    }

    fn server_path(&self, bin: ServerBin) -> PathBuf {
        let exe = format!("{}{}", bin.name(), std::env::consts::EXE_SUFFIX);
        match bin {
            ServerBin::Ocisrv => self.target.join("release").join(exe),
            ServerBin::GoReg => self.bin_dir().join(exe),
        }
    }

    /// A path relative to the workspace root when possible, for messages.
    pub(crate) fn display(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

/// The `go` command.
fn go_command() -> Result<PathBuf, String> {
    if let Some(go) = std::env::var_os("GO") {
        return Ok(PathBuf::from(go));
    }
    let exe = format!("go{}", std::env::consts::EXE_SUFFIX);
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&exe);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let fallback = Path::new("/usr/local/go/bin").join(&exe);
    if fallback.is_file() {
        return Ok(fallback);
    }
    Err(
        "the Go toolchain (>= 1.24) is needed to build the conformance suite: \
         put `go` on PATH or set GO=/path/to/go"
            .into(),
    )
}

/// Runs a build command, with its output going to our stderr.
fn run_build(mut cmd: Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The suite's version as required in `conformance/go.mod`.
fn suite_version(go_mod: &str) -> Option<&str> {
    go_mod.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let (module, version) = if first == "require" {
            (words.next()?, words.next()?)
        } else {
            (first, words.next()?)
        };
        (module == SUITE_PACKAGE).then_some(version)
    })
}

/// Builds the suite (or takes `OCI_CONFORMANCE_BIN`) and returns its path.
fn suite_binary(paths: &Paths) -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("OCI_CONFORMANCE_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            return Err(format!(
                "OCI_CONFORMANCE_BIN={} is not a file",
                bin.display()
            ));
        }
        return Ok(bin);
    }
    let src = paths.conformance_src();
    let go_mod = fs::read_to_string(src.join("go.mod"))
        .map_err(|e| format!("reading {}: {e}", src.join("go.mod").display()))?;
    let version = suite_version(&go_mod)
        .ok_or_else(|| format!("conformance/go.mod does not require {SUITE_PACKAGE}"))?;
    let out = paths
        .bin_dir()
        .join(format!("conformance{}", std::env::consts::EXE_SUFFIX));
    eprintln!("xtask: building the conformance suite {version}");
    let mut cmd = Command::new(go_command()?);
    cmd.current_dir(&src)
        .arg("build")
        // The suite reports this as its commit (a module dependency has no VCS stamp).
        .arg(format!("-ldflags=-X main.Version={version}"))
        .arg("-o")
        .arg(&out)
        .arg(SUITE_PACKAGE);
    run_build(cmd, "building the conformance suite (go build)")?;
    Ok(out)
}

/// Builds a server binary and returns its path.
pub(crate) fn build_server(paths: &Paths, bin: ServerBin) -> Result<PathBuf, String> {
    let out = paths.server_path(bin);
    match bin {
        ServerBin::Ocisrv => {
            eprintln!("xtask: building ocisrv (cargo build --release -p ocisrv --features s3)");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&paths.root).args([
                "build",
                "--release",
                "-p",
                "ocisrv",
                "--features",
                "s3",
            ]);
            run_build(cmd, "`cargo build --release -p ocisrv --features s3`")?;
        }
        ServerBin::GoReg => {
            eprintln!("xtask: building goreg (go build ./goreg)");
            let mut cmd = Command::new(go_command()?);
            cmd.current_dir(paths.conformance_src())
                .arg("build")
                .arg("-o")
                .arg(&out)
                .arg("./goreg");
            run_build(cmd, "building goreg (go build)")?;
        }
    }
    if out.is_file() {
        Ok(out)
    } else {
        Err(format!(
            "the build left no binary at {}",
            paths.display(&out)
        ))
    }
}

/// What happened to one stack.
#[derive(Debug)]
struct Outcome {
    summary: Option<Summary>,
    categories: Option<Categories>,
    /// Anything that went wrong besides failing tests: a server that did not start or died, a
    /// suite that hung or wrote no results.
    problems: Vec<String>,
    /// The stack's [`Stack::expected_skips`].
    expected_skips: &'static [&'static str],
}

impl Outcome {
    fn broken(problem: String) -> Outcome {
        Outcome {
            summary: None,
            categories: None,
            problems: vec![problem],
            expected_skips: &[],
        }
    }

    fn is_expected_skip(&self, case: &results::Case) -> bool {
        case.status == Status::Skipped
            && self.expected_skips.iter().any(|m| case.message.contains(m))
    }

    fn expected_skip_count(&self) -> usize {
        self.summary.as_ref().map_or(0, |s| {
            s.with_status(Status::Skipped)
                .filter(|c| self.is_expected_skip(c))
                .count()
        })
    }

    fn is_clean(&self) -> bool {
        self.problems.is_empty()
            && self.summary.as_ref().is_some_and(|s| {
                s.failed() == 0 && s.skipped() == self.expected_skip_count() && s.passed() > 0
            })
    }

    fn summary_line(&self, stack: &str) -> String {
        match &self.summary {
            Some(s) => {
                let mut line = format!(
                    "conformance {stack}: {} passed, {} failed, {} skipped",
                    s.passed(),
                    s.failed(),
                    s.skipped()
                );
                let expected = self.expected_skip_count();
                if expected > 0 {
                    line.push_str(&format!(" ({expected} skips expected for this stack)"));
                }
                if s.cases.is_empty() {
                    line.push_str(" (the suite ran no tests)");
                }
                if !self.problems.is_empty() {
                    line.push_str(" (and: ");
                    line.push_str(&self.problems.join("; "));
                    line.push(')');
                }
                line
            }
            None => format!("conformance {stack}: {}", self.problems.join("; ")),
        }
    }
}

/// Failing leaf tests per top-level group of the suite (`sha512 blobs`, `sparse`, ...), in the
/// order the groups ran.
fn failures_by_group(summary: &Summary) -> Vec<(&str, usize)> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for case in summary.failing() {
        let group = case.short_name().split('/').next().unwrap_or("");
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, n)) => *n += 1,
            None => groups.push((group, 1)),
        }
    }
    groups
}

fn report_stack(name: &str, outcome: &Outcome) {
    println!("{}", outcome.summary_line(name));
    if let Some(s) = &outcome.summary {
        let failed = s.failed();
        if failed > 0 {
            let groups: Vec<String> = failures_by_group(s)
                .iter()
                .map(|(g, n)| format!("{g} {n}"))
                .collect();
            println!("  failures by group: {}", groups.join(", "));
            let shown = failed.min(SHOW_FAILURES);
            println!("  failing leaf tests ({shown} of {failed}):");
            for case in s.failing().take(SHOW_FAILURES) {
                print_case(case, "");
            }
        }
        let skipped = s.skipped();
        if skipped > 0 {
            let shown = skipped.min(SHOW_FAILURES);
            println!("  skipped leaf tests ({shown} of {skipped}):");
            for case in s.with_status(Status::Skipped).take(SHOW_FAILURES) {
                let note = if outcome.is_expected_skip(case) {
                    " [expected]"
                } else {
                    ""
                };
                print_case(case, note);
            }
        }
    }
    if let Some(c) = &outcome.categories {
        for (label, list) in [("APIs", &c.apis), ("data", &c.data)] {
            let bad = Categories::not_passing(list);
            if !bad.is_empty() {
                println!("  not passing {label}: {}", bad.join(", "));
            }
        }
    }
}

fn print_case(case: &results::Case, note: &str) {
    let msg = case.first_message_line();
    if msg.is_empty() {
        println!("    {}{note}", case.short_name());
    } else {
        let msg: String = msg.chars().take(160).collect();
        println!("    {}{note}: {msg}", case.short_name());
    }
}

/// Starts the stack's server, runs the suite against it, and stops the server.
fn run_stack(
    paths: &Paths,
    suite: &Path,
    stack: &Stack,
    builds: &mut HashMap<ServerBin, Result<PathBuf, String>>,
) -> Outcome {
    let program = match builds
        .entry(stack.server)
        .or_insert_with(|| build_server(paths, stack.server))
    {
        Ok(p) => p.clone(),
        Err(e) => return Outcome::broken(format!("server failed to start: {e}")),
    };
    let dir = paths.results_dir(stack.name);
    if let Err(e) = fs::create_dir_all(&dir) {
        return Outcome::broken(format!("creating {}: {e}", dir.display()));
    }
    // Declared before the server, so that it is dropped (stopped) after it.
    let moto = if stack.s3 {
        eprintln!(
            "xtask: [{}] starting moto (scripts/start-moto.sh; log: {})",
            stack.name,
            paths.display(&dir.join("moto.log"))
        );
        let started = Instant::now();
        match moto::Moto::start(&paths.root, &dir, moto::MOTO_TIMEOUT) {
            Ok(m) => {
                eprintln!(
                    "xtask: [{}] moto answered on {} after {:.1}s; bucket {}",
                    stack.name,
                    m.endpoint,
                    started.elapsed().as_secs_f64(),
                    moto::BUCKET
                );
                Some(m)
            }
            Err(e) => return Outcome::broken(format!("S3 server failed to start: {e}")),
        }
    } else {
        None
    };
    let mut config_path = None;
    let s3 = moto.as_ref().map(|m| (m.endpoint.as_str(), moto::BUCKET));
    if let Some((file, contents)) = stack.config_text(s3) {
        let p = dir.join(file);
        if let Err(e) = fs::write(&p, contents) {
            return Outcome::broken(format!("writing {}: {e}", p.display()));
        }
        config_path = Some(p);
    }
    let args = stack.server_args(config_path.map(|p| p.display().to_string()).as_deref());

    eprintln!(
        "xtask: [{}] starting {} {}",
        stack.name,
        paths.display(&program),
        args.join(" ")
    );
    let mut cmd = Command::new(&program);
    cmd.args(&args);
    if stack.s3 {
        // The config holds the whole S3 setting; `AWS_*` variables of the caller (a session
        // token, a profile) must not mix into it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
    }
    let mut server = match Server::start_command(cmd, &dir, START_TIMEOUT) {
        Ok(s) => s,
        Err(e) => return Outcome::broken(format!("server failed to start: {e}")),
    };
    let mut outcome = match run_suite(paths, suite, stack.name, &server.addr, stack.suite_env) {
        Ok(o) => o,
        Err(e) => Outcome::broken(e),
    };
    outcome.expected_skips = stack.expected_skips;
    if let Some(status) = server.exited() {
        outcome.problems.push(format!(
            "the server exited during the suite ({status}); see {}",
            paths.display(&dir.join("server.log"))
        ));
    }
    drop(server);
    drop(moto);
    outcome
}

/// Runs the suite against `registry` and reads its results.
fn run_suite(
    paths: &Paths,
    suite: &Path,
    name: &str,
    registry: &str,
    extra_env: &[(&str, &str)],
) -> Result<Outcome, String> {
    let dir = paths.results_dir(name);
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for stale in ["junit.xml", "results.yaml", "report.html"] {
        match fs::remove_file(dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("removing old {stale}: {e}"));
            }
            _ => {}
        }
    }
    let log_path = dir.join("suite.log");
    let log = File::create(&log_path).map_err(|e| format!("creating suite.log: {e}"))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cloning suite.log: {e}"))?;

    let mut cmd = Command::new(suite);
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("OCI_") && !PASSTHROUGH_ENV.contains(&k.as_ref()) {
            cmd.env_remove(&key);
        }
    }
    cmd.env(
        "OCI_CONFIGURATION",
        paths.conformance_src().join("oci-conformance.yaml"),
    )
    .env("OCI_REGISTRY", registry)
    .env("OCI_TLS", "disabled")
    .env("OCI_REPO1", REPO1)
    .env("OCI_REPO2", REPO2)
    .env("OCI_RESULTS_DIR", &dir)
    .envs(extra_env.iter().copied());

    eprintln!(
        "xtask: [{name}] running the suite against http://{registry} (log: {})",
        paths.display(&log_path)
    );
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the suite {}: {e}", suite.display()))?;
    let mut child = KillOnDrop(child);
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= SUITE_TIMEOUT => {
                return Err(format!(
                    "the suite did not finish within {} minutes; killed it (see {})",
                    SUITE_TIMEOUT.as_secs() / 60,
                    paths.display(&log_path)
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for the suite: {e}")),
        }
    };
    eprintln!(
        "xtask: [{name}] suite finished in {:.1}s ({status})",
        started.elapsed().as_secs_f64()
    );

    let junit = fs::read_to_string(dir.join("junit.xml")).map_err(|e| {
        format!(
            "the suite wrote no junit.xml ({e}; it exited with {status}); see {}",
            paths.display(&log_path)
        )
    })?;
    let summary = results::parse_junit(&junit).map_err(|e| format!("reading junit.xml: {e}"))?;
    let mut problems = Vec::new();
    // The suite exits 0 when everything passed and 1 when anything failed or was skipped; a
    // different code means it crashed.
    if !matches!(status.code(), Some(0 | 1)) {
        problems.push(format!("the suite exited with {status}"));
    }
    let categories = match fs::read_to_string(dir.join("results.yaml")) {
        Ok(y) => match results::parse_results_yaml(&y) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("reading results.yaml: {e}"));
                None
            }
        },
        Err(e) => {
            problems.push(format!("the suite wrote no results.yaml: {e}"));
            None
        }
    };
    Ok(Outcome {
        summary: Some(summary),
        categories,
        problems,
        expected_skips: &[],
    })
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A running registry server; killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) child: KillOnDrop,
    /// `HOST:PORT` from its `listening on` line.
    pub(crate) addr: String,
}

impl Server {
    /// [`Server::start_command`] for `program` with `args` (the harness prepares its commands
    /// with their environment; this is for the tests).
    #[cfg(test)]
    fn start(
        program: &Path,
        args: &[String],
        dir: &Path,
        timeout: Duration,
    ) -> Result<Server, String> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Server::start_command(cmd, dir, timeout)
    }

    /// Starts a prepared command (program, arguments, environment) in `dir`, copies its stdout
    /// and stderr to `dir/server.log`, and waits up to `timeout` for a
    /// `listening on http://HOST:PORT` line.
    pub(crate) fn start_command(
        mut cmd: Command,
        dir: &Path,
        timeout: Duration,
    ) -> Result<Server, String> {
        let program = PathBuf::from(cmd.get_program());
        let program = program.as_path();
        let log_path = dir.join("server.log");
        let log =
            File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log = Arc::new(Mutex::new(log));
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let mut child = KillOnDrop(child);

        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        let stderr = child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        for pipe in [stdout, stderr].into_iter().flatten() {
            let tx = tx.clone();
            let log = Arc::clone(&log);
            // Drains the pipe for the life of the server, so it never blocks on a full pipe.
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if let Ok(mut f) = log.lock() {
                                let _ = f.write_all(&buf);
                            }
                            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
                        }
                    }
                }
            });
        }
        drop(tx);

        let deadline = Instant::now() + timeout;
        let mut tail: Vec<String> = Vec::new();
        let failure = |what: String, tail: &[String]| {
            let mut msg = format!("{} {what}; see {}", program.display(), log_path.display());
            if !tail.is_empty() {
                msg.push_str("; its last output:");
                for l in tail {
                    msg.push_str("\n      ");
                    msg.push_str(l.trim_end());
                }
            }
            msg
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(failure(
                    format!(
                        "printed no `listening on http://HOST:PORT` line within {}s",
                        timeout.as_secs()
                    ),
                    &tail,
                ));
            }
            match rx.recv_timeout(deadline - now) {
                Ok(line) => {
                    if let Some(addr) = parse_listen_addr(&line) {
                        return Ok(Server { child, addr });
                    }
                    tail.push(line);
                    if tail.len() > 5 {
                        tail.remove(0);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Both pipes are closed: the server is gone (or closed them).
                    let status = wait_briefly(&mut child.0);
                    return Err(failure(
                        format!(
                            "exited ({status}) before printing `listening on http://HOST:PORT`"
                        ),
                        &tail,
                    ));
                }
            }
        }
    }

    /// The exit status, if the server has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.0.try_wait().ok().flatten()
    }
}

/// Describes how `child` ended, waiting up to a second for it.
fn wait_briefly(child: &mut Child) -> String {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return s.to_string(),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
            Ok(None) => return "still running, pipes closed".into(),
            Err(e) => return format!("unknown status: {e}"),
        }
    }
}

/// Finds `HOST:PORT` in a server's address line.
///
/// The protocol: once it is listening, the server prints a line containing
/// `listening on http://HOST:PORT`, on stdout or stderr; the first such line counts. Text before
/// it (a log prefix, colour codes) is ignored, and the address ends at the first character that
/// cannot be part of it (space, `/`, quote, escape). `HOST` is a name, an IPv4 address or a
/// bracketed IPv6 address; `PORT` is a non-zero decimal port.
pub(crate) fn parse_listen_addr(line: &str) -> Option<String> {
    const MARKER: &str = "listening on http://";
    let start = line.find(MARKER)? + MARKER.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    let addr = &rest[..end];
    is_host_port(addr).then(|| addr.to_string())
}

/// Whether `s` is `HOST:PORT` with a non-zero port.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        })
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    host_ok && !port.is_empty() && port.len() <= 5 && port.parse::<u16>().is_ok_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_address_lines() {
        // What goreg prints (captured from a real run), and what ocisrv is to print.
        assert_eq!(
            parse_listen_addr("listening on http://127.0.0.1:36405\n").as_deref(),
            Some("127.0.0.1:36405")
        );
        // A tracing-style prefix, with colour codes, and text after the address.
        assert_eq!(
            parse_listen_addr(
                "\u{1b}[2m2026-11-27T07:27:08Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m ocisrv: listening on http://127.0.0.1:5000\u{1b}[0m"
            )
            .as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            parse_listen_addr("listening on http://127.0.0.1:5000/ (mem)").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            parse_listen_addr("listening on http://[::1]:8080").as_deref(),
            Some("[::1]:8080")
        );
        assert_eq!(
            parse_listen_addr("listening on http://localhost:5000").as_deref(),
            Some("localhost:5000")
        );
    }

    #[test]
    fn rejects_other_lines() {
        for line in [
            "",
            "starting ocisrv",
            "listening on 127.0.0.1:5000",        // no scheme
            "listening on https://127.0.0.1:443", // not plain HTTP
            "listening on http://127.0.0.1:0",    // not the bound port
            "listening on http://127.0.0.1",      // no port
            "listening on http://127.0.0.1:99999",
            "listening on http://:5000",
            "Listening On http://127.0.0.1:5000",
        ] {
            assert_eq!(parse_listen_addr(line), None, "{line:?}");
        }
    }

    #[test]
    fn parses_arguments() {
        let args = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = args(&[]).expect("no args");
        assert!(o.stacks.is_empty() && !o.list && o.registry.is_none());
        let o =
            args(&["--stack", "mem", "--stack=go-ociregistry", "--stack", "mem"]).expect("stacks");
        assert_eq!(o.stacks, ["mem", "go-ociregistry"]);
        let o = args(&["--registry", "http://127.0.0.1:5000/"]).expect("registry");
        assert_eq!(o.registry.as_deref(), Some("127.0.0.1:5000"));
        assert!(args(&["--list"]).expect("list").list);
        assert!(args(&["--stack", "nope"]).is_err());
        assert!(args(&["--stack"]).is_err());
        assert!(args(&["--registry", "127.0.0.1"]).is_err());
        assert!(args(&["--registry", "127.0.0.1:5000", "--stack", "mem"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
    }

    #[test]
    fn stack_table_is_consistent() {
        let mut names: Vec<&str> = STACKS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STACKS.len(), "stack names are unique");
        assert!(
            STACKS.iter().any(|s| !s.baseline),
            "there is a default stack"
        );
        for s in STACKS {
            let uses_config = s.args.contains(&"{config}");
            assert_eq!(
                uses_config,
                s.config.is_some(),
                "{}: {{config}} iff a config",
                s.name
            );
            assert!(
                s.args.contains(&"127.0.0.1:0"),
                "{}: listens on a free loopback port",
                s.name
            );
            let text = s.config.map_or("", |(_, c)| c);
            for placeholder in [S3_ENDPOINT, S3_BUCKET] {
                assert_eq!(
                    text.contains(placeholder),
                    s.s3,
                    "{}: {placeholder} iff the stack stores into S3",
                    s.name
                );
            }
            assert!(!s.s3 || !s.baseline, "{}: S3 stacks are ours", s.name);
        }
        assert!(
            STACKS.iter().any(|s| s.s3 && !s.baseline),
            "the default run includes S3"
        );
    }

    #[test]
    fn fills_in_the_s3_config() {
        let stack = STACKS.iter().find(|s| s.name == "s3").expect("an s3 stack");
        let (file, text) = stack
            .config_text(Some(("http://127.0.0.1:40123", "bucket-x")))
            .expect("a config");
        assert_eq!(file, "ocisrv.toml");
        assert!(text.contains("type = \"s3\""), "{text}");
        assert!(
            text.contains("endpoint = \"http://127.0.0.1:40123\""),
            "{text}"
        );
        assert!(text.contains("bucket = \"bucket-x\""), "{text}");
        assert!(text.contains("allow_http = true"), "{text}");
        assert!(!text.contains("{s3_"), "{text}");
        // Without an S3 server the text is left as written; other stacks never change.
        let (_, raw) = stack.config_text(None).expect("a config");
        assert!(raw.contains(S3_ENDPOINT));
        let fs_stack = STACKS.iter().find(|s| s.name == "fs").expect("fs");
        assert_eq!(
            fs_stack
                .config_text(Some(("http://x:1", "b")))
                .map(|(_, t)| t),
            fs_stack.config.map(|(_, c)| c.to_string())
        );
    }

    #[test]
    fn finds_the_pinned_suite_version() {
        let go_mod = include_str!("../../conformance/go.mod");
        let v = suite_version(go_mod).expect("go.mod requires the suite");
        assert_eq!(v, "v0.0.0-20260831232431-97274622c111");
        assert_eq!(
            suite_version(
                "require github.com/opencontainers/distribution-spec/conformance v1.2.3\n"
            ),
            Some("v1.2.3")
        );
        assert_eq!(suite_version("module x\n"), None);
    }

    fn outcome(xml: &str, expected_skips: &'static [&'static str]) -> Outcome {
        Outcome {
            summary: Some(results::parse_junit(xml).expect("parses")),
            categories: None,
            problems: Vec::new(),
            expected_skips,
        }
    }

    #[test]
    fn judges_outcomes() {
        let real = include_str!("conformance/testdata/junit-excerpt.xml");
        let o = outcome(real, &[]);
        assert!(!o.is_clean());
        assert_eq!(
            o.summary_line("go-ociregistry"),
            "conformance go-ociregistry: 2 passed, 3 failed, 1 skipped"
        );
        let s = o.summary.as_ref().expect("summary");
        assert_eq!(failures_by_group(s), [("empty", 1), ("sha256 blobs", 2)]);

        let pass = r#"<testsuites><testcase name="OCI Conformance Test/ping" status="passed"></testcase></testsuites>"#;
        assert!(outcome(pass, &[]).is_clean());
        let mut died = outcome(pass, &[]);
        died.problems
            .push("the server exited during the suite".into());
        assert!(!died.is_clean());
        assert!(!outcome("<testsuites></testsuites>", &[]).is_clean());
        assert!(!Outcome::broken("server failed to start: x".into()).is_clean());

        let skip = format!(
            r#"<testsuites>
  <testcase name="OCI Conformance Test/ping" status="passed"></testcase>
  <testcase name="OCI Conformance Test/artifact/referrers" status="skipped"><system-out>{FILTERS_NOT_APPLIED}</system-out></testcase>
</testsuites>"#
        );
        assert!(!outcome(&skip, &[]).is_clean());
        let o = outcome(&skip, &[FILTERS_NOT_APPLIED]);
        assert!(o.is_clean());
        assert_eq!(
            o.summary_line("x"),
            "conformance x: 1 passed, 0 failed, 1 skipped (1 skips expected for this stack)"
        );
        // An expected message only excuses skips, not failures.
        let fail = skip.replace("skipped", "failure");
        assert!(!outcome(&fail, &[FILTERS_NOT_APPLIED]).is_clean());
    }

    #[cfg(unix)]
    fn start_sh(test: &str, script: &str, timeout: Duration) -> Result<Server, String> {
        // Under target/, reused by each run, so tests leave nothing behind elsewhere.
        let dir = Paths::new()
            .target
            .join("conformance")
            .join("selftest")
            .join(test);
        fs::create_dir_all(&dir).expect("temp dir");
        Server::start(
            Path::new("/bin/sh"),
            &["-c".to_string(), script.to_string()],
            &dir,
            timeout,
        )
    }

    #[cfg(unix)]
    #[test]
    fn starts_a_server_and_reads_its_address() {
        let mut server = start_sh(
            "start",
            "echo starting >&2; sleep 0.2; echo 'INFO x: listening on http://127.0.0.1:5123' >&2; exec sleep 30",
            Duration::from_secs(10),
        )
        .expect("starts");
        assert_eq!(server.addr, "127.0.0.1:5123");
        assert!(server.exited().is_none());
        let pid = server.child.0.id();
        drop(server);
        // Dropping the server killed and reaped it.
        #[cfg(target_os = "linux")]
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        let _ = pid;
    }

    #[cfg(unix)]
    #[test]
    fn reports_a_server_that_exits_early() {
        let err = start_sh(
            "early",
            "echo 'error: unknown flag --addr' >&2; exit 2",
            Duration::from_secs(10),
        )
        .expect_err("fails");
        assert!(err.contains("exited (exit status: 2)"), "{err}");
        assert!(err.contains("error: unknown flag --addr"), "{err}");
        let err = start_sh("early0", "exit 0", Duration::from_secs(10)).expect_err("fails");
        assert!(err.contains("before printing"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn times_out_on_a_silent_server() {
        let started = Instant::now();
        let err = start_sh(
            "silent",
            "echo hello; exec sleep 30",
            Duration::from_millis(500),
        )
        .expect_err("times out");
        assert!(err.contains("within 0s"), "{err}");
        assert!(err.contains("hello"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
