//! Results.

use super::*;

pub(crate) struct Row {
    pub(crate) group: String,
    pub(crate) label: String,
    pub(crate) unit: &'static str,
    /// From interleaved rounds, which the table takes instead of
    /// criterion's estimates: ns per unit for each allocator (`NAMES`
    /// order) and midl-alloc's paired speed-ups (see [`Interleaved`]).
    pub(crate) interleaved: Option<Interleaved>,
}

/// The interleaved measurement of one workload.
#[derive(Clone, Copy)]
pub(crate) struct Interleaved {
    /// Median ns per unit of work, for each allocator (`NAMES` order).
    pub(crate) ns: [f64; N],
    /// The median over rounds of each round's ratio of each other
    /// allocator's time (`NAMES[1..]` order) to midl-alloc's: a paired comparison,
    /// so a round the machine slowed down as a whole counts as one round,
    /// not as a fast or slow allocator.
    pub(crate) speedup: [f64; N - 1],
    /// For the marshalling rows: each allocator's own share of a unit.
    pub(crate) share: Option<Share>,
}

/// Each allocator's time less the [`CallsOnly`] baseline's, in the same
/// rounds.
#[derive(Clone, Copy)]
pub(crate) struct Share {
    /// Median ns per unit of the baseline.
    pub(crate) baseline: f64,
    /// Median over rounds of each allocator's time less the baseline's.
    pub(crate) ns: [f64; N],
    /// Each other allocator's median share (`NAMES[1..]` order) divided by
    /// midl-alloc's. Not the median of each round's ratio, as for whole
    /// units: a share is a small difference of two times, and the ratio of
    /// two of them swung from round to round so far that its median could
    /// contradict the medians of the shares themselves.
    pub(crate) speedup: [f64; N - 1],
}

/// Rounds of the interleaved measurement of the threaded workloads.
pub(crate) const INTERLEAVED_ROUNDS: usize = 15;

/// ns per unit of work for each allocator (`NAMES` order): the median of
/// `rounds` rounds, each running every allocator once on `work` units,
/// in turn. The threaded workloads swing with the machine's scheduling
/// (on the 2-core reference machine, Larson's rate moved 3x between runs
/// for every allocator, and all of them together), so allocators measured
/// minutes apart, as criterion measures them, compare the machine's
/// moods more than the allocators; within a round they share them.
pub(crate) fn interleaved(rounds: usize, work: u64, runs: [&dyn Fn(u64) -> Duration; N]) -> Interleaved {
    summarize(&measure_rounds(rounds, work, &runs))
}

/// [`interleaved`] with one more run in each round, the [`CallsOnly`]
/// `baseline`, from which each allocator's share is taken.
pub(crate) fn interleaved_with_baseline(
    rounds: usize,
    work: u64,
    runs: [&dyn Fn(u64) -> Duration; N],
    baseline: &dyn Fn(u64) -> Duration,
) -> Interleaved {
    let mut all: Vec<&dyn Fn(u64) -> Duration> = runs.to_vec();
    all.push(baseline);
    let ns = measure_rounds(rounds, work, &all);
    let (allocators, baseline) = ns.split_at(N);
    let baseline = &baseline[0];
    let mut m = summarize(allocators);
    let share = |i: usize| -> Vec<f64> { ns[i].iter().zip(baseline).map(|(a, b)| a - b).collect() };
    let shares: [f64; N] = std::array::from_fn(|i| median(share(i)));
    m.share = Some(Share {
        baseline: median(baseline.clone()),
        ns: shares,
        speedup: std::array::from_fn(|i| shares[i + 1] / shares[0]),
    });
    m
}

/// ns per unit of each run, one value a round; the runs of a round run
/// one after another.
pub(crate) fn measure_rounds(rounds: usize, work: u64, runs: &[&dyn Fn(u64) -> Duration]) -> Vec<Vec<f64>> {
    let mut ns = vec![Vec::with_capacity(rounds); runs.len()];
    for _ in 0..rounds {
        for (run, v) in runs.iter().zip(ns.iter_mut()) {
            v.push(run(work).as_nanos() as f64 / work as f64);
        }
    }
    ns
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every allocator's rounds (`NAMES` order): medians and paired
/// speed-ups.
pub(crate) fn summarize(ns: &[Vec<f64>]) -> Interleaved {
    let paired = |i: usize| median(ns[i].iter().zip(&ns[0]).map(|(o, m)| o / m).collect());
    Interleaved {
        ns: std::array::from_fn(|i| median(ns[i].clone())),
        speedup: std::array::from_fn(|i| paired(i + 1)),
        share: None,
    }
}

pub(crate) fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}

/// Median time per iteration in ns, from criterion's estimates (the
/// median of the samples: one sample slowed by the noisy machine moves it
/// less than the mean).
pub(crate) fn median_ns(group: &str, alloc: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(alloc)
        .join("new")
        .join("estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {:.0} GiB RAM, {rustc}",
        mem_kb as f64 / 1048576.0
    )
}
