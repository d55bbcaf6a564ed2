//! The scenarios. Each *family* (blob push at one size, manifest PUT, tag lists, ...) runs per
//! target on a fresh server (memory families: a fresh server per run), does its setup, then
//! `runs` timed runs, and yields one outcome per table it fills.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::data::{Blob, Data, config_blob, image_manifest};
use super::http::{Failure, Registry, with_query};
use super::load::{self, rate};
use super::procfs;
use super::report::{Measured, Outcome, RunFigure, Spec, Unit, count_label, size_label};
use super::stats::Latency;
use super::targets::{Running, Target};
use crate::conformance::Paths;

const MIB: usize = 1 << 20;

/// Sizes and counts of one run of the bench.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Runs per figure (the median is reported).
    pub(crate) runs: usize,
    /// Big blob sizes: pushes and pulls.
    pub(crate) big: Vec<usize>,
    /// PATCH size of chunked pushes.
    pub(crate) chunk: usize,
    /// Operations per run of the concurrent scenarios.
    pub(crate) ops: usize,
    /// Requests in flight in the concurrent scenarios (and their setup).
    pub(crate) concurrency: usize,
    /// List sizes of the tag list and catalog walks.
    pub(crate) levels: Vec<usize>,
    /// `n` of list requests.
    pub(crate) page: usize,
    /// Bytes of distinct blobs the memory scenario holds, and the size of each.
    pub(crate) memory_total: usize,
    pub(crate) memory_blob: usize,
    /// The blob pushed to many repositories, and to how many.
    pub(crate) same_blob: usize,
    pub(crate) same_blob_repos: usize,
    /// How long setting up one list size may take before the target is skipped there.
    pub(crate) setup_budget: Duration,
    /// How long one list walk may take before it is cut short (and marked partial).
    pub(crate) walk_budget: Duration,
    /// How long one timed run may take.
    pub(crate) run_budget: Duration,
    /// How long the runs of one table on one target may take together: after the first run,
    /// no run starts that would end past it (so a slow peer gets fewer runs, with a note).
    pub(crate) runs_budget: Duration,
}

impl Settings {
    pub(crate) fn new(quick: bool, runs: usize) -> Settings {
        Settings {
            runs: runs.max(1),
            big: if quick {
                vec![16 * MIB]
            } else {
                vec![64 * MIB, 1024 * MIB]
            },
            chunk: 8 * MIB,
            ops: if quick { 2_000 } else { 20_000 },
            concurrency: 32,
            levels: if quick {
                vec![1_000, 10_000]
            } else {
                vec![1_000, 10_000, 100_000]
            },
            page: 100,
            memory_total: if quick { 64 * MIB } else { 650 * MIB },
            memory_blob: if quick { 4 * MIB } else { 10 * MIB },
            same_blob: if quick { 16 * MIB } else { 64 * MIB },
            same_blob_repos: 8,
            setup_budget: Duration::from_secs(120),
            walk_budget: Duration::from_secs(60),
            run_budget: Duration::from_secs(300),
            runs_budget: Duration::from_secs(60),
        }
    }

    /// How big the shared data buffer must be: the largest blob plus room for distinct
    /// offsets.
    pub(crate) fn data_len(&self) -> usize {
        let largest = self
            .big
            .iter()
            .copied()
            .chain([self.same_blob, self.memory_blob, 64 * MIB])
            .max()
            .unwrap_or(64 * MIB);
        largest + MIB
    }
}

/// Bytes pushed, and pulled, per run of the big-blob scenarios (where the size allows).
const PUSH_BYTES: usize = 256 * MIB;
const PULL_BYTES: usize = 512 * MIB;

