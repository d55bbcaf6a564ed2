//! Statistics over measurements: percentiles of latencies, medians of runs.

use std::time::Duration;

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by the nearest-rank method: the smallest
/// value such that at least `p`% of the values are at or below it. `None` for no values.
///
/// `sorted` must be in ascending order.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let n = sorted.len();
    // rank = ceil(p/100 * n), in 1..=n.
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// The median of `values`: the middle value, or the mean of the two middle values for an even
/// count. `None` for no values; NaNs are ignored.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The median of the present values (a run that has no such figure is left out).
pub(crate) fn median_of(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.into_iter().flatten().collect();
    median(&v)
}

/// Latencies of one run: the operations' durations, summarized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Latency {
    /// Median, in seconds.
    pub(crate) p50: f64,
    /// 99th percentile, in seconds.
    pub(crate) p99: f64,
}

impl Latency {
    /// Summarizes `samples` (sorted in place). `None` for no samples.
    pub(crate) fn of(samples: &mut [Duration]) -> Option<Latency> {
        samples.sort_unstable();
        Some(Latency {
            p50: percentile(samples, 50.0)?.as_secs_f64(),
            p99: percentile(samples, 99.0)?.as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v, 0.5), Some(Duration::from_millis(1)));
        // Few samples: p99 is the largest, p50 the lower middle.
        let v = ms(&[10, 20, 30, 40]);
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(40)));
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(20)));
        let one = ms(&[7]);
        assert_eq!(percentile(&one, 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&one, 99.0), Some(Duration::from_millis(7)));
    }

    #[test]
    fn percentiles_of_nothing_or_nonsense() {
        assert_eq!(percentile(&[], 50.0), None);
        let v = ms(&[1, 2, 3]);
        assert_eq!(percentile(&v, 0.0), None);
        assert_eq!(percentile(&v, 100.1), None);
        assert_eq!(percentile(&v, f64::NAN), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0, f64::NAN, 1.0, 3.0]), Some(3.0));
        assert_eq!(
            median_of([Some(1.0), None, Some(9.0), Some(5.0)]),
            Some(5.0)
        );
        assert_eq!(median_of([None, None]), None);
    }

    #[test]
    fn latency_summary_sorts_its_samples() {
        let mut v = ms(&[30, 10, 20]);
        let l = Latency::of(&mut v).expect("samples");
        assert_eq!(l.p50, 0.020);
        assert_eq!(l.p99, 0.030);
        assert_eq!(v, ms(&[10, 20, 30]));
        assert_eq!(Latency::of(&mut []), None);
    }
}
