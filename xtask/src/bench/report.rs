//! Results: what one figure is, the tables printed per scenario with ratios against each peer,
//! the check of issue 6's targets (ocisrv against the peers) and of issue 7's (the durable
//! store, `ocisrv-fs`, against Distribution's filesystem storage), and the JSON written under
//! `target/bench/`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::stats::{Latency, median, median_of};

/// What a table's main figure measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Blob bytes per second.
    MibPerSec,
    /// Completed operations per second.
    OpsPerSec,
    /// List pages per second (its inverse is the time per page).
    PagesPerSec,
    /// Resident memory divided by the bytes of blobs held (lower is better).
    RssPerByte,
}

impl Unit {
    fn key(self) -> &'static str {
        match self {
            Unit::MibPerSec => "MiB/s",
            Unit::OpsPerSec => "ops/s",
            Unit::PagesPerSec => "pages/s",
            Unit::RssPerByte => "RSS/N",
        }
    }

    /// What the server's CPU time is counted per.
    fn per(self) -> &'static str {
        match self {
            Unit::MibPerSec => "MiB",
            Unit::OpsPerSec => "op",
            Unit::PagesPerSec => "page",
            Unit::RssPerByte => "-",
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Unit::MibPerSec => format!("{} MiB/s", number(v)),
            Unit::OpsPerSec => format!("{} ops/s", number(v)),
            Unit::PagesPerSec => format!("{} pages/s", number(v)),
            Unit::RssPerByte => format!("{v:.2}× N"),
        }
    }
}

/// A table: one scenario at one size.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Stable identifier, used in the JSON (`push-monolithic-64MiB`).
    pub(crate) id: String,
    /// Human title.
    pub(crate) title: String,
    pub(crate) unit: Unit,
}

/// One run's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct RunFigure {
    /// The main figure, in the table's unit.
    pub(crate) value: f64,
    /// Per-operation latency (per page for lists), where operations were timed.
    pub(crate) latency: Option<Latency>,
    /// `VmRSS` at the end of the run (memory scenarios).
    pub(crate) rss: Option<u64>,
    /// `VmHWM` at the end of the run, when the run had its own server.
    pub(crate) peak_rss: Option<u64>,
    /// The server's CPU time (user + system) per unit of work (MiB, operation, page), in
    /// seconds, when the server runs here.
    pub(crate) cpu: Option<f64>,
}

/// The medians over a target's runs of one table.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Measured {
    pub(crate) value: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
    /// Server CPU seconds per unit of work.
    pub(crate) cpu: Option<f64>,
    pub(crate) rss: Option<u64>,
    /// The server's peak RSS over the scenario (`VmHWM`).
    pub(crate) peak_rss: Option<u64>,
    /// Memory scenarios: the bytes of blobs held (N in RSS ÷ N).
    pub(crate) held: Option<u64>,
    pub(crate) runs: Vec<RunFigure>,
    pub(crate) notes: Vec<String>,
}

impl Measured {
    /// The median of each figure over `runs`. `peak_rss` is the server's for the whole
    /// scenario; without it, the median of the runs' own peaks.
    pub(crate) fn from_runs(
        runs: Vec<RunFigure>,
        peak_rss: Option<u64>,
        notes: Vec<String>,
    ) -> Measured {
        let values: Vec<f64> = runs.iter().map(|r| r.value).collect();
        let bytes = |f: fn(&RunFigure) -> Option<u64>| {
            median_of(runs.iter().map(|r| f(r).map(|b| b as f64))).map(|b| b as u64)
        };
        Measured {
            value: median(&values).unwrap_or(f64::NAN),
            p50: median_of(runs.iter().map(|r| r.latency.map(|l| l.p50))),
            p99: median_of(runs.iter().map(|r| r.latency.map(|l| l.p99))),
            cpu: median_of(runs.iter().map(|r| r.cpu)),
            rss: bytes(|r| r.rss),
            peak_rss: peak_rss.or_else(|| bytes(|r| r.peak_rss)),
            held: None,
            runs,
            notes,
        }
    }
}

/// One target's row in a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Measured(Box<Measured>),
    /// Not measured, for a reason that is not a fault (not available, too slow to set up).
    Skipped(String),
    /// The target failed the scenario.
    Failed(String),
}

impl Outcome {
    pub(crate) fn measured(&self) -> Option<&Measured> {
        match self {
            Outcome::Measured(m) => Some(m.as_ref()),
            _ => None,
        }
    }

    /// The main figure, when measured and a number.
    pub(crate) fn value(&self) -> Option<f64> {
        self.measured().map(|m| m.value).filter(|v| v.is_finite())
    }

