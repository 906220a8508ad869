//! A soak: mixed workloads on `MidlAlloc` (the global allocator) for a
//! chosen time, sampling the resident set and the address space mapped,
//! failing on a content error or on growth of either beyond a bound. Run
//! by `scripts/soak.sh`.
//!
//! Workloads, all at once:
//! - worker threads that start, work a few thousand operations and exit,
//!   four at a time: blocks of random sizes (8 B to 64 KiB, now and then
//!   1-6 MiB), each filled with a pattern of its address, size and a seed,
//!   checked before it is freed; a third of them handed to another worker
//!   through a channel and freed there (remote frees, also after the
//!   allocating thread exited);
//! - per-call RpcSs environments (`Environment`), shared by two threads,
//!   holding vectors and strings that are checked and dropped at once;
//! - bursts: 32 MiB of small blocks allocated and freed together.
//!
//! The resident set and the bytes mapped (`os_stats().mapped`) are
//! sampled every 250 ms. The bound, for each: after the first quarter of
//! the run (the warm-up), it may not exceed the warm-up's peak by more
//! than half of it plus 64 MiB; the live data is the same throughout, so
//! growth past that is memory the allocator keeps. (The mapped bound
//! catches segments a spawning thread adopted and never looked at again,
//! see `Heap::retire_unused_queued`: with them, a 40 s run with 4 threads
//! mapped 2.5 GiB against a bound of 1.9, its resident set within bound.)
//!
//! `soak SECONDS [THREADS]`; prints one summary line, exits 1 on failure.
//! With `SOAK_TRACE=1`, also the resident set, mapped and committed bytes
//! every second and the allocator's statistics at the end (stderr).

use crossbeam::channel;
use midl_alloc::allocator_api2::vec::Vec as Vec2;
use midl_alloc::environment::Environment;
use midl_alloc::MidlAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: MidlAlloc = MidlAlloc;

/// A block whose bytes carry a pattern of its address, size and seed.
struct Block {
    p: *mut u8,
    size: usize,
    seed: u64,
}

// SAFETY: the block is plain memory owned by whoever holds the value.
unsafe impl Send for Block {}

fn pattern(addr: usize, seed: u64, i: usize) -> u8 {
    (addr as u64 ^ seed ^ (i as u64).wrapping_mul(0x9e37_79b9)) as u8
}

impl Block {
    fn new(size: usize, seed: u64) -> Block {
        let layout = Layout::from_size_align(size, 16).unwrap();
        // SAFETY: a non-zero size.
        let p = unsafe { GLOBAL.alloc(layout) };
        assert!(!p.is_null(), "allocation of {size} bytes failed");
        // Large blocks: the first and last 4 KiB and every 4 KiB's first
        // byte (touching every page), small ones whole.
        for i in Block::checked(size) {
            // SAFETY: `i < size`.
            unsafe { *p.add(i) = pattern(p as usize, seed, i) };
        }
        Block { p, size, seed }
    }

    fn checked(size: usize) -> impl Iterator<Item = usize> {
        let whole = size <= 64 << 10;
        let head = if whole { size } else { 4096 };
        (0..head)
            .chain((head..size).step_by(4096))
            .chain(if whole { 0..0 } else { size - 4096..size })
    }

    fn free(self) {
        drop(self);
    }
}

