//! The comparison: midl-alloc, mimalloc and the system allocator (glibc)
//! driven through one identical interface, in one run.
//!
//! `cargo bench --bench compare` runs every workload under criterion (HTML
//! report in target/criterion/report), then measures memory in child
//! processes and writes results/compare.md and results/compare.svg.
//! `cargo bench --bench compare -- --test` runs each workload once (smoke).

use criterion::{BenchmarkGroup, Criterion, Throughput};
use crossbeam::channel;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// One interface, three allocators.

trait Allocator: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    fn alloc(self, size: usize) -> *mut u8;
    /// # Safety
    /// `p` came from `alloc` of the same allocator and is not used again.
    unsafe fn free(self, p: *mut u8);
}

#[derive(Clone, Copy)]
struct Midl;
#[derive(Clone, Copy)]
struct Mimalloc;
#[derive(Clone, Copy)]
struct System;

impl Allocator for Midl {
    const NAME: &'static str = "midl-alloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        midl_alloc::MIDL_user_allocate(size).cast()
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { midl_alloc::MIDL_user_free(p.cast()) }
    }
}

impl Allocator for Mimalloc {
    const NAME: &'static str = "mimalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: mi_malloc has no preconditions.
        unsafe { libmimalloc_sys::mi_malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
}

impl Allocator for System {
    const NAME: &'static str = "system";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { libc::malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { libc::free(p.cast()) }
    }
}

const NAMES: [&str; 3] = [Midl::NAME, Mimalloc::NAME, System::NAME];

/// No allocator: the same calls into functions that do nothing but hand
/// back one static buffer. The marshalling rows time it with the three
/// allocators, so what each allocator adds to a call (its time less this)
/// can be compared apart from the work every allocator's run shares (the
/// call loop, the calls themselves, the parameter list).
#[derive(Clone, Copy)]
struct CallsOnly;

/// The buffer [`CallsOnly`] hands out; large enough for any parameter of
/// the marshalling path, which writes it.
struct CallsOnlyBuffer(std::cell::UnsafeCell<[u8; 8192]>);
// SAFETY: only the benchmark's thread writes it (bytes, no invariant).
unsafe impl Sync for CallsOnlyBuffer {}
static CALLS_ONLY_BUFFER: CallsOnlyBuffer = CallsOnlyBuffer(std::cell::UnsafeCell::new([0; 8192]));

#[inline(never)]
extern "C" fn calls_only_alloc(size: usize) -> *mut u8 {
    assert!(size <= 8192);
    CALLS_ONLY_BUFFER.0.get().cast()
}

#[inline(never)]
extern "C" fn calls_only_free(p: *mut u8) {
    black_box(p);
}

impl Allocator for CallsOnly {
    const NAME: &'static str = "calls only";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        calls_only_alloc(size)
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        calls_only_free(p)
    }
}

/// Runs `$f::<A>($args)` for each allocator.
macro_rules! for_each_allocator {
    ($f:ident($($arg:expr),*)) => {{
        $f(Midl, $($arg),*);
        $f(Mimalloc, $($arg),*);
        $f(System, $($arg),*);
    }};
}

/// xorshift64*: deterministic, identical for every allocator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// The NDR engine's wrapper: rounds to 8 and appends a 24-byte trailer.
fn ndr(size: usize) -> usize {
    size.next_multiple_of(8) + 24
}

fn alloc_checked<A: Allocator>(a: A, size: usize) -> *mut u8 {
    let p = a.alloc(size);
    assert!(!p.is_null(), "{} failed to allocate {size} bytes", A::NAME);
    p
}

// ---------------------------------------------------------------------------
// Workload 1: the hot marshalling path.

/// The parameters of one unmarshalled call.
struct Call {
    strings: Vec<usize>,
    array: Option<usize>,
    referents: [usize; 4],
}

fn calls() -> Vec<Call> {
    let mut rng = Rng(0x5EED_CA11);
    (0..512)
        .map(|i| Call {
            strings: (0..rng.range(1, 8)).map(|_| rng.range(8, 256)).collect(),
            array: (i % 4 == 0).then(|| rng.range(16, 4096)),
            referents: [0; 4].map(|_| rng.range(16, 64)),
        })
        .collect()
}

