//! `cargo xtask bench`: measures registries side by side in one run and prints a table per
//! scenario with ratios against each peer (issue 6).
//!
//! - Targets ([`targets`]): `ocisrv` (in-memory, built with `cargo build --release -p ocisrv`),
//!   and the peers `ocisrv-proxy` (when `conformance/stacks/proxy.toml` exists), `ocisrv-fs`
//!   (`ocisrv --storage DIR`, the durable store, in a fresh directory beside Distribution's
//!   filesystem storage), `go-ociregistry` (`conformance/goreg`, built with Go), and CNCF
//!   Distribution (`docker-registry`) with `inmemory` and with `filesystem` storage. Or, with
//!   `--registry URL`, any running registry. Every server listens on a free 127.0.0.1 port and
//!   is started afresh for each scenario (and for each run of the memory scenarios), so its
//!   peak RSS (`VmHWM`) belongs to that scenario.
//! - Scenarios ([`scenarios`]): blob pushes (monolithic and chunked) and pulls of big blobs,
//!   manifest PUT/GET, blob HEAD and small pushes at 32 in flight, tag list and catalog walks
//!   at growing sizes, and memory held per byte of blobs. Every figure is the median of
//!   `--runs` runs.
//! - The machine's limits ([`machine`]): single-core SHA-256 and a loopback TCP copy.
//! - The load generator ([`http`], [`load`]) is a hyper client with a keep-alive pool; blob
//!   data is generated once ([`data`]) and sent as `Bytes` slices.
//! - Output ([`report`]): tables on stdout, the check of issue 6's targets (ocisrv against
//!   the peers) and issue 7's (`ocisrv-fs` against `distribution-filesystem`), and JSON in
//!   `target/bench/<timestamp>.json` and `target/bench/latest.json`.
//!
//! A debug build re-runs itself as a release build (`cargo run --release -p xtask`), so the
//! load generator and the SHA-256 reference are optimized. SIGINT and SIGTERM stop the run:
//! the guards of every started process and temporary directory are dropped on the way out.

mod data;
mod http;
mod load;
mod machine;
mod procfs;
mod report;
mod scenarios;
mod stats;
mod targets;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::conformance::{KillOnDrop, Paths, ServerBin, build_server};
use report::{Machine, Outcome, Report, Table, TargetInfo};
use scenarios::{Ctx, Family, GROUPS, Settings};
use stats::median_of;
use targets::{PEERS, Target};

const USAGE: &str =
    "usage: cargo xtask bench [--quick] [--registry URL] [--peer NAME]... [--runs N]
                         [--scenario NAME]...

  --quick          1 run, 16 MiB blobs, 2,000 ops, lists of 1k and 10k (CI smoke, development)
  --registry URL   measure the registry at URL (http://HOST:PORT) instead of ocisrv; no peers
                   unless named with --peer
  --peer NAME      measure only these peers (repeatable); default: all of them. Peers:
                   ocisrv-proxy, ocisrv-fs (ocisrv --storage DIR, the durable store on local
                   files), go-ociregistry, distribution-inmemory, distribution-filesystem,
                   or `distribution` for both storages, or `none`
  --runs N         runs per figure, the median is reported (default 3; --quick: 1)
  --scenario NAME  run only these scenarios (repeatable): push, chunked, pull, manifest-put,
                   manifest-get, blob-head, small-push, tags, catalog, memory

Environment: XTASK_BENCH_FS_DIR  where ocisrv-fs and distribution-filesystem keep their files
                                 (a fresh directory each per scenario; default /dev/shm when it
                                 exists, else the temp dir)

Prints a table per scenario with ratios against each peer, checks issue 6's targets (ocisrv
against the peers) and issue 7's (ocisrv-fs against distribution-filesystem: blob push ≥ 2×,
4 KiB blob push and manifest PUT ≥ 3×), and writes target/bench/<time>.json and
target/bench/latest.json.";

/// How long one scenario family may take on one target, setup included.
const FAMILY_BUDGET: Duration = Duration::from_secs(30 * 60);

/// Set in the release build that a debug build starts, so it does not start another.
const CHILD_ENV: &str = "XTASK_BENCH_RELEASE";