/// `1 push`, `4 pushes`.
fn times(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Big-blob operations per run: `bytes` moved where the size allows, at least 1, at most 8.
fn per_run(size: usize, bytes: usize) -> usize {
    (bytes / size.max(1)).clamp(1, 8)
}

/// How long one push or pull of `size` bytes may take before the target is reported as too
/// slow for that size (at least a minute; 8 MiB/s for big blobs). Some registries copy the
/// whole upload on every append and would take hours for 1 GiB.
fn big_op_budget(size: usize) -> Duration {
    Duration::from_secs(60).max(Duration::from_secs_f64(size as f64 / (8 * MIB) as f64))
}

/// `op` within [`big_op_budget`]; over it, the target is skipped for this size.
async fn bounded<T>(
    size: usize,
    what: &str,
    op: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Outcome> {
    let budget = big_op_budget(size);
    match tokio::time::timeout(budget, op).await {
        Ok(r) => r.map_err(failed(what)),
        Err(_) => Err(Outcome::Skipped(format!(
            "too slow: one {what} of {} took over {}s",
            size_label(size),
            budget.as_secs()
        ))),
    }
}

/// A scenario family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    PushMonolithic(usize),
    PushChunked(usize),
    Pull(usize),
    ManifestPut,
    ManifestGet,
    BlobHead,
    SmallPush,
    Tags,
    Catalog,
    MemoryDistinct,
    MemorySameBlob,
}

/// The names `--scenario` accepts, each selecting these families.
pub(crate) const GROUPS: &[&str] = &[
    "push",
    "chunked",
    "pull",
    "manifest-put",
    "manifest-get",
    "blob-head",
    "small-push",
    "tags",
    "catalog",
    "memory",
];

impl Family {
    /// Every family of a run, in order.
    pub(crate) fn all(s: &Settings) -> Vec<Family> {
        let mut v = Vec::new();
        v.extend(s.big.iter().map(|&b| Family::PushMonolithic(b)));
        v.extend(s.big.iter().map(|&b| Family::PushChunked(b)));
        v.extend(s.big.iter().map(|&b| Family::Pull(b)));
        v.extend([
            Family::ManifestPut,
            Family::ManifestGet,
            Family::BlobHead,
            Family::SmallPush,
            Family::Tags,
            Family::Catalog,
            Family::MemoryDistinct,
            Family::MemorySameBlob,
        ]);
        v
    }

    /// Its `--scenario` name.
    pub(crate) fn group(self) -> &'static str {
        match self {
            Family::PushMonolithic(_) => "push",
            Family::PushChunked(_) => "chunked",
            Family::Pull(_) => "pull",
            Family::ManifestPut => "manifest-put",
            Family::ManifestGet => "manifest-get",
            Family::BlobHead => "blob-head",
            Family::SmallPush => "small-push",
            Family::Tags => "tags",
            Family::Catalog => "catalog",
            Family::MemoryDistinct | Family::MemorySameBlob => "memory",
        }
    }

    /// The tables it fills.
    pub(crate) fn specs(self, s: &Settings) -> Vec<Spec> {
        let spec = |id: String, title: String, unit| Spec { id, title, unit };
        let label = |b: usize| size_label(b).replace(' ', "");
        let concurrent = |what: &str| {
            format!(
                "{what} ({} in flight, {} ops)",
                s.concurrency,
                super::report::number(s.ops as f64)
            )
        };
        match self {
            Family::PushMonolithic(b) => vec![spec(
                format!("push-monolithic-{}", label(b)),
                format!(
                    "blob push monolithic (POST, PUT) {}, {} per run",
                    size_label(b),
                    times(per_run(b, PUSH_BYTES), "push", "pushes")
                ),
                Unit::MibPerSec,
            )],
            Family::PushChunked(b) => vec![spec(
                format!("push-chunked-{}", label(b)),
                format!(
                    "blob push chunked ({} PATCHes) {}, {} per run",
                    size_label(s.chunk),
                    size_label(b),
                    times(per_run(b, PUSH_BYTES), "push", "pushes")
                ),
                Unit::MibPerSec,
            )],
            Family::Pull(b) => vec![
                spec(
                    format!("pull-{}", label(b)),
                    format!(
                        "blob pull {}, no client verification, {} per run",
                        size_label(b),
                        times(per_run(b, PULL_BYTES), "pull", "pulls")
                    ),
                    Unit::MibPerSec,
                ),
                spec(
                    format!("pull-verified-{}", label(b)),
                    format!(
                        "blob pull {}, client verifies sha256, {} per run",
                        size_label(b),
                        times(per_run(b, PULL_BYTES), "pull", "pulls")
                    ),
                    Unit::MibPerSec,
                ),
            ],
            Family::ManifestPut => vec![spec(
                "manifest-put".into(),
                concurrent("manifest PUT by tag"),
                Unit::OpsPerSec,
            )],
            Family::ManifestGet => vec![spec(
                "manifest-get".into(),
                concurrent("manifest GET by tag"),
                Unit::OpsPerSec,
            )],
            Family::BlobHead => vec![spec(
                "blob-head".into(),
                concurrent("blob HEAD"),
                Unit::OpsPerSec,
            )],
            Family::SmallPush => vec![spec(
                "small-push".into(),
                concurrent("4 KiB blob push (POST, PUT)"),
                Unit::OpsPerSec,
            )],
            Family::Tags => s
                .levels
                .iter()
                .map(|&l| {
                    spec(
                        format!("tags-{l}"),
                        format!(
                            "tag list walk, n={} over {} tags (p50/p99 per page)",
                            s.page,
                            count_label(l)
                        ),
                        Unit::PagesPerSec,
                    )
                })
                .collect(),
            Family::Catalog => s
                .levels
                .iter()
                .map(|&l| {
                    spec(
                        format!("catalog-{l}"),
                        format!(
                            "catalog walk, n={} over {} repositories (p50/p99 per page)",
                            s.page,
                            count_label(l)
                        ),
                        Unit::PagesPerSec,
                    )
                })
                .collect(),
            Family::MemoryDistinct => vec![spec(
                "memory-distinct".into(),
                format!(
                    "memory: RSS holding N = {} of distinct blobs ({} each)",
                    size_label(s.memory_total),
                    size_label(s.memory_blob)
                ),
                Unit::RssPerByte,
            )],
            Family::MemorySameBlob => vec![spec(
                "memory-same-blob".into(),
                format!(
                    "memory: RSS holding one {} blob pushed to {} repositories (N = one blob; \
                     one copy is about 1× N, a copy per repository about {}× N)",
                    size_label(s.same_blob),
                    s.same_blob_repos,
                    s.same_blob_repos
                ),
                Unit::RssPerByte,
            )],
        }
    }
}

