//! A server's memory from `/proc/<pid>/status` (resident set now, `VmRSS`, and at its peak,
//! `VmHWM`) and the CPU time it used from `/proc/<pid>/stat`.

/// Memory figures of a process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now.
    pub(crate) rss: u64,
    /// `VmHWM`: the peak resident set ("high water mark").
    pub(crate) peak: u64,
}

/// Reads the memory of process `pid`. `None` where there is no `/proc` (not Linux) or the
/// process is gone.
pub(crate) fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// Parses the `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text.
pub(crate) fn parse_status(status: &str) -> Option<Memory> {
    Some(Memory {
        rss: field_bytes(status, "VmRSS")?,
        peak: field_bytes(status, "VmHWM")?,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, 100 on every Linux
/// architecture this runs on.
const USER_HZ: f64 = 100.0;

/// The CPU time process `pid` has used, in seconds: the sum over its threads of
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds), or, where that is missing, user + system
/// time from `/proc/<pid>/stat` (in 10 ms ticks). A thread that exits takes its time with it,
/// so differences are only meaningful for servers whose threads live on (tokio's and Go's
/// workers do).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    if let Some(ns) = schedstat_ns(pid) {
        return Some(ns as f64 / 1e9);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (user, system) = parse_stat(&stat)?;
    Some((user + system) as f64 / USER_HZ)
}

/// The nanoseconds on CPU of all threads of `pid`.
fn schedstat_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = parse_schedstat(&text) {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
}

/// The first field of a `schedstat` line: nanoseconds spent on a CPU.
pub(crate) fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `utime` and `stime` (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat` line. The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses.
pub(crate) fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((user, system))
}

/// A `Name:   1234 kB` line's value in bytes.
fn field_bytes(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let value: u64 = words.next()?.parse().ok()?;
        let unit = match words.next() {
            Some("kB") => 1024,
            Some("mB" | "MB") => 1024 * 1024,
            None => 1,
            Some(_) => return None,
        };
        value.checked_mul(unit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a real `/proc/self/status` (Linux 6.x), trimmed.
    const STATUS: &str = "Name:\tocisrv
Umask:\t0022
State:\tS (sleeping)
Tgid:\t41877
Pid:\t41877
VmPeak:\t 1118796 kB
VmSize:\t 1052236 kB
VmLck:\t       0 kB
VmHWM:\t  702536 kB
VmRSS:\t  681104 kB
RssAnon:\t  679380 kB
Threads:\t3
";

    #[test]
    fn parses_rss_and_peak() {
        assert_eq!(
            parse_status(STATUS),
            Some(Memory {
                rss: 681_104 * 1024,
                peak: 702_536 * 1024
            })
        );
    }

    #[test]
    fn rejects_incomplete_or_odd_status() {
        // A kernel thread has no Vm* lines.
        assert_eq!(parse_status("Name:\tkthreadd\nState:\tS\n"), None);
        assert_eq!(parse_status("VmRSS:\t12 kB\n"), None);
        assert_eq!(parse_status("VmRSS:\tx kB\nVmHWM:\t1 kB\n"), None);
        assert_eq!(parse_status("VmRSS:\t1 GB\nVmHWM:\t1 kB\n"), None);
        // `VmRSSx` is not `VmRSS`.
        assert_eq!(parse_status("VmRSSx:\t1 kB\nVmHWM:\t1 kB\n"), None);
    }

    #[test]
    fn parses_cpu_times() {
        // A real line, with a command name holding a space and a parenthesis.
        let stat = "41877 (tokio rt)) S 1 41877 41877 0 -1 4194560 2841 0 0 0 1234 56 0 0 20 0 3 0 \
                    913 1077489664 170276 18446744073709551615 1 1 0 0 0 0 0 4096 17921 0 0 0 17";
        assert_eq!(parse_stat(stat), Some((1234, 56)));
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(
            parse_schedstat("147281111 16845840 427\n"),
            Some(147_281_111)
        );
        assert_eq!(parse_schedstat(""), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let m = memory(std::process::id()).expect("/proc/self/status");
        assert!(m.rss > 0 && m.peak >= m.rss, "{m:?}");
        assert_eq!(memory(u32::MAX), None);
        let before = cpu_seconds(std::process::id()).expect("/proc/self/stat");
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_seconds(std::process::id()).expect("/proc/self/stat");
        assert!(after >= before && after > 0.0, "{before} {after}");
        assert_eq!(cpu_seconds(u32::MAX), None);
    }
}