/// Allocates every parameter of `call` (through the NDR wrapper's sizes),
/// writes it, then frees everything in traversal order.
fn marshal_call<A: Allocator>(a: A, call: &Call, live: &mut Vec<*mut u8>) {
    marshal_call_with(a, call, live, true)
}

/// [`marshal_call`], writing the parameters or not: without the writes,
/// what is left is the allocator's share of the call (the writes cost the
/// same for every allocator, save for cache misses on the memory each one
/// hands out).
fn marshal_call_with<A: Allocator>(a: A, call: &Call, live: &mut Vec<*mut u8>, write: bool) {
    let mut take = |size: usize| {
        let p = alloc_checked(a, ndr(size));
        if write {
            // SAFETY: `p` has at least `size` bytes.
            unsafe { std::ptr::write_bytes(p, 0xA5, size) };
        }
        live.push(black_box(p));
    };
    take(64);
    for &s in &call.strings {
        take(s);
    }
    if let Some(n) = call.array {
        take(n);
    }
    for &r in &call.referents {
        take(r);
    }
    for p in live.drain(..) {
        // SAFETY: allocated above, freed once.
        unsafe { a.free(black_box(p)) };
    }
}

fn bench_marshal<A: Allocator>(
    a: A,
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    calls: &[Call],
    write: bool,
) {
    let mut live = Vec::with_capacity(32);
    let mut i = 0;
    g.bench_function(A::NAME, |b| {
        b.iter(|| {
            marshal_call_with(a, &calls[i % calls.len()], &mut live, write);
            i += 1;
        })
    });
}