/// What a family needs besides the target.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) paths: &'a Paths,
    pub(crate) settings: &'a Settings,
    pub(crate) data: &'a Arc<Data>,
    /// Prefix of every repository name the bench creates.
    pub(crate) prefix: String,
    /// The slowest big-blob push rate (MiB/s) seen per target, to skip sizes that could not
    /// finish within [`big_op_budget`].
    pub(crate) push_rates: std::sync::Mutex<std::collections::HashMap<String, f64>>,
}

impl Ctx<'_> {
    /// Why `target` is skipped for pushing `size` bytes, if its rate so far says one push would
    /// not finish within the budget.
    fn too_slow(&self, target: &str, size: usize) -> Option<String> {
        let rates = self.push_rates.lock().ok()?;
        let rate = *rates.get(target)?;
        let seconds = size as f64 / MIB as f64 / rate;
        let budget = big_op_budget(size);
        (seconds > budget.as_secs_f64()).then(|| {
            format!(
                "too slow: at {rate:.1} MiB/s (its slowest push so far) one {} push would take \
                 {seconds:.0}s, over the {}s budget",
                size_label(size),
                budget.as_secs()
            )
        })
    }

    fn record_push_rate(&self, target: &str, rate: f64) {
        if let Ok(mut rates) = self.push_rates.lock() {
            let r = rates.entry(target.to_string()).or_insert(rate);
            *r = r.min(rate);
        }
    }
}

/// One table's figures from a target, before taking medians.
#[derive(Debug, Default)]
struct Figures {
    runs: Vec<RunFigure>,
    notes: Vec<String>,
    held: Option<u64>,
}

impl Figures {
    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

type TableResult = Result<Figures, Outcome>;

/// Decides whether another run fits: always the first, then while the runs so far, plus one
/// more of their average length, stay within the budget.
#[derive(Debug)]
struct Runs {
    wanted: usize,
    done: usize,
    budget: Duration,
    started: Instant,
}

impl Runs {
    fn new(s: &Settings) -> Runs {
        Runs {
            wanted: s.runs,
            done: 0,
            budget: s.runs_budget,
            started: Instant::now(),
        }
    }

    /// Whether to do another run; counts it.
    fn next(&mut self) -> bool {
        if self.done >= self.wanted {
            return false;
        }
        if self.done > 0 {
            let spent = self.started.elapsed();
            let average = spent / self.done as u32;
            if spent + average > self.budget {
                return false;
            }
        }
        self.done += 1;
        true
    }

    /// A note when fewer runs than wanted fitted.
    fn note(&self, figures: &mut Figures) {
        if self.done < self.wanted {
            figures.note(format!(
                "{} of {} runs within the {}s budget",
                self.done,
                self.wanted,
                self.budget.as_secs()
            ));
        }
    }
}

/// Reads the server's CPU time around a timed run.
#[derive(Debug, Clone, Copy)]
struct Meter(Option<u32>);

impl Meter {
    /// The server's CPU seconds so far.
    fn read(self) -> Option<f64> {
        procfs::cpu_seconds(self.0?)
    }

    /// CPU seconds since `start` per unit of work.
    fn per(self, start: Option<f64>, units: f64) -> Option<f64> {
        let used = self.read()? - start?;
        (units > 0.0).then(|| used.max(0.0) / units)
    }
}

fn failed(what: &str) -> impl Fn(Failure) -> Outcome + '_ {
    move |e| Outcome::Failed(format!("{what}: {e}"))
}

