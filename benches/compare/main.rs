//! The comparison: midl-alloc, mimalloc, the system allocator (glibc),
//! jemalloc, snmalloc, tcmalloc and rpmalloc driven through one identical interface,
//! in one run.
//!
//! `cargo bench --bench compare` runs every workload under criterion (HTML
//! report in target/criterion/report), then measures memory in child
//! processes and writes results/compare.md and results/compare.svg.
//! `cargo bench --bench compare -- --test` runs each workload once (smoke).
//!
//! Files: `allocators` (the one interface), a file per workload
//! (`marshal`, `environments`, `pairs`, `producer_consumer`,
//! `remote_stream`, `server`, `churn`, `thread_lifetimes`, `mixed_sizes`,
//! `large_buffers`,
//! `memory`), `measure` (interleaved
//! rounds), `report` (the results files), and this one, which runs them.

use criterion::{BenchmarkGroup, Criterion, Throughput};
use crossbeam::channel;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Runs `$f::<A>($args)` for each allocator.
macro_rules! for_each_allocator {
    ($f:ident($($arg:expr),*)) => {{
        for_each_allocator!(@ $f($($arg),*); Midl Mimalloc System Jemalloc Snmalloc Tcmalloc Rpmalloc);
    }};
    (@ $f:ident($($arg:expr),*); $a:ident $($rest:ident)*) => {{
        $f($a, $($arg),*);
        for_each_allocator!(@ $f($($arg),*); $($rest)*);
    }};
    (@ $f:ident($($arg:expr),*);) => {{}};
}

/// `runs_of_each!(|n, a| body)`: one closure of the work `n` per allocator
/// (`NAMES` order), each with `a` bound to that allocator, for the
/// interleaved rounds.
macro_rules! runs_of_each {
    (|$n:ident, $a:ident| $body:expr) => {
        runs_of_each!(@ $n, $a, $body; Midl Mimalloc System Jemalloc Snmalloc Tcmalloc Rpmalloc)
    };
    (@ $n:ident, $a:ident, $body:expr; $($t:ident)*) => {
        [$(&|$n| {
            let $a = $t;
            $body
        }),*]
    };
}

mod allocators;
mod churn;
mod environments;
mod large_buffers;
mod marshal;
mod measure;
mod memory;
mod mixed_sizes;
mod pairs;
mod producer_consumer;
mod remote_stream;
mod report;
mod server;
mod thread_lifetimes;
use allocators::*;
use churn::*;
use environments::*;
use large_buffers::*;
use marshal::*;
use measure::*;
use memory::*;
use mixed_sizes::*;
use pairs::*;
use producer_consumer::*;
use remote_stream::*;
use report::*;
use server::*;
use thread_lifetimes::*;

fn main() {
    remember_exe();
    if let Ok(spec) = std::env::var("MIDL_BENCH_CHILD") {
        child(&spec);
        return;
    }
    if let Ok(specs) = std::env::var("MIDL_BENCH_RUN") {
        for spec in specs.split(',') {
            run_one(spec);
        }
        return;
    }
    let run = Run::from_args();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let calls = calls();
    let mut rows = single_thread_rows(&mut c, &calls);
    run.marshal_interleaved(&mut rows, &calls);
    if run.selected("environment") {
        environment_rounds(run.rounds, 200_000 / run.scale, &calls, !run.smoke);
    }
    rows.extend(run.threaded_rows(&mut c));
    c.final_summary();
    if run.partial && !run.smoke {
        return;
    }
    if run.smoke {
        for (w, _) in MEMORY_WORKLOADS {
            for a in NAMES {
                let _ = measure_memory(w, a, 1);
            }
        }
        return;
    }
    let mut memory = Vec::new();
    for (w, desc) in MEMORY_WORKLOADS {
        for a in NAMES {
            memory.push((format!("{w} ({desc})"), a.to_string(), measure_memory(w, a, 3)));
        }
    }
    write_results(&rows, &memory);
}

/// What this run measures, from its command line.
struct Run {
    args: Vec<String>,
    /// `--test`: every workload once.
    smoke: bool,
    /// A filtered or profiling run measures only part of the workloads: it
    /// writes no results (the table would mix in older estimates).
    partial: bool,
    /// Interleaved rounds (one round of a little work in a smoke run).
    rounds: usize,
    /// The work of a round is divided by this.
    scale: u64,
}

impl Run {
    fn from_args() -> Run {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let smoke = args.iter().any(|a| a == "--test");
        let partial = args.iter().any(|a| a == "--profile-time") || args.iter().any(|a| !a.starts_with('-'));
        Run {
            args,
            smoke,
            partial,
            rounds: if smoke { 1 } else { INTERLEAVED_ROUNDS },
            scale: if smoke { 100 } else { 1 },
        }
    }

    /// Whether the interleaved rounds of group `name` run: always in a full
    /// run; in a filtered one, for the filters (or `|`-separated parts of
    /// one) that start with the group's name.
    fn selected(&self, name: &str) -> bool {
        !self.args.iter().any(|a| a == "--profile-time")
            && (!self.partial
                || self
                    .args
                    .iter()
                    .any(|a| !a.starts_with('-') && a.split('|').any(|f| f.starts_with(name))))
    }