    /// A one-line summary for progress output.
    pub(crate) fn summary(&self, unit: Unit) -> String {
        match self {
            Outcome::Measured(m) => {
                let mut s = unit.format(m.value);
                if let (Some(p50), Some(p99)) = (m.p50, m.p99) {
                    let _ = write!(s, ", p50 {}, p99 {}", seconds(p50), seconds(p99));
                }
                if let Some(cpu) = m.cpu {
                    let _ = write!(s, ", server CPU {}/{}", seconds(cpu), unit.per());
                }
                if let Some(rss) = m.rss {
                    let _ = write!(s, ", RSS {}", bytes(rss));
                }
                if let Some(peak) = m.peak_rss {
                    let _ = write!(s, ", peak RSS {}", bytes(peak));
                }
                for n in &m.notes {
                    let _ = write!(s, " ({n})");
                }
                s
            }
            Outcome::Skipped(why) => format!("skipped: {why}"),
            Outcome::Failed(why) => format!("FAILED: {why}"),
        }
    }
}

/// A scenario's results, one row per target in target order.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) spec: Spec,
    pub(crate) rows: Vec<(String, Outcome)>,
}

impl Table {
    pub(crate) fn row(&self, target: &str) -> Option<&Outcome> {
        self.rows.iter().find(|(t, _)| t == target).map(|(_, o)| o)
    }

    /// The table as text: a title, a header, a row per target and a ratio column
    /// `subject ÷ this` for the peers; then the notes.
    pub(crate) fn render(&self, subject: &str) -> String {
        let memory = self.spec.unit == Unit::RssPerByte;
        let mut header = vec![
            "target".to_string(),
            if memory { "RSS ÷ N" } else { "throughput" }.to_string(),
        ];
        if memory {
            header.push("RSS".into());
        } else {
            header.push("p50".into());
            header.push("p99".into());
            header.push(format!("srv CPU/{}", self.spec.unit.per()));
        }
        header.push("peak RSS".into());
        header.push(format!("{subject} ÷ this"));

        let subject_value = self.row(subject).and_then(Outcome::value);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut notes = Vec::new();
        for (target, outcome) in &self.rows {
            let mut cells = vec![target.clone()];
            match outcome {
                Outcome::Measured(m) => {
                    cells.push(self.spec.unit.format(m.value));
                    if memory {
                        cells.push(m.rss.map_or_else(na, bytes));
                    } else {
                        cells.push(m.p50.map_or_else(na, seconds));
                        cells.push(m.p99.map_or_else(na, seconds));
                        cells.push(m.cpu.map_or_else(na, seconds));
                    }
                    cells.push(m.peak_rss.map_or_else(na, bytes));
                    cells.push(if target == subject {
                        String::new()
                    } else {
                        ratio(subject_value, outcome.value())
                            .map_or_else(na, |r| format!("{r:.2}×"))
                    });
                    for n in &m.notes {
                        notes.push(format!("{target}: {n}"));
                    }
                }
                Outcome::Skipped(why) => {
                    cells.push("skipped".into());
                    notes.push(format!("{target}: skipped: {why}"));
                }
                Outcome::Failed(why) => {
                    cells.push("FAILED".into());
                    notes.push(format!("{target}: failed: {why}"));
                }
            }
            rows.push(cells);
        }
        let mut out = format!("{}\n", self.spec.title);
        out.push_str(&grid(&header, &rows));
        for n in notes {
            let _ = writeln!(out, "  - {n}");
        }
        out
    }

    fn to_json(&self) -> Value {
        let rows: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|(target, outcome)| {
                let v = match outcome {
                    Outcome::Measured(m) => json!({
                        "status": "measured",
                        "value": finite(m.value),
                        "p50_seconds": m.p50,
                        "p99_seconds": m.p99,
                        "server_cpu_seconds_per_unit": m.cpu,
                        "rss_bytes": m.rss,
                        "peak_rss_bytes": m.peak_rss,
                        "held_bytes": m.held,
                        "notes": m.notes,
                        "runs": m.runs.iter().map(|r| json!({
                            "value": finite(r.value),
                            "p50_seconds": r.latency.map(|l| l.p50),
                            "p99_seconds": r.latency.map(|l| l.p99),
                            "server_cpu_seconds_per_unit": r.cpu,
                            "rss_bytes": r.rss,
                            "peak_rss_bytes": r.peak_rss,
                        })).collect::<Vec<_>>(),
                    }),
                    Outcome::Skipped(why) => json!({"status": "skipped", "reason": why}),
                    Outcome::Failed(why) => json!({"status": "failed", "reason": why}),
                };
                (target.clone(), v)
            })
            .collect();
        json!({
            "id": self.spec.id,
            "title": self.spec.title,
            "unit": self.spec.unit.key(),
            "cpu_unit": self.spec.unit.per(),
            "results": rows,
        })
    }
}