/// Measures `family` on `target`: one outcome per table of [`Family::specs`].
pub(crate) async fn measure(family: Family, target: &Target, ctx: &Ctx<'_>) -> Vec<Outcome> {
    let tables = family.specs(ctx.settings).len();
    // Memory families start a server per run.
    if matches!(family, Family::MemoryDistinct | Family::MemorySameBlob) {
        let result = memory(family, target, ctx).await;
        return vec![finish(result, None)];
    }
    if let Family::PushMonolithic(size) | Family::PushChunked(size) | Family::Pull(size) = family
        && let Some(why) = ctx.too_slow(&target.name, size)
    {
        return vec![Outcome::Skipped(why); tables];
    }
    let running = match target.launch(ctx.paths).await {
        Ok(r) => r,
        Err(e) => return vec![Outcome::Failed(format!("starting the server: {e}")); tables],
    };
    let reg = Registry::new(&running.base);
    let m = Meter(running.pid);
    let results: Vec<TableResult> = match family {
        Family::PushMonolithic(size) => vec![push(&reg, m, ctx, size, None).await],
        Family::PushChunked(size) => {
            vec![push(&reg, m, ctx, size, Some(ctx.settings.chunk)).await]
        }
        Family::Pull(size) => pull(&reg, m, ctx, size).await,
        Family::ManifestPut | Family::ManifestGet | Family::BlobHead | Family::SmallPush => {
            vec![concurrent(&reg, m, ctx, family).await]
        }
        Family::Tags => listing(&reg, m, ctx, false).await,
        Family::Catalog => listing(&reg, m, ctx, true).await,
        Family::MemoryDistinct | Family::MemorySameBlob => Vec::new(),
    };
    let peak = running.memory().map(|m| m.peak);
    drop(running);
    let outcomes: Vec<Outcome> = results.into_iter().map(|r| finish(r, peak)).collect();
    if let Family::PushMonolithic(_) | Family::PushChunked(_) = family
        && let Some(rate) = outcomes.first().and_then(Outcome::value)
    {
        ctx.record_push_rate(&target.name, rate);
    }
    outcomes
}

fn finish(result: TableResult, peak: Option<u64>) -> Outcome {
    match result {
        Ok(f) => {
            let mut m = Measured::from_runs(f.runs, peak, f.notes);
            m.held = f.held;
            Outcome::Measured(Box::new(m))
        }
        Err(o) => o,
    }
}

/// Pushes of `size`-byte distinct blobs, monolithic or in `chunk`-byte PATCHes. Each blob is
/// deleted after its run so the server does not accumulate them.
async fn push(
    reg: &Registry,
    meter: Meter,
    ctx: &Ctx<'_>,
    size: usize,
    chunk: Option<usize>,
) -> TableResult {
    let repo = format!("{}/push", ctx.prefix);
    let k = per_run(size, PUSH_BYTES);
    let mut figures = Figures::default();
    let mut runs = Runs::new(ctx.settings);
    while runs.next() {
        let blobs = blobs(ctx.data, k, size).await?;
        let mut latencies = Vec::with_capacity(k);
        let cpu = meter.read();
        let started = Instant::now();
        for b in &blobs {
            let t = Instant::now();
            match chunk {
                None => bounded(size, "push", reg.push_monolithic(&repo, b)).await?,
                Some(c) => bounded(size, "push", reg.push_chunked(&repo, b, c)).await?,
            }
            latencies.push(t.elapsed());
        }
        let elapsed = started.elapsed();
        let mib = (k * size) as f64 / MIB as f64;
        let cpu = meter.per(cpu, mib);
        for b in &blobs {
            reg.delete_blob(&repo, &b.digest).await;
        }
        figures.runs.push(RunFigure {
            value: rate(mib, elapsed),
            latency: Latency::of(&mut latencies),
            cpu,
            ..RunFigure::default()
        });
    }
    runs.note(&mut figures);
    Ok(figures)
}

/// `k` distinct blobs of `size`, hashed off the async threads.
async fn blobs(data: &Arc<Data>, k: usize, size: usize) -> Result<Vec<Blob>, Outcome> {
    let data = Arc::clone(data);
    tokio::task::spawn_blocking(move || (0..k).map(|_| data.blob(size)).collect())
        .await
        .map_err(|e| Outcome::Failed(format!("making blobs: {e}")))
}

