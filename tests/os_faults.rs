//! The OS refuses memory in the middle of a workload (cargo feature
//! `os-faults`: `cargo test --features os-faults --test os_faults`): for
//! each workload (small blocks, large blocks and realloc, RpcSs
//! environments, threads exiting with blocks out), the workload's requests
//! for memory are counted, then it runs again once for each request `n`
//! (every one of the first 48, then a spread), with the `n`-th refused. In
//! each run, every allocation either returns null or a block whose contents
//! hold; nothing else fails; and once the workload is over, allocations of
//! every kind succeed again and hold their contents.
//!
//! Each run is a child process of this test binary (the allocator's state,
//! and so the order of its requests, is process-wide).

use midl_alloc::environment::Environment;
use midl_alloc::testing::{os_memory_requests, refuse_os_memory};
use midl_alloc::MidlAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;

const CHILD: &str = "MIDL_OS_FAULTS_CHILD";

/// A block filled with a pattern of its address, size and a seed (null if
/// the allocation failed).
struct Block {
    p: *mut u8,
    size: usize,
    seed: u8,
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).unwrap()
}

fn byte(p: *mut u8, seed: u8, i: usize) -> u8 {
    (p as usize as u8) ^ seed ^ (i as u8).wrapping_mul(31)
}

/// Offsets written and checked: all of a small block; the first and last
/// 4 KiB and one byte per 4 KiB of a large one.
fn offsets(size: usize) -> Vec<usize> {
    if size <= 8192 {
        return (0..size).collect();
    }
    (0..4096)
        .chain((4096..size).step_by(4096))
        .chain(size - 4096..size)
        .collect()
}

impl Block {
    fn new(size: usize, seed: u8) -> Block {
        // SAFETY: non-zero size.
        let p = unsafe { MidlAlloc.alloc(layout(size)) };
        let b = Block { p, size, seed };
        b.fill();
        b
    }

    fn fill(&self) {
        if self.p.is_null() {
            return;
        }
        for i in offsets(self.size) {
            // SAFETY: i < size, the block is live.
            unsafe { *self.p.add(i) = byte(self.p, self.seed, i) };
        }
    }

    fn check(&self) {
        if self.p.is_null() {
            return;
        }
        for i in offsets(self.size) {
            // SAFETY: as in `fill`.
            let got = unsafe { *self.p.add(i) };
            assert_eq!(
                got,
                byte(self.p, self.seed, i),
                "byte {i} of a {}-byte block changed",
                self.size
            );
        }
    }

    /// Grows (or shrinks) the block with realloc, keeping its contents; on
    /// failure the block stays as it was.
    fn resize(&mut self, size: usize) {
        if self.p.is_null() {
            return;
        }
        self.check();
        // SAFETY: a live block of this layout.
        let q = unsafe { MidlAlloc.realloc(self.p, layout(self.size), size) };
        if q.is_null() {
            self.check();
            return;
        }
        let kept = self.size.min(size);
        for i in offsets(self.size).into_iter().filter(|&i| i < kept) {
            // SAFETY: i < kept, the new block is live.
            let got = unsafe { *q.add(i) };
            assert_eq!(
                got,
                byte(self.p, self.seed, i),
                "realloc {} -> {size} lost byte {i}",
                self.size
            );
        }
        self.p = q;
        self.size = size;
        self.fill();
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.check();
        if !self.p.is_null() {
            // SAFETY: a live block of this layout, freed once.
            unsafe { MidlAlloc.dealloc(self.p, layout(self.size)) };
        }
    }
}

// SAFETY: plain memory, owned by whoever holds the value.
unsafe impl Send for Block {}

fn small() {
    let mut live = Vec::new();
    for i in 0..6000usize {
        live.push(Block::new(8 + (i * 37) % 3000, i as u8));
        if i % 3 == 0 {
            live.swap_remove((i * 7) % live.len());
        }
    }
}

