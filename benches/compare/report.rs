//! The report: results/compare.md and results/compare.svg.

use super::*;

/// One memory measurement: workload label, allocator, [start, peak, final]
/// RSS and peak address space in KiB.
pub(crate) type MemoryRow = (String, String, [u64; 4]);

pub(crate) fn write_results(rows: &[Row], memory: &[MemoryRow]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).unwrap();
    let mut md = String::new();
    write_header(&mut md);
    let chart = write_throughput(&mut md, rows);
    write_shares(&mut md, rows);
    write_memory(&mut md, memory);
    let _ = writeln!(md, "\nChart: compare.svg (throughput relative to mimalloc).");
    std::fs::write(dir.join("compare.md"), md).unwrap();
    std::fs::write(dir.join("compare.svg"), svg(&chart)).unwrap();
    println!("wrote {} and compare.svg", dir.join("compare.md").display());
}

fn write_header(md: &mut String) {
    let _ = writeln!(
        md,
        "# midl-alloc against mimalloc, the system allocator, jemalloc, snmalloc, tcmalloc and rpmalloc\n"
    );
    let _ = writeln!(md, "Machine: {}.  ", machine());
    let _ = writeln!(
        md,
        "Command: `cargo bench --bench compare` (criterion medians of 10 samples; HTML report in target/criterion/report)."
    );
    let _ = writeln!(
        md,
        "The marshalling and threaded rows (producer/consumer, the 64 B stream, server, Larson) are instead the median of \
         {INTERLEAVED_ROUNDS} rounds that each run every allocator once on the same work, in turn, and their ratios \
         the median of each round's ratio: run apart, as criterion runs them, their rates swing with the machine's \
         scheduling and load more than they differ between allocators.  "
    );
    let _ = writeln!(
        md,
        "mimalloc is libmimalloc-sys's default build through `mi_malloc`/`mi_free`; system is glibc `malloc`/`free`; \
         jemalloc is tikv-jemalloc-sys's build (jemalloc 5.3) through its prefixed `malloc`/`free`; snmalloc is \
         snmalloc-sys's `build_cc` build through `sn_malloc`/`sn_free`; tcmalloc is Debian's libtcmalloc-minimal4 \
         (gperftools), opened with `dlopen`, through `tc_malloc`/`tc_free` (a call through a pointer, as a PLT call is); rpmalloc is rpmalloc-sys's build \
         (rpmalloc 1.4.3, `preload` feature: a thread's first call sets up its heap) through `rpmalloc`/`rpfree`, \
         and each benchmark thread hands its heap back with `rpmalloc_thread_finalize(1)` before it ends.\n"
    );
}

/// `| a | b | c |` of the cells.
fn cells(v: impl IntoIterator<Item = String>) -> String {
    v.into_iter().map(|c| format!(" {c} |")).collect()
}

/// The header cells of a table with a column per allocator, then one
/// ratio column per other allocator.
fn allocator_columns() -> String {
    cells(
        NAMES
            .iter()
            .map(|a| a.to_string())
            .chain(NAMES[1..].iter().map(|a| format!("vs {a}"))),
    )
}

/// The alignment row's cells for [`allocator_columns`].
fn allocator_rule() -> String {
    "---:|".repeat(2 * N - 1)
}

/// The throughput table; returns the chart's rows.
fn write_throughput(md: &mut String, rows: &[Row]) -> Vec<(String, [f64; N])> {
    let _ = writeln!(md, "## Throughput\n");
    let _ = writeln!(
        md,
        "Ratios are midl-alloc's throughput divided by the other's (above 1.00: midl-alloc is faster).\n"
    );
    let _ = writeln!(md, "| workload | unit |{}", allocator_columns());
    let _ = writeln!(md, "|---|---|{}", allocator_rule());
    let mut chart = Vec::new();
    for r in rows {
        let t: Vec<Option<f64>> = match r.interleaved {
            Some(m) => m.ns.iter().map(|ns| Some(1e9 / ns)).collect(),
            None => NAMES
                .iter()
                .map(|a| median_ns(&r.group, a).map(|ns| 1e9 / ns))
                .collect(),
        };
        let fmt = |x: Option<f64>| {
            x.map_or("n/a".into(), |v| {
                if v >= 1e6 {
                    format!("{:.2} M/s", v / 1e6)
                } else {
                    format!("{:.1} k/s", v / 1e3)
                }
            })
        };
        let ratio = |i: usize| match (r.interleaved, t[0], t[i]) {
            (Some(m), _, _) => format!("{:.2}", m.speedup[i - 1]),
            (None, Some(m), Some(o)) => format!("{:.2}", m / o),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} |{}",
            r.label,
            r.unit,
            cells(t.iter().map(|&x| fmt(x)).chain((1..N).map(ratio)))
        );
        if let (Some(mi), true) = (t[1], t.iter().all(Option::is_some)) {
            chart.push((r.label.clone(), std::array::from_fn(|i| t[i].unwrap_or(0.0) / mi)));
        }
    }
    chart
}