/// Pulls of one `size`-byte blob: without, then with client-side verification, per run.
async fn pull(reg: &Registry, meter: Meter, ctx: &Ctx<'_>, size: usize) -> Vec<TableResult> {
    let repo = format!("{}/pull", ctx.prefix);
    let k = per_run(size, PULL_BYTES);
    let setup = async {
        let blob = blobs(ctx.data, 1, size)
            .await?
            .pop()
            .ok_or_else(|| Outcome::Failed("no blob".into()))?;
        bounded(size, "push", reg.push_monolithic(&repo, &blob)).await?;
        Ok::<Blob, Outcome>(blob)
    };
    let blob = match setup.await {
        Ok(b) => b,
        Err(o) => return vec![Err(o.clone()), Err(o)],
    };
    let mut plain = Ok(Figures::default());
    let mut verified = Ok(Figures::default());
    let mut runs = Runs::new(ctx.settings);
    while runs.next() {
        for (verify, result) in [(false, &mut plain), (true, &mut verified)] {
            let Ok(figures) = result else { continue };
            let mut latencies = Vec::with_capacity(k);
            let cpu = meter.read();
            let started = Instant::now();
            let mut failure = None;
            for _ in 0..k {
                let t = Instant::now();
                match bounded(size, "pull", reg.pull_blob(&repo, &blob.digest, verify)).await {
                    Ok(n) if n == blob.len() => latencies.push(t.elapsed()),
                    Ok(n) => {
                        failure = Some(Outcome::Failed(format!(
                            "pull: got {n} of {} bytes",
                            blob.len()
                        )));
                        break;
                    }
                    Err(o) => {
                        failure = Some(o);
                        break;
                    }
                }
            }
            let elapsed = started.elapsed();
            if let Some(o) = failure {
                *result = Err(o);
                continue;
            }
            let mib = (k * size) as f64 / MIB as f64;
            figures.runs.push(RunFigure {
                value: rate(mib, elapsed),
                latency: Latency::of(&mut latencies),
                cpu: meter.per(cpu, mib),
                ..RunFigure::default()
            });
        }
    }
    for f in [&mut plain, &mut verified].into_iter().flatten() {
        runs.note(f);
    }
    vec![plain, verified]
}

/// Pushes a config and a 4 KiB layer to `repo` for manifests to reference.
async fn image_blobs(reg: &Registry, ctx: &Ctx<'_>, repo: &str) -> Result<(Blob, Blob), Outcome> {
    let config = config_blob();
    let layer = ctx.data.blob(4096);
    for b in [&config, &layer] {
        reg.push_monolithic(repo, b)
            .await
            .map_err(failed("setup: push"))?;
    }
    Ok((config, layer))
}

/// The operations at `concurrency` in flight.
async fn concurrent(reg: &Registry, meter: Meter, ctx: &Ctx<'_>, family: Family) -> TableResult {
    let s = ctx.settings;
    let repo: Arc<str> = format!("{}/{}", ctx.prefix, family.group()).into();
    // Setup shared by the runs.
    let mut fixed: Option<Blob> = None;
    let mut image: Option<(Blob, Blob)> = None;
    match family {
        Family::ManifestPut => image = Some(image_blobs(reg, ctx, &repo).await?),
        Family::ManifestGet => {
            let (config, layer) = image_blobs(reg, ctx, &repo).await?;
            reg.put_manifest(&repo, "latest", image_manifest(&config, &layer, "latest"))
                .await
                .map_err(failed("setup: manifest"))?;
        }
        Family::BlobHead => {
            let b = ctx.data.blob(4096);
            reg.push_monolithic(&repo, &b)
                .await
                .map_err(failed("setup: push"))?;
            fixed = Some(b);
        }
        _ => {}
    }
    let mut figures = Figures::default();
    let mut runs = Runs::new(s);
    let mut run = 0;
    while runs.next() {
        run += 1;
        let repo = Arc::clone(&repo);
        // The server is idle while the operations are prepared.
        let cpu = meter.read();
        let batch =
            match family {
                Family::ManifestPut => {
                    let (config, layer) = image.as_ref().ok_or_else(no_setup)?;
                    let manifests: Arc<Vec<Bytes>> = Arc::new(
                        (0..s.ops)
                            .map(|i| image_manifest(config, layer, &format!("r{run}-{i}")))
                            .collect(),
                    );
                    load::run(reg.base(), s.concurrency, s.ops, s.run_budget, move |reg, i| {
                    let repo = Arc::clone(&repo);
                    let body = manifests.get(i).cloned().unwrap_or_default();
                    async move { reg.put_manifest(&repo, &format!("r{run}-{i}"), body).await }
                })
                .await
                }
                Family::ManifestGet => {
                    load::run(
                        reg.base(),
                        s.concurrency,
                        s.ops,
                        s.run_budget,
                        move |reg, _| {
                            let repo = Arc::clone(&repo);
                            async move { reg.get_manifest(&repo, "latest").await.map(|_| ()) }
                        },
                    )
                    .await
                }
                Family::BlobHead => {
                    let digest: Arc<str> =
                        fixed.as_ref().ok_or_else(no_setup)?.digest.as_str().into();
                    load::run(
                        reg.base(),
                        s.concurrency,
                        s.ops,
                        s.run_budget,
                        move |reg, _| {
                            let (repo, digest) = (Arc::clone(&repo), Arc::clone(&digest));
                            async move { reg.head_blob(&repo, &digest).await }
                        },
                    )
                    .await
                }
                Family::SmallPush => {
                    let blobs = Arc::new(blobs(ctx.data, s.ops, 4096).await?);
                    load::run(
                        reg.base(),
                        s.concurrency,
                        s.ops,
                        s.run_budget,
                        move |reg, i| {
                            let (repo, blobs) = (Arc::clone(&repo), Arc::clone(&blobs));
                            async move {
                                match blobs.get(i) {
                                    Some(b) => reg.push_monolithic(&repo, b).await,
                                    None => Err(format!("no blob {i}")),
                                }
                            }
                        },
                    )
                    .await
                }
                _ => return Err(no_setup()),
            };
        let mut batch = batch
            .complete(s.ops, family.group())
            .map_err(Outcome::Failed)?;
        figures.runs.push(RunFigure {
            value: batch.rate(),
            latency: Latency::of(&mut batch.latencies),
            cpu: meter.per(cpu, batch.done as f64),
            ..RunFigure::default()
        });
    }
    runs.note(&mut figures);
    Ok(figures)
}