#[derive(Debug, Default, PartialEq)]
struct Options {
    quick: bool,
    registry: Option<String>,
    peers: Option<Vec<String>>,
    runs: Option<usize>,
    scenarios: Vec<String>,
    help: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
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
            "--quick" => o.quick = true,
            "--registry" => {
                let url = value()?;
                let rest = url.strip_prefix("http://").ok_or_else(|| {
                    format!("--registry wants a plain-HTTP URL http://HOST:PORT, got {url:?}")
                })?;
                if rest.trim_end_matches('/').is_empty() || rest.trim_end_matches('/').contains('/')
                {
                    return Err(format!("--registry wants http://HOST:PORT, got {url:?}"));
                }
                o.registry = Some(url.trim_end_matches('/').to_string());
            }
            "--peer" => {
                let name = value()?;
                let names: Vec<&str> = match name.as_str() {
                    "distribution" => vec!["distribution-inmemory", "distribution-filesystem"],
                    "none" => vec![],
                    n if PEERS.iter().any(|(p, _)| *p == n) => vec![n],
                    n => {
                        return Err(format!(
                            "unknown peer {n:?}; peers: {}, distribution, none",
                            PEERS.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
                        ));
                    }
                };
                let peers = o.peers.get_or_insert_with(Vec::new);
                for n in names {
                    if !peers.iter().any(|p| p == n) {
                        peers.push(n.to_string());
                    }
                }
            }
            "--runs" => {
                let v = value()?;
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| format!("--runs wants a number from 1 to 100, got {v:?}"))?;
                o.runs = Some(n);
            }
            "--scenario" => {
                let v = value()?;
                if !GROUPS.contains(&v.as_str()) {
                    return Err(format!(
                        "unknown scenario {v:?}; scenarios: {}",
                        GROUPS.join(", ")
                    ));
                }
                if !o.scenarios.contains(&v) {
                    o.scenarios.push(v);
                }
            }
            "-h" | "--help" => o.help = true,
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    Ok(o)
}

impl Options {
    fn runs(&self) -> usize {
        self.runs.unwrap_or(if self.quick { 1 } else { 3 })
    }

    /// The targets in order: the subject first, then the peers.
    fn target_names(&self) -> Vec<String> {
        let subject = if self.registry.is_some() {
            "registry"
        } else {
            "ocisrv"
        };
        let peers: Vec<String> = match (&self.peers, &self.registry) {
            (Some(p), _) => PEERS
                .iter()
                .filter(|(n, _)| p.iter().any(|q| q == n))
                .map(|(n, _)| (*n).to_string())
                .collect(),
            (None, Some(_)) => Vec::new(),
            (None, None) => PEERS.iter().map(|(n, _)| (*n).to_string()).collect(),
        };
        std::iter::once(subject.to_string()).chain(peers).collect()
    }
}

/// Runs `cargo xtask bench`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_args(args)?;
    if opts.help {
        println!("{USAGE}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    if cfg!(debug_assertions) && std::env::var_os(CHILD_ENV).is_none() {
        return runtime.block_on(rerun_as_release(args));
    }
    runtime.block_on(async {
        tokio::select! {
            r = bench(opts) => r,
            s = stop_signal() => Err(format!("stopped by {s}; servers stopped, temp dirs removed")),
        }
    })
}

/// Waits for SIGINT or SIGTERM; names it.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