    /// A filtered run prints the interleaved figures (no table is written).
    fn report(&self, name: &str, m: &Interleaved) {
        if !self.partial || self.smoke {
            return;
        }
        let each = |ns: &[f64; N]| -> String {
            NAMES
                .iter()
                .zip(ns)
                .map(|(a, v)| format!("{a} {v:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let vs = |up: &[f64; N - 1]| -> String {
            NAMES[1..]
                .iter()
                .zip(up)
                .map(|(a, v)| format!("vs {a} {v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{name} interleaved ({} rounds), ns per unit: {}; paired speed-up {}",
            self.rounds,
            each(&m.ns),
            vs(&m.speedup)
        );
        if let Some(sh) = m.share {
            println!(
                "{name} less the calls-only baseline ({:.1} ns): {}; paired speed-up of the allocator's share {}",
                sh.baseline,
                each(&sh.ns),
                vs(&sh.speedup)
            );
        }
    }

    /// The marshalling rows' interleaved rounds: 1M calls a run (about 50
    /// ms for midl-alloc), with the calls-only baseline.
    fn marshal_interleaved(&self, rows: &mut [Row], calls: &[Call]) {
        for (name, write) in [("marshal", true), ("marshal_unwritten", false)] {
            if !self.selected(name) {
                continue;
            }
            let m = interleaved_with_baseline(
                self.rounds,
                1_000_000 / self.scale,
                runs_of_each!(|n, a| marshal_calls(a, calls, n, write)),
                &|n| marshal_calls(CallsOnly, calls, n, write),
            );
            self.report(name, &m);
            if let Some(row) = rows.iter_mut().find(|r| r.group == name) {
                row.interleaved = Some(m);
            }
        }
    }

    /// Threaded workloads: criterion's runs (for its report), then the
    /// interleaved rounds the table takes (`work` units a run, about 20-50
    /// ms for midl-alloc).
    fn threaded_rows(&self, c: &mut Criterion) -> Vec<Row> {
        let mut rows = Vec::new();
        macro_rules! threaded {
            ($name:expr, $label:expr, $unit:expr, $f:ident, $work:expr) => {{
                let mut g = c.benchmark_group($name);
                g.throughput(Throughput::Elements(1));
                for_each_allocator!(bench_threads(&mut g, $f));
                g.finish();
                let interleaved = self
                    .selected($name)
                    .then(|| interleaved(self.rounds, $work / self.scale, runs_of_each!(|n, a| $f(a, n))));
                if let Some(m) = &interleaved {
                    self.report($name, m);
                }
                rows.push(Row {
                    group: $name.into(),
                    label: $label.into(),
                    unit: $unit,
                    interleaved,
                });
            }};
        }
        threaded!(
            "producer_consumer",
            "producer/consumer (remote free)",
            "blocks",
            producer_consumer,
            2_000_000
        );
        threaded!(
            "remote_stream",
            "64 B blocks streamed to another thread (block)",
            "blocks",
            remote_stream,
            2_000_000
        );
        threaded!("server", "server in miniature (request)", "requests", server, 200_000);
        threaded!("churn", "thread churn, Larson (replacement)", "ops", churn, 400_000);
        threaded!(
            "thread_lifetimes",
            "short-lived threads handing blocks on, mstress-like (thread lifetime)",
            "threads",
            thread_lifetimes,
            400
        );
        threaded!(
            "mixed_sizes",
            "mixed sizes, 8 B-128 KiB, 2000 live, filled and checked (op)",
            "ops",
            mixed_sizes,
            100_000
        );
        threaded!(
            "mixed_sizes_2",
            "mixed sizes on 2 threads, each with its own slots (op)",
            "ops",
            mixed_sizes_2,
            200_000
        );
        threaded!(
            "large_buffers",
            "large buffers, 5-25 MiB, 20 live, written through, each allocator in a process of its own (buffer)",
            "buffers",
            large_buffers_apart,
            100
        );
        rows
    }
}

/// The single-threaded criterion groups (marshalling, environments,
/// pairs), each driving every allocator, and their rows of the table.
fn single_thread_rows(c: &mut Criterion, calls: &[Call]) -> Vec<Row> {
    let mut rows = Vec::new();
    macro_rules! group {
        ($group:expr, $label:expr, $unit:expr, $f:ident($($arg:expr),*)) => {{
            let group: String = $group.into();
            let mut g = c.benchmark_group(&group);
            g.throughput(Throughput::Elements(1));
            for_each_allocator!($f(&mut g $(, $arg)*));
            g.finish();
            rows.push(Row {
                group,
                label: $label.into(),
                unit: $unit,
                interleaved: None,
            });
        }};
    }
    group!(
        "marshal",
        "marshalling path (call)",
        "calls",
        bench_marshal(calls, true)
    );
    group!(
        "marshal_unwritten",
        "marshalling path, parameters not written (call)",
        "calls",
        bench_marshal(calls, false)
    );
    for size in PAIR_SIZES {
        group!(
            format!("pair_{size}"),
            format!("alloc+free {size} B"),
            "pairs",
            bench_pair(size)
        );
    }
    rows
}