fn no_setup() -> Outcome {
    Outcome::Failed("internal: scenario without its setup".into())
}

/// Tag list (`catalog = false`) or catalog walks at each list size: the entries are added
/// between sizes, concurrently, within the setup budget.
async fn listing(reg: &Registry, meter: Meter, ctx: &Ctx<'_>, catalog: bool) -> Vec<TableResult> {
    let s = ctx.settings;
    let levels = s.levels.len();
    let what = if catalog { "repositories" } else { "tags" };
    // Setup: what each entry needs, and how one is added.
    let base: Arc<str> = format!("{}/{}", ctx.prefix, if catalog { "base" } else { "tags" }).into();
    let item: Arc<dyn Fn(usize) -> String + Send + Sync> = if catalog {
        let prefix = ctx.prefix.clone();
        Arc::new(move |i| format!("{prefix}/r{i:06}"))
    } else {
        Arc::new(|i| format!("t{i:06}"))
    };
    let setup = async {
        if catalog {
            let b = ctx.data.blob(1024);
            reg.push_monolithic(&base, &b)
                .await
                .map_err(failed("setup: push"))?;
            Ok::<(Option<Blob>, Bytes), Outcome>((Some(b), Bytes::new()))
        } else {
            let (config, layer) = image_blobs(reg, ctx, &base).await?;
            Ok((None, image_manifest(&config, &layer, "tags")))
        }
    };
    let (blob, manifest) = match setup.await {
        Ok(x) => x,
        Err(o) => return (0..levels).map(|_| Err(o.clone())).collect(),
    };
    let blob = blob.map(Arc::new);
    let (first_url, key, extra) = if catalog {
        // The base repository is listed too.
        (format!("/v2/_catalog?n={}", s.page), "repositories", 1)
    } else {
        (format!("/v2/{base}/tags/list?n={}", s.page), "tags", 0)
    };

    let mut results = Vec::new();
    let mut blocked: Option<Outcome> = None;
    let mut have = 0usize;
    for &level in &s.levels {
        if let Some(o) = &blocked {
            results.push(Err(o.clone()));
            continue;
        }
        let add = level.saturating_sub(have);
        let started = Instant::now();
        let batch = {
            let (base, item, blob, manifest) = (
                Arc::clone(&base),
                Arc::clone(&item),
                blob.clone(),
                manifest.clone(),
            );
            load::run(
                reg.base(),
                s.concurrency,
                add,
                s.setup_budget,
                move |reg, i| {
                    let (base, name, blob, manifest) = (
                        Arc::clone(&base),
                        item(have + i),
                        blob.clone(),
                        manifest.clone(),
                    );
                    async move {
                        match blob {
                            Some(b) => reg.mount_or_push(&name, &base, &b).await,
                            None => reg.put_manifest(&base, &name, manifest).await,
                        }
                    }
                },
            )
            .await
        };
        if let Some(e) = batch.failure {
            let o = Outcome::Failed(format!("setting up {level} {what}: {e}"));
            blocked = Some(Outcome::Skipped(format!(
                "setting up {} {what} failed",
                count_label(level)
            )));
            results.push(Err(o));
            continue;
        }
        if batch.done < add {
            let o = Outcome::Skipped(format!(
                "too slow to set up: {} of {} {what} after {}s (budget)",
                have + batch.done,
                count_label(level),
                s.setup_budget.as_secs()
            ));
            blocked = Some(o.clone());
            results.push(Err(o));
            continue;
        }
        have = level;
        let setup_time = started.elapsed();
        let mut figures = Figures::default();
        figures.note(format!(
            "setup added {} {what} in {:.1}s",
            count_label(add),
            setup_time.as_secs_f64()
        ));
        let mut outcome = Ok(());
        let mut runs = Runs::new(s);
        while runs.next() {
            // One run: whole walks, repeated until there are enough pages for percentiles.
            let cpu = meter.read();
            let run_started = Instant::now();
            let mut total = Walk::default();
            let mut walks = 0;
            while total.pages < MIN_PAGES && run_started.elapsed() < s.walk_budget {
                match walk(reg, &first_url, key, s.page, s.walk_budget).await {
                    Ok(w) => {
                        walks += 1;
                        for n in w.notes {
                            figures.note(n);
                        }
                        if !w.partial && w.entries != level + extra {
                            figures.note(format!(
                                "the walk saw {} entries, {} expected",
                                w.entries,
                                level + extra
                            ));
                        }
                        total.pages += w.pages;
                        total.elapsed += w.elapsed;
                        total.latencies.extend(w.latencies);
                    }
                    Err(e) => {
                        outcome = Err(Outcome::Failed(format!("walking the {what}: {e}")));
                        break;
                    }
                }
            }
            if outcome.is_err() {
                break;
            }
            if walks > 1 {
                figures.note(format!("{walks} walks per run"));
            }
            figures.runs.push(RunFigure {
                value: rate(total.pages as f64, total.elapsed),
                latency: Latency::of(&mut total.latencies),
                cpu: meter.per(cpu, total.pages as f64),
                ..RunFigure::default()
            });
        }
        runs.note(&mut figures);
        results.push(outcome.map(|()| figures));
    }
    results
}