/// `subject ÷ peer`, when both are positive numbers.
pub(crate) fn ratio(subject: Option<f64>, peer: Option<f64>) -> Option<f64> {
    match (subject, peer) {
        (Some(s), Some(p)) if p > 0.0 && s.is_finite() && p.is_finite() => Some(s / p),
        _ => None,
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn na() -> String {
    "n/a".into()
}

/// Aligns cells in columns: the first left-aligned, the others right-aligned. Short rows
/// (skipped targets) leave their remaining cells empty.
pub(crate) fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::from("  ");
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            let pad = w - cell.chars().count().min(*w);
            if i == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A number with thousands separators: no decimals from 100 up, one below, two below 10.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() < 10.0 {
        return format!("{v:.2}");
    }
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// A duration in seconds, in µs, ms or s.
pub(crate) fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "n/a".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A size in bytes, in KiB, MiB or GiB.
pub(crate) fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.0} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KiB", b / 1024.0)
    }
}

/// A size for titles: `64 MiB`, `1 GiB`, `4 KiB`.
pub(crate) fn size_label(b: usize) -> String {
    const KIB: usize = 1024;
    if b >= KIB * KIB * KIB && b.is_multiple_of(KIB * KIB * KIB) {
        format!("{} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB && b.is_multiple_of(KIB * KIB) {
        format!("{} MiB", b / (KIB * KIB))
    } else if b >= KIB && b.is_multiple_of(KIB) {
        format!("{} KiB", b / KIB)
    } else {
        format!("{b} B")
    }
}

/// A count for titles: `1k`, `100k`, `2,500`.
pub(crate) fn count_label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        number(n as f64)
    }
}

/// The machine's limits, measured in the run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    /// Single-core SHA-256, MiB/s.
    pub(crate) sha256: Option<f64>,
    /// Loopback TCP copy, MiB/s.
    pub(crate) loopback: Option<f64>,
    pub(crate) buffer: usize,
    pub(crate) cores: usize,
    pub(crate) notes: Vec<String>,
}

impl Machine {
    pub(crate) fn render(&self) -> String {
        let fmt = |v: Option<f64>| v.map_or_else(na, |v| Unit::MibPerSec.format(v));
        let rows = vec![
            vec![
                format!("SHA-256, one core, over {}", size_label(self.buffer)),
                fmt(self.sha256),
            ],
            vec![
                format!(
                    "loopback TCP copy of {} (discarding reader)",
                    size_label(self.buffer)
                ),
                fmt(self.loopback),
            ],
        ];
        let mut out = format!("machine limits ({} cores, same run)\n", self.cores);
        out.push_str(&grid(&["limit".into(), "throughput".into()], &rows));
        for n in &self.notes {
            let _ = writeln!(out, "  - {n}");
        }
        out
    }
}

/// A target as listed in the report.
#[derive(Debug, Clone)]
pub(crate) struct TargetInfo {
    pub(crate) name: String,
    pub(crate) about: String,
    /// `None` when it ran; why not, otherwise.
    pub(crate) unavailable: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// UTC start time, `YYYYMMDDTHHMMSSZ`.
    pub(crate) started: String,
    pub(crate) quick: bool,
    pub(crate) runs: usize,
    /// The target the ratios are taken against (`ocisrv`, or `registry` for a URL).
    pub(crate) subject: String,
    pub(crate) targets: Vec<TargetInfo>,
    pub(crate) machine: Machine,
    pub(crate) tables: Vec<Table>,
}