/// Runs this task again from a release build of xtask, passing signals on.
async fn rerun_as_release(args: &[String]) -> Result<(), String> {
    let paths = Paths::new();
    eprintln!(
        "xtask: bench: building and running xtask in release mode (cargo run --release -p xtask)"
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let child = Command::new(cargo)
        .current_dir(&paths.root)
        .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench"])
        .args(args)
        .env(CHILD_ENV, "1")
        .spawn()
        .map_err(|e| format!("running cargo: {e}"))?;
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    let wait = async {
        loop {
            match child.0.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return Err(format!("waiting for the release run: {e}")),
            }
        }
    };
    tokio::pin!(wait);
    let status = tokio::select! {
        s = &mut wait => s?,
        sig = stop_signal() => {
            // Let the release run stop its servers: pass the signal on as SIGTERM, then wait.
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            eprintln!("xtask: bench: {sig}: stopping the release run");
            match tokio::time::timeout(Duration::from_secs(30), &mut wait).await {
                Ok(s) => s?,
                Err(_) => return Err("the release run did not stop within 30s; killed it".into()),
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!("the release run ended with {status}"))
    }
}

/// The whole run.
async fn bench(opts: Options) -> Result<(), String> {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let started = report::timestamp(started_at);
    let paths = Paths::new();
    let settings = Settings::new(opts.quick, opts.runs());

    // Targets, built in order; a peer that cannot be built is reported, not fatal.
    let mut targets: Vec<Target> = opts
        .target_names()
        .iter()
        .filter_map(|n| Target::new(n, opts.registry.as_deref()))
        .collect();
    let needs_ocisrv = targets.iter().any(|t| {
        matches!(
            t.kind,
            targets::Kind::Ocisrv | targets::Kind::OcisrvProxy | targets::Kind::OcisrvFs
        )
    });
    let paths = Arc::new(paths);
    let ocisrv = if needs_ocisrv {
        let p = Arc::clone(&paths);
        blocking(move || {
            build_server(&p, ServerBin::Ocisrv).and_then(|o| targets::snapshot(&p, &o))
        })
        .await?
    } else {
        Err("not needed".into())
    };
    let targets = {
        let p = Arc::clone(&paths);
        blocking(move || {
            for t in &mut targets {
                t.prepare(&p, &ocisrv);
            }
            targets
        })
        .await?
    };
    if let Some(subject) = targets.first()
        && let Err(e) = &subject.program
    {
        return Err(format!("{} cannot run: {e}", subject.name));
    }
    let subject = targets.first().map(|t| t.name.clone()).ok_or("no target")?;
    for t in &targets {
        match &t.program {
            Ok(_) => eprintln!("xtask: bench: target {}: {}", t.name, t.about),
            Err(e) => eprintln!("xtask: bench: target {}: not available: {e}", t.name),
        }
    }

    let data_len = settings.data_len();
    eprintln!(
        "xtask: bench: generating {} of blob data",
        report::bytes(data_len as u64)
    );
    let data = Arc::new(blocking(move || data::Data::generate(data_len)).await?);

    let machine = measure_machine(&data, settings.runs).await;
    eprintln!("{}", machine.render());

    let ctx = Ctx {
        paths: &paths,
        settings: &settings,
        data: &data,
        prefix: if opts.registry.is_some() {
            format!("xtask-bench-{started_at}")
        } else {
            "bench".into()
        },
        push_rates: Default::default(),
    };
    let mut tables = Vec::new();
    let families: Vec<Family> = Family::all(&settings)
        .into_iter()
        .filter(|f| opts.scenarios.is_empty() || opts.scenarios.iter().any(|s| s == f.group()))
        .collect();
    let run_started = Instant::now();
    for family in families {
        let specs = family.specs(&settings);
        let mut rows: Vec<Vec<(String, Outcome)>> = vec![Vec::new(); specs.len()];
        for target in &targets {
            // Targets that are not available are listed once, at the top, not in every table.
            let outcomes = match &target.program {
                Err(_) => continue,
                Ok(_) => {
                    let t0 = Instant::now();
                    let measured = tokio::time::timeout(
                        FAMILY_BUDGET,
                        scenarios::measure(family, target, &ctx),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        vec![
                            Outcome::Failed(format!(
                                "did not finish within {} minutes",
                                FAMILY_BUDGET.as_secs() / 60
                            ));
                            specs.len()
                        ]
                    });
                    eprintln!(
                        "xtask: bench: [{}] {} done in {:.1}s",
                        family.group(),
                        target.name,
                        t0.elapsed().as_secs_f64()
                    );
                    measured
                }
            };
            for (i, (spec, outcome)) in specs.iter().zip(outcomes).enumerate() {
                eprintln!(
                    "xtask: bench:   {} / {}: {}",
                    spec.id,
                    target.name,
                    outcome.summary(spec.unit)
                );
                rows[i].push((target.name.clone(), outcome));
            }
        }
        for (spec, rows) in specs.into_iter().zip(rows) {
            tables.push(Table { spec, rows });
        }
    }
    eprintln!(
        "xtask: bench: scenarios took {:.0}s",
        run_started.elapsed().as_secs_f64()
    );

    let report = Report {
        started: started.clone(),
        quick: opts.quick,
        runs: settings.runs,
        subject: subject.clone(),
        targets: targets
            .iter()
            .map(|t| TargetInfo {
                name: t.name.clone(),
                about: t.about.clone(),
                unavailable: t.program.as_ref().err().cloned(),
            })
            .collect(),
        machine,
        tables,
    };
    println!("{}", report.render());
    let goals = report.render_goals();
    if !goals.is_empty() {
        println!("{goals}");
    }
    let written = write_json(&paths.target.join("bench"), &started, &report)?;
    println!("JSON: {}", paths.display(&written));

    // The subject failing a scenario fails the task (CI smoke); peers' failures are reported.
    let failures: Vec<String> = report
        .tables
        .iter()
        .filter(|t| matches!(t.row(&subject), Some(Outcome::Failed(_))))
        .map(|t| t.spec.id.clone())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{subject} failed: {}", failures.join(", ")))
    }
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("a blocking task failed: {e}"))
}