/// List pages per run, at least: small lists are walked several times.
const MIN_PAGES: usize = 100;

/// One walk of a list.
#[derive(Debug, Default)]
struct Walk {
    pages: usize,
    entries: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    notes: Vec<String>,
    /// Cut short by the budget.
    partial: bool,
}

/// Walks a list from `first` page by page (`n` each), following `Link` headers, or `last=`
/// when a full page comes without one, until a short page, the end, or `budget`.
async fn walk(
    reg: &Registry,
    first: &str,
    key: &str,
    n: usize,
    budget: Duration,
) -> Result<Walk, Failure> {
    let mut w = Walk::default();
    let started = Instant::now();
    let mut url = reg.url(first);
    let mut previous_last: Option<String> = None;
    loop {
        let t = Instant::now();
        let (entries, next) = reg.list_page(&url, key).await?;
        w.latencies.push(t.elapsed());
        w.pages += 1;
        w.entries += entries.len();
        if entries.len() > n {
            w.notes.push(format!(
                "ignores n={n}: one page held {} entries",
                entries.len()
            ));
            break;
        }
        if let (Some(prev), Some(first_entry)) = (&previous_last, entries.first())
            && first_entry <= prev
        {
            w.notes
                .push("ignores last=: a page repeated earlier entries".to_string());
            break;
        }
        previous_last = entries.last().cloned();
        let next = match (next, &previous_last) {
            (Some(link), _) => reg.url(&link),
            (None, Some(last)) if entries.len() == n => with_query(&reg.url(first), "last", last),
            _ => break,
        };
        if started.elapsed() > budget {
            w.partial = true;
            w.notes.push(format!(
                "partial walk: {} pages in the {}s budget",
                w.pages,
                budget.as_secs()
            ));
            break;
        }
        url = next;
    }
    w.elapsed = started.elapsed();
    Ok(w)
}

/// The memory families: a fresh server per run, filled, then its `VmRSS` read.
async fn memory(family: Family, target: &Target, ctx: &Ctx<'_>) -> TableResult {
    if !target.is_local_process() {
        return Err(Outcome::Skipped(
            "n/a: the server does not run on this machine".into(),
        ));
    }
    let s = ctx.settings;
    let mut figures = Figures::default();
    let held = match family {
        Family::MemorySameBlob => s.same_blob,
        _ => s.memory_total / s.memory_blob * s.memory_blob,
    };
    figures.held = Some(held as u64);
    let mut runs = Runs::new(s);
    while runs.next() {
        let running = target
            .launch(ctx.paths)
            .await
            .map_err(|e| Outcome::Failed(format!("starting the server: {e}")))?;
        match tokio::time::timeout(s.setup_budget, fill(&running, ctx, family)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Outcome::Skipped(format!(
                    "too slow to fill within {}s",
                    s.setup_budget.as_secs()
                )));
            }
        }
        // Let a garbage-collected server settle, as it would between pushes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let m = running
            .memory()
            .ok_or_else(|| Outcome::Failed("cannot read the server's memory".into()))?;
        figures.runs.push(RunFigure {
            value: m.rss as f64 / held as f64,
            latency: None,
            rss: Some(m.rss),
            peak_rss: Some(m.peak),
            cpu: None,
        });
    }
    runs.note(&mut figures);
    Ok(figures)
}