/// The allocator's share of a marshalling call, where rounds measured it.
fn write_shares(md: &mut String, rows: &[Row]) {
    let shares: Vec<(&Row, Share)> = rows.iter().filter_map(|r| Some((r, r.interleaved?.share?))).collect();
    if !shares.is_empty() {
        let _ = writeln!(md, "\n## The allocator's share of a marshalling call\n");
        let _ = writeln!(
            md,
            "The marshalling rounds also time the same calls into two functions that do nothing (`CallsOnly`: \
             the loop, the calls, the parameter list, and the writes, into one cache-hot buffer). Each \
             allocator's time less that baseline, round by round, is what the allocator adds to a call (the \
             median over rounds); the ratios are of these medians (each allocator's over midl-alloc's), not \
             medians of each round's ratio, which for these small differences swing too far.\n"
        );
        let _ = writeln!(md, "| workload | baseline ns/call |{}", allocator_columns());
        let _ = writeln!(md, "|---|---:|{}", allocator_rule());
        for (r, sh) in shares {
            let _ = writeln!(
                md,
                "| {} | {:.1} |{}",
                r.label,
                sh.baseline,
                cells(
                    sh.ns
                        .iter()
                        .map(|v| format!("{v:.1} ns"))
                        .chain(sh.speedup.iter().map(|v| format!("{v:.2}")))
                )
            );
        }
    }
}

fn write_memory(md: &mut String, memory: &[MemoryRow]) {
    let _ = writeln!(md, "\n## Memory\n");
    let _ = writeln!(
        md,
        "Child processes, median of three (by final RSS). Start: RSS before the workload. Final: RSS after \
         everything is freed and then 300 ms of light allocation on the main thread (small pairs of several \
         sizes every 10 ms), except idle-after-burst, which ends with a second of no allocator calls at all. \
         Peak address space: the process's VmPeak, everything it ever had mapped at once (the benchmark \
         binary's own share included). Purge delay: the default 100 ms.\n"
    );
    let _ = writeln!(
        md,
        "| workload | allocator | start RSS (MiB) | peak RSS (MiB) | final RSS (MiB) | peak address space (MiB) | peak vs system |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for (w, a, [start, peak, fin, space]) in memory {
        let system_peak = memory
            .iter()
            .find(|(w2, a2, _)| w2 == w && a2 == "system")
            .map_or(0, |m| m.2[1]);
        let _ = writeln!(
            md,
            "| {w} | {a} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} |",
            *start as f64 / 1024.0,
            *peak as f64 / 1024.0,
            *fin as f64 / 1024.0,
            *space as f64 / 1024.0,
            *peak as f64 / system_peak.max(1) as f64
        );
    }
}

/// A horizontal grouped bar chart of throughput relative to mimalloc.
pub(crate) fn svg(rows: &[(String, [f64; N])]) -> String {
    let colors: [&str; N] = [
        "#d62728", "#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    let (left, bar, gap, width) = (300.0, 7.0, 10.0, 420.0);
    let max = rows.iter().flat_map(|r| r.1).fold(1.0f64, f64::max).min(8.0);
    let height = 60.0 + rows.len() as f64 * (N as f64 * bar + gap);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="11">"#,
        left + width + 60.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="16" font-size="13">Throughput relative to mimalloc (longer is faster)</text>"#
    );
    for (i, name) in NAMES.iter().enumerate() {
        let x = 10.0 + i as f64 * 110.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="26" width="10" height="10" fill="{}"/><text x="{}" y="35">{name}</text>"#,
            colors[i],
            x + 14.0
        );
    }
    let x1 = left + width / max;
    let _ = writeln!(
        s,
        r#"<line x1="{x1}" y1="44" x2="{x1}" y2="{}" stroke="black" stroke-dasharray="3,3"/>"#,
        height - 8.0
    );
    for (k, (label, vals)) in rows.iter().enumerate() {
        let y = 50.0 + k as f64 * (N as f64 * bar + gap);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#,
            left - 6.0,
            y + N as f64 / 2.0 * bar + 4.0
        );
        for (i, v) in vals.iter().enumerate() {
            let w = (v.min(max) / max) * width;
            let _ = writeln!(
                s,
                r#"<rect x="{left}" y="{}" width="{w:.1}" height="{}" fill="{}"/><text x="{}" y="{}" font-size="9">{v:.2}</text>"#,
                y + i as f64 * bar,
                bar - 1.0,
                colors[i],
                left + w + 3.0,
                y + i as f64 * bar + bar - 2.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