impl Report {
    pub(crate) fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.spec.id == id)
    }

    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "cargo xtask bench: {} run(s) per figure (median){}, started {}\n",
            self.runs,
            if self.quick { ", --quick sizes" } else { "" },
            self.started
        );
        for t in &self.targets {
            match &t.unavailable {
                None => {
                    let _ = writeln!(out, "  {:<24} {}", t.name, t.about);
                }
                Some(why) => {
                    let _ = writeln!(out, "  {:<24} not available: {why}", t.name);
                }
            }
        }
        let _ = writeln!(
            out,
            "Ratios are {} ÷ target of the first figure: above 1 means {} is faster \
             (for RSS ÷ N, below 1 means it needs less memory).\n",
            self.subject, self.subject
        );
        out.push_str(&self.machine.render());
        for t in &self.tables {
            out.push('\n');
            out.push_str(&t.render(&self.subject));
        }
        out
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "started": self.started,
            "quick": self.quick,
            "runs": self.runs,
            "subject": self.subject,
            "targets": self.targets.iter().map(|t| json!({
                "name": t.name,
                "about": t.about,
                "unavailable": t.unavailable,
            })).collect::<Vec<_>>(),
            "machine": {
                "cores": self.machine.cores,
                "buffer_bytes": self.machine.buffer,
                "sha256_mib_per_sec": self.machine.sha256,
                "loopback_tcp_mib_per_sec": self.machine.loopback,
                "notes": self.machine.notes,
            },
            "scenarios": self.tables.iter().map(Table::to_json).collect::<Vec<_>>(),
            "goals": self.goals().iter().map(|g| json!({
                "goal": g.goal,
                "met": g.met,
                "detail": g.detail,
            })).collect::<Vec<_>>(),
            "store_goals": self.store_checks().iter().map(StoreCheck::to_json).collect::<Vec<_>>(),
        })
    }

    /// Issue 6's targets, checked against this run (only meaningful with `ocisrv` as the
    /// subject and the peers present; a goal whose figures are missing is `met: None`).
    pub(crate) fn goals(&self) -> Vec<Goal> {
        let s = self.subject.as_str();
        if s != "ocisrv" {
            return Vec::new();
        }
        let peers = [
            "go-ociregistry",
            "distribution-inmemory",
            "distribution-filesystem",
        ];
        let mut goals = Vec::new();
        let fastest_peer = |t: &Table| {
            peers
                .iter()
                .filter_map(|p| t.row(p).and_then(Outcome::value).map(|v| (*p, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let mut versus_peers = |goal: &str, t: &Table, factor: f64| {
            let ours = t.row(s).and_then(Outcome::value);
            let (met, detail) = match (ours, fastest_peer(t)) {
                (Some(o), Some((p, v))) => (
                    Some(o >= factor * v),
                    format!(
                        "{}: {} vs {p} {} = {:.2}× (want ≥ {factor}×)",
                        t.spec.title,
                        t.spec.unit.format(o),
                        t.spec.unit.format(v),
                        o / v
                    ),
                ),
                _ => (None, format!("{}: figures missing", t.spec.title)),
            };
            goals.push(Goal {
                goal: goal.to_string(),
                met,
                detail,
            });
        };
        for t in &self.tables {
            let id = t.spec.id.as_str();
            if id.starts_with("push-") {
                versus_peers("blob push ≥ 3× the fastest peer", t, 3.0);
            } else if id.starts_with("pull-verified-") {
                versus_peers("verified blob pull ≥ the fastest peer", t, 1.0);
            } else if id.starts_with("pull-") {
                versus_peers("blob pull ≥ 3× the fastest peer", t, 3.0);
            }
        }
        for t in &self.tables {
            let id = t.spec.id.as_str();
            if matches!(
                id,
                "manifest-put" | "manifest-get" | "blob-head" | "small-push"
            ) {
                let ours = t.row(s).and_then(Outcome::value);
                let go = t.row("go-ociregistry").and_then(Outcome::value);
                goals.push(Goal {
                    goal: "≥ 1.5× the Go ociregistry at 32 in flight".into(),
                    met: ratio(ours, go).map(|r| r >= 1.5),
                    detail: format!(
                        "{}: {}",
                        t.spec.title,
                        ratio(ours, go)
                            .map_or_else(|| "figures missing".into(), |r| format!("{r:.2}×"))
                    ),
                });
            }
        }
        let sha = self.machine.sha256;
        for t in self
            .tables
            .iter()
            .filter(|t| t.spec.id.starts_with("push-"))
        {
            let ours = t.row(s).and_then(Outcome::value);
            goals.push(Goal {
                goal: "blob push ≥ 60% of single-core SHA-256".into(),
                met: ratio(ours, sha).map(|r| r >= 0.6),
                detail: format!(
                    "{}: {}",
                    t.spec.title,
                    ratio(ours, sha).map_or_else(
                        || "figures missing".into(),
                        |r| format!("{:.0}%", r * 100.0)
                    )
                ),
            });
        }
        for kind in ["push-monolithic-", "push-chunked-"] {
            let small = self.table(&format!("{kind}64MiB"));
            let big = self.table(&format!("{kind}1GiB"));
            if let (Some(small), Some(big)) = (small, big) {
                let (a, b) = (
                    small.row(s).and_then(Outcome::value),
                    big.row(s).and_then(Outcome::value),
                );
                goals.push(Goal {
                    goal: "push at 1 GiB no slower than at 64 MiB".into(),
                    met: ratio(b, a).map(|r| r >= 0.95),
                    detail: format!(
                        "{}: 1 GiB ÷ 64 MiB = {}",
                        kind.trim_end_matches('-'),
                        ratio(b, a).map_or_else(|| "figures missing".into(), |r| format!("{r:.2}"))
                    ),
                });
            }
        }
        for (id, goal) in [
            (
                "memory-distinct",
                "mem holds N bytes of blobs in ≤ 1.15 N + 64 MiB",
            ),
            (
                "memory-same-blob",
                "one blob pushed to many repositories is stored once (≤ 1.15 N + 64 MiB)",
            ),
        ] {
            if let Some(t) = self.table(id)
                && let Some(m) = t.row(s).and_then(Outcome::measured)
                && let (Some(rss), Some(n)) = (m.rss, m.held)
            {
                let limit = 1.15 * n as f64 + 64.0 * 1024.0 * 1024.0;
                goals.push(Goal {
                    goal: goal.into(),
                    met: Some(rss as f64 <= limit),
                    detail: format!(
                        "RSS {} for N = {} (limit {})",
                        bytes(rss),
                        bytes(n),
                        bytes(limit as u64)
                    ),
                });
            }
        }
        for t in &self.tables {
            let id = t.spec.id.as_str();
            if id.starts_with("push-") || id.starts_with("pull-") {
                let Some(proxy) = t.row("ocisrv-proxy") else {
                    continue;
                };
                let ours = t.row(s).and_then(Outcome::value);
                let r = ratio(proxy.value(), ours);
                goals.push(Goal {
                    goal: "proxy stack ≥ 50% of direct ocisrv".into(),
                    met: r.map(|r| r >= 0.5),
                    detail: format!(
                        "{}: {}",
                        t.spec.title,
                        r.map_or_else(
                            || "figures missing".into(),
                            |r| format!("{:.0}%", r * 100.0)
                        )
                    ),
                });
            }
        }
        for kind in ["tags", "catalog"] {
            let mut levels: Vec<(usize, f64)> = self
                .tables
                .iter()
                .filter_map(|t| {
                    let level = t.spec.id.strip_prefix(kind)?.strip_prefix('-')?;
                    let p50 = t.row(s)?.measured()?.p50?;
                    Some((level.parse().ok()?, p50))
                })
                .collect();
            levels.sort_by_key(|(l, _)| *l);
            if let (Some(first), Some(last)) = (levels.first(), levels.last())
                && levels.len() > 1
            {
                let r = last.1 / first.1;
                goals.push(Goal {
                    goal: "time per list page at the largest size ≤ 1.5× at the smallest".into(),
                    met: r.is_finite().then_some(r <= 1.5),
                    detail: format!(
                        "{kind}: p50 per page {} at {} vs {} at {} = {r:.2}×",
                        seconds(last.1),
                        count_label(last.0),
                        seconds(first.1),
                        count_label(first.0)
                    ),
                });
            }
        }
        goals
    }

    /// Issue 7's targets: `ocisrv-fs` against `distribution-filesystem` in every table where
    /// `ocisrv-fs` has a row (none when it was not measured). Pulls are compared too, without a
    /// target.
    pub(crate) fn store_checks(&self) -> Vec<StoreCheck> {
        self.tables
            .iter()
            .filter_map(|t| {
                let id = t.spec.id.as_str();
                let (goal, want) = if id.starts_with("push-") {
                    ("blob push ≥ 2× distribution-filesystem", Some(2.0))
                } else if id == "small-push" || id == "manifest-put" {
                    (
                        "small-object writes ≥ 3× distribution-filesystem",
                        Some(3.0),
                    )
                } else if id.starts_with("pull-") {
                    ("blob pull, compared (no target)", None)
                } else {
                    return None;
                };
                let store = t.row(STORE)?;
                Some(StoreCheck {
                    id: id.to_string(),
                    title: t.spec.title.clone(),
                    unit: t.spec.unit,
                    goal: goal.to_string(),
                    want,
                    store: store.clone(),
                    peer: t.row(STORE_PEER).cloned(),
                })
            })
            .collect()
    }

    /// Issue 6's targets, then issue 7's; empty when neither applies.
    pub(crate) fn render_goals(&self) -> String {
        let mut out = String::new();
        let goals = self.goals();
        if !goals.is_empty() {
            out.push_str("issue 6 targets (ocisrv, this run)\n");
            for g in goals {
                let _ = writeln!(out, "  {} {}: {}", mark(g.met), g.goal, g.detail);
            }
        }
        let checks = self.store_checks();
        if !checks.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "issue 7 targets (the durable store: {STORE} ÷ {STORE_PEER}, this run)"
            );
            for c in checks {
                let m = if c.want.is_none() {
                    "info  "
                } else {
                    mark(c.met())
                };
                let _ = writeln!(out, "  {m} {}: {}", c.goal, c.detail());
            }
        }
        out
    }
}

/// A goal's status column.
fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met   ",
        Some(false) => "MISSED",
        None => "n/a   ",
    }
}

