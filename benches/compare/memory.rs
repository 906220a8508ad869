//! Memory, in child processes: peak RSS (VmHWM), final RSS (VmRSS) and
//! peak address space (VmPeak).

use super::*;

pub(crate) fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// After the workload: 300 ms of light activity on the main thread (small
/// allocate/free pairs of several sizes), as a server would carry on.
pub(crate) fn settle<A: Allocator>(a: A) {
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(10));
        for size in [24usize, 100, 1000, 5000, 40000] {
            let p = alloc_checked(a, size);
            // SAFETY: freed once.
            unsafe { a.free(p) };
        }
    }
}

/// Size-phase churn: 200k blocks of 16..2048 bytes, 75% freed at random,
/// then 60k blocks of 1..8 KiB (mostly other classes: a slab allocator
/// cannot reuse the holes, a coalescing one can), then everything freed.
pub(crate) fn phase_shift<A: Allocator>(a: A) {
    let mut rng = Rng(42);
    let mut live: Vec<usize> = (0..200_000)
        .map(|_| {
            let n = rng.range(16, 2048);
            let p = alloc_checked(a, n);
            // SAFETY: n bytes.
            unsafe { std::ptr::write_bytes(p, 1, n) };
            p as usize
        })
        .collect();
    let mut kept = Vec::new();
    for p in live.drain(..) {
        if rng.next().is_multiple_of(4) {
            kept.push(p);
        } else {
            // SAFETY: freed once.
            unsafe { a.free(p as *mut u8) };
        }
    }
    for _ in 0..60_000 {
        let n = rng.range(1024, 8192);
        let p = alloc_checked(a, n);
        // SAFETY: n bytes.
        unsafe { std::ptr::write_bytes(p, 2, n) };
        kept.push(p as usize);
    }
    for p in kept {
        // SAFETY: freed once.
        unsafe { a.free(p as *mut u8) };
    }
    settle(a);
}

/// A size drawn like RPC payloads: mostly small, some medium, a few larger.
pub(crate) fn payload_size(rng: &mut Rng) -> usize {
    match rng.next() % 100 {
        0..=69 => rng.range(16, 256),
        70..=94 => rng.range(256, 4096),
        _ => rng.range(4096, 32768),
    }
}

/// Steady mixed-size churn: 100k live blocks of payload sizes, 3M random
/// replacements (free one, allocate another size), then everything freed.
pub(crate) fn mixed_churn<A: Allocator>(a: A) {
    let mut rng = Rng(7);
    let mut slots: Vec<(usize, usize)> = (0..100_000)
        .map(|_| {
            let n = payload_size(&mut rng);
            let p = alloc_checked(a, n);
            // SAFETY: n bytes.
            unsafe { std::ptr::write_bytes(p, 1, n) };
            (p as usize, n)
        })
        .collect();
    for _ in 0..3_000_000 {
        let i = rng.next() as usize % slots.len();
        // SAFETY: freed once; replaced right away.
        unsafe { a.free(slots[i].0 as *mut u8) };
        let n = payload_size(&mut rng);
        let p = alloc_checked(a, n);
        // SAFETY: n bytes.
        unsafe { std::ptr::write_bytes(p, 2, n.min(64)) };
        slots[i] = (p as usize, n);
    }
    for (p, _) in slots {
        // SAFETY: freed once.
        unsafe { a.free(p as *mut u8) };
    }
    settle(a);
}

/// `n` 256-byte blocks, written, as addresses.
pub(crate) fn burst<A: Allocator>(a: A, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let p = alloc_checked(a, 256);
            // SAFETY: 256 bytes.
            unsafe { std::ptr::write_bytes(p, 3, 256) };
            p as usize
        })
        .collect()
}