async fn fill(running: &Running, ctx: &Ctx<'_>, family: Family) -> Result<(), Outcome> {
    let s = ctx.settings;
    let reg = Registry::new(&running.base);
    if family == Family::MemorySameBlob {
        let blob = blobs(ctx.data, 1, s.same_blob).await?;
        for b in &blob {
            for r in 0..s.same_blob_repos {
                reg.push_monolithic(&format!("{}/same{r}", ctx.prefix), b)
                    .await
                    .map_err(failed("push"))?;
            }
        }
        return Ok(());
    }
    let count = s.memory_total / s.memory_blob;
    let repo: Arc<str> = format!("{}/memory", ctx.prefix).into();
    let data = Arc::clone(ctx.data);
    let size = s.memory_blob;
    let batch = load::run(reg.base(), 4, count, s.run_budget, move |reg, _| {
        let repo = Arc::clone(&repo);
        // Hashing 10 MiB takes milliseconds; this is setup, not timed.
        let blob = data.blob(size);
        async move { reg.push_monolithic(&repo, &blob).await }
    })
    .await;
    batch
        .complete(count, "filling")
        .map(|_| ())
        .map_err(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_and_full_settings() {
        let q = Settings::new(true, 0);
        assert_eq!(q.runs, 1);
        assert_eq!(q.big, [16 * MIB]);
        assert_eq!(q.ops, 2_000);
        assert_eq!(q.levels, [1_000, 10_000]);
        assert_eq!(q.memory_total, 64 * MIB);
        assert_eq!(q.data_len(), 65 * MIB);
        let f = Settings::new(false, 3);
        assert_eq!(f.big, [64 * MIB, 1024 * MIB]);
        assert_eq!(f.ops, 20_000);
        assert_eq!(f.levels, [1_000, 10_000, 100_000]);
        assert_eq!(f.data_len(), 1025 * MIB);
        // The memory scenario's blobs are distinct in the buffer.
        let distinct = (f.data_len() - f.memory_blob) / 8 + 1;
        assert!(distinct * 4 > f.memory_total / f.memory_blob * f.runs);
    }

    #[test]
    fn runs_stop_at_the_budget() {
        let mut s = Settings::new(false, 3);
        let mut runs = Runs::new(&s);
        assert!(runs.next() && runs.next() && runs.next());
        assert!(!runs.next());
        let mut f = Figures::default();
        runs.note(&mut f);
        assert!(f.notes.is_empty());

        // Runs of 30 ms against a 50 ms budget: the first always, not a second.
        s.runs_budget = Duration::from_millis(50);
        let mut runs = Runs::new(&s);
        assert!(runs.next());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!runs.next());
        runs.note(&mut f);
        assert_eq!(f.notes, ["1 of 3 runs within the 0s budget"]);
    }

    #[test]
    fn big_operations_have_budgets() {
        assert_eq!(big_op_budget(16 * MIB), Duration::from_secs(60));
        assert_eq!(big_op_budget(1024 * MIB), Duration::from_secs(128));
    }

    #[test]
    fn big_blob_operations_per_run() {
        assert_eq!(per_run(64 * MIB, 256 * MIB), 4);
        assert_eq!(per_run(1024 * MIB, 256 * MIB), 1);
        assert_eq!(per_run(16 * MIB, 512 * MIB), 8);
        assert_eq!(per_run(0, 1), 1);
    }

    #[test]
    fn families_and_tables() {
        let s = Settings::new(false, 3);
        let all = Family::all(&s);
        let ids: Vec<String> = all
            .iter()
            .flat_map(|f| f.specs(&s))
            .map(|spec| spec.id)
            .collect();
        assert_eq!(
            ids,
            [
                "push-monolithic-64MiB",
                "push-monolithic-1GiB",
                "push-chunked-64MiB",
                "push-chunked-1GiB",
                "pull-64MiB",
                "pull-verified-64MiB",
                "pull-1GiB",
                "pull-verified-1GiB",
                "manifest-put",
                "manifest-get",
                "blob-head",
                "small-push",
                "tags-1000",
                "tags-10000",
                "tags-100000",
                "catalog-1000",
                "catalog-10000",
                "catalog-100000",
                "memory-distinct",
                "memory-same-blob",
            ]
        );
        for f in &all {
            assert!(GROUPS.contains(&f.group()), "{f:?}");
        }
        for g in GROUPS {
            assert!(all.iter().any(|f| f.group() == *g), "{g}");
        }
        let q = Settings::new(true, 1);
        let titles: Vec<String> = Family::ManifestPut
            .specs(&q)
            .into_iter()
            .map(|s| s.title)
            .collect();
        assert_eq!(titles, ["manifest PUT by tag (32 in flight, 2,000 ops)"]);
    }
}