/// Blocks are checked and freed when dropped, so those left in a channel
/// whose ends are gone are freed too.
impl Drop for Block {
    fn drop(&mut self) {
        for i in Block::checked(self.size) {
            // SAFETY: `i < size`, the block is live.
            let got = unsafe { *self.p.add(i) };
            if got != pattern(self.p as usize, self.seed, i) {
                eprintln!(
                    "soak: content error: byte {i} of the {}-byte block at {:p} is {got:#x}",
                    self.size, self.p
                );
                std::process::exit(1);
            }
        }
        // SAFETY: allocated with this layout, freed once.
        unsafe { GLOBAL.dealloc(self.p, Layout::from_size_align(self.size, 16).unwrap()) };
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn size(&mut self) -> usize {
        let r = self.next();
        if r.is_multiple_of(2000) {
            (1 << 20) + (r as usize >> 8) % (5 << 20)
        } else {
            8 + (r as usize >> 16) % (1usize << (3 + (r >> 40) % 14))
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One worker's life: `ops` operations, keeping up to 2,000 blocks.
fn worker(seed: u64, ops: usize, to_peer: channel::Sender<Block>, from_peer: channel::Receiver<Block>) -> u64 {
    let mut rng = Rng(seed | 1);
    let mut live: Vec<Block> = Vec::new();
    for op in 0..ops {
        while let Ok(b) = from_peer.try_recv() {
            b.free();
        }
        if live.len() < 2000 && !rng.next().is_multiple_of(3) {
            live.push(Block::new(rng.size(), rng.next()));
        } else if !live.is_empty() {
            let i = rng.next() as usize % live.len();
            let b = live.swap_remove(i);
            if op.is_multiple_of(3) {
                if let Err(e) = to_peer.try_send(b) {
                    e.into_inner().free();
                }
            } else {
                b.free();
            }
        }
    }
    // Half of what is left goes to the peer (freed after this thread
    // exits), half is freed here.
    let n = live.len();
    for (i, b) in live.into_iter().enumerate() {
        if i < n / 2 {
            if let Err(e) = to_peer.try_send(b) {
                e.into_inner().free();
            }
        } else {
            b.free();
        }
    }
    ops as u64
}

fn environments(seed: u64) -> u64 {
    let env = Environment::enable().expect("enable");
    let mut rng = Rng(seed | 1);
    let n = 200 + rng.next() as usize % 800;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let env = &env;
            s.spawn(move || {
                let mut v = Vec2::new_in(env);
                for i in 0..n as u64 {
                    v.push(i ^ t ^ seed);
                }
                let mut strings = Vec2::new_in(env);
                for i in 0..n / 10 {
                    let mut s = Vec2::new_in(env);
                    s.extend_from_slice(format!("{seed}-{t}-{i}").as_bytes());
                    strings.push(s);
                }
                for (i, x) in v.iter().enumerate() {
                    assert_eq!(*x, i as u64 ^ t ^ seed, "environment vector corrupted");
                }
                for (i, s) in strings.iter().enumerate() {
                    assert_eq!(
                        &s[..],
                        format!("{seed}-{t}-{i}").as_bytes(),
                        "environment string corrupted"
                    );
                }
            });
        }
    });
    drop(env);
    n as u64
}

fn burst(seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut blocks = Vec::new();
    let mut bytes = 0;
    while bytes < 32 << 20 {
        let size = 16 + rng.next() as usize % 2000;
        bytes += size;
        blocks.push(Block::new(size, rng.next()));
    }
    for b in blocks {
        b.free();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let lifetimes = Arc::new(AtomicU64::new(0));
    let ops = Arc::new(AtomicU64::new(0));

    // The workers, in pairs of peers, each slot started again as its worker
    // exits.
    let mut slots = Vec::new();
    for slot in 0..threads {
        let (stop, lifetimes, ops) = (stop.clone(), lifetimes.clone(), ops.clone());
        slots.push(std::thread::spawn(move || {
            let mut gen = slot as u64 * 1_000_003;
            while !stop.load(Ordering::Relaxed) {
                let (a_tx, a_rx) = channel::bounded(512);
                let (b_tx, b_rx) = channel::bounded(512);
                gen += 2;
                let s = gen;
                let peer = std::thread::spawn(move || worker(s, 4000, b_tx, a_rx));
                let mine = std::thread::spawn(move || worker(s + 1, 4000, a_tx, b_rx));
                let n = peer.join().unwrap() + mine.join().unwrap();
                ops.fetch_add(n, Ordering::Relaxed);
                lifetimes.fetch_add(2, Ordering::Relaxed);
            }
        }));
    }
    let env_stop = stop.clone();
    let env_calls = Arc::new(AtomicU64::new(0));
    let env_calls2 = env_calls.clone();
    let side = std::thread::spawn(move || {
        let mut seed = 7u64;
        let mut i = 0u64;
        while !env_stop.load(Ordering::Relaxed) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            environments(seed);
            env_calls2.fetch_add(1, Ordering::Relaxed);
            i += 1;
            if i.is_multiple_of(50) {
                burst(seed);
            }
        }
    });

    let trace = std::env::var_os("SOAK_TRACE").is_some();
    let start = Instant::now();
    let warm_end = start + Duration::from_secs(seconds).mul_f64(0.25);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let (mut warm_peak, mut late_peak, mut samples) = (0u64, 0u64, 0u64);
    let (mut warm_mapped, mut late_mapped) = (0u64, 0u64);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let rss = rss_bytes();
        let os = midl_alloc::os_stats();
        let mapped = os.mapped as u64;
        samples += 1;
        if trace && samples.is_multiple_of(4) {
            eprintln!(
                "{:>5.1} s  resident {:>8.1} MiB  mapped {:>8.1} MiB  committed {:>8.1} MiB",
                start.elapsed().as_secs_f64(),
                mib(rss),
                mib(mapped),
                mib(os.committed as u64)
            );
        }
        if Instant::now() < warm_end {
            warm_peak = warm_peak.max(rss);
            warm_mapped = warm_mapped.max(mapped);
        } else {
            late_peak = late_peak.max(rss);
            late_mapped = late_mapped.max(mapped);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for s in slots {
        s.join().unwrap();
    }
    side.join().unwrap();
    if trace {
        midl_alloc::print_stats(2);
    }
    let bound = warm_peak + warm_peak / 2 + (64 << 20);
    let mapped_bound = warm_mapped + warm_mapped / 2 + (64 << 20);
    let ok = late_peak <= bound && late_mapped <= mapped_bound;
    println!(
        "soak: {seconds} s, {} thread lifetimes, {} operations, {} environments, {samples} samples; \
         resident: warm-up peak {:.1} MiB, later peak {:.1} MiB, bound {:.1} MiB; \
         mapped: warm-up peak {:.1} MiB, later peak {:.1} MiB, bound {:.1} MiB: {}",
        lifetimes.load(Ordering::Relaxed),
        ops.load(Ordering::Relaxed),
        env_calls.load(Ordering::Relaxed),
        mib(warm_peak),
        mib(late_peak),
        mib(bound),
        mib(warm_mapped),
        mib(late_mapped),
        mib(mapped_bound),
        if ok { "ok" } else { "GREW" }
    );
    if !ok {
        std::process::exit(1);
    }
}