/// The machine's limits: the median of `runs` measurements each.
async fn measure_machine(data: &Arc<data::Data>, runs: usize) -> Machine {
    const BUFFER: usize = 64 << 20;
    let buf = data.prefix(BUFFER);
    let mut machine = Machine {
        buffer: buf.len(),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        ..Machine::default()
    };
    let mut sha = Vec::new();
    let mut tcp = Vec::new();
    for _ in 0..runs {
        let b = buf.clone();
        match blocking(move || machine::sha256_rate(&b)).await {
            Ok(r) => sha.push(Some(r)),
            Err(e) => machine.notes.push(e),
        }
        match machine::loopback_rate(buf.clone(), 8).await {
            Ok(r) => tcp.push(Some(r)),
            Err(e) => machine.notes.push(e),
        }
    }
    machine.sha256 = median_of(sha);
    machine.loopback = median_of(tcp);
    machine
        .notes
        .push("loopback: 8 writes of the buffer per run, one connection".into());
    machine
}

/// Writes the report as `dir/<started>.json` and `dir/latest.json`.
fn write_json(dir: &Path, started: &str, report: &Report) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&report.to_json())
        .map_err(|e| format!("writing JSON: {e}"))?;
    let path = dir.join(format!("{started}.json"));
    for p in [&path, &dir.join("latest.json")] {
        std::fs::write(p, &text).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Options, String> {
        parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_arguments() {
        let o = args(&[]).expect("none");
        assert_eq!(o.runs(), 3);
        assert_eq!(
            o.target_names(),
            [
                "ocisrv",
                "ocisrv-proxy",
                "ocisrv-fs",
                "go-ociregistry",
                "distribution-inmemory",
                "distribution-filesystem"
            ]
        );
        let o = args(&["--quick"]).expect("quick");
        assert_eq!(o.runs(), 1);
        let o = args(&["--quick", "--runs=2", "--peer", "go-ociregistry"]).expect("peer");
        assert_eq!(o.runs(), 2);
        assert_eq!(o.target_names(), ["ocisrv", "go-ociregistry"]);
        let o = args(&["--peer", "distribution", "--peer", "go-ociregistry"]).expect("two");
        // Peers keep their fixed order.
        assert_eq!(
            o.target_names(),
            [
                "ocisrv",
                "go-ociregistry",
                "distribution-inmemory",
                "distribution-filesystem"
            ]
        );
        assert_eq!(
            args(&["--peer", "none"]).expect("none").target_names(),
            ["ocisrv"]
        );
        let o = args(&["--peer", "distribution-filesystem", "--peer=ocisrv-fs"]).expect("fs");
        assert_eq!(
            o.target_names(),
            ["ocisrv", "ocisrv-fs", "distribution-filesystem"]
        );
        let o = args(&["--registry", "http://127.0.0.1:5000/"]).expect("url");
        assert_eq!(o.registry.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(o.target_names(), ["registry"]);
        let o = args(&["--registry=http://h:1", "--peer", "go-ociregistry"]).expect("url+peer");
        assert_eq!(o.target_names(), ["registry", "go-ociregistry"]);
        let o = args(&[
            "--scenario",
            "push",
            "--scenario=tags",
            "--scenario",
            "push",
        ])
        .expect("s");
        assert_eq!(o.scenarios, ["push", "tags"]);
        assert!(args(&["-h"]).expect("help").help);
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &["--runs"][..],
            &["--runs", "0"],
            &["--runs", "x"],
            &["--peer", "nginx"],
            &["--registry", "127.0.0.1:5000"],
            &["--registry", "https://r.example"],
            &["--registry", "http://h:1/v2/"],
            &["--registry", "http://"],
            &["--scenario", "everything"],
            &["--fast"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usage_names_every_peer() {
        for (name, _) in PEERS {
            assert!(USAGE.contains(name), "{name}");
        }
        for g in GROUPS {
            assert!(USAGE.contains(g), "{g}");
        }
    }

    #[test]
    fn every_target_name_is_known() {
        for n in args(&[]).expect("default").target_names() {
            assert!(Target::new(&n, None).is_some(), "{n}");
        }
    }
}