/// The target issue 7 is about: `ocisrv --storage DIR`.
pub(crate) const STORE: &str = "ocisrv-fs";
/// What issue 7 measures it against.
pub(crate) const STORE_PEER: &str = "distribution-filesystem";

/// One table's [`STORE`] against [`STORE_PEER`], with issue 7's wanted ratio when it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreCheck {
    /// The table's id.
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) unit: Unit,
    pub(crate) goal: String,
    /// The least `store ÷ peer` issue 7 asks for; `None`: compared, no target.
    pub(crate) want: Option<f64>,
    pub(crate) store: Outcome,
    /// `None` when the peer was not measured in this run.
    pub(crate) peer: Option<Outcome>,
}

impl StoreCheck {
    /// `store ÷ peer`, when both were measured.
    pub(crate) fn ratio(&self) -> Option<f64> {
        ratio(
            self.store.value(),
            self.peer.as_ref().and_then(Outcome::value),
        )
    }

    /// Whether the target is met; `None` without a target or without both figures.
    pub(crate) fn met(&self) -> Option<bool> {
        Some(self.ratio()? >= self.want?)
    }

    /// `title: A vs B = r× (want ≥ w×)`, or why a figure is missing.
    pub(crate) fn detail(&self) -> String {
        let want = self
            .want
            .map_or_else(String::new, |w| format!(" (want ≥ {w}×)"));
        let missing = |name: &str, o: Option<&Outcome>| match o {
            None => format!("{name} not measured"),
            Some(Outcome::Skipped(why)) => format!("{name} skipped: {why}"),
            Some(Outcome::Failed(why)) => format!("{name} failed: {why}"),
            Some(Outcome::Measured(_)) => format!("{name} has no figure"),
        };
        match (
            self.store.value(),
            self.peer.as_ref().and_then(Outcome::value),
        ) {
            (Some(a), Some(b)) => format!(
                "{}: {} vs {} = {}{want}",
                self.title,
                self.unit.format(a),
                self.unit.format(b),
                self.ratio()
                    .map_or_else(|| "n/a".into(), |r| format!("{r:.2}×"))
            ),
            (None, _) => format!(
                "{}: figures missing, {}",
                self.title,
                missing(STORE, Some(&self.store))
            ),
            (Some(_), None) => format!(
                "{}: figures missing, {}",
                self.title,
                missing(STORE_PEER, self.peer.as_ref())
            ),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "scenario": self.id,
            "goal": self.goal,
            "want_ratio": self.want,
            "ratio": self.ratio(),
            "met": self.met(),
            STORE: self.store.value(),
            STORE_PEER: self.peer.as_ref().and_then(Outcome::value),
            "detail": self.detail(),
        })
    }
}