/// A burst of 400k 256-byte blocks (~100 MiB) allocated by the main thread
/// and freed by another thread.
pub(crate) fn remote_burst<A: Allocator>(a: A) {
    let blocks = burst(a, 400_000);
    spawn(a, move || {
        for p in blocks {
            // SAFETY: freed once, here.
            unsafe { a.free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
    settle(a);
}

/// ~100 MiB allocated by a thread that exits, freed by the main thread.
pub(crate) fn exited_owner<A: Allocator>(a: A) {
    let blocks = spawn(a, move || burst(a, 400_000)).join().unwrap();
    for p in blocks {
        // SAFETY: freed once, here.
        unsafe { a.free(p as *mut u8) };
    }
    settle(a);
}

/// ~100 MiB allocated and freed by the main thread, which then makes no
/// allocator call for a second.
pub(crate) fn idle_after_burst<A: Allocator>(a: A) {
    for p in burst(a, 400_000) {
        // SAFETY: freed once.
        unsafe { a.free(p as *mut u8) };
    }
    std::thread::sleep(Duration::from_millis(1000));
}

/// (name, description, what "final" means).
/// Thread churn: 20,000 short threads, ten at a time, each allocating one
/// 128-byte block, swapping it into one of 1,000 shared slots and freeing
/// the block it displaces (a remote free, often into memory its owner's
/// thread left behind). Live data never exceeds 125 KiB; what matters is
/// the address space and memory the allocator keeps as threads come and
/// go.
pub(crate) fn thread_churn<A: Allocator>(a: A) {
    let slots: Arc<Vec<AtomicPtr<u8>>> = Arc::new((0..1000).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect());
    let mut rng = Rng(17);
    for _ in 0..2000 {
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (slots, i) = (slots.clone(), rng.range(0, 999));
                spawn(a, move || {
                    let p = alloc_checked(a, 128);
                    // SAFETY: 128 bytes.
                    unsafe { std::ptr::write_bytes(p, 3, 128) };
                    let old = slots[i].swap(p, Ordering::AcqRel);
                    if !old.is_null() {
                        // SAFETY: the displaced block is ours now, freed once.
                        unsafe { a.free(old) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    for slot in slots.iter() {
        let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: freed once.
            unsafe { a.free(p) };
        }
    }
    settle(a);
}

/// The large-buffer row's work (`large_buffers`: 20 live buffers of
/// 5-25 MiB, 200 replacements) for its peak RSS, then everything freed.
pub(crate) fn large_buffers_memory<A: Allocator>(a: A) {
    large_buffers(a, 200);
    settle(a);
}

pub(crate) const MEMORY_WORKLOADS: [(&str, &str); 7] = [
    (
        "mixed-churn",
        "steady mixed-size churn, 100k live blocks of 16 B..32 KiB, all freed",
    ),
    (
        "phase-shift",
        "200k blocks of 16 B..2 KiB, 3/4 freed, then 60k of 1..8 KiB, all freed",
    ),
    ("remote-burst", "100 MiB freed on another thread"),
    ("exited-owner", "100 MiB from a thread that exited, freed by main"),
    (
        "idle-after-burst",
        "100 MiB freed by its thread, then 1 s without allocator calls",
    ),
    (
        "thread-churn",
        "20k threads, 10 at a time, each swapping one 128 B block into 1000 slots",
    ),
    (
        "large-buffers",
        "20 live buffers of 5-25 MiB replaced 200 times, written through, all freed",
    ),
];

pub(crate) fn child(spec: &str) {
    let (workload, alloc) = spec.split_once(':').expect("workload:allocator");
    let start = status_kb("VmRSS:");
    macro_rules! run {
        ($a:expr) => {
            match workload {
                "mixed-churn" => mixed_churn($a),
                "phase-shift" => phase_shift($a),
                "remote-burst" => remote_burst($a),
                "exited-owner" => exited_owner($a),
                "idle-after-burst" => idle_after_burst($a),
                "thread-churn" => thread_churn($a),
                "large-buffers" => large_buffers_memory($a),
                other => panic!("unknown workload {other}"),
            }
        };
    }
    match alloc {
        "midl-alloc" => run!(Midl),
        "mimalloc" => run!(Mimalloc),
        "system" => run!(System),
        "jemalloc" => run!(Jemalloc),
        "snmalloc" => run!(Snmalloc),
        "tcmalloc" => run!(Tcmalloc),
        "rpmalloc" => run!(Rpmalloc),
        other => panic!("unknown allocator {other}"),
    }
    println!(
        "{start} {} {} {}",
        status_kb("VmHWM:"),
        status_kb("VmRSS:"),
        status_kb("VmPeak:")
    );
}

/// For profiling one allocator on one threaded workload without criterion
/// around it: `MIDL_BENCH_RUN=server:midl-alloc:200000` runs the workload
/// once with that much work and prints the time per unit; a fourth field
/// repeats it in the same process (`server:midl-alloc:200000:5`), and a
/// fifth sleeps that many milliseconds between the repeats
/// (`mixed_sizes:midl-alloc:100000:8:250`, as the interleaved rounds leave
/// an allocator idle while the others run); the allocator `all` runs every
/// allocator in turn; specs separated by commas run one after the other.
pub(crate) fn run_one(spec: &str) {
    let mut parts = spec.split(':');
    let (workload, alloc, work) = match (parts.next(), parts.next(), parts.next()) {
        (Some(w), Some(a), Some(n)) => (w, a, n.parse::<u64>().expect("work: a number")),
        _ => panic!("MIDL_BENCH_RUN=workload:allocator:work[:repeat[:gap_ms]]"),
    };
    let repeat = parts.next().map_or(1, |r| r.parse::<u32>().expect("repeat: a number"));
    let gap = parts.next().map_or(0, |g| g.parse::<u64>().expect("gap_ms: a number"));
    for i in 0..repeat {
        if i > 0 && gap > 0 {
            std::thread::sleep(std::time::Duration::from_millis(gap));
        }
        if alloc == "all" {
            for alloc in NAMES {
                run_once(workload, alloc, work);
            }
        } else {
            run_once(workload, alloc, work);
        }
    }
}

pub(crate) fn run_once(workload: &str, alloc: &str, work: u64) {
    macro_rules! run {
        ($a:expr) => {
            match workload {
                "producer_consumer" => producer_consumer($a, work),
                "remote_stream" => remote_stream($a, work),
                "server" => server($a, work),
                "churn" => churn($a, work),
                "large_buffers" => large_buffers($a, work),
                "mixed_sizes" => mixed_sizes($a, work),
                "thread_lifetimes" => thread_lifetimes($a, work),
                "mixed_sizes_2" => mixed_sizes_2($a, work),
                "marshal" => marshal_calls($a, &calls(), work, true),
                "marshal_unwritten" => marshal_calls($a, &calls(), work, false),
                other => panic!(
                    "unknown workload {other} (producer_consumer, remote_stream, server, churn, thread_lifetimes, mixed_sizes, \
                     mixed_sizes_2, large_buffers, marshal, marshal_unwritten)"
                ),
            }
        };
    }
    let t = match alloc {
        "midl-alloc" => run!(Midl),
        "mimalloc" => run!(Mimalloc),
        "system" => run!(System),
        "jemalloc" => run!(Jemalloc),
        "snmalloc" => run!(Snmalloc),
        "tcmalloc" => run!(Tcmalloc),
        "rpmalloc" => run!(Rpmalloc),
        other => panic!("unknown allocator {other}"),
    };
    println!(
        "{workload} {alloc}: {:.1} ns per unit",
        t.as_nanos() as f64 / work as f64
    );
}

/// This benchmark's executable, for its child processes: read once, when
/// the run starts ([`remember_exe`]). Read late in a long run, from
/// /proc/self/exe, it has named a file that no longer existed (ENOENT on
/// spawning it, twice, after a rebuild under the running benchmark).
static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Records this benchmark's executable (first thing in `main`).
pub(crate) fn remember_exe() {
    EXE.get_or_init(|| std::env::current_exe().expect("the benchmark's own executable"));
}

pub(crate) fn bench_exe() -> PathBuf {
    remember_exe();
    EXE.get().cloned().unwrap_or_default()
}

/// (start, peak, final) RSS and peak address space in KiB, the median of
/// `n` runs by final RSS.
pub(crate) fn measure_memory(workload: &str, alloc: &str, n: usize) -> [u64; 4] {
    let exe = bench_exe();
    let mut runs: Vec<[u64; 4]> = (0..n)
        .map(|_| {
            let out = std::process::Command::new(&exe)
                .env("MIDL_BENCH_CHILD", format!("{workload}:{alloc}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{workload}:{alloc} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = String::from_utf8_lossy(&out.stdout);
            let v: Vec<u64> = s.split_whitespace().map(|v| v.parse::<u64>().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    runs.sort_by_key(|r| r[2]);
    runs[n / 2]
}