/// `n` marshalling calls in a row (the interleaved measurement's unit).
fn marshal_calls<A: Allocator>(a: A, calls: &[Call], n: u64, write: bool) -> Duration {
    let mut live = Vec::with_capacity(32);
    let start = Instant::now();
    for i in 0..n as usize {
        marshal_call_with(a, &calls[i % calls.len()], &mut live, write);
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------
// Workload 1b: one call's parameters in a per-call environment released at
// once, against the same call freed block by block.

/// Allocates every parameter of `call` with `alloc` and writes it.
fn fill_call(call: &Call, mut alloc: impl FnMut(usize) -> *mut u8, live: &mut Vec<*mut u8>) {
    let mut take = |size: usize| {
        let p = alloc(ndr(size));
        assert!(!p.is_null());
        // SAFETY: `p` has at least `size` bytes.
        unsafe { std::ptr::write_bytes(p, 0xA5, size) };
        live.push(p);
    };
    take(64);
    for &s in &call.strings {
        take(s);
    }
    if let Some(n) = call.array {
        take(n);
    }
    for &r in &call.referents {
        take(r);
    }
}

const ENV_VARIANTS: [&str; 4] = [
    "midl-alloc RpcSs environment",
    "midl-alloc block by block",
    "mimalloc heap (mi_heap_destroy)",
    "system block by block",
];

fn bench_environments(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, calls: &[Call]) {
    let mut live = Vec::with_capacity(32);
    let mut i = 0;
    g.bench_function(ENV_VARIANTS[0], |b| {
        b.iter(|| {
            assert_eq!(midl_alloc::RpcSmEnableAllocate(), 0);
            fill_call(
                &calls[i % calls.len()],
                |n| midl_alloc::RpcSsAllocate(n).cast(),
                &mut live,
            );
            live.clear();
            assert_eq!(midl_alloc::RpcSmDisableAllocate(), 0);
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[1], |b| {
        b.iter(|| {
            marshal_call(Midl, &calls[i % calls.len()], &mut live);
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[2], |b| {
        b.iter(|| {
            // SAFETY: a fresh heap, used by this thread, destroyed at once.
            unsafe {
                let heap = libmimalloc_sys::mi_heap_new();
                fill_call(
                    &calls[i % calls.len()],
                    |n| libmimalloc_sys::mi_heap_malloc(heap, n).cast(),
                    &mut live,
                );
                live.clear();
                libmimalloc_sys::mi_heap_destroy(heap);
            }
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[3], |b| {
        b.iter(|| {
            marshal_call(System, &calls[i % calls.len()], &mut live);
            i += 1;
        })
    });
}

// ---------------------------------------------------------------------------
// Workload 2: allocate+free pairs of one size.

const PAIR_SIZES: [usize; 9] = [16, 64, 256, 1024, 4096, 16384, 65536, 256 << 10, 1 << 20];

fn bench_pair<A: Allocator>(a: A, g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, size: usize) {
    g.bench_function(A::NAME, |b| {
        b.iter(|| {
            let p = alloc_checked(a, black_box(size));
            // SAFETY: `p` has at least one byte; freed once.
            unsafe {
                p.write(1);
                a.free(black_box(p));
            }
        })
    });
}

// ---------------------------------------------------------------------------
// Workload 3: producer/consumer (every free is remote).

const BATCH: usize = 64;

fn producer_consumer<A: Allocator>(a: A, items: u64) -> Duration {
    let (tx, rx) = channel::bounded::<Vec<usize>>(16);
    let start = Instant::now();
    let consumer = std::thread::spawn(move || {
        for batch in rx {
            for p in batch {
                // SAFETY: allocated by the producer, freed once here.
                unsafe { a.free(p as *mut u8) };
            }
        }
    });
    let mut rng = Rng(7);
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..items {
        let p = alloc_checked(a, ndr(rng.range(8, 256)));
        // SAFETY: at least 8 bytes.
        unsafe { p.cast::<u64>().write(1) };
        batch.push(p as usize);
        if batch.len() == BATCH {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    tx.send(batch).unwrap();
    drop(tx);
    consumer.join().unwrap();
    start.elapsed()
}

fn bench_threads<A: Allocator>(
    a: A,
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    run: fn(A, u64) -> Duration,
) {
    g.bench_function(A::NAME, |b| b.iter_custom(|iters| run(a, iters)));
}

// ---------------------------------------------------------------------------
// Workload 4: a server in miniature. A receive thread allocates request
// buffers; two workers unmarshal (allocate, write and free parameters), free
// the request and allocate a reply; a send thread frees the replies.

fn server<A: Allocator>(a: A, requests: u64) -> Duration {
    let (req_tx, req_rx) = channel::bounded::<(usize, usize)>(256);
    let (rep_tx, rep_rx) = channel::bounded::<usize>(256);
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for p in rep_rx {
            // SAFETY: a reply allocated by a worker, freed once here.
            unsafe { a.free(p as *mut u8) };
        }
    });
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let req_rx = req_rx.clone();
            let rep_tx = rep_tx.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(100 + w);
                let mut params = Vec::with_capacity(4);
                for (req, len) in req_rx {
                    // SAFETY: `req` has `len` bytes written by the receiver.
                    let first = unsafe { *(req as *const u8) };
                    for _ in 0..4 {
                        let n = rng.range(16, 256);
                        let p = alloc_checked(a, ndr(n));
                        // SAFETY: at least n bytes.
                        unsafe { std::ptr::write_bytes(p, first, n) };
                        params.push(p);
                    }
                    for p in params.drain(..) {
                        // SAFETY: allocated above, freed once.
                        unsafe { a.free(p) };
                    }
                    // SAFETY: the request is ours now; freed once (remote).
                    unsafe { a.free(req as *mut u8) };
                    let n = rng.range(64, 1024).min(len + 64);
                    let reply = alloc_checked(a, ndr(n));
                    // SAFETY: at least n bytes.
                    unsafe { std::ptr::write_bytes(reply, 0x5A, n) };
                    rep_tx.send(reply as usize).unwrap();
                }
            })
        })
        .collect();
    drop(rep_tx);
    drop(req_rx);
    let mut rng = Rng(99);
    for _ in 0..requests {
        let len = rng.range(256, 4096);
        let p = alloc_checked(a, len);
        // SAFETY: `len` bytes.
        unsafe { std::ptr::write_bytes(p, 0x11, len) };
        req_tx.send((p as usize, len)).unwrap();
    }
    drop(req_tx);
    for w in workers {
        w.join().unwrap();
    }
    sender.join().unwrap();
    start.elapsed()
}

// ---------------------------------------------------------------------------
// Workload 5: thread churn, Larson-style. Short-lived threads replace random
// slots of a shared array, freeing blocks that other (often exited) threads
// allocated.

const SLOTS: usize = 1024;
const CHURN_THREADS: usize = 4;
const CHURN_PER_THREAD: u64 = 2000;

fn churn<A: Allocator>(a: A, replacements: u64) -> Duration {
    let slots: Arc<Vec<AtomicPtr<u8>>> = Arc::new((0..SLOTS).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect());
    let rounds = replacements.div_ceil(CHURN_THREADS as u64 * CHURN_PER_THREAD).max(1);
    let start = Instant::now();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(CHURN_THREADS));
        let handles: Vec<_> = (0..CHURN_THREADS)
            .map(|t| {
                let slots = slots.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut rng = Rng(round * 31 + t as u64 + 1);
                    barrier.wait();
                    for _ in 0..CHURN_PER_THREAD {
                        let p = alloc_checked(a, rng.range(16, 512));
                        // SAFETY: at least 16 bytes.
                        unsafe { p.cast::<u64>().write(round) };
                        let old = slots[rng.range(0, SLOTS - 1)].swap(p, Ordering::AcqRel);
                        if !old.is_null() {
                            // SAFETY: taken out of the array, so ours; freed once.
                            unsafe { a.free(old) };
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let elapsed = start.elapsed();
    for s in slots.iter() {
        let p = s.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { a.free(p) };
        }
    }
    // Report time per replacement actually done.
    elapsed.mul_f64(replacements as f64 / (rounds * CHURN_THREADS as u64 * CHURN_PER_THREAD) as f64)
}

// ---------------------------------------------------------------------------
// Memory, in child processes: peak RSS (VmHWM) and final RSS (VmRSS).

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// After the workload: 300 ms of light activity on the main thread (small
/// allocate/free pairs of several sizes), as a server would carry on.
fn settle<A: Allocator>(a: A) {
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
fn phase_shift<A: Allocator>(a: A) {
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
fn payload_size(rng: &mut Rng) -> usize {
    match rng.next() % 100 {
        0..=69 => rng.range(16, 256),
        70..=94 => rng.range(256, 4096),
        _ => rng.range(4096, 32768),
    }
}

/// Steady mixed-size churn: 100k live blocks of payload sizes, 3M random
/// replacements (free one, allocate another size), then everything freed.
fn mixed_churn<A: Allocator>(a: A) {
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
fn burst<A: Allocator>(a: A, n: usize) -> Vec<usize> {
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
fn remote_burst<A: Allocator>(a: A) {
    let blocks = burst(a, 400_000);
    std::thread::spawn(move || {
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
fn exited_owner<A: Allocator>(a: A) {
    let blocks = std::thread::spawn(move || burst(a, 400_000)).join().unwrap();
    for p in blocks {
        // SAFETY: freed once, here.
        unsafe { a.free(p as *mut u8) };
    }
    settle(a);
}

/// ~100 MiB allocated and freed by the main thread, which then makes no
/// allocator call for a second.
fn idle_after_burst<A: Allocator>(a: A) {
    for p in burst(a, 400_000) {
        // SAFETY: freed once.
        unsafe { a.free(p as *mut u8) };
    }
    std::thread::sleep(Duration::from_millis(1000));
}

/// (name, description, what "final" means).
const MEMORY_WORKLOADS: [(&str, &str); 5] = [
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
];

fn child(spec: &str) {
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
                other => panic!("unknown workload {other}"),
            }
        };
    }
    match alloc {
        "midl-alloc" => run!(Midl),
        "mimalloc" => run!(Mimalloc),
        "system" => run!(System),
        other => panic!("unknown allocator {other}"),
    }
    println!("{start} {} {}", status_kb("VmHWM:"), status_kb("VmRSS:"));
}

/// For profiling one allocator on one threaded workload without criterion
/// around it: `MIDL_BENCH_RUN=server:midl-alloc:200000` runs the workload
/// once with that much work and prints the time per unit; a fourth field
/// repeats it in the same process (`server:midl-alloc:200000:5`); the
/// allocator `all` runs the three in turn; specs separated by commas run
/// one after the other.
fn run_one(spec: &str) {
    let mut parts = spec.split(':');
    let (workload, alloc, work) = match (parts.next(), parts.next(), parts.next()) {
        (Some(w), Some(a), Some(n)) => (w, a, n.parse::<u64>().expect("work: a number")),
        _ => panic!("MIDL_BENCH_RUN=workload:allocator:work[:repeat]"),
    };
    let repeat = parts.next().map_or(1, |r| r.parse::<u32>().expect("repeat: a number"));
    for _ in 0..repeat {
        if alloc == "all" {
            for alloc in ["midl-alloc", "mimalloc", "system"] {
                run_once(workload, alloc, work);
            }
        } else {
            run_once(workload, alloc, work);
        }
    }
}

fn run_once(workload: &str, alloc: &str, work: u64) {
    macro_rules! run {
        ($a:expr) => {
            match workload {
                "producer_consumer" => producer_consumer($a, work),
                "server" => server($a, work),
                "churn" => churn($a, work),
                other => panic!("unknown workload {other} (producer_consumer, server, churn)"),
            }
        };
    }
    let t = match alloc {
        "midl-alloc" => run!(Midl),
        "mimalloc" => run!(Mimalloc),
        "system" => run!(System),
        other => panic!("unknown allocator {other}"),
    };
    println!(
        "{workload} {alloc}: {:.1} ns per unit",
        t.as_nanos() as f64 / work as f64
    );
}

/// (start, peak, final) RSS in KiB, the median of `n` runs by final RSS.
fn measure_memory(workload: &str, alloc: &str, n: usize) -> (u64, u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let mut runs: Vec<(u64, u64, u64)> = (0..n)
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
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>().unwrap());
            (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    runs.sort_by_key(|r| r.2);
    runs[n / 2]
}

// ---------------------------------------------------------------------------
// Results.

struct Row {
    group: String,
    label: String,
    unit: &'static str,
    /// From interleaved rounds, which the table takes instead of
    /// criterion's estimates: ns per unit for each allocator (`NAMES`
    /// order) and midl-alloc's paired speed-ups (see [`Interleaved`]).
    interleaved: Option<Interleaved>,
}

/// The interleaved measurement of one workload.
#[derive(Clone, Copy)]
struct Interleaved {
    /// Median ns per unit of work, for each allocator (`NAMES` order).
    ns: [f64; 3],
    /// The median over rounds of each round's ratio of mimalloc's (then
    /// the system allocator's) time to midl-alloc's: a paired comparison,
    /// so a round the machine slowed down as a whole counts as one round,
    /// not as a fast or slow allocator.
    speedup: [f64; 2],
    /// For the marshalling rows: each allocator's own share of a unit.
    share: Option<Share>,
}

/// Each allocator's time less the [`CallsOnly`] baseline's, in the same
/// rounds.
#[derive(Clone, Copy)]
struct Share {
    /// Median ns per unit of the baseline.
    baseline: f64,
    /// Median over rounds of each allocator's time less the baseline's.
    ns: [f64; 3],
    /// Median over rounds of mimalloc's (then the system allocator's)
    /// share divided by midl-alloc's.
    speedup: [f64; 2],
}

/// Rounds of the interleaved measurement of the threaded workloads.
const INTERLEAVED_ROUNDS: usize = 15;

/// ns per unit of work for each allocator (`NAMES` order): the median of
/// `rounds` rounds, each running every allocator once on `work` units,
/// in turn. The threaded workloads swing with the machine's scheduling
/// (on the 2-core reference machine, Larson's rate moved 3x between runs
/// for every allocator, and all three together), so allocators measured
/// minutes apart, as criterion measures them, compare the machine's
/// moods more than the allocators; within a round they share them.
fn interleaved(rounds: usize, work: u64, runs: [&dyn Fn(u64) -> Duration; 3]) -> Interleaved {
    summarize(&measure_rounds(rounds, work, runs))
}

/// [`interleaved`] with a fourth run in each round, the [`CallsOnly`]
/// baseline, from which each allocator's share is taken.
fn interleaved_with_baseline(rounds: usize, work: u64, runs: [&dyn Fn(u64) -> Duration; 4]) -> Interleaved {
    let ns = measure_rounds(rounds, work, runs);
    let (allocators, baseline) = ns.split_at(3);
    let baseline = &baseline[0];
    let mut m = summarize(allocators);
    let share = |i: usize| -> Vec<f64> { ns[i].iter().zip(baseline).map(|(a, b)| a - b).collect() };
    let paired = |i: usize| median(share(i).iter().zip(share(0)).map(|(o, m)| o / m).collect());
    m.share = Some(Share {
        baseline: median(baseline.clone()),
        ns: [0, 1, 2].map(|i| median(share(i))),
        speedup: [paired(1), paired(2)],
    });
    m
}

/// ns per unit of each run, one value a round; the runs of a round run
/// one after another.
fn measure_rounds<const N: usize>(rounds: usize, work: u64, runs: [&dyn Fn(u64) -> Duration; N]) -> Vec<Vec<f64>> {
    let mut ns = vec![Vec::with_capacity(rounds); N];
    for _ in 0..rounds {
        for (run, v) in runs.iter().zip(ns.iter_mut()) {
            v.push(run(work).as_nanos() as f64 / work as f64);
        }
    }
    ns
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The three allocators' rounds (`NAMES` order): medians and paired
/// speed-ups.
fn summarize(ns: &[Vec<f64>]) -> Interleaved {
    let paired = |i: usize| median(ns[i].iter().zip(&ns[0]).map(|(o, m)| o / m).collect());
    Interleaved {
        ns: [0, 1, 2].map(|i| median(ns[i].clone())),
        speedup: [paired(1), paired(2)],
        share: None,
    }
}

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}

/// Median time per iteration in ns, from criterion's estimates (the
/// median of the samples: one sample slowed by the noisy machine moves it
/// less than the mean).
fn median_ns(group: &str, alloc: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(alloc)
        .join("new")
        .join("estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn machine() -> String {
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

/// One memory measurement: workload label, allocator, (start, peak, final) KiB.
type MemoryRow = (String, String, (u64, u64, u64));

fn write_results(rows: &[Row], memory: &[MemoryRow]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).unwrap();
    let mut md = String::new();
    let _ = writeln!(md, "# midl-alloc vs mimalloc vs system allocator\n");
    let _ = writeln!(md, "Machine: {}.  ", machine());
    let _ = writeln!(
        md,
        "Command: `cargo bench --bench compare` (criterion medians of 10 samples; HTML report in target/criterion/report)."
    );
    let _ = writeln!(
        md,
        "The marshalling and threaded rows (producer/consumer, server, Larson) are instead the median of \
         {INTERLEAVED_ROUNDS} rounds that each run every allocator once on the same work, in turn, and their ratios \
         the median of each round's ratio: run apart, as criterion runs them, their rates swing with the machine's \
         scheduling and load more than they differ between allocators.  "
    );
    let _ = writeln!(
        md,
        "mimalloc is libmimalloc-sys's default build through `mi_malloc`/`mi_free`; system is glibc `malloc`/`free`.\n"
    );
    let _ = writeln!(md, "## Throughput\n");
    let _ = writeln!(
        md,
        "Ratios are midl-alloc's throughput divided by the other's (above 1.00: midl-alloc is faster).\n"
    );
    let _ = writeln!(
        md,
        "| workload | unit | midl-alloc | mimalloc | system | vs mimalloc | vs system |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
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
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.unit,
            fmt(t[0]),
            fmt(t[1]),
            fmt(t[2]),
            ratio(1),
            ratio(2)
        );
        if let (Some(m), Some(mi), Some(s)) = (t[0], t[1], t[2]) {
            chart.push((r.label.clone(), [m / mi, 1.0, s / mi]));
        }
    }
    let shares: Vec<(&Row, Share)> = rows.iter().filter_map(|r| Some((r, r.interleaved?.share?))).collect();
    if !shares.is_empty() {
        let _ = writeln!(md, "\n## The allocator's share of a marshalling call\n");
        let _ = writeln!(
            md,
            "The marshalling rounds also time the same calls into two functions that do nothing (`CallsOnly`: \
             the loop, the calls, the parameter list, and the writes, into one cache-hot buffer). Each \
             allocator's time less that baseline, round by round, is what the allocator adds to a call; ratios \
             as above, from each round's shares.\n"
        );
        let _ = writeln!(
            md,
            "| workload | baseline ns/call | midl-alloc | mimalloc | system | vs mimalloc | vs system |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for (r, sh) in shares {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.1} ns | {:.1} ns | {:.1} ns | {:.2} | {:.2} |",
                r.label, sh.baseline, sh.ns[0], sh.ns[1], sh.ns[2], sh.speedup[0], sh.speedup[1]
            );
        }
    }
    let _ = writeln!(md, "\n## Per-call environments (RpcSs)\n");
    let _ = writeln!(
        md,
        "One unmarshalled call (the marshalling path's shapes) allocated in an environment released at once, against the same call freed block by block.\n"
    );
    let _ = writeln!(md, "| variant | calls/s | relative to the midl-alloc environment |");
    let _ = writeln!(md, "|---|---:|---:|");
    let env_t: Vec<Option<f64>> = ENV_VARIANTS
        .iter()
        .map(|v| median_ns("environment", v).map(|ns| 1e9 / ns))
        .collect();
    for (v, t) in ENV_VARIANTS.iter().zip(&env_t) {
        let rel = match (env_t[0], t) {
            (Some(base), Some(x)) => format!("{:.2}", x / base),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {v} | {} | {rel} |",
            t.map_or("n/a".into(), |x| format!("{:.2} M", x / 1e6))
        );
    }
    let _ = writeln!(md, "\n## Memory\n");
    let _ = writeln!(
        md,
        "Child processes, median of three (by final RSS). Start: RSS before the workload. Final: RSS after \
         everything is freed and then 300 ms of light allocation on the main thread (small pairs of several \
         sizes every 10 ms), except idle-after-burst, which ends with a second of no allocator calls at all. \
         Purge delay: the default 100 ms.\n"
    );
    let _ = writeln!(
        md,
        "| workload | allocator | start RSS (MiB) | peak RSS (MiB) | final RSS (MiB) | peak vs system |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|");
    for (w, a, (start, peak, fin)) in memory {
        let system_peak = memory
            .iter()
            .find(|(w2, a2, _)| w2 == w && a2 == "system")
            .map_or(0, |m| m.2 .1);
        let _ = writeln!(
            md,
            "| {w} | {a} | {:.1} | {:.1} | {:.1} | {:.2} |",
            *start as f64 / 1024.0,
            *peak as f64 / 1024.0,
            *fin as f64 / 1024.0,
            *peak as f64 / system_peak.max(1) as f64
        );
    }
    let _ = writeln!(md, "\nChart: compare.svg (throughput relative to mimalloc).");
    std::fs::write(dir.join("compare.md"), md).unwrap();
    std::fs::write(dir.join("compare.svg"), svg(&chart)).unwrap();
    println!("wrote {} and compare.svg", dir.join("compare.md").display());
}

/// A horizontal grouped bar chart of throughput relative to mimalloc.
fn svg(rows: &[(String, [f64; 3])]) -> String {
    let colors = ["#d62728", "#1f77b4", "#7f7f7f"];
    let (left, bar, gap, width) = (230.0, 9.0, 10.0, 420.0);
    let max = rows.iter().flat_map(|r| r.1).fold(1.0f64, f64::max).min(8.0);
    let height = 60.0 + rows.len() as f64 * (3.0 * bar + gap);
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
        let x = 10.0 + i as f64 * 120.0;
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
        let y = 50.0 + k as f64 * (3.0 * bar + gap);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#,
            left - 6.0,
            y + 1.5 * bar + 4.0
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

fn main() {
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--test");
    // A filtered or profiling run measures only part of the workloads:
    // it writes no results (the table would mix in older estimates).
    let partial = args.iter().any(|a| a == "--profile-time") || args.iter().any(|a| !a.starts_with('-'));
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut rows = Vec::new();

    // One benchmark group driving each allocator through `$f`, and its row
    // in the results table.
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
    let calls = calls();
    group!(
        "marshal",
        "marshalling path (call)",
        "calls",
        bench_marshal(&calls, true)
    );
    group!(
        "marshal_unwritten",
        "marshalling path, parameters not written (call)",
        "calls",
        bench_marshal(&calls, false)
    );
    {
        let mut g = c.benchmark_group("environment");
        g.throughput(Throughput::Elements(1));
        bench_environments(&mut g, &calls);
        g.finish();
    }
    for size in PAIR_SIZES {
        group!(
            format!("pair_{size}"),
            format!("alloc+free {size} B"),
            "pairs",
            bench_pair(size)
        );
    }
    type Run<A> = fn(A, u64) -> Duration;
    // Threaded workloads: criterion's runs (for its report), then the
    // interleaved rounds the table takes (`work` units a run, about 20-50
    // ms for midl-alloc; one round of a little work in a smoke run).
    let rounds = if smoke { 1 } else { INTERLEAVED_ROUNDS };
    let scale = if smoke { 100 } else { 1 };
    // (A filtered run does the interleaved rounds for the filters, or
    // `|`-separated parts of one, that start with the group's name, and
    // prints them.)
    let selected = |name: &str| {
        !args.iter().any(|a| a == "--profile-time")
            && (!partial
                || args
                    .iter()
                    .any(|a| !a.starts_with('-') && a.split('|').any(|f| f.starts_with(name))))
    };
    let report = |name: &str, m: &Interleaved| {
        if partial && !smoke {
            println!(
                "{name} interleaved ({rounds} rounds), ns per unit: midl-alloc {:.1}, mimalloc {:.1}, system {:.1}; \
                 paired speed-up vs mimalloc {:.2}, vs system {:.2}",
                m.ns[0], m.ns[1], m.ns[2], m.speedup[0], m.speedup[1]
            );
            if let Some(sh) = m.share {
                println!(
                    "{name} less the calls-only baseline ({:.1} ns): midl-alloc {:.1}, mimalloc {:.1}, system {:.1}; \
                     paired speed-up of the allocator's share vs mimalloc {:.2}, vs system {:.2}",
                    sh.baseline, sh.ns[0], sh.ns[1], sh.ns[2], sh.speedup[0], sh.speedup[1]
                );
            }
        }
    };
    // The marshalling rows: 1M calls a run (about 50 ms for midl-alloc).
    for (name, write) in [("marshal", true), ("marshal_unwritten", false)] {
        if !selected(name) {
            continue;
        }
        let m = interleaved_with_baseline(
            rounds,
            1_000_000 / scale,
            [
                &|n| marshal_calls(Midl, &calls, n, write),
                &|n| marshal_calls(Mimalloc, &calls, n, write),
                &|n| marshal_calls(System, &calls, n, write),
                &|n| marshal_calls(CallsOnly, &calls, n, write),
            ],
        );
        report(name, &m);
        if let Some(row) = rows.iter_mut().find(|r| r.group == name) {
            row.interleaved = Some(m);
        }
    }
    macro_rules! threaded {
        ($name:expr, $label:expr, $unit:expr, $f:ident, $work:expr) => {{
            let mut g = c.benchmark_group($name);
            g.throughput(Throughput::Elements(1));
            bench_threads(Midl, &mut g, $f as Run<Midl>);
            bench_threads(Mimalloc, &mut g, $f as Run<Mimalloc>);
            bench_threads(System, &mut g, $f as Run<System>);
            g.finish();
            let interleaved = selected($name).then(|| {
                interleaved(
                    rounds,
                    $work / scale,
                    [&|n| $f(Midl, n), &|n| $f(Mimalloc, n), &|n| $f(System, n)],
                )
            });
            if let Some(m) = &interleaved {
                report($name, m);
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
    threaded!("server", "server in miniature (request)", "requests", server, 200_000);
    threaded!("churn", "thread churn, Larson (replacement)", "ops", churn, 400_000);
    c.final_summary();

    if partial && !smoke {
        return;
    }
    if smoke {
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