/// One of issue 6's targets, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Goal {
    pub(crate) goal: String,
    pub(crate) met: Option<bool>,
    pub(crate) detail: String,
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch (UTC).
pub(crate) fn timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(value: f64) -> Outcome {
        Outcome::Measured(Box::new(Measured {
            value,
            p50: Some(0.0012),
            p99: Some(0.25),
            cpu: Some(0.0015),
            rss: None,
            peak_rss: Some(300 << 20),
            held: None,
            runs: Vec::new(),
            notes: Vec::new(),
        }))
    }

    fn table(id: &str, unit: Unit, rows: Vec<(&str, Outcome)>) -> Table {
        Table {
            spec: Spec {
                id: id.into(),
                title: format!("title of {id}"),
                unit,
            },
            rows: rows.into_iter().map(|(t, o)| (t.to_string(), o)).collect(),
        }
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(number(0.5), "0.50");
        assert_eq!(number(42.25), "42.2");
        assert_eq!(number(812.4), "812");
        assert_eq!(number(25_000.0), "25,000");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(-1234.0), "-1,234");
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(seconds(0.000_042), "42 µs");
        assert_eq!(seconds(0.0781), "78.10 ms");
        assert_eq!(seconds(3.5), "3.50 s");
        assert_eq!(bytes(300 << 20), "300 MiB");
        assert_eq!(bytes(1300 << 20), "1.27 GiB");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(size_label(64 << 20), "64 MiB");
        assert_eq!(size_label(1 << 30), "1 GiB");
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(1000), "1000 B");
        assert_eq!(count_label(100_000), "100k");
        assert_eq!(count_label(2_500), "2,500");
    }

    #[test]
    fn renders_a_table_with_ratios() {
        let t = table(
            "push-monolithic-64MiB",
            Unit::MibPerSec,
            vec![
                ("ocisrv", measured(800.0)),
                ("go-ociregistry", measured(200.0)),
                ("distribution-inmemory", Outcome::Skipped("too slow".into())),
                (
                    "distribution-filesystem",
                    Outcome::Failed("status 500".into()),
                ),
            ],
        );
        let text = t.render("ocisrv");
        let expected = "title of push-monolithic-64MiB
  target                   throughput      p50        p99  srv CPU/MiB  peak RSS  ocisrv ÷ this
  ocisrv                    800 MiB/s  1.20 ms  250.00 ms      1.50 ms   300 MiB
  go-ociregistry            200 MiB/s  1.20 ms  250.00 ms      1.50 ms   300 MiB          4.00×
  distribution-inmemory       skipped
  distribution-filesystem      FAILED
  - distribution-inmemory: skipped: too slow
  - distribution-filesystem: failed: status 500
";
        assert_eq!(text, expected);
    }

    #[test]
    fn renders_memory_tables() {
        let mut m = Measured::from_runs(
            vec![RunFigure {
                value: 1.5,
                latency: None,
                rss: Some(975 << 20),
                peak_rss: Some(1000 << 20),
                cpu: None,
            }],
            None,
            vec!["held 650 MiB".into()],
        );
        m.notes.push("second note".into());
        let t = table(
            "memory-distinct",
            Unit::RssPerByte,
            vec![
                ("ocisrv", Outcome::Measured(Box::new(m))),
                ("registry", measured(3.0)),
            ],
        );
        let text = t.render("ocisrv");
        assert!(text.contains("RSS ÷ N"), "{text}");
        assert!(text.contains("1.50× N"), "{text}");
        assert!(text.contains("975 MiB"), "{text}");
        assert!(text.contains("1000 MiB"), "{text}");
        assert!(text.contains("0.50×"), "{text}");
        assert!(text.contains("  - ocisrv: held 650 MiB\n  - ocisrv: second note\n"));
    }

    #[test]
    fn ratios_need_two_positive_figures() {
        assert_eq!(ratio(Some(6.0), Some(2.0)), Some(3.0));
        assert_eq!(ratio(Some(6.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(2.0)), None);
        assert_eq!(measured(f64::NAN).value(), None);
        assert_eq!(Outcome::Skipped("x".into()).value(), None);
    }

    #[test]
    fn medians_over_runs() {
        let run = |v: f64, p50: f64| RunFigure {
            value: v,
            latency: Some(Latency {
                p50,
                p99: p50 * 2.0,
            }),
            rss: None,
            peak_rss: Some((v as u64) << 20),
            cpu: Some(v / 1000.0),
        };
        let m = Measured::from_runs(
            vec![run(3.0, 0.3), run(1.0, 0.1), run(2.0, 0.2)],
            None,
            vec![],
        );
        assert_eq!(m.value, 2.0);
        assert_eq!(m.p50, Some(0.2));
        assert_eq!(m.p99, Some(0.4));
        assert_eq!(m.cpu, Some(0.002));
        assert_eq!(m.peak_rss, Some(2 << 20));
        assert_eq!(m.rss, None);
        let m = Measured::from_runs(vec![run(3.0, 0.3)], Some(7), vec![]);
        assert_eq!(m.peak_rss, Some(7));
        let m = Measured::from_runs(vec![], None, vec![]);
        assert!(m.value.is_nan() && m.p50.is_none());
    }

    #[test]
    fn grids_align_and_tolerate_short_rows() {
        let g = grid(
            &["a".into(), "bb".into()],
            &[vec!["long name".into(), "1".into()], vec!["x".into()]],
        );
        assert_eq!(g, "  a          bb\n  long name   1\n  x\n");
    }

    #[test]
    fn checks_issue_goals() {
        let report = Report {
            started: timestamp(0),
            quick: false,
            runs: 3,
            subject: "ocisrv".into(),
            targets: Vec::new(),
            machine: Machine {
                sha256: Some(1000.0),
                ..Machine::default()
            },
            tables: vec![
                table(
                    "push-monolithic-64MiB",
                    Unit::MibPerSec,
                    vec![
                        ("ocisrv", measured(700.0)),
                        ("go-ociregistry", measured(200.0)),
                        ("distribution-filesystem", measured(250.0)),
                    ],
                ),
                table(
                    "blob-head",
                    Unit::OpsPerSec,
                    vec![
                        ("ocisrv", measured(60_000.0)),
                        ("go-ociregistry", measured(34_000.0)),
                    ],
                ),
            ],
        };
        let goals = report.goals();
        assert_eq!(goals.len(), 3, "{goals:?}");
        // 700 < 3 × 250.
        assert_eq!(goals[0].met, Some(false));
        assert!(
            goals[0].detail.contains("distribution-filesystem"),
            "{goals:?}"
        );
        assert_eq!(goals[1].met, Some(true));
        assert_eq!(goals[2].met, Some(true));
        assert!(goals[2].detail.contains("70%"));
        let text = report.render_goals();
        assert!(
            text.contains("MISSED blob push ≥ 3× the fastest peer"),
            "{text}"
        );
        let json = report.to_json();
        assert_eq!(json["goals"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["scenarios"][0]["results"]["ocisrv"]["value"], 700.0);
        assert_eq!(json["scenarios"][0]["unit"], "MiB/s");
    }

    #[test]
    fn checks_issue_7_targets() {
        let report = Report {
            started: timestamp(0),
            quick: false,
            runs: 3,
            subject: "ocisrv".into(),
            targets: Vec::new(),
            machine: Machine::default(),
            tables: vec![
                table(
                    "push-monolithic-64MiB",
                    Unit::MibPerSec,
                    vec![
                        ("ocisrv", measured(700.0)),
                        ("ocisrv-fs", measured(500.0)),
                        ("distribution-filesystem", measured(200.0)),
                    ],
                ),
                table(
                    "push-chunked-1GiB",
                    Unit::MibPerSec,
                    vec![
                        ("ocisrv", measured(700.0)),
                        ("ocisrv-fs", measured(300.0)),
                        ("distribution-filesystem", measured(200.0)),
                    ],
                ),
                table(
                    "pull-64MiB",
                    Unit::MibPerSec,
                    vec![
                        ("ocisrv-fs", measured(900.0)),
                        ("distribution-filesystem", measured(600.0)),
                    ],
                ),
                table(
                    "manifest-put",
                    Unit::OpsPerSec,
                    vec![
                        ("ocisrv-fs", measured(1_200.0)),
                        ("distribution-filesystem", measured(300.0)),
                    ],
                ),
                table(
                    "small-push",
                    Unit::OpsPerSec,
                    vec![
                        ("ocisrv-fs", measured(900.0)),
                        (
                            "distribution-filesystem",
                            Outcome::Failed("status 500".into()),
                        ),
                    ],
                ),
                // No issue 7 target, and a table without ocisrv-fs: neither is checked.
                table(
                    "blob-head",
                    Unit::OpsPerSec,
                    vec![
                        ("ocisrv-fs", measured(9_000.0)),
                        ("distribution-filesystem", measured(500.0)),
                    ],
                ),
                table(
                    "push-monolithic-1GiB",
                    Unit::MibPerSec,
                    vec![("distribution-filesystem", measured(200.0))],
                ),
            ],
        };
        let checks = report.store_checks();
        let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "push-monolithic-64MiB",
                "push-chunked-1GiB",
                "pull-64MiB",
                "manifest-put",
                "small-push"
            ]
        );
        let met: Vec<Option<bool>> = checks.iter().map(StoreCheck::met).collect();
        // 2.5× ≥ 2, 1.5× < 2, pulls have no target, 4× ≥ 3, the peer failed.
        assert_eq!(met, [Some(true), Some(false), None, Some(true), None]);
        assert_eq!(checks[0].ratio(), Some(2.5));
        assert_eq!(checks[2].ratio(), Some(1.5));
        assert!(
            checks[4]
                .detail()
                .contains("distribution-filesystem failed: status 500")
        );

        let text = report.render_goals();
        assert!(text.contains("issue 7 targets"), "{text}");
        assert!(
            text.contains(
                "  met    blob push ≥ 2× distribution-filesystem: title of push-monolithic-64MiB: \
                 500 MiB/s vs 200 MiB/s = 2.50× (want ≥ 2×)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  MISSED blob push ≥ 2× distribution-filesystem: title of push-chunked-1GiB"
            ),
            "{text}"
        );
        assert!(
            text.contains("  info   blob pull, compared (no target): title of pull-64MiB: 900 MiB/s vs 600 MiB/s = 1.50×\n"),
            "{text}"
        );
        assert!(
            text.contains("  met    small-object writes ≥ 3× distribution-filesystem: title of manifest-put: 1,200 ops/s vs 300 ops/s = 4.00× (want ≥ 3×)"),
            "{text}"
        );
        assert!(text.contains("  n/a    small-object writes"), "{text}");

        let json = report.to_json();
        let store = &json["store_goals"];
        assert_eq!(store.as_array().map(Vec::len), Some(5));
        assert_eq!(store[0]["scenario"], "push-monolithic-64MiB");
        assert_eq!(store[0]["met"], true);
        assert_eq!(store[0]["ratio"], 2.5);
        assert_eq!(store[0]["want_ratio"], 2.0);
        assert_eq!(store[0]["ocisrv-fs"], 500.0);
        assert_eq!(store[0]["distribution-filesystem"], 200.0);
        assert_eq!(store[1]["met"], false);
        assert_eq!(store[2]["want_ratio"], Value::Null);
        assert_eq!(store[2]["met"], Value::Null);
        assert_eq!(store[4]["ratio"], Value::Null);

        // Without ocisrv-fs in the run, no issue 7 section.
        let mut without = report.clone();
        for t in &mut without.tables {
            t.rows.retain(|(n, _)| n != "ocisrv-fs");
        }
        assert!(without.store_checks().is_empty());
        assert!(!without.render_goals().contains("issue 7"));
    }

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_700_000_000), "20231114T221320Z");
        assert_eq!(timestamp(4_102_444_799), "20991231T235959Z");
    }
}