fn large() {
    let mut live = Vec::new();
    for i in 0..12usize {
        let mut b = Block::new((1 << 20) + i * 700_000, i as u8);
        b.resize((3 << 20) + i * 500_000);
        live.push(b);
        if i % 2 == 0 {
            live.remove(0);
        }
    }
    let mut big = Block::new(40 << 20, 9);
    big.resize(90 << 20);
}

fn rpcss() {
    for round in 0..30u64 {
        let env = match Environment::enable() {
            Ok(env) => env,
            Err(_) => continue,
        };
        let mut v = midl_alloc::allocator_api2::vec::Vec::new_in(&env);
        for i in 0..(200 + round * 50) {
            if v.try_reserve(1).is_err() {
                break;
            }
            v.push(i ^ round);
        }
        for (i, x) in v.iter().enumerate() {
            assert_eq!(*x, i as u64 ^ round, "environment vector corrupted");
        }
        let mut blocks = Vec::new();
        for i in 0..50usize {
            if let Ok(p) = midl_alloc::environment::allocate(16 + i * 100) {
                // SAFETY: a block of at least 16 bytes.
                unsafe { p.as_ptr().write_bytes(i as u8, 16) };
                blocks.push((p, i as u8));
            }
        }
        for (p, v) in blocks {
            // SAFETY: 16 bytes of a block live until the environment ends.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), 16) };
            assert!(bytes.iter().all(|&b| b == v), "environment block corrupted");
        }
        drop(v);
        drop(env);
    }
}

fn thread_exit() {
    let mut kept = Vec::new();
    for t in 0..8u8 {
        let h = std::thread::spawn(move || {
            let mut mine: Vec<Block> = (0..300)
                .map(|i| Block::new(16 + (i * 53) % 5000, t ^ i as u8))
                .collect();
            // Half stay behind, freed by the spawning thread after this one
            // has exited.
            mine.split_off(150)
        });
        match h.join() {
            Ok(blocks) => kept.extend(blocks),
            Err(e) => std::panic::resume_unwind(e),
        }
    }
}

const WORKLOADS: [(&str, fn()); 4] = [
    ("small", small),
    ("large", large),
    ("rpcss", rpcss),
    ("thread-exit", thread_exit),
];

/// After the workload: every kind of allocation works again.
fn afterwards() {
    let blocks: Vec<Block> = (0..200).map(|i| Block::new(8 + i * 131, i as u8)).collect();
    assert!(
        blocks.iter().all(|b| !b.p.is_null()),
        "a small allocation failed after the fault"
    );
    let big = Block::new(20 << 20, 3);
    assert!(!big.p.is_null(), "a large allocation failed after the fault");
    let env = Environment::enable().expect("an environment after the fault");
    let mut v = midl_alloc::allocator_api2::vec::Vec::new_in(&env);
    v.extend(0..10_000u32);
    assert_eq!(v.iter().map(|&x| u64::from(x)).sum::<u64>(), 49_995_000);
    drop(v);
    drop(env);
    std::thread::spawn(|| Block::new(1000, 1).check()).join().unwrap();
}

/// The child's part: `workload:n` (n = 0: count the requests, print them).
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (name, n) = spec.split_once(':').unwrap();
    let n: u64 = n.parse().unwrap();
    let work = WORKLOADS.iter().find(|w| w.0 == name).unwrap().1;
    refuse_os_memory(n);
    work();
    let seen = os_memory_requests();
    refuse_os_memory(0);
    afterwards();
    println!("REQUESTS {seen}");
}

fn run(name: &str, n: u64) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{name}:{n}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} with request {n} refused: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("REQUESTS ").map(|(_, n)| n))
        .unwrap_or_else(|| panic!("{name}:{n}: no count in {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn every_workload_survives_a_refused_request() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    for (name, _) in WORKLOADS {
        let requests = run(name, 0);
        assert!(requests > 0, "{name} made no request for memory");
        let mut ns: Vec<u64> = (1..=requests.min(48)).collect();
        ns.extend((48..requests).step_by((requests as usize / 16).max(1)));
        for n in ns {
            run(name, n);
        }
        println!("{name}: {requests} requests, each refused in turn (or a spread past 48)");
    }
}
